//! Connections: a remote upstream that wants its callers signed in, here a
//! `platform_oauth` server of a second Guidepost, installed with `sign_in: organization`.
//! An editor connects once through the platform's OAuth client (discovery, registration,
//! PKCE, the callback on the platform host) and every call speaks as that account; the
//! connect link and the callback work once; disconnecting revokes the tokens and the next
//! call says to connect again. (`connections_people` has `person` sign-in.)

use std::sync::Arc;

use guidepost_core::secrets::MasterKey;
use guidepost_core::upstreams::catalog::Catalog;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::wait_for;
use crate::helpers::{RawMcp, STATELESS_ERA, Tenant, TestApp, spawn_app_with};
use crate::oauth_helpers::{OAuthApp, oauth_app};

const EDITOR: &str = "editor@gateway.example";

/// The second Guidepost (its server `remote` requires sign-in) and a gateway whose
/// catalog offers it as `remote`, with `extra` in the entry's spec.
async fn remote_and_gateway(db: &TestDatabase, extra: &str) -> (OAuthApp, TestApp) {
    let remote = oauth_app(db, &["remote"], |_| {}).await;
    let gateway = gateway_for(db, &remote, extra).await;
    (remote, gateway)
}

/// A gateway node whose catalog offers `remote`'s server as `remote`.
pub(crate) async fn gateway_for(db: &TestDatabase, remote: &OAuthApp, extra: &str) -> TestApp {
    let url = remote.resource("remote");
    let entry = format!(
        "[[entry]]\nid = \"remote\"\nname = \"Remote\"\ndescription = \"A server that signs in.\"\n\
         spec = {{ runtime = \"http\", url = {url:?}{extra} }}\n"
    );
    let catalog = Catalog::with_operator_entries(&entry).unwrap();
    spawn_app_with(db, move |settings| {
        settings.platform.catalog = Arc::new(catalog);
        settings.platform.master_key = Some(MasterKey::from_bytes([9; 32]));
        settings.gateway.http_allow_private = true;
    })
    .await
}

/// Installs `remote` with `sign_in: organization` and attaches it to a new open server
/// `gateway` under `rm`: the upstream's id.
pub(crate) async fn install(gateway: &TestApp, tenant: &Tenant) -> String {
    gateway.trust_new_tools(tenant).await;
    let server = gateway.create_server(tenant, "gateway", json!({})).await;
    let body = json!({"catalog_entry_id": "remote", "sign_in": "organization"});
    let (status, installed) = gateway
        .api(Method::POST, "/upstreams", &tenant.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    assert_eq!(installed["spec"]["sign_in"], "organization", "{installed}");
    let id = installed["id"].as_str().unwrap().to_owned();
    let path = format!("/servers/{}/upstreams/{id}", server["id"].as_str().unwrap());
    let (status, body) = gateway
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

/// The connect link for the organization's account.
pub(crate) async fn connect_link(gateway: &TestApp, tenant: &Tenant, id: &str) -> String {
    let path = format!("/upstreams/{id}/connect");
    let (status, link) = gateway.api(Method::POST, &path, &tenant.key, None).await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    link["url"].as_str().unwrap().to_owned()
}

/// `request` as the browser that opened `link` sends it: with the cookie the link's page
/// set (`connections::browser_cookie`), which every later step of the flow must bring
/// back. For clients other than the one that opened the link (the page's `Set-Cookie`
/// itself is checked in `connections_people`).
pub(crate) fn as_the_linking_browser(
    request: reqwest::RequestBuilder,
    link: &str,
) -> reqwest::RequestBuilder {
    let token = link.rsplit('/').next().expect("a link ends in its token");
    let kept = guidepost_core::upstreams::connections::browser_cookie(token);
    request.header(
        reqwest::header::COOKIE,
        format!("{}={}", kept.name, kept.value),
    )
}

/// Opens `link` as `email` and signs in at the remote's authorization server: the
/// callback URL the browser is sent back to (not yet opened).
pub(crate) async fn sign_in_at_remote(
    remote: &OAuthApp,
    gateway: &TestApp,
    link: &str,
    email: &str,
) -> String {
    let mut person = remote.person(email);
    let opened = person.get(link).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
    let authorize = opened.location.expect("on to the authorization server");
    assert!(
        authorize.starts_with(&format!("{}/authorize?", remote.issuer("remote"))),
        "{authorize}"
    );
    for parameter in ["code_challenge_method=S256", "resource=", "state="] {
        assert!(authorize.contains(parameter), "{parameter} in {authorize}");
    }
    let callback = format!("{}/connect/callback", platform_origin(gateway));
    person.approve_to(remote, &authorize, &callback).await
}

/// The gateway's platform host, as its links name it.
pub(crate) fn platform_origin(gateway: &TestApp) -> String {
    let port = url::Url::parse(&gateway.url).unwrap().port().unwrap();
    format!("http://localhost:{port}")
}

/// The value of `series` (a metric's name with its labels) in the remote's `/metrics`;
/// 0 before it was first counted.
pub(crate) async fn remote_count(remote: &OAuthApp, series: &str) -> u64 {
    let metrics = remote
        .app
        .http
        .get(format!("{}/metrics", remote.app.url))
        .send()
        .await
        .unwrap();
    let text = metrics.text().await.unwrap();
    text.lines()
        .find(|line| {
            line.strip_prefix(series)
                .is_some_and(|rest| rest.starts_with(' '))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or(0)
}

/// RFC 7009 revocations the remote's authorization server carried out.
async fn revocations(remote: &OAuthApp) -> u64 {
    remote_count(remote, "guidepost_oauth_revocations_total").await
}

pub(crate) async fn call_support(gateway: &TestApp, title: &str) -> Value {
    let mcp = RawMcp::new(gateway.mcp_path_url("gateway"), STATELESS_ERA);
    let arguments = json!({"title": title, "problem_description": "Asked through the gateway."});
    mcp.call_tool(1, "rm__get_support", arguments).await.body
}

backend_tests! {
    async fn a_switch_to_person_beside_new_settings_is_refused_whole(db: &TestDatabase) {
        // New settings make an update write its launch after the rest: the sign-in it
        // ends with is checked before either, so a refusal leaves nothing written.
        let (_remote, gateway) = remote_and_gateway(db, "").await;
        let acme = gateway.create_tenant("Gateway Co").await;
        let id = install(&gateway, &acme).await;
        let path = format!("/upstreams/{id}");
        let patch = json!({"sign_in": "person", "name": "Renamed", "config": {}});
        let (status, body) = gateway.api(Method::PATCH, &path, &acme.key, Some(patch)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body.to_string().contains("person sign-in is only for servers whose people sign in"), "{body}");
        let (_, stored) = gateway.get(&path, &acme.key).await;
        assert_eq!((stored["name"].as_str(), stored["spec"]["sign_in"].as_str()),
            (Some("Remote"), Some("organization")), "nothing written: {stored}");
    }
    async fn an_editor_connects_the_organizations_account_and_every_call_speaks_as_it(db: &TestDatabase) {
        let (remote, gateway) = remote_and_gateway(db, "").await;
        let acme = gateway.create_tenant("Gateway Co").await;
        let id = install(&gateway, &acme).await;

        // Nothing to start before an account is connected, and the status says so.
        let waiting = wait_for(&gateway, &acme, &id, |u| u["status"] == "failed").await;
        let why = waiting["last_error"].as_str().unwrap_or_default();
        assert!(why.contains("needs an account connected first") && why.contains("/connect"), "{waiting}");

        let link = connect_link(&gateway, &acme, &id).await;
        assert!(link.starts_with(&format!("{}/connect/gpc_", platform_origin(&gateway))), "{link}");
        let callback = sign_in_at_remote(&remote, &gateway, &link, EDITOR).await;
        let answer = as_the_linking_browser(gateway.http.get(&callback), &link).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let page = answer.text().await.unwrap();
        assert!(page.contains("connected to Remote"), "{page}");

        // The callback and the link work once.
        let again = as_the_linking_browser(gateway.http.get(&callback), &link).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
        assert!(again.text().await.unwrap().contains("already used"));
        let reopened = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
            .get(&link).send().await.unwrap();
        assert_eq!(reopened.status(), StatusCode::BAD_REQUEST);

        // Connected: the upstream starts with the account and its tools are discovered.
        let ready = wait_for(&gateway, &acme, &id, |u| u["status"] == "ready").await;
        assert_eq!(ready["last_error"], Value::Null, "{ready}");
        let (_, connections) = gateway.get(&format!("/upstreams/{id}/connections"), &acme.key).await;
        let items = connections["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{connections}");
        assert_eq!(items[0]["owner"], "organization");
        assert_eq!(items[0]["status"], "active");
        assert!(!connections.to_string().contains("token"), "no token shown: {connections}");

        // An anonymous caller's call arrives at the remote as the editor's account.
        let called = call_support(&gateway, "Through the connection").await;
        assert_ne!(called["result"]["isError"], true, "{called}");
        let (_, requests) = remote.app.get("/support-requests", &remote.tenant.key).await;
        let items = requests["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{requests}");
        assert_eq!(items[0]["email"], EDITOR, "{requests}");

        // Disconnected: revoked at the remote, and the next call says to connect again.
        let revoked_before = revocations(&remote).await;
        let path = format!("/upstreams/{id}/connections/organization");
        let (status, body) = gateway.api(Method::DELETE, &path, &acme.key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(revocations(&remote).await - revoked_before, 2, "its refresh and access tokens");
        let refused = call_support(&gateway, "After disconnecting").await;
        let text = refused.to_string();
        assert!(text.contains("needs an account connected first"), "{refused}");
        let (_, requests) = remote.app.get("/support-requests", &remote.tenant.key).await;
        assert_eq!(requests["items"].as_array().unwrap().len(), 1, "nothing more arrived: {requests}");
        let (_, audit) = gateway.get("/audit-events", &acme.key).await;
        let actions: Vec<&str> = audit["items"].as_array().unwrap().iter()
            .filter_map(|e| e["action"].as_str()).collect();
        for action in ["connection.connected", "connection.disconnected"] {
            assert!(actions.contains(&action), "{action} in {actions:?}");
        }
    }

    async fn a_callback_with_an_unknown_state_and_another_organizations_upstream_are_refused(db: &TestDatabase) {
        let (_remote, gateway) = remote_and_gateway(db, "").await;
        let acme = gateway.create_tenant("Gateway Co").await;
        let id = install(&gateway, &acme).await;
        let forged = format!("{}/connect/callback?state=forged&code=anything", platform_origin(&gateway));
        let answer = gateway.http.get(&forged).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        let unknown_link = gateway.http.get(format!("{}/connect/gpc_nope", platform_origin(&gateway))).send().await.unwrap();
        assert_eq!(unknown_link.status(), StatusCode::BAD_REQUEST);

        let other = gateway.create_tenant("Other").await;
        for (method, path) in [
            (Method::POST, format!("/upstreams/{id}/connect")),
            (Method::GET, format!("/upstreams/{id}/connections")),
            (Method::DELETE, format!("/upstreams/{id}/connections/organization")),
        ] {
            let (status, body) = gateway.api(method, &path, &other.key, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        }
    }

    async fn a_server_without_sign_in_has_no_connect_link_until_it_is_switched(db: &TestDatabase) {
        let (_remote, gateway) = remote_and_gateway(db, "").await;
        let acme = gateway.create_tenant("Gateway Co").await;
        // A server without sign-in has no connect link.
        let body = json!({"catalog_entry_id": "remote"});
        let (_, installed) = gateway.api(Method::POST, "/upstreams", &acme.key, Some(body)).await;
        let id = installed["id"].as_str().unwrap();
        let (status, body) = gateway.api(Method::POST, &format!("/upstreams/{id}/connect"), &acme.key, None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        // It can be switched to organization sign-in later.
        let patch = json!({"sign_in": "organization"});
        let (status, patched) = gateway.api(Method::PATCH, &format!("/upstreams/{id}"), &acme.key, Some(patch)).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(patched["spec"]["sign_in"], "organization");
        let (status, _) = gateway.api(Method::POST, &format!("/upstreams/{id}/connect"), &acme.key, None).await;
        assert_eq!(status, StatusCode::CREATED);
    }
}
