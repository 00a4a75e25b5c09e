//! Call quotas: at most N calls per caller per window, counted in the store. One caller
//! reaches the limit and is told the quota and when it resets; another caller, and
//! another organization, count apart; refusals are recorded as such. On PostgreSQL, a
//! quota of 5 calls an hour holds across three nodes under 20 concurrent calls by one
//! person: exactly 5 succeed.

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    RawMcp, STATELESS_ERA, TestApp, personal_client, serve_process_with, spawn_app,
    unlimited_app_with_server,
};

fn support_quota(limit: u32) -> Value {
    json!({"rules": [{"target": {"kind": "tool", "name": "get_support"},
                      "limit": limit, "window": "hour"}]})
}

fn support_request() -> Value {
    json!({"title": "Stuck", "problem_description": "It fails", "email": "ada@example.com"})
}

async fn set_quotas(app: &TestApp, key: &str, quotas: Value) -> (StatusCode, Value) {
    app.api(Method::PUT, "/quotas", key, Some(quotas)).await
}

backend_tests! {
    async fn a_caller_reaches_the_quota_and_is_told_when_it_resets(db: &TestDatabase) {
        let (app, acme, _) = unlimited_app_with_server(db, "acme", json!({})).await;
        let (status, set) = set_quotas(&app, &acme.key, support_quota(3)).await;
        assert_eq!(status, StatusCode::OK, "{set}");
        let (_, read) = app.get("/quotas", &acme.key).await;
        assert_eq!(read, support_quota(3));

        let ada = personal_client(&app, "acme", "ada");
        for id in 0..3 {
            let answer = ada.call_tool(id, "get_support", support_request()).await;
            assert!(answer.structured()["support_request_id"].is_string(), "{}", answer.body);
        }
        let refused = ada.call_tool(9, "get_support", support_request()).await;
        let text = refused.tool_error_text();
        assert!(
            text.starts_with("Quota reached: 3 calls per hour of `get_support` for each caller. It resets at ")
                && text.contains(":00:00Z (in "),
            "{}", refused.body
        );
        // Another person counts apart.
        let bob = personal_client(&app, "acme", "bob");
        bob.call_tool(1, "get_support", support_request()).await.structured();

        // Another organization's caller of the same tracking id is not counted here.
        let other = app.create_tenant("Other").await;
        app.create_server(&other, "other", json!({})).await;
        let theirs = personal_client(&app, "other", "ada");
        theirs.call_tool(1, "get_support", support_request()).await.structured();

        let calls = app.wait_for_tool_calls(&acme, 5).await;
        let refusals: Vec<&Value> = calls.iter().map(|c| &c["refusal"]).filter(|r| !r.is_null()).collect();
        assert_eq!(refusals, [&json!("quota")], "{calls:?}");

        // Raised, the same window goes on counting from where it was.
        set_quotas(&app, &acme.key, support_quota(4)).await;
        ada.call_tool(10, "get_support", support_request()).await.structured();
        let again = ada.call_tool(11, "get_support", support_request()).await;
        assert!(again.tool_error_text().starts_with("Quota reached: 4 calls"), "{}", again.body);

        // Rules are checked; only who runs the gateway sets them; the change is audited.
        let zero = json!({"rules": [{"target": {"kind": "any"}, "limit": 0, "window": "day"}]});
        let (status, problem) = set_quotas(&app, &acme.key, zero).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        let reader = app.key_with(&acme.key, "reader", json!(["read"])).await;
        let (status, _) = set_quotas(&app, &reader, json!({"rules": []})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, audit) = app.get("/audit-events?type=quota", &acme.key).await;
        assert_eq!(
            audit["items"][0]["text"].as_str().unwrap_or_default().split(" set ").nth(1),
            Some("the call quotas: 4 calls per hour of `get_support`."),
            "{audit}"
        );
    }
}

/// Three `guidepost serve` processes on one PostgreSQL, 20 calls of one person at once,
/// spread over them: a quota of 5 an hour lets exactly 5 through.
#[tokio::test]
async fn a_quota_holds_across_three_nodes_under_concurrent_calls() {
    let Some(db) = TestDatabase::require_postgres().await else {
        return;
    };
    let setup = spawn_app(&db).await;
    let acme = setup.create_tenant("Acme").await;
    setup.create_server(&acme, "acme", json!({})).await;
    let (status, set) = set_quotas(&setup, &acme.key, support_quota(5)).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    setup.app.shutdown().await.unwrap();

    let unlimited = [
        ("GUIDEPOST_RATE_LIMIT_PER_USER", "0"),
        ("GUIDEPOST_RATE_LIMIT_PER_IP", "0"),
    ];
    let nodes = [
        serve_process_with(&db.url, &unlimited).await,
        serve_process_with(&db.url, &unlimited).await,
        serve_process_with(&db.url, &unlimited).await,
    ];
    let calls = (0..20).map(|n| {
        let url = format!("{}/s/acme/mcp?tracking_id=ada", nodes[n % 3].1);
        async move {
            let mcp = RawMcp::new(url, STATELESS_ERA);
            mcp.call_tool(n as i64, "get_support", support_request())
                .await
        }
    });
    let answers = futures::future::join_all(calls).await;
    let passed = answers
        .iter()
        .filter(|a| a.body["result"]["isError"] == false)
        .count();
    let refused = answers
        .iter()
        .filter(|a| a.body["result"]["isError"] == true)
        .filter(|a| {
            let text = a.body["result"]["content"][0]["text"].as_str();
            text.is_some_and(|text| text.starts_with("Quota reached: 5 calls per hour"))
        })
        .count();
    assert_eq!(
        (passed, refused),
        (5, 15),
        "{:?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
}
