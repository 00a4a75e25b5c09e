//! The node cache's view of a server's attached tools: a gateway tool call in
//! the steady state costs no store read of the server's attachments and their
//! definitions, and a change made through one node (a detach, a rejection) stops the tool
//! on another node's cache through the change feed, not a time limit. In the session era
//! a call in a session in use reads neither the session nor its end user.

use std::time::Duration;

use guidepost_testkit::{TestDatabase, backend_tests, eventually};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::gateway_fixture::{Fixture, fixture, fixture_with, text_of};
use crate::helpers::{
    RawMcp, SESSION_ERA, STATELESS_ERA, TestApp, personal_client, spawn_app_with, tool_names,
};

/// The least number of store statements one `fx__echo` call ran, of `calls`.
/// The analytics writer shares the store and may flush during a call, which only ever
/// adds: the least is the call's own cost.
async fn statements_per_echo(app: &TestApp, mcp: &RawMcp, calls: i64) -> u64 {
    let mut least = u64::MAX;
    for n in 0..calls {
        let before = app.store.statements_executed();
        let answer = mcp
            .call_tool(n, "fx__echo", json!({"message": "counted"}))
            .await;
        let after = app.store.statements_executed();
        assert_eq!(text_of(&answer.body), "counted", "{}", answer.body);
        least = least.min(after - before);
    }
    least
}

/// A stateless call of `fx__echo` on `app`: its text, or why it was refused.
async fn echo_on(app: &TestApp, slug: &str) -> String {
    let mcp = RawMcp::new(app.mcp_path_url(slug), STATELESS_ERA);
    let answer = mcp
        .call_tool(1, "fx__echo", json!({"message": "there"}))
        .await;
    if let Some(error) = answer.body["error"]["message"].as_str() {
        return format!("error: {error}");
    }
    text_of(&answer.body)
}

async fn listed_on(app: &TestApp, slug: &str) -> Vec<String> {
    let mcp = RawMcp::new(app.mcp_path_url(slug), STATELESS_ERA);
    tool_names(&mcp.call(2, "tools/list", json!({})).await)
}

async fn decide(f: &Fixture, tool: &str, decision: &str) {
    let path = format!("/upstreams/{}/tools/{tool}/{decision}", f.upstream);
    let (status, body) = f.app.api(Method::POST, &path, &f.acme.key, None).await;
    assert_eq!(status, StatusCode::OK, "{decision}: {body}");
}

backend_tests! {
    async fn a_steady_state_stateless_gateway_call_runs_at_most_one_statement(db: &TestDatabase) {
        let f = fixture(db, "acme", 60_000).await;
        // A caller known by tracking id, as the walkthrough tools' count has it.
        let mcp = personal_client(&f.app, "acme", "counter");
        // The first calls fill the caches (the server, its attached tools, the end user).
        statements_per_echo(&f.app, &mcp, 2).await;
        let steady = statements_per_echo(&f.app, &mcp, 5).await;
        println!("store statements per stateless gateway call: {steady}");
        // Before the node cache held the attached tools, each call read every definition
        // of every attachment three times (finding the tool's source, its `Mcp-Param-*`
        // check, the call).
        // The target is at most 1; the server, its attached tools and the end user all
        // come from the node's cache, so it is none (the count is pinned).
        assert_eq!(steady, 0, "store statements per stateless gateway call");

        // A change is announced: the next call reads the view again, once, and the one
        // after it is back to the steady state.
        decide(&f, "echo", "approve").await;
        assert!(statements_per_echo(&f.app, &mcp, 1).await >= 1, "read again after the change");
        assert_eq!(statements_per_echo(&f.app, &mcp, 3).await, steady);
    }
}

backend_tests! {
    async fn a_steady_state_session_gateway_call_runs_no_statement(db: &TestDatabase) {
        let f = fixture(db, "acme", 60_000).await;
        // An anonymous session, as `guidepost bench --gateway` opens them: its first call
        // gives it an end user.
        let mut mcp = RawMcp::new(f.app.mcp_path_url("acme"), SESSION_ERA);
        mcp.initialize().await;
        statements_per_echo(&f.app, &mcp, 2).await;
        let steady = statements_per_echo(&f.app, &mcp, 5).await;
        println!("store statements per session-era gateway call: {steady}");
        // Before the node cache held sessions in use, each call read the session and its
        // end user (2).
        assert_eq!(steady, 0, "store statements per session-era gateway call");

        // Ended on this node, the session is refused at once, cached or not.
        let closed = mcp.send(mcp.request(Method::DELETE)).await;
        assert!(closed.status.is_success(), "{}", closed.status);
        let refused = mcp.call_tool(9, "fx__echo", json!({"message": "gone"})).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.body);
    }
}

/// A detach or a rejection made through one node stops the tool on another node, whose
/// cache would keep the view for an hour: only the announcement can make it forget.
#[tokio::test]
async fn a_detach_or_rejection_on_one_node_stops_the_tool_on_another() {
    let Some(db) = TestDatabase::require_postgres().await else {
        return;
    };
    let hour = |settings: &mut guidepost::config::Settings| {
        settings.platform.server_cache_expiry = Duration::from_secs(3600)
    };
    let f = fixture_with(&db, "acme", 60_000, &[], hour).await;
    let b = spawn_app_with(&db, hour).await;
    assert_eq!(
        echo_on(&b, "acme").await,
        "there",
        "node b caches the attached tools"
    );

    decide(&f, "echo", "reject").await;
    eventually("node b refuses the rejected tool", async || {
        echo_on(&b, "acme").await.contains("rejected")
    })
    .await;
    assert!(!listed_on(&b, "acme").await.contains(&"fx__echo".to_owned()));

    decide(&f, "echo", "approve").await;
    eventually("node b calls the approved tool again", async || {
        echo_on(&b, "acme").await == "there"
    })
    .await;

    let path = format!("/servers/{}/upstreams/{}", f.server, f.upstream);
    let (status, body) = f.app.api(Method::DELETE, &path, &f.acme.key, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    eventually("node b no longer offers the detached tool", async || {
        echo_on(&b, "acme").await.contains("Unknown tool")
    })
    .await;
    assert!(
        !listed_on(&b, "acme")
            .await
            .iter()
            .any(|name| name.starts_with("fx__"))
    );
}
