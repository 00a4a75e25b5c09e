//! Connections with `person` sign-in: each person signed in on the gateway's
//! server connects their own account at the remote Guidepost, and each one's calls arrive
//! there as that account. The connect link proves who opens it through the gateway
//! server's own sign-in, so another signed-in person cannot take it; a server whose
//! people do not sign in cannot have a `person` upstream at all.

use std::sync::Arc;

use guidepost_core::secrets::MasterKey;
use guidepost_core::upstreams::catalog::Catalog;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::connections::as_the_linking_browser;
use crate::gateway_fixture::wait_for;
use crate::helpers::python_script;
use crate::oauth_helpers::{OAuthApp, oauth_app};

const EDITOR: &str = "editor@gateway.example";

/// The remote Guidepost (server `remote`, sign-in required) and the gateway, itself an
/// OAuth app with the server `gateway` (sign-in required), whose catalog offers the remote.
pub(crate) async fn remote_and_gateway(db: &TestDatabase) -> (OAuthApp, OAuthApp) {
    remote_and_gateway_with(db, "").await
}

/// As [`remote_and_gateway`], with `extra` in the entry's spec.
async fn remote_and_gateway_with(db: &TestDatabase, extra: &str) -> (OAuthApp, OAuthApp) {
    let remote = oauth_app(db, &["remote"], |_| {}).await;
    let gateway = gateway_of(db, &remote, extra).await;
    (remote, gateway)
}

/// The gateway (server `gateway`, sign-in required), whose catalog offers `remote`'s
/// server `remote`, with `extra` in the entry's spec.
pub(crate) async fn gateway_of(db: &TestDatabase, remote: &OAuthApp, extra: &str) -> OAuthApp {
    gateway_of_with(db, remote, extra, |_| {}).await
}

/// [`gateway_of`], its settings adjusted by `adjust`.
pub(crate) async fn gateway_of_with(
    db: &TestDatabase,
    remote: &OAuthApp,
    extra: &str,
    adjust: impl FnOnce(&mut guidepost::config::Settings),
) -> OAuthApp {
    let url = remote.resource("remote");
    let entry = format!(
        "[[entry]]\nid = \"remote\"\nname = \"Remote\"\ndescription = \"A server that signs in.\"\n\
         spec = {{ runtime = \"http\", url = {url:?}{extra} }}\n"
    );
    let catalog = Catalog::with_operator_entries(&entry).unwrap();
    oauth_app(db, &["gateway"], move |settings| {
        settings.platform.catalog = Arc::new(catalog);
        settings.platform.master_key = Some(MasterKey::from_bytes([9; 32]));
        settings.gateway.http_allow_private = true;
        adjust(settings);
    })
    .await
}

/// The gateway's platform host, as its links name it.
pub(crate) fn platform_origin(gateway: &OAuthApp) -> String {
    let port = url::Url::parse(&gateway.app.url).unwrap().port().unwrap();
    format!("http://localhost:{port}")
}

fn callback(gateway: &OAuthApp) -> String {
    format!("{}/connect/callback", platform_origin(gateway))
}

/// Installs the remote with `person` sign-in, connects the editor's account for
/// discovery, and attaches it to `gateway` under `rm`: the upstream's id.
pub(crate) async fn install_for_people(remote: &OAuthApp, gateway: &OAuthApp) -> String {
    let (app, tenant) = (&gateway.app, &gateway.tenant);
    app.trust_new_tools(tenant).await;
    let body = json!({"catalog_entry_id": "remote", "sign_in": "person"});
    let (status, installed) = app
        .api(Method::POST, "/upstreams", &tenant.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    let id = installed["id"].as_str().unwrap().to_owned();
    let (_, link) = app
        .api(
            Method::POST,
            &format!("/upstreams/{id}/connect"),
            &tenant.key,
            None,
        )
        .await;
    let link = link["url"].as_str().unwrap();
    let mut editor = remote.person(EDITOR);
    let opened = editor.get(link).await;
    let authorize = opened.location.expect("on to the remote");
    let back = editor
        .approve_to(remote, &authorize, &callback(gateway))
        .await;
    let answer = as_the_linking_browser(app.http.get(&back), link)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let ready = wait_for(app, tenant, &id, |u| u["status"] == "ready").await;
    assert_eq!(ready["spec"]["sign_in"], "person", "{ready}");
    let (_, servers) = app.get("/servers", &tenant.key).await;
    let server = servers["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["slug"] == "gateway")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/servers/{server}/upstreams/{id}");
    let (status, body) = app
        .api(
            Method::PUT,
            &path,
            &tenant.key,
            Some(json!({"prefix": "rm"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

pub(crate) async fn call_support(gateway: &OAuthApp, token: &str, title: &str) -> Value {
    let mcp = gateway.mcp("gateway", Some(token), None);
    let arguments = json!({"title": title, "problem_description": "Asked through the gateway."});
    mcp.call_tool(1, "rm__get_support", arguments).await.body
}

/// The connect link in a tool error's text.
pub(crate) fn link_in(answer: &Value) -> String {
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    let start = text
        .find("http://")
        .unwrap_or_else(|| panic!("a link in {answer}"));
    text[start..].split_whitespace().next().unwrap().to_owned()
}

/// `person` opens `link`, proves who they are at the gateway's sign-in as `gateway_email`,
/// and signs in at the remote as `remote_email`: the page the last callback answers.
pub(crate) async fn connect(
    remote: &OAuthApp,
    gateway: &OAuthApp,
    link: &str,
    gateway_email: &str,
    remote_email: &str,
) -> (StatusCode, String) {
    let mut at_gateway = gateway.person(gateway_email);
    let opened = at_gateway.get(link).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
    let identity = opened.location.expect("on to the gateway's sign-in");
    assert!(identity.contains("/s/gateway/authorize?"), "{identity}");
    let back = at_gateway
        .approve_to(gateway, &identity, &callback(gateway))
        .await;
    let checked = as_the_linking_browser(no_redirects().get(&back), link)
        .send()
        .await
        .unwrap();
    if checked.status() != StatusCode::SEE_OTHER {
        return (checked.status(), checked.text().await.unwrap());
    }
    let to_remote = checked.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        to_remote.starts_with(&format!("{}/authorize?", remote.issuer("remote"))),
        "{to_remote}"
    );
    let at_remote = remote.person(remote_email);
    let back = at_remote
        .approve_to(remote, &to_remote, &callback(gateway))
        .await;
    let answer = as_the_linking_browser(no_redirects().get(&back), link)
        .send()
        .await
        .unwrap();
    (answer.status(), answer.text().await.unwrap())
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// One call of `rm__get_support` as `token` with the official Python client.
async fn python_call(gateway: &OAuthApp, token: &str, mode: &str, elicitation: bool) -> Value {
    let url = gateway.app.mcp_path_url("gateway");
    let mut args = vec![
        "--url",
        &url,
        "--token",
        token,
        "--tool",
        "rm__get_support",
        "--mode",
        mode,
    ];
    if !elicitation {
        args.push("--no-elicitation");
    }
    let report = python_script("connect_call.py", &args).await;
    assert_eq!(report["error"], Value::Null, "{report}");
    report
}

/// One call of `rm__get_support` as `token` with the official Python client, which is
/// given a URL to connect through (an error's or a round's): `person` (their gateway and
/// remote emails) connects through it meanwhile. The client's report.
async fn python_connecting(
    remote: &OAuthApp,
    gateway: &OAuthApp,
    token: &str,
    mode: &str,
    person: (&str, &str),
) -> Value {
    let dir = std::env::temp_dir().join(format!(
        "guidepost-connect-{}",
        guidepost_domain::random_token("").to_lowercase()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (url_file, done_file) = (dir.join("url"), dir.join("done"));
    let script = {
        let url = gateway.app.mcp_path_url("gateway");
        let (token, mode) = (token.to_owned(), mode.to_owned());
        let (url_file, done_file) = (
            url_file.display().to_string(),
            done_file.display().to_string(),
        );
        tokio::spawn(async move {
            let args = [
                "--url",
                &url,
                "--token",
                &token,
                "--tool",
                "rm__get_support",
                "--mode",
                &mode,
                "--url-file",
                &url_file,
                "--done-file",
                &done_file,
            ];
            python_script("connect_call.py", &args).await
        })
    };
    let mut link = String::new();
    for _ in 0..300 {
        link = std::fs::read_to_string(&url_file).unwrap_or_default();
        if !link.is_empty() || script.is_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if link.is_empty() {
        panic!(
            "no URL to connect through; the client said {}",
            script.await.unwrap()
        );
    }
    let (status, page) = connect(remote, gateway, &link, person.0, person.1).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    std::fs::write(&done_file, "").unwrap();
    let report = script.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(report["error"], Value::Null, "{report}");
    report
}

/// The key form's `state` in a page.
fn key_form_state(page: &str) -> String {
    let marker = "name=\"state\" value=\"";
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("a key form in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// Posts `key` to the key form of `page`, from the browser that opened `link`: the page
/// that answers.
async fn give_key(gateway: &OAuthApp, link: &str, page: &str, key: &str) -> (StatusCode, String) {
    let state = key_form_state(page);
    let url = format!("{}/connect/key", platform_origin(gateway));
    let answer = as_the_linking_browser(no_redirects().post(url), link)
        .form(&[("state", state.as_str()), ("key", key)])
        .send()
        .await
        .unwrap();
    (answer.status(), answer.text().await.unwrap())
}

backend_tests! {
    async fn a_server_that_takes_a_key_gets_each_persons_own(db: &TestDatabase) {
        // The remote's own access tokens stand in for API keys: sent as the header the
        // entry names, they say whose call it is.
        let extra = ", sign_in = \"person\", person_key_header = \"Authorization\"";
        let (remote, gateway) = remote_and_gateway_with(db, extra).await;
        let (app, tenant) = (&gateway.app, &gateway.tenant);
        app.trust_new_tools(tenant).await;
        let body = json!({"catalog_entry_id": "remote"});
        let (_, installed) = app.api(Method::POST, "/upstreams", &tenant.key, Some(body)).await;
        let id = installed["id"].as_str().unwrap().to_owned();
        assert_eq!(installed["spec"]["sign_in"], "person", "{installed}");
        // The editor's key, for discovery: the link opens the key form at once.
        let (_, link) = app.api(Method::POST, &format!("/upstreams/{id}/connect"), &tenant.key, None).await;
        let link = link["url"].as_str().unwrap();
        let form = no_redirects().get(link).send().await.unwrap().text().await.unwrap();
        assert!(form.contains("Authorization"), "{form}");
        let editor = remote.sign_in("remote", EDITOR).await;
        let (status, page) = give_key(&gateway, link, &form, &format!("Bearer {}", editor.access)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        wait_for(app, tenant, &id, |u| u["status"] == "ready").await;
        let (_, servers) = app.get("/servers", &tenant.key).await;
        let server = servers["items"].as_array().unwrap().iter()
            .find(|s| s["slug"] == "gateway").unwrap()["id"].as_str().unwrap().to_owned();
        let path = format!("/servers/{server}/upstreams/{id}");
        app.api(Method::PUT, &path, &tenant.key, Some(json!({"prefix": "rm"}))).await;

        // Ada: her link, her sign-in at the gateway, then the form for her own key.
        let ada = gateway.sign_in("gateway", "ada@people.example").await;
        let link = link_in(&call_support(&gateway, &ada.access, "Before her key").await);
        let mut browser = gateway.person("ada@people.example");
        let identity = browser.get(&link).await.location.expect("to the gateway's sign-in");
        let back = browser.approve_to(&gateway, &identity, &callback(&gateway)).await;
        let form = as_the_linking_browser(no_redirects().get(&back), &link).send().await.unwrap().text().await.unwrap();
        let ada_at_remote = remote.sign_in("remote", "ada@remote.example").await;
        let (status, page) = give_key(&gateway, &link, &form, &format!("Bearer {}", ada_at_remote.access)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("connected to Remote"), "{page}");
        let (status, _) = give_key(&gateway, &link, &form, "Bearer again").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "the form works once");
        let called = call_support(&gateway, &ada.access, "With her key").await;
        assert_ne!(called["result"]["isError"], true, "{called}");
        let (_, requests) = remote.app.get("/support-requests", &remote.tenant.key).await;
        let items = requests["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{requests}");
        assert_eq!(items[0]["email"], "ada@remote.example", "{requests}");
    }

    async fn the_python_client_is_asked_to_open_the_link_and_then_its_call_goes_through(db: &TestDatabase) {
        let (remote, gateway) = remote_and_gateway(db).await;
        install_for_people(&remote, &gateway).await;
        let ada = gateway.sign_in("gateway", "ada@people.example").await;
        let bob = gateway.sign_in("gateway", "bob@people.example").await;
        let origin = platform_origin(&gateway);

        // A client that declared no elicitation: the link in a tool error, worded for an
        // agent to show the person, in either era.
        for mode in ["legacy", "2026-07-28"] {
            let told = python_call(&gateway, &bob.access, mode, false).await;
            assert_eq!(told["is_error"], true, "{mode}: {told}");
            let text = told["text"].as_str().unwrap_or_default();
            assert!(text.contains("Show the user this link") && text.contains(&format!("{origin}/connect/gpc_")), "{mode}: {told}");
        }

        // Session era, a client that opens URLs: URLElicitationRequiredError with the link.
        // Once Ada has connected, her session is told the elicitation completed, and the
        // client's retry goes through.
        let ada_people = ("ada@people.example", "ada@remote.example");
        let asked = python_connecting(&remote, &gateway, &ada.access, "legacy", ada_people).await;
        assert_eq!(asked["error_code"], -32042, "{asked}");
        let elicitation = &asked["elicitations"][0];
        assert_eq!(elicitation["mode"], "url", "{asked}");
        assert!(elicitation["url"].as_str().unwrap().starts_with(&format!("{origin}/connect/gpc_")), "{asked}");
        let id = elicitation["elicitationId"].as_str().unwrap();
        assert!(!id.is_empty(), "{asked}");
        assert_eq!(asked["completed_elicitation"], id, "the completion names the elicitation: {asked}");
        assert_eq!(asked["is_error"], false, "{asked}");

        // The 2026-07-28 era, a client that opens URLs: an `input_required` round whose
        // URL elicitation Bob follows; the client's retry then goes through.
        let bob_people = ("bob@people.example", "bob@remote.example");
        let retried = python_connecting(&remote, &gateway, &bob.access, "2026-07-28", bob_people).await;
        assert_eq!(retried["error_code"], Value::Null, "{retried}");
        assert_eq!(retried["asked_urls"].as_array().map(Vec::len), Some(1), "one round: {retried}");
        assert_eq!(retried["is_error"], false, "{retried}");

        let (_, requests) = remote.app.get("/support-requests", &remote.tenant.key).await;
        let mut emails: Vec<&str> = requests["items"].as_array().unwrap().iter().filter_map(|r| r["email"].as_str()).collect();
        emails.sort_unstable();
        assert_eq!(emails, ["ada@remote.example", "bob@remote.example"], "{requests}");
    }

    async fn each_person_connects_their_own_account_and_calls_as_it(db: &TestDatabase) {
        let (remote, gateway) = remote_and_gateway(db).await;
        install_for_people(&remote, &gateway).await;
        let people = [("ada@people.example", "ada@remote.example"), ("bob@people.example", "bob@remote.example")];
        for (at_gateway, at_remote) in people {
            let tokens = gateway.sign_in("gateway", at_gateway).await;
            // Not connected yet: the tool error carries the link, worded for an agent.
            let asked = call_support(&gateway, &tokens.access, "Before connecting").await;
            assert_eq!(asked["result"]["isError"], true, "{asked}");
            assert!(asked.to_string().contains("not connected yet"), "{asked}");
            let link = link_in(&asked);
            assert!(link.starts_with(&format!("{}/connect/gpc_", platform_origin(&gateway))), "{link}");
            let (status, page) = connect(&remote, &gateway, &link, at_gateway, at_remote).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            assert!(page.contains("connected to Remote"), "{page}");
            // Connected: the same call now goes through, as their own account there.
            let called = call_support(&gateway, &tokens.access, &format!("From {at_gateway}")).await;
            assert_ne!(called["result"]["isError"], true, "{called}");
            let (_, requests) = remote.app.get("/support-requests", &remote.tenant.key).await;
            let mine: Vec<&Value> = requests["items"].as_array().unwrap().iter()
                .filter(|r| r["title"] == format!("From {at_gateway}")).collect();
            assert_eq!(mine.len(), 1, "{requests}");
            assert_eq!(mine[0]["email"], at_remote, "arrived as their own account: {requests}");
            // Their Guidepost token never crossed to the remote.
            assert!(!requests.to_string().contains(&tokens.access));
        }
        let (_, requests) = remote.app.get("/support-requests", &remote.tenant.key).await;
        assert_eq!(requests["items"].as_array().unwrap().len(), 2, "one each, none before connecting: {requests}");
    }

    async fn a_link_opened_by_another_signed_in_person_is_refused(db: &TestDatabase) {
        let (remote, gateway) = remote_and_gateway(db).await;
        install_for_people(&remote, &gateway).await;
        let ada = gateway.sign_in("gateway", "ada@people.example").await;
        let asked = call_support(&gateway, &ada.access, "Ada asks").await;
        let link = link_in(&asked);
        // Bob opens Ada's link: the gateway's sign-in says he is Bob, and it stops there.
        let (status, page) = connect(&remote, &gateway, &link, "bob@people.example", "bob@remote.example").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
        assert!(page.contains("another person"), "{page}");
        let again = call_support(&gateway, &ada.access, "Ada asks again").await;
        assert!(again.to_string().contains("not connected yet"), "nothing was connected: {again}");
    }

    async fn an_authorization_page_sent_on_to_another_browser_connects_nobody(db: &TestDatabase) {
        // Ada opens her own link and passes her own identity check, then sends the
        // remote's authorization page on to Bob, signed in there: his approval must not
        // connect his account as hers.
        let (remote, gateway) = remote_and_gateway(db).await;
        install_for_people(&remote, &gateway).await;
        let ada = gateway.sign_in("gateway", "ada@people.example").await;
        let link = link_in(&call_support(&gateway, &ada.access, "Ada asks").await);
        let opened = no_redirects().get(&link).send().await.unwrap();
        assert_eq!(opened.status(), StatusCode::SEE_OTHER);
        let kept = opened.headers().get_all(reqwest::header::SET_COOKIE).iter()
            .map(|c| c.to_str().unwrap().to_owned()).find(|c| c.starts_with("gp_connect_"))
            .expect("the browser that opened the link keeps a cookie");
        for attribute in ["HttpOnly", "Path=/connect", "SameSite=Lax", "Max-Age=900"] {
            assert!(kept.contains(attribute), "{kept}");
        }
        let identity = opened.headers()["location"].to_str().unwrap().to_owned();
        let back = gateway.person("ada@people.example").approve_to(&gateway, &identity, &callback(&gateway)).await;
        let checked = as_the_linking_browser(no_redirects().get(&back), &link).send().await.unwrap();
        assert_eq!(checked.status(), StatusCode::SEE_OTHER, "Ada is who the link is for");
        let to_remote = checked.headers()["location"].to_str().unwrap().to_owned();

        let back = remote.person("bob@remote.example").approve_to(&remote, &to_remote, &callback(&gateway)).await;
        let answer = no_redirects().get(&back).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
        let page = answer.text().await.unwrap();
        assert!(page.contains("started in another browser"), "{page}");
        let again = call_support(&gateway, &ada.access, "Ada asks again").await;
        assert!(again.to_string().contains("not connected yet"), "nothing was connected: {again}");
        let (_, requests) = remote.app.get("/support-requests", &remote.tenant.key).await;
        assert_eq!(requests["items"], json!([]), "nothing arrived as Bob: {requests}");
    }

    async fn person_sign_in_needs_a_server_whose_people_sign_in(db: &TestDatabase) {
        let (remote, gateway) = remote_and_gateway(db).await;
        let id = install_for_people(&remote, &gateway).await;
        let (app, tenant) = (&gateway.app, &gateway.tenant);
        let open = app.create_server(tenant, "open-door", json!({})).await;
        let path = format!("/servers/{}/upstreams/{id}", open["id"].as_str().unwrap());
        let (status, body) = app.api(Method::PUT, &path, &tenant.key, Some(json!({"prefix": "rm"}))).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body.to_string().contains("person sign-in is only for servers whose people sign in"), "{body}");
        // Nor may the server it is attached to stop requiring sign-in.
        let (_, servers) = app.get("/servers", &tenant.key).await;
        let server = servers["items"].as_array().unwrap().iter()
            .find(|s| s["slug"] == "gateway").unwrap()["id"].as_str().unwrap().to_owned();
        let patch = json!({"auth_mode": "none"});
        let (status, body) = app.api(Method::PATCH, &format!("/servers/{server}"), &tenant.key, Some(patch)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
    }

    async fn a_switch_to_person_and_a_server_opened_at_once_cannot_both_hold(db: &TestDatabase) {
        // Each change alone passes its check against the other's old row: the rule
        // between the two rows holds only if the writes see each other.
        let (remote, gateway) = remote_and_gateway(db).await;
        let id = install_for_people(&remote, &gateway).await;
        let (app, key) = (&gateway.app, &gateway.tenant.key);
        let (_, servers) = app.get("/servers", key).await;
        let server = servers["items"].as_array().unwrap().iter()
            .find(|s| s["slug"] == "gateway").unwrap()["id"].as_str().unwrap().to_owned();
        let (server_path, upstream_path) = (format!("/servers/{server}"), format!("/upstreams/{id}"));
        for round in 1..=8 {
            let (status, body) = app.api(Method::PATCH, &upstream_path, key, Some(json!({"sign_in": "organization"}))).await;
            assert_eq!(status, StatusCode::OK, "round {round}: {body}");
            let ((to_person, upstream), (opened, server_body)) = tokio::join!(
                app.api(Method::PATCH, &upstream_path, key, Some(json!({"sign_in": "person"}))),
                app.api(Method::PATCH, &server_path, key, Some(json!({"auth_mode": "none"}))),
            );
            assert!(!(to_person.is_success() && opened.is_success()),
                "round {round}: both passed: {upstream} {server_body}");
            let (_, stored_upstream) = app.get(&upstream_path, key).await;
            let (_, stored_server) = app.get(&server_path, key).await;
            let broken = stored_upstream["spec"]["sign_in"] == "person" && stored_server["auth_mode"] == "none";
            assert!(!broken, "round {round}: a person upstream on a server that signs nobody in");
            if stored_server["auth_mode"] == "none" {
                let back = json!({"auth_mode": "platform_oauth"});
                let (status, body) = app.api(Method::PATCH, &server_path, key, Some(back)).await;
                assert_eq!(status, StatusCode::OK, "round {round}: {body}");
            }
        }
    }
}
