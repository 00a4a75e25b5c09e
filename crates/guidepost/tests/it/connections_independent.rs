//! Connections against an independent authorization server: a real OpenID
//! provider (node-oidc-provider, tests/e2e/oidc_provider.mjs --mcp) in front of an MCP
//! server of the tests' own (tests/e2e/mcp_resource.mjs), not a Guidepost. The platform's
//! OAuth client finds the server through the resource's metadata, registers as the
//! pre-registered client an editor gave at install or by dynamic registration, and the
//! calls then arrive as the account that signed in there.

use std::sync::Arc;

use guidepost_core::secrets::MasterKey;
use guidepost_core::upstreams::catalog::Catalog;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::connections::{as_the_linking_browser, connect_link, platform_origin};
use crate::gateway_fixture::wait_for;
use crate::helpers::{RawMcp, STATELESS_ERA, Tenant, TestApp, spawn_app_with};
use crate::oauth_helpers::Person;
use crate::oidc_idp::{CLIENT_ID, CLIENT_SECRET, Idp, PASSWORD, USER};

/// How the platform registers with the provider.
#[derive(Clone, Copy, PartialEq)]
enum Registration {
    /// The client id and secret an editor gives at install.
    Preregistered,
    /// RFC 7591 at the provider's registration endpoint.
    Dynamic,
}

struct Setup {
    gateway: TestApp,
    tenant: Tenant,
    idp: Idp,
    upstream: String,
}

async fn setup(db: &TestDatabase, registration: Registration) -> Setup {
    // The provider must know the platform's callback before the platform knows the
    // provider's MCP server (its catalog names it): the platform's port is chosen first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let callback = format!("http://localhost:{port}/connect/callback");
    let extra: &[&str] = match registration {
        Registration::Preregistered => &["--mcp"],
        Registration::Dynamic => &["--mcp", "--registration"],
    };
    let idp = Idp::start(&[callback], extra).await;
    let mcp = idp
        .mcp
        .clone()
        .expect("the provider serves the MCP resource");
    let (client, secrets) = match registration {
        Registration::Preregistered => (
            format!(", oauth_client_id = {CLIENT_ID:?}"),
            "secrets = [{ name = \"OAUTH_CLIENT_SECRET\", description = \"The client's secret at the provider.\" }]\n",
        ),
        Registration::Dynamic => (String::new(), ""),
    };
    let entry = format!(
        "[[entry]]\nid = \"independent\"\nname = \"Independent\"\n\
         description = \"An MCP server behind its own OAuth provider.\"\n\
         spec = {{ runtime = \"http\", url = {mcp:?}{client} }}\n{secrets}"
    );
    let catalog = Arc::new(Catalog::with_operator_entries(&entry).unwrap());
    let gateway = spawn_app_with(db, move |settings| {
        settings.listen.set_port(port);
        settings.platform.catalog = catalog;
        settings.platform.master_key = Some(MasterKey::from_bytes([5; 32]));
        settings.gateway.http_allow_private = true;
    })
    .await;
    assert_eq!(
        platform_origin(&gateway),
        format!("http://localhost:{port}")
    );
    let tenant = gateway.create_tenant("Independent Co").await;
    gateway.trust_new_tools(&tenant).await;
    let server = gateway.create_server(&tenant, "gateway", json!({})).await;

    let mut install = json!({"catalog_entry_id": "independent", "sign_in": "organization"});
    if registration == Registration::Preregistered {
        install["secrets"] = json!({"OAUTH_CLIENT_SECRET": CLIENT_SECRET});
    }
    let (status, installed) = gateway
        .api(Method::POST, "/upstreams", &tenant.key, Some(install))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    let upstream = installed["id"].as_str().unwrap().to_owned();
    let path = format!(
        "/servers/{}/upstreams/{upstream}",
        server["id"].as_str().unwrap()
    );
    let (status, body) = gateway
        .api(
            Method::PUT,
            &path,
            &tenant.key,
            Some(json!({"prefix": "ind"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    Setup {
        gateway,
        tenant,
        idp,
        upstream,
    }
}

/// Opens the connect link, signs in at the provider as `USER`: the callback URL the
/// browser is sent back to, and the authorization request it was sent with.
async fn sign_in_at_provider(s: &Setup, link: &str) -> (String, String) {
    let mut person = Person::new("editor@independent.example");
    let opened = person.get(link).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
    let authorize = opened.location.expect("on to the provider");
    let callback = format!("{}/connect/callback", platform_origin(&s.gateway));
    let back = provider_sign_in(&s.idp, &mut person, &authorize, &callback, USER).await;
    (back, authorize)
}

/// `person`'s browser, sent to the provider's `authorize` URL, signs in there as `user`:
/// the `callback` URL it is sent back to, with its query.
pub(crate) async fn provider_sign_in(
    idp: &Idp,
    person: &mut Person,
    authorize: &str,
    callback: &str,
    user: &str,
) -> String {
    assert!(
        authorize.starts_with(&format!("{}/auth?", idp.issuer)),
        "{authorize}"
    );
    let form = person.follow(authorize, callback).await;
    assert!(
        form.body.contains("name=\"password\""),
        "the provider's sign-in form: {}",
        form.body
    );
    let action = url::Url::parse(&idp.issuer)
        .unwrap()
        .join(&form.action(""))
        .unwrap()
        .to_string();
    let answer = person
        .post(
            &action,
            &[
                ("username", user),
                ("password", PASSWORD),
                ("action", "login"),
            ],
        )
        .await;
    let next = answer.location.expect("the provider sends the browser on");
    let next = url::Url::parse(&action)
        .unwrap()
        .join(&next)
        .unwrap()
        .to_string();
    let back = person.follow(&next, callback).await;
    back.location.expect("back to the platform's callback")
}

fn parameter(url: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(url).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn whoami(gateway: &TestApp) -> Value {
    let mcp = RawMcp::new(gateway.mcp_path_url("gateway"), STATELESS_ERA);
    mcp.call_tool(1, "ind__whoami", json!({})).await.body
}

async fn connects_and_calls_as_the_account(db: &TestDatabase, registration: Registration) {
    let s = setup(db, registration).await;
    let waiting = wait_for(&s.gateway, &s.tenant, &s.upstream, |u| {
        u["status"] == "failed"
    })
    .await;
    assert!(
        waiting["last_error"]
            .to_string()
            .contains("needs an account connected first"),
        "{waiting}"
    );

    let link = connect_link(&s.gateway, &s.tenant, &s.upstream).await;
    let (callback, authorize) = sign_in_at_provider(&s, &link).await;
    // The standard request: PKCE S256, the resource, the scope the resource names.
    assert_eq!(
        parameter(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(parameter(&authorize, "resource"), s.idp.mcp.clone());
    assert_eq!(parameter(&authorize, "scope").as_deref(), Some("mcp"));
    let client_id = parameter(&authorize, "client_id").unwrap();
    match registration {
        Registration::Preregistered => assert_eq!(client_id, CLIENT_ID),
        Registration::Dynamic => {
            assert_ne!(client_id, CLIENT_ID, "a client registered for the platform")
        }
    }
    // RFC 9207: the provider names itself on the way back, and the platform checks it.
    assert_eq!(
        parameter(&callback, "iss").as_deref(),
        Some(s.idp.issuer.as_str())
    );

    let page = as_the_linking_browser(s.gateway.http.get(&callback), &link)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("connected to Independent")
    );
    wait_for(&s.gateway, &s.tenant, &s.upstream, |u| {
        u["status"] == "ready"
    })
    .await;

    // An anonymous caller's call arrives at the MCP server as the account that signed in.
    let called = whoami(&s.gateway).await;
    assert_eq!(
        called["result"]["content"][0]["text"],
        format!("signed in as {USER}"),
        "{called}"
    );
    let resource_origin = url::Url::parse(s.idp.mcp.as_deref().unwrap()).unwrap();
    let calls: Value = reqwest::get(resource_origin.join("/test/calls").unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls, json!([USER]), "exactly the one call, as {USER}");

    // Disconnected: the next call asks for a connection again, and reaches nothing.
    let path = format!("/upstreams/{}/connections/organization", s.upstream);
    let (status, body) = s
        .gateway
        .api(Method::DELETE, &path, &s.tenant.key, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let refused = whoami(&s.gateway).await;
    assert!(
        refused
            .to_string()
            .contains("needs an account connected first"),
        "{refused}"
    );
    let calls: Value = reqwest::get(resource_origin.join("/test/calls").unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls, json!([USER]), "nothing more arrived");
}

backend_tests! {
    async fn a_preregistered_client_connects_through_an_independent_provider(db: &TestDatabase) {
        connects_and_calls_as_the_account(db, Registration::Preregistered).await;
    }

    async fn a_dynamically_registered_client_connects_through_an_independent_provider(db: &TestDatabase) {
        connects_and_calls_as_the_account(db, Registration::Dynamic).await;
    }
}
