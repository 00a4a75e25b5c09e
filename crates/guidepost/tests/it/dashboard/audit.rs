//! The audit log of every mutating action: a member's invitation, a key's
//! revocation, a server's deletion and a tool's approval read in words, by name, the same
//! in the dashboard and through the API, and the log narrows by who, what and type.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{dashboard_app_with, member};
use crate::gateway_fixture::{FixtureDir, wait_for};
use crate::oauth_helpers::OAuthApp;

/// A request with Acme's API key (named `test`); it must succeed.
async fn api(app: &OAuthApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = app
        .app
        .api(method.clone(), path, &app.tenant.key, body)
        .await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

/// The texts of the events `query` selects, newest first, through the API.
async fn api_texts(app: &OAuthApp, query: &str) -> Vec<String> {
    let (status, page) = app
        .app
        .get(&format!("/audit-events?limit=200{query}"), &app.tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect()
}

const INVITED: &str = "own@acme.example invited “grace@acme.example” as viewer.";
const REVOKED: &str = "API key test revoked the API key “ci”.";
const DELETED: &str = "API key test deleted the server “Server docs”.";
const APPROVED: &str = "API key test approved the tool “echo” of the upstream “Helper”.";

backend_tests! {
    async fn the_audit_log_tells_invites_revocations_deletions_and_approvals_in_words(db: &TestDatabase) {
        let dir = FixtureDir::new();
        let catalog = dir.catalog(&[]);
        let app = dashboard_app_with(db, move |s| s.platform.catalog = catalog).await;
        let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;

        owner.get("/app/members").await.ok();
        owner.post("/app/members", &[("email", "grace@acme.example"), ("role", "viewer")]).await
            .redirected_to("/app/members?done=invited");
        let key = api(&app, Method::POST, "/api-keys", Some(json!({"name": "ci"}))).await;
        let key_id = key["id"].as_str().unwrap().to_owned();
        api(&app, Method::DELETE, &format!("/api-keys/{key_id}"), None).await;
        let server = app.app.create_server(&app.tenant, "docs", json!({})).await;
        let server = server["id"].as_str().unwrap().to_owned();
        api(&app, Method::DELETE, &format!("/servers/{server}"), None).await;
        api(&app, Method::PATCH, "/organization", Some(json!({"tool_approval": "manual"}))).await;
        let install = json!({"catalog_entry_id": "fixture", "name": "Helper"});
        let upstream = api(&app, Method::POST, "/upstreams", Some(install)).await;
        let upstream = upstream["id"].as_str().unwrap().to_owned();
        wait_for(&app.app, &app.tenant, &upstream, |u| u["status"] == "ready").await;
        api(&app, Method::POST, &format!("/upstreams/{upstream}/tools/echo/approve"), None).await;

        // The API: every one in words, with names, newest first.
        let all = api_texts(&app, "").await;
        let at = |text: &str| all.iter().position(|t| t == text).unwrap_or_else(|| panic!("no {text:?} in {all:#?}"));
        assert!(at(APPROVED) < at(DELETED) && at(DELETED) < at(REVOKED) && at(REVOKED) < at(INVITED), "{all:#?}");
        assert!(all.iter().any(|t| t == "API key test created the server “Server docs”."), "{all:#?}");
        assert!(all.iter().all(|t| !t.contains("key_") && !t.contains("ms_") && !t.contains("mem_")), "no ids: {all:#?}");

        // The same events in the dashboard, with their detail behind a disclosure.
        let page = owner.get("/app/gateway/audit").await.ok().to_owned();
        for text in [INVITED, REVOKED, DELETED, APPROVED] {
            assert!(page.contains(text), "{text:?} missing from the page: {page}");
        }
        assert!(page.contains("<details><summary>Details</summary>"), "{page}");

        // By type, by object and by actor, in the API and the dashboard alike.
        assert_eq!(api_texts(&app, "&type=member").await, vec![INVITED]);
        assert_eq!(api_texts(&app, &format!("&object={server}")).await,
            vec![DELETED.to_owned(), "API key test created the server “Server docs”.".to_owned()]);
        let members = api(&app, Method::GET, "/audit-events?type=member", None).await;
        let owner_actor = members["items"][0]["actor"].as_str().unwrap().to_owned();
        assert!(owner_actor.starts_with("member:mem_"), "{members}");
        assert_eq!(api_texts(&app, &format!("&actor={owner_actor}")).await, vec![INVITED]);
        let narrowed = owner.get("/app/gateway/audit?type=api_key").await.ok().to_owned();
        assert!(narrowed.contains(REVOKED) && !narrowed.contains(DELETED) && !narrowed.contains(INVITED), "{narrowed}");
        let (status, refused) = app.app.get("/audit-events?type=nonsense", &app.tenant.key).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");

        // Who may not list the keys reads the rest of the log without the keys' events
        // (their scopes and prefixes), and is not offered the keys to narrow it by.
        let reader = app.app.key_with(&app.tenant.key, "reader", json!(["read"])).await;
        let (status, read) = app.app.get("/audit-events?limit=200", &reader).await;
        assert_eq!(status, StatusCode::OK, "{read}");
        let read = read["items"].as_array().unwrap();
        let texts: Vec<&str> = read.iter().map(|e| e["text"].as_str().unwrap()).collect();
        assert!(texts.contains(&DELETED) && texts.contains(&INVITED) && texts.contains(&APPROVED), "{texts:#?}");
        assert!(read.iter().all(|e| !e["action"].as_str().unwrap().starts_with("api_key.")), "{texts:#?}");
        let (_, by_type) = app.app.get("/audit-events?type=api_key", &reader).await;
        assert_eq!(by_type["items"], json!([]), "{by_type}");
        let mut viewer = member(&app, &app.tenant, "view@acme.example", Role::Viewer).await;
        let seen = viewer.get("/app/gateway/audit").await.ok().to_owned();
        assert!(seen.contains(DELETED) && !seen.contains(REVOKED), "{seen}");
        assert!(!seen.contains(r#"<option value="api_key""#) && !seen.contains(r#"value="api_key:"#), "{seen}");
        assert!(narrowed.contains(r#"<option value="api_key" selected>"#) && narrowed.contains(r#"value="api_key:"#), "the owner's choices: {narrowed}");
    }
}
