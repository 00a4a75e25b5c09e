//! A server's missing capabilities: calls of tools it does not offer and calls whose
//! arguments were refused are grouped by name with counts (and each call is marked in the
//! log), a tool that fails again and again is named, and the tools nobody called in the
//! window are listed; another organization's server is not found.

use guidepost_domain::{ServerId, Timestamp, ToolCall, ToolCallId};
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::gateway_fixture::fixture_with;
use crate::helpers::{RawMcp, STATELESS_ERA, Tenant, TestApp, unlimited_app_with_server};

/// A call of `tool` on `server` recorded `days` ago, as the analytics writer stores one.
fn recorded_days_ago(tenant: &Tenant, server: &str, tool: &str, days: i64) -> ToolCall {
    ToolCall {
        id: ToolCallId::generate(),
        org_id: tenant.org.clone(),
        server_id: ServerId::parse(server).unwrap(),
        session_id: None,
        end_user_id: None,
        tool_name: tool.into(),
        arguments: "{}".into(),
        result_summary: "ok".into(),
        is_error: false,
        error_code: None,
        duration_us: 900,
        created_at: Timestamp::now().plus_seconds(-days * 24 * 3600),
        upstream_id: None,
        is_test: false,
        refusal: None,
    }
}

/// (name, calls) of a report's list.
fn counted(list: &Value) -> Vec<(String, u64)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|group| {
            (
                group["tool_name"].as_str().unwrap().to_owned(),
                group["calls"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["tool_name"].as_str().unwrap())
        .collect()
}

/// Unknown names (3 and 1 calls), two refused argument sets, three failing calls and one
/// that works, all on `acme`'s server.
async fn called_what_is_missing(app: &TestApp, tenant: &Tenant) {
    let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
    for (id, name) in ["search_docs", "search_docs", "deploy", "search_docs"]
        .iter()
        .enumerate()
    {
        let answer = mcp.call_tool(id as i64, name, json!({})).await;
        assert!(
            answer.body.to_string().contains("Unknown tool"),
            "{}",
            answer.body
        );
    }
    for id in 10..12 {
        let answer = mcp.call_tool(id, "get_support", json!({"title": 7})).await;
        assert!(
            answer.tool_error_text().contains("Invalid arguments"),
            "{}",
            answer.body
        );
    }
    let no_email = json!({"title": "Stuck", "problem_description": "It fails"});
    for id in 20..23 {
        let answer = mcp.call_tool(id, "get_support", no_email.clone()).await;
        assert!(
            answer.tool_error_text().contains("email"),
            "{}",
            answer.body
        );
    }
    let mut works = no_email.clone();
    works["email"] = json!("ada@example.com");
    mcp.call_tool(30, "get_support", works).await.structured();
    app.wait_for_tool_calls(tenant, 10).await;
}

backend_tests! {
    async fn unknown_tools_refused_arguments_failures_and_idle_tools_are_reported(db: &TestDatabase) {
        let (app, acme, server) = unlimited_app_with_server(db, "acme", json!({})).await;
        called_what_is_missing(&app, &acme).await;
        // A call of list_walkthroughs eight days ago: outside a week, inside a month.
        let old = recorded_days_ago(&acme, &server, "list_walkthroughs", 8);
        app.store.insert_tool_calls(&[old]).await.unwrap();

        let path = format!("/servers/{server}/missing-capabilities");
        let (status, report) = app.get(&path, &acme.key).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(counted(&report["unknown_tools"]), [("search_docs".into(), 3), ("deploy".into(), 1)], "{report}");
        assert_eq!(counted(&report["refused_arguments"]), [("get_support".into(), 2)], "{report}");
        let failing = &report["failing_tools"];
        assert_eq!(failing, &json!([{"tool_name": "get_support", "calls": 6, "errors": 3}]), "refusals are not failures: {report}");
        let idle = names(&report["never_called"]);
        assert!(idle.contains(&"list_walkthroughs") && idle.contains(&"next_walkthrough_step"), "{report}");
        assert!(!idle.contains(&"get_support"), "{report}");
        assert_eq!(report["never_called"][0]["source"]["kind"], "builtin", "{report}");

        let (_, month) = app.get(&format!("{path}?days=31"), &acme.key).await;
        let idle = names(&month["never_called"]);
        assert!(!idle.contains(&"list_walkthroughs") && idle.contains(&"next_walkthrough_step"), "{month}");

        // Each refused call is marked in the log the report points at.
        let (_, calls) = app.get(&format!("/tool-calls?server_id={server}&tool_name=search_docs"), &acme.key).await;
        let marks: Vec<&Value> = calls["items"].as_array().unwrap().iter().map(|c| &c["refusal"]).collect();
        assert_eq!(marks, [&json!("unknown_tool"); 3], "{calls}");
        let (_, calls) = app.get(&format!("/tool-calls?server_id={server}&tool_name=get_support"), &acme.key).await;
        let refused = calls["items"].as_array().unwrap().iter().filter(|c| c["refusal"] == "invalid_arguments").count();
        assert_eq!(refused, 2, "{calls}");

        for days in ["0", "32"] {
            let (status, problem) = app.get(&format!("{path}?days={days}"), &acme.key).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        }
        let other = app.create_tenant("Other").await;
        let (status, _) = app.get(&path, &other.key).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    async fn arguments_an_upstream_refuses_are_reported_with_the_upstream(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, &[], |_| {}).await;
        let refused = f.mcp.call_tool(1, "fx__echo", json!({"message": 5})).await;
        assert!(refused.tool_error_text().contains("message must be a string"), "{}", refused.body);
        let echoed = f.mcp.call_tool(2, "fx__echo", json!({"message": "hi"})).await;
        assert_eq!(echoed.body["result"]["content"][0]["text"], "hi", "{}", echoed.body);
        f.app.wait_for_tool_calls(&f.acme, 2).await;

        let path = format!("/servers/{}/missing-capabilities", f.server);
        let (status, report) = f.app.get(&path, &f.acme.key).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        let refused = &report["refused_arguments"];
        assert_eq!(counted(refused), [("fx__echo".into(), 1)], "{report}");
        assert_eq!(refused[0]["upstream_id"], f.upstream.as_str(), "{report}");
        assert_eq!(report["unknown_tools"], json!([]), "{report}");
        let idle = names(&report["never_called"]);
        assert!(!idle.contains(&"fx__echo") && idle.contains(&"get_support"), "{report}");
        let upstream_tool = report["never_called"].as_array().unwrap().iter()
            .find(|t| t["tool_name"].as_str().is_some_and(|n| n.starts_with("fx__")))
            .unwrap_or_else(|| panic!("an idle upstream tool: {report}"));
        assert_eq!(upstream_tool["source"]["upstream_id"], f.upstream.as_str(), "{report}");
    }
}
