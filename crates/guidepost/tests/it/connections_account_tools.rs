//! A person whose own account lacks a tool the organization's account discovered. The
//! independent provider (tests/e2e/oidc_provider.mjs --mcp) stands in front of an
//! MCP server of the tests' own that offers `admin_report` only to its administrator,
//! `ada`; the installing editor connects as `ada` (the tool is discovered and approved),
//! a person connects as `bob`, whose account does not have it. Their call of it gets an
//! error worded for them: which tool, their connected account, and what to do; not the
//! upstream's own "Unknown tool".

use std::sync::Arc;

use guidepost_core::secrets::MasterKey;
use guidepost_core::upstreams::catalog::Catalog;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::connections::as_the_linking_browser;
use crate::connections_independent::provider_sign_in;
use crate::connections_people::{link_in, platform_origin};
use crate::gateway_fixture::wait_for;
use crate::oauth_helpers::{OAuthApp, Person, oauth_app};
use crate::oidc_idp::{CLIENT_ID, CLIENT_SECRET, Idp, USER};

/// The provider's second account, which is not the MCP server's administrator.
const OTHER_USER: &str = "bob";

struct Setup {
    gateway: OAuthApp,
    idp: Idp,
}

impl Setup {
    fn callback(&self) -> String {
        format!("{}/connect/callback", platform_origin(&self.gateway))
    }
}

/// The provider (asking for `openid email` too, so that connections name their account)
/// and the gateway with the server `gateway` (sign-in required), whose catalog offers the
/// provider's MCP server with the platform as a pre-registered client.
async fn setup(db: &TestDatabase) -> Setup {
    // The provider must know the platform's callback before the platform knows the
    // provider's MCP server: the platform's port is chosen first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let callback = format!("http://localhost:{port}/connect/callback");
    let extra = [
        "--mcp",
        "--mcp-scope",
        "mcp openid email",
        "--claims-in-id-token",
        "--other-user",
        OTHER_USER,
    ];
    let idp = Idp::start(&[callback], &extra).await;
    let mcp = idp
        .mcp
        .clone()
        .expect("the provider serves the MCP resource");
    let entry = format!(
        "[[entry]]\nid = \"independent\"\nname = \"Independent\"\n\
         description = \"An MCP server behind its own OAuth provider.\"\n\
         spec = {{ runtime = \"http\", url = {mcp:?}, oauth_client_id = {CLIENT_ID:?} }}\n\
         secrets = [{{ name = \"OAUTH_CLIENT_SECRET\", description = \"The client's secret.\" }}]\n"
    );
    let catalog = Arc::new(Catalog::with_operator_entries(&entry).unwrap());
    let gateway = oauth_app(db, &["gateway"], move |settings| {
        settings.listen.set_port(port);
        settings.platform.catalog = catalog;
        settings.platform.master_key = Some(MasterKey::from_bytes([7; 32]));
        settings.gateway.http_allow_private = true;
    })
    .await;
    Setup { gateway, idp }
}

/// Installs the MCP server with `person` sign-in, connects the editor as `ada` for
/// discovery, and attaches it to `gateway` under `ind`: the tools discovered.
async fn install_for_people(s: &Setup) -> Vec<String> {
    let (app, tenant) = (&s.gateway.app, &s.gateway.tenant);
    app.trust_new_tools(tenant).await;
    let body = json!({
        "catalog_entry_id": "independent",
        "sign_in": "person",
        "secrets": {"OAUTH_CLIENT_SECRET": CLIENT_SECRET},
    });
    let (status, installed) = app
        .api(Method::POST, "/upstreams", &tenant.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    let id = installed["id"].as_str().unwrap().to_owned();
    let path = format!("/upstreams/{id}/connect");
    let (_, link) = app.api(Method::POST, &path, &tenant.key, None).await;
    let link = link["url"].as_str().unwrap();
    let mut editor = Person::new("editor@acme.example");
    let opened = editor.get(link).await;
    let authorize = opened.location.expect("on to the provider");
    let back = provider_sign_in(&s.idp, &mut editor, &authorize, &s.callback(), USER).await;
    let page = as_the_linking_browser(app.http.get(&back), link)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    wait_for(app, tenant, &id, |u| u["status"] == "ready").await;
    let (_, servers) = app.get("/servers", &tenant.key).await;
    let server = servers["items"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/servers/{server}/upstreams/{id}");
    let body = json!({"prefix": "ind"});
    let (status, body) = app.api(Method::PUT, &path, &tenant.key, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, tools) = app
        .get(&format!("/upstreams/{id}/tools"), &tenant.key)
        .await;
    let mut names: Vec<String> = tools["items"]
        .as_array()
        .unwrap_or_else(|| panic!("tools: {tools}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// `email`, signed in at the gateway, opens `link` and signs in at the provider as
/// `user`: the page the connection ends on.
async fn connect_as(s: &Setup, link: &str, email: &str, user: &str) -> String {
    let gateway = &s.gateway;
    let mut browser = gateway.person(email);
    let identity = browser
        .get(link)
        .await
        .location
        .expect("to the gateway's sign-in");
    let back = browser.approve_to(gateway, &identity, &s.callback()).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let checked = as_the_linking_browser(browser.get(&back), link)
        .send()
        .await
        .unwrap();
    assert_eq!(
        checked.status(),
        StatusCode::SEE_OTHER,
        "the identity checked"
    );
    let authorize = checked.headers()["location"].to_str().unwrap().to_owned();
    let mut at_provider = Person::new(email);
    let back = provider_sign_in(&s.idp, &mut at_provider, &authorize, &s.callback(), user).await;
    let page = as_the_linking_browser(gateway.app.http.get(&back), link)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    page.text().await.unwrap()
}

async fn call(gateway: &OAuthApp, token: &str, tool: &str) -> Value {
    let mcp = gateway.mcp("gateway", Some(token), None);
    mcp.call_tool(1, tool, json!({})).await.body
}

fn text(answer: &Value) -> String {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("a text result: {answer}"))
        .to_owned()
}

backend_tests! {
    async fn a_person_whose_account_lacks_a_discovered_tool_is_told_so(db: &TestDatabase) {
        let s = setup(db).await;
        let discovered = install_for_people(&s).await;
        assert_eq!(discovered, ["admin_report", "whoami"], "ada's account discovers both");

        // Bob connects his own account, `bob` at the provider, which lacks the report.
        let bob = s.gateway.sign_in("gateway", "bob@people.example").await;
        let asked = call(&s.gateway, &bob.access, "ind__admin_report").await;
        let page = connect_as(&s, &link_in(&asked), "bob@people.example", OTHER_USER).await;
        assert!(page.contains("bob@acme.example"), "the account is named: {page}");
        let whoami = call(&s.gateway, &bob.access, "ind__whoami").await;
        assert_eq!(text(&whoami), "signed in as bob", "{whoami}");

        let refused = call(&s.gateway, &bob.access, "ind__admin_report").await;
        assert_eq!(refused["result"]["isError"], true, "{refused}");
        let said = text(&refused);
        assert!(
            said.starts_with(
                "ind__admin_report is not available to your account at Independent \
                 (bob@acme.example): that account does not offer this tool there."
            ),
            "{said}"
        );
        let connections = format!("{}/connect/mine?server=gateway", platform_origin(&s.gateway));
        assert!(said.contains(&connections), "where to change the account: {said}");
        assert!(said.contains("ask your organization's administrators"), "{said}");
        assert!(!said.contains("Unknown tool"), "not the upstream's own words: {said}");
        // Said again from the session's own list, and the other tool still works.
        let again = call(&s.gateway, &bob.access, "ind__admin_report").await;
        assert_eq!(text(&again), said);
        let whoami = call(&s.gateway, &bob.access, "ind__whoami").await;
        assert_eq!(text(&whoami), "signed in as bob", "{whoami}");

        // Ada connects as `ada`, whose account has the report: her call goes through.
        let ada = s.gateway.sign_in("gateway", "ada@people.example").await;
        let asked = call(&s.gateway, &ada.access, "ind__admin_report").await;
        connect_as(&s, &link_in(&asked), "ada@people.example", USER).await;
        let report = call(&s.gateway, &ada.access, "ind__admin_report").await;
        assert_eq!(text(&report), "the report, for ada", "{report}");
        assert_ne!(report["result"]["isError"], true, "{report}");
    }
}
