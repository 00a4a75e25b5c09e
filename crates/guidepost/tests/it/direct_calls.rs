//! Stateless calls of Guidepost's own tools are answered without rmcp's per-request
//! service (`crates/mcp/src/direct.rs`): each such call is taken, answered
//! exactly as rmcp answers it (status, media type, body, errors included), and a request
//! rmcp might answer otherwise is left to rmcp.

use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::{Value, json};

use crate::helpers::{Answer, RawMcp, TestApp, personal_client, unlimited_app_with_server};
use crate::walkthrough_runtime::unlimited_app;

/// A second `Accept` value with a weight: rmcp accepts it, the direct path leaves
/// weighted media types to rmcp.
const WEIGHTED: &str = "text/event-stream;q=0.9";

/// Calls answered without rmcp so far, from the node's `/metrics`.
async fn direct_calls(app: &TestApp) -> u64 {
    app.counter("guidepost_mcp_direct_tool_calls_total").await
}

async fn call(
    mcp: &RawMcp,
    id: i64,
    name: &str,
    arguments: &Value,
    accept: Option<&str>,
) -> Answer {
    let mut request = mcp.tool_call_request(id, name, arguments.clone());
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    mcp.send(request).await
}

backend_tests! {
    async fn own_tools_are_answered_directly_and_as_rmcp_answers_them(db: &TestDatabase) {
        // Without the support tool, so that calling it is a JSON-RPC error.
        let (app, tenant, server) = unlimited_app_with_server(db, "acme", json!({"support_tool_enabled": false})).await;
        let w = app.seed_walkthrough(&tenant, "Twins", 3, Some((&server, 0))).await;
        // Two people walk the same way, one answered directly and one by rmcp.
        let direct = personal_client(&app, "acme", "direct-walker");
        let through_rmcp = personal_client(&app, "acme", "rmcp-walker");
        let id = json!(w.id);
        let mut script = vec![
            ("list_walkthroughs", json!({})),
            ("select_walkthrough", json!({"walkthrough_id": id})),
        ];
        for step in &w.step_ids {
            script.push(("next_walkthrough_step", json!({"walkthrough_id": id, "current_step_id": step})));
        }
        script.extend([
            ("get_walkthrough_status", json!({"walkthrough_id": id})),
            ("reset_walkthrough_progress", json!({"walkthrough_id": id, "confirm": false})),
            ("reset_walkthrough_progress", json!({"walkthrough_id": id, "confirm": true})),
            // A tool error, arguments of the wrong type, and a tool this server does not
            // offer (a JSON-RPC error).
            ("select_walkthrough", json!({"walkthrough_id": "wt_nope"})),
            ("next_walkthrough_step", json!({"walkthrough_id": 5})),
            ("get_support", json!({"message": "help"})),
        ]);
        let mut outcomes = Vec::new();
        for (n, (name, arguments)) in script.iter().enumerate() {
            let before = direct_calls(&app).await;
            let answered = call(&direct, n as i64, name, arguments, None).await;
            assert_eq!(direct_calls(&app).await, before + 1, "{name} {arguments} was answered directly");
            let by_rmcp = call(&through_rmcp, n as i64, name, arguments, Some(WEIGHTED)).await;
            assert_eq!(direct_calls(&app).await, before + 1, "{name} {arguments} was left to rmcp");
            assert_eq!(answered.status, by_rmcp.status, "{name} {arguments}: {}", answered.body);
            assert_eq!(answered.headers["content-type"], by_rmcp.headers["content-type"], "{name}");
            assert_eq!(answered.body, by_rmcp.body, "{name} {arguments}");
            outcomes.push(if answered.body.get("error").is_some() { "protocol error" }
                else if answered.body["result"]["isError"] == true { "tool error" } else { "result" });
        }
        for outcome in ["result", "tool error", "protocol error"] {
            assert!(outcomes.contains(&outcome), "the script compared a {outcome}: {outcomes:?}");
        }
    }

    async fn requests_rmcp_would_refuse_are_left_to_it(db: &TestDatabase) {
        let (app, tenant, server) = unlimited_app(db).await;
        app.seed_walkthrough(&tenant, "Refused", 1, Some((&server, 0))).await;
        let mcp = personal_client(&app, "acme", "refused");
        let before = direct_calls(&app).await;
        // A name header that disagrees with the body, and a version header that does.
        let wrong_name = mcp.tool_call_request(1, "list_walkthroughs", json!({})).header("mcp-name", "get_support");
        let answer = mcp.send(wrong_name).await;
        assert_eq!(answer.status, reqwest::StatusCode::BAD_REQUEST, "{}", answer.body);
        assert_eq!(answer.body["error"]["code"], -32020, "{}", answer.body);
        let mut body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_walkthroughs", "arguments": {},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}});
        let old_header = mcp.request(reqwest::Method::POST).header("mcp-protocol-version", "2025-11-25")
            .header("mcp-method", "tools/call").header("mcp-name", "list_walkthroughs").json(&body);
        let answer = mcp.send(old_header).await;
        assert_eq!(answer.status, reqwest::StatusCode::BAD_REQUEST, "{}", answer.body);
        // Without the client's capabilities in _meta: rmcp's own error.
        body["params"]["_meta"].as_object_mut().unwrap().remove("io.modelcontextprotocol/clientCapabilities");
        let partial = mcp.request(reqwest::Method::POST).header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call").header("mcp-name", "list_walkthroughs").json(&body);
        let answer = mcp.send(partial).await;
        assert_eq!(answer.status, reqwest::StatusCode::BAD_REQUEST, "{}", answer.body);
        assert_eq!(answer.body["error"]["code"], -32602, "{}", answer.body);
        assert_eq!(direct_calls(&app).await, before, "none was answered directly");
    }
}
