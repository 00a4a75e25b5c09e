//! Fuzz target for the MCP request path: random JSON-RPC messages (known methods with
//! random params, random ids, random `_meta`) and random bodies, posted to a hosted
//! server in both eras' shapes. Nothing may answer 5xx or take more than the request
//! timeout, and the server answers a valid request afterwards. CI runs a few hundred
//! cases; `scripts/fuzz` runs it for ten minutes.

use std::time::Duration;

use guidepost_testkit::fuzz::{fuzz, json_value, key};
use guidepost_testkit::{TestBackend, TestDatabase};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{RawMcp, STATELESS_ERA, spawn_app_with};

const METHODS: &[&str] = &[
    "initialize",
    "notifications/initialized",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "subscriptions/listen",
    "tasks/get",
    "tasks/update",
    "tasks/cancel",
    "tasks/result",
    "resources/list",
    "prompts/get",
    "logging/setLevel",
    "completion/complete",
];
const TOOLS: &[&str] = &[
    "list_walkthroughs",
    "select_walkthrough",
    "next_walkthrough_step",
    "get_walkthrough_status",
    "reset_walkthrough_progress",
    "get_support",
];

/// A message as a client might send it, right or wrong: a body and its headers.
fn message() -> impl Strategy<Value = (Vec<u8>, Vec<(String, String)>)> {
    let method =
        prop_oneof![4 => prop::sample::select(METHODS).prop_map(str::to_owned), 1 => ".{0,20}"];
    let params = prop_oneof![
        2 => (prop::sample::select(TOOLS), json_value()).prop_map(|(name, arguments)| json!({"name": name, "arguments": arguments})),
        1 => json_value(),
    ];
    // Mostly well-formed envelopes, so that most messages reach rmcp and the handlers.
    let meta = prop_oneof![
        1 => Just(None),
        4 => Just(Some(
            json!({"io.modelcontextprotocol/protocolVersion": STATELESS_ERA,
            "io.modelcontextprotocol/clientInfo": {"name": "fuzz", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}})
        )),
        1 => json_value().prop_map(Some),
    ];
    let id = prop_oneof![
        4 => any::<i64>().prop_map(Value::from),
        2 => ".{0,8}".prop_map(Value::from),
        1 => json_value()
    ];
    let structured = (
        method,
        params,
        meta,
        id,
        prop::option::of((key(), json_value())),
    )
        .prop_map(|(method, mut params, meta, id, extra)| {
            if let (Some(meta), Some(object)) = (meta, params.as_object_mut()) {
                object.insert("_meta".into(), meta);
            }
            let mut message =
                json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
            if let Some((key, value)) = extra {
                message[key] = value;
            }
            let mut headers = vec![
                ("mcp-protocol-version".to_owned(), STATELESS_ERA.to_owned()),
                ("mcp-method".to_owned(), method_of(&message)),
            ];
            // A real client wraps other values in Base64; these are sent as they are.
            let sendable = |name: &&str| name.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
            if let Some(name) = message["params"]["name"].as_str().filter(sendable) {
                headers.push(("mcp-name".to_owned(), name.to_owned()));
            }
            (serde_json::to_vec(&message).unwrap(), headers)
        });
    let raw = (prop::collection::vec(any::<u8>(), 0..256), Just(Vec::new()));
    prop_oneof![6 => structured, 1 => raw]
}

fn method_of(message: &Value) -> String {
    message["method"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_the_mcp_request_path() {
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    let app = spawn_app_with(&db, |settings| {
        settings.mcp.rate_limits.per_user_per_minute = 0;
        settings.mcp.rate_limits.per_ip_per_minute = 0;
    })
    .await;
    let tenant = app.create_tenant("Acme").await;
    let server = app.create_server(&tenant, "acme", json!({})).await;
    let server = server["id"].as_str().unwrap().to_owned();
    app.seed_walkthrough(&tenant, "Fuzzed", 3, Some((&server, 1)))
        .await;
    let url = format!("{}?tracking_id=fuzzer", app.mcp_path_url("acme"));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let runtime = tokio::runtime::Handle::current();
    let answered = std::sync::Arc::new(std::sync::Mutex::new(
        std::collections::BTreeMap::<u16, u64>::new(),
    ));
    let tally = answered.clone();

    let target_url = url.clone();
    let executions = tokio::task::spawn_blocking(move || {
        fuzz("MCP request path", message(), |(body, headers)| {
            let mut request = http
                .post(&target_url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(body);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let status = runtime
                .block_on(async { request.send().await.map(|r| r.status()) })
                .map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
            prop_assert!(!status.is_server_error(), "answered {}", status);
            *tally.lock().unwrap().entry(status.as_u16()).or_default() += 1;
            Ok(())
        })
    })
    .await
    .unwrap();
    let answered = answered.lock().unwrap().clone();
    println!("fuzz MCP request path: {executions} executions, statuses {answered:?}");
    assert!(
        answered.get(&200).is_some_and(|ok| *ok > executions / 50),
        "some messages reach the handlers: {answered:?}"
    );

    let after = RawMcp::new(url, STATELESS_ERA);
    let tools = after.call(1, "tools/list", json!({})).await;
    assert_eq!(tools.status, 200, "{}", tools.body);
    assert_eq!(
        tools.body["result"]["tools"].as_array().map(Vec::len),
        Some(6)
    );
}
