//! A person's data: `GET /api/v1/end-users/{id}/export` returns every table's
//! rows about them, and `DELETE /api/v1/end-users/{id}` erases them: afterwards their
//! email and tracking id are nowhere in the store (every text column of every table
//! searched), their tokens no longer work, and the call counts and funnels are unchanged.
//! Both need the `admin` scope, and another organization's id is not found.

use std::sync::Arc;

use guidepost_core::secrets::MasterKey;
use guidepost_store::Store;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{SESSION_ERA, TestApp};
use crate::oauth_helpers::oauth_app;

const EMAIL: &str = "ada@example.com";
const TRACKING_ID: &str = "ada-personal-url";

/// Every `(table, column)` of the store whose text holds `needle`, case folded.
async fn found_anywhere(store: &Arc<dyn Store>, needle: &str) -> Vec<(String, String)> {
    store
        .find_text_anywhere(needle)
        .await
        .expect("the store searched")
}

/// The tool calls recorded in the organization, per tool, and the funnel of `walkthrough`.
async fn counts(app: &TestApp, key: &str, walkthrough: &str) -> (Value, Value, usize) {
    let (status, tools) = app.get("/analytics/tools", key).await;
    assert_eq!(status, StatusCode::OK, "{tools}");
    let (status, funnel) = app
        .get(&format!("/walkthroughs/{walkthrough}/funnel"), key)
        .await;
    assert_eq!(status, StatusCode::OK, "{funnel}");
    let (_, calls) = app.get("/tool-calls?limit=200", key).await;
    (
        tools["tools"].clone(),
        funnel,
        calls["items"].as_array().map_or(0, Vec::len),
    )
}

backend_tests! {
    async fn an_erased_person_is_nowhere_in_the_store_and_counts_stay(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |settings| {
            settings.platform.master_key = Some(MasterKey::from_bytes([9; 32]));
            settings.webhooks.allow_private = true;
        }).await;
        let (app, acme) = (&oauth.app, &oauth.tenant);
        let server = app.get("/servers", &acme.key).await.1["items"][0]["id"].as_str().unwrap().to_owned();
        let intro = app.seed_walkthrough(acme, "Intro", 2, Some((&server, 1))).await;
        // A webhook, so that a support request's delivery (which quotes the email) is stored.
        let hook = json!({"url": "http://127.0.0.1:9/hook", "events": ["support_request.created"]});
        let (status, created) = app.api(Method::POST, "/webhooks", &acme.key, Some(hook)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");

        // Ada signs in, opens her personal URL with her token (a session-era session), goes
        // through the walkthrough and asks for support; Bob starts it.
        let ada = oauth.sign_in("acme", EMAIL).await;
        let mut session = oauth.mcp("acme", Some(&ada.access), Some(TRACKING_ID));
        session.version = SESSION_ERA;
        session.initialize().await;
        session.call_tool(2, "select_walkthrough", json!({"walkthrough_id": intro.id})).await.structured();
        session.call_tool(3, "next_walkthrough_step", json!({"walkthrough_id": intro.id})).await.structured();
        let stateless = oauth.mcp("acme", Some(&ada.access), None);
        stateless.call_tool(4, "next_walkthrough_step", json!({"walkthrough_id": intro.id})).await.structured();
        stateless.call_tool(5, "get_support", json!({"title": "Stuck",
            "problem_description": format!("Mail me at {EMAIL} please."), "email": EMAIL})).await.structured();
        let bob = oauth.sign_in("acme", "bob@example.com").await;
        oauth.mcp("acme", Some(&bob.access), None)
            .call_tool(6, "select_walkthrough", json!({"walkthrough_id": intro.id})).await.structured();
        app.wait_for_tool_calls(acme, 5).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;

        let (_, found) = app.get(&format!("/end-users?email={EMAIL}"), &acme.key).await;
        let ada_id = found["items"][0]["id"].as_str().expect("Ada, by email").to_owned();
        assert!(!found_anywhere(&app.store, EMAIL).await.is_empty(), "the search finds what is there");
        let before = counts(app, &acme.key, &intro.id).await;
        assert_eq!(before.1["totals"]["started"], 2, "{}", before.1);
        assert_eq!(before.1["totals"]["completed"], 1, "{}", before.1);

        // An editor key is refused both; another organization does not find her.
        let body = json!({"name": "editor", "scopes": ["read", "write", "gateway"]});
        let (_, editor) = app.api(Method::POST, "/api-keys", &acme.key, Some(body)).await;
        let editor = editor["key"].as_str().unwrap().to_owned();
        let other = app.create_tenant("Other").await;
        for (method, path) in [(Method::GET, format!("/end-users/{ada_id}/export")), (Method::DELETE, format!("/end-users/{ada_id}"))] {
            let (status, problem) = app.api(method.clone(), &path, &editor, None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {problem}");
            let (status, problem) = app.api(method.clone(), &path, &other.key, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {problem}");
        }

        // The export: every table's rows about her.
        let (status, export) = app.get(&format!("/end-users/{ada_id}/export"), &acme.key).await;
        assert_eq!(status, StatusCode::OK, "{export}");
        let tables = export["tables"].as_object().unwrap();
        for table in ["end_users", "mcp_sessions", "walkthrough_progress", "tool_calls", "support_requests",
                      "oauth_grants", "oauth_tokens", "oauth_codes", "oauth_login_sessions", "oauth_code_sends",
                      "webhook_deliveries"] {
            let rows = tables[table].as_array().unwrap_or_else(|| panic!("{table} in {export}"));
            assert!(!rows.is_empty(), "{table} has rows about her: {export}");
        }
        assert_eq!(tables["tool_calls"].as_array().unwrap().len(), 4, "her four calls, not Bob's");
        assert!(tables["tool_calls"].as_array().unwrap().iter().all(|c| c["end_user_id"] != Value::Null));
        let end_users = tables["end_users"].as_array().unwrap();
        assert!(end_users.iter().any(|u| u["email"] == EMAIL), "{export}");
        assert!(end_users.iter().any(|u| u["tracking_id"] == TRACKING_ID), "the linked personal URL: {export}");
        for secret in ["token_hash", "secret_hash", "transport_id", "code_hash"] {
            assert!(!export.to_string().contains(&format!("\"{secret}\"")), "{secret} left out");
        }
        assert!(!export.to_string().contains("bob@example.com"), "nothing of Bob's");

        // The erasure.
        let (status, erased) = app.api(Method::DELETE, &format!("/end-users/{ada_id}"), &acme.key, None).await;
        assert_eq!(status, StatusCode::OK, "{erased}");
        assert_eq!(erased["tool_calls_kept_anonymous"], 4, "{erased}");
        assert_eq!(erased["sessions_deleted"], 1, "{erased}");
        assert_eq!(erased["grants_deleted"], 1, "{erased}");

        assert_eq!(found_anywhere(&app.store, EMAIL).await, Vec::<(String, String)>::new(), "her email is gone");
        assert_eq!(found_anywhere(&app.store, TRACKING_ID).await, Vec::<(String, String)>::new(), "her tracking id is gone");
        assert!(!found_anywhere(&app.store, "bob@example.com").await.is_empty(), "Bob is kept");
        assert_eq!(counts(app, &acme.key, &intro.id).await, before, "call counts and the funnel are unchanged");
        let (status, _) = app.get(&format!("/end-users/{ada_id}"), &acme.key).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, requests) = app.get("/support-requests", &acme.key).await;
        assert_eq!(requests["items"].as_array().unwrap().len(), 1, "her request stays, anonymous");
        assert_ne!(requests["items"][0]["end_user_id"], ada_id.as_str());

        // Her token is no good any more; Bob's still is.
        let refused = oauth.mcp("acme", Some(&ada.access), None).call_tool(7, "list_walkthroughs", json!({})).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "her token is revoked: {}", refused.body);
        oauth.mcp("acme", Some(&bob.access), None).call_tool(8, "list_walkthroughs", json!({})).await.structured();

        // Both are in the audit log, by the key that did them.
        let (_, audit) = app.get("/audit-events", &acme.key).await;
        let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
        assert!(actions.contains(&"end_user.exported") && actions.contains(&"end_user.erased"), "{audit}");
        // Erasing again finds nobody.
        let (status, _) = app.api(Method::DELETE, &format!("/end-users/{ada_id}"), &acme.key, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

/// `count` recorded calls of `person`, spread over the last day (as many as a test needs:
/// more than the export once read of one table, 100,000).
fn calls_of(
    org: &guidepost_domain::OrgId,
    server: &guidepost_domain::ServerId,
    person: &guidepost_domain::EndUserId,
    count: usize,
) -> Vec<guidepost_domain::ToolCall> {
    let now = guidepost_domain::Timestamp::now();
    (0..count)
        .map(|n| guidepost_domain::ToolCall {
            id: guidepost_domain::ToolCallId::generate(),
            org_id: org.clone(),
            server_id: server.clone(),
            session_id: None,
            end_user_id: Some(person.clone()),
            tool_name: "next_walkthrough_step".into(),
            arguments: "{}".into(),
            result_summary: "ok".into(),
            is_error: false,
            error_code: None,
            duration_us: 1_000,
            created_at: now.plus_seconds(-(n as i64 % 86_400)),
            upstream_id: None,
            is_test: false,
            refusal: None,
        })
        .collect()
}

backend_tests! {
    async fn an_export_carries_every_row_of_a_person_with_more_calls_than_a_page(db: &TestDatabase) {
        // 120 calls a minute for the 90 days of retention is far past 100,000 rows: the
        // export gives them all (read a page at a time), not the first 100,000 found.
        const CALLS: usize = 100_321;
        let app = crate::helpers::spawn_app(db).await;
        let acme = app.create_tenant("Acme").await;
        let server = app.create_server(&acme, "acme", json!({})).await;
        let server = guidepost_domain::ServerId::parse(server["id"].as_str().unwrap()).unwrap();
        let now = guidepost_domain::Timestamp::now();
        let ada = app.store.end_user_for_tracking_id(&acme.org, "ada", now).await.unwrap();
        let bob = app.store.end_user_for_tracking_id(&acme.org, "bob", now).await.unwrap();
        let mut seeded = std::collections::BTreeSet::new();
        let calls = calls_of(&acme.org, &server, &ada.id, CALLS);
        for batch in calls.chunks(20_000) {
            app.store.insert_tool_calls(batch).await.unwrap();
        }
        seeded.extend(calls.iter().map(|c| c.id.to_string()));
        app.store.insert_tool_calls(&calls_of(&acme.org, &server, &bob.id, 300)).await.unwrap();

        let (status, export) = app.get(&format!("/end-users/{}/export", ada.id), &acme.key).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(export["end_user_id"], ada.id.as_str());
        let tables = export["tables"].as_object().expect("tables");
        assert_eq!(tables.len(), 17, "every table, even an empty one: {:?}", tables.keys());
        assert_eq!(tables["end_users"].as_array().unwrap().len(), 1);
        let exported: Vec<(i64, String)> = tables["tool_calls"].as_array().unwrap().iter()
            .map(|c| (c["created_at"].as_i64().unwrap(), c["id"].as_str().expect("an id").to_owned()))
            .collect();
        assert_eq!(exported.len(), CALLS, "every call of hers, none of Bob's");
        assert!(exported.windows(2).all(|pair| pair[0] < pair[1]), "in the order of their times, each once");
        assert!(exported.iter().all(|(_, id)| seeded.contains(id)), "only hers");
    }
}
