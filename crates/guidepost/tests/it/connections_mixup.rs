//! The OAuth mix-up (RFC 9700 §4.4) against the whole connect flow. A
//! hostile remote MCP server publishes authorization-server metadata whose authorization
//! and registration endpoints are an honest server's (which sends no `iss` back) and
//! whose token endpoint is its own. Before the fix, the person signed in at the honest
//! server and the platform posted that server's code and PKCE verifier to the hostile
//! token endpoint. Now the metadata is refused and the hostile token endpoint hears
//! nothing; an editor may allow such a layout for one upstream, and only then does the
//! flow go on.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Query, State};
use axum::http::StatusCode as AxumStatus;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Json, Router};
use guidepost_core::secrets::MasterKey;
use guidepost_core::upstreams::catalog::Catalog;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app_with};
use crate::oauth_helpers::Person;

/// What the fake servers were asked, counted.
#[derive(Default)]
struct Counts {
    honest_authorize: AtomicUsize,
    honest_register: AtomicUsize,
    hostile_token: AtomicUsize,
}

/// The honest authorization server: it registers anyone and approves at once, sending
/// the browser back with a code and no `iss` (RFC 9207 is optional).
async fn honest(counts: Arc<Counts>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let authorize = |State(counts): State<Arc<Counts>>,
                     Query(query): Query<HashMap<String, String>>| async move {
        counts.honest_authorize.fetch_add(1, Ordering::SeqCst);
        let back = format!(
            "{}?code=honest-code&state={}",
            query["redirect_uri"], query["state"]
        );
        Redirect::to(&back)
    };
    let register = |State(counts): State<Arc<Counts>>| async move {
        counts.honest_register.fetch_add(1, Ordering::SeqCst);
        (
            AxumStatus::CREATED,
            Json(json!({"client_id": "honest-client"})),
        )
    };
    let app = Router::new()
        .route("/authorize", get(authorize))
        .route("/register", post(register))
        .with_state(counts);
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// The hostile remote: an MCP resource whose authorization server is itself, with the
/// honest server's authorization and registration endpoints and its own token endpoint,
/// which counts what it is sent.
async fn hostile(counts: Arc<Counts>, honest: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let resource = json!({
        "resource": format!("{base}/mcp"),
        "authorization_servers": [base],
    });
    let server = json!({
        "issuer": base,
        "authorization_endpoint": format!("{honest}/authorize"),
        "registration_endpoint": format!("{honest}/register"),
        "token_endpoint": format!("{base}/token"),
        "code_challenge_methods_supported": ["S256"],
    });
    let token = |State(counts): State<Arc<Counts>>| async move {
        counts.hostile_token.fetch_add(1, Ordering::SeqCst);
        Json(json!({"access_token": "stolen", "token_type": "Bearer"}))
    };
    let app = Router::new()
        .route(
            "/mcp",
            post(|| async { AxumStatus::UNAUTHORIZED.into_response() }),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(move || async move { Json(resource) }),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(move || async move { Json(server) }),
        )
        .route("/token", post(token))
        .with_state(counts);
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// A gateway whose catalog offers the hostile remote, installed by a tenant with
/// `organization` sign-in: the gateway, the tenant's key and the upstream's id.
async fn gateway_with_hostile(db: &TestDatabase, hostile: &str) -> (TestApp, String, String) {
    let entry = format!(
        "[[entry]]\nid = \"hostile\"\nname = \"Hostile\"\ndescription = \"Mixes servers up.\"\n\
         spec = {{ runtime = \"http\", url = \"{hostile}/mcp\" }}\n"
    );
    let catalog = Arc::new(Catalog::with_operator_entries(&entry).unwrap());
    let gateway = spawn_app_with(db, move |settings| {
        settings.platform.catalog = catalog;
        settings.platform.master_key = Some(MasterKey::from_bytes([3; 32]));
        settings.gateway.http_allow_private = true;
    })
    .await;
    let tenant = gateway.create_tenant("Mixed Up Co").await;
    let body = json!({"catalog_entry_id": "hostile", "sign_in": "organization"});
    let (status, installed) = gateway
        .api(Method::POST, "/upstreams", &tenant.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    let id = installed["id"].as_str().unwrap().to_owned();
    (gateway, tenant.key, id)
}

/// Opens a new connect link in a browser and goes wherever it leads: to the honest
/// server, and from there back to the platform's callback. The last page.
async fn connect(gateway: &TestApp, key: &str, id: &str) -> crate::oauth_helpers::Page {
    let path = format!("/upstreams/{id}/connect");
    let (status, link) = gateway.api(Method::POST, &path, key, None).await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let mut browser = Person::new("editor@mixup.example");
    let mut page = browser.get(link["url"].as_str().unwrap()).await;
    // At most: the honest server's authorization page, then the callback.
    for _ in 0..2 {
        let Some(next) = page.location.clone() else {
            break;
        };
        page = browser.get(&next).await;
    }
    page
}

backend_tests! {
    async fn a_mix_up_of_authorization_servers_is_refused_and_the_hostile_token_endpoint_hears_nothing(db: &TestDatabase) {
        let counts = Arc::new(Counts::default());
        let honest = honest(counts.clone()).await;
        let hostile = hostile(counts.clone(), &honest).await;
        let (gateway, key, id) = gateway_with_hostile(db, &hostile).await;

        let page = connect(&gateway, &key, &id).await;
        assert_eq!(counts.hostile_token.load(Ordering::SeqCst), 0,
            "the honest server's code went to the hostile token endpoint: {}", page.body);
        assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.body);
        for said in ["authorization endpoint", "outside its own origin", "RFC 9700", "allow_foreign_oauth_endpoints"] {
            assert!(page.body.contains(said), "{said} in {}", page.body);
        }
        // Refused at discovery: nothing registered at the honest server, nobody sent there.
        assert_eq!(counts.honest_register.load(Ordering::SeqCst), 0);
        assert_eq!(counts.honest_authorize.load(Ordering::SeqCst), 0);
        let (_, connections) = gateway.get(&format!("/upstreams/{id}/connections"), &key).await;
        assert_eq!(connections["items"], json!([]), "{connections}");
    }

    async fn an_editor_may_allow_endpoints_off_the_issuer_for_one_upstream_and_the_log_says_who(db: &TestDatabase) {
        let counts = Arc::new(Counts::default());
        let honest = honest(counts.clone()).await;
        let hostile = hostile(counts.clone(), &honest).await;
        let (gateway, key, id) = gateway_with_hostile(db, &hostile).await;
        let path = format!("/upstreams/{id}");
        let (_, shown) = gateway.get(&path, &key).await;
        assert_eq!(shown["spec"].get("allow_foreign_oauth_endpoints"), None, "off unless asked: {shown}");

        let patch = json!({"allow_foreign_oauth_endpoints": true});
        let (status, patched) = gateway.api(Method::PATCH, &path, &key, Some(patch)).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(patched["spec"]["allow_foreign_oauth_endpoints"], true, "{patched}");
        // Allowed, the flow goes on as the editor chose: registered at the server the
        // metadata names, the person sent there, the code redeemed where it says.
        let page = connect(&gateway, &key, &id).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(counts.honest_register.load(Ordering::SeqCst), 1);
        assert_eq!(counts.honest_authorize.load(Ordering::SeqCst), 1);
        assert_eq!(counts.hostile_token.load(Ordering::SeqCst), 1);
        let (_, audit) = gateway.get("/audit-events", &key).await;
        let changed = audit["items"].as_array().unwrap().iter()
            .find(|e| e["action"] == "upstream.sign_in_changed")
            .unwrap_or_else(|| panic!("the allowance is audited: {audit}"));
        assert_eq!(changed["detail"]["allow_foreign_oauth_endpoints"], true, "{changed}");

        // Taken back: the stored server is discovered again at the next link, and refused.
        let patch = json!({"allow_foreign_oauth_endpoints": false});
        let (status, patched) = gateway.api(Method::PATCH, &path, &key, Some(patch)).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        let page = connect(&gateway, &key, &id).await;
        assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.body);
        assert!(page.body.contains("outside its own origin"), "{}", page.body);
        assert_eq!(counts.honest_authorize.load(Ordering::SeqCst), 1, "nobody sent there again");
        assert_eq!(counts.hostile_token.load(Ordering::SeqCst), 1, "nothing more posted there");
    }
}
