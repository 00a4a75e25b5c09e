//! `guidepost bench` counts failed calls apart: against a target that refuses a tenth of
//! the tool calls, the refused calls are its errors, in no other figure, and the run
//! exits non-zero (more than 0.1 % failed).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use guidepost_testkit::{TestBackend, TestDatabase};
use serde_json::{Value, json};

use crate::helpers::spawn_app_with;

/// A relay in front of a real Guidepost that refuses every tenth tool call with a 503
/// and a JSON-RPC error, and counts the tool calls it saw.
struct Refuser {
    upstream: String,
    http: reqwest::Client,
    tool_calls: AtomicU64,
    refused: AtomicU64,
}

async fn relay(State(refuser): State<Arc<Refuser>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("the bench's request body");
    let tool_call = parts
        .headers
        .get("mcp-method")
        .is_some_and(|method| method == "tools/call");
    if tool_call && (refuser.tool_calls.fetch_add(1, Ordering::SeqCst) + 1).is_multiple_of(10) {
        refuser.refused.fetch_add(1, Ordering::SeqCst);
        let error = json!({"jsonrpc": "2.0", "id": null,
            "error": {"code": -32603, "message": "refused by the test's relay"}});
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(error)).into_response();
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut forward = refuser
        .http
        .request(parts.method, format!("{}{path}", refuser.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            forward = forward.header(name, value);
        }
    }
    let answer = forward.send().await.expect("the relay reaches Guidepost");
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    let body = answer.bytes().await.expect("Guidepost's answer");
    response.body(Body::from(body)).expect("a valid response")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_counts_refused_calls_as_errors_and_fails_the_run() {
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    // Rate limits off, as `bench` sets them on its own server: the relay's refusals are
    // then the only failures.
    let app = spawn_app_with(&db, |s| {
        s.mcp.rate_limits.per_user_per_minute = 0;
        s.mcp.rate_limits.per_ip_per_minute = 0;
    })
    .await;
    let tenant = app.create_tenant("Bench").await;
    let refuser = Arc::new(Refuser {
        upstream: app.url.clone(),
        http: reqwest::Client::new(),
        tool_calls: AtomicU64::new(0),
        refused: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .fallback(relay)
        .with_state(refuser.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"))
        .args(["bench", "--json", "--users", "2", "--steps", "3"])
        .args(["--duration", "2", "--target", &target])
        .env("GUIDEPOST_BENCH_API_KEY", &tenant.key)
        .output()
        .await
        .expect("bench runs");
    server.abort();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("a JSON report ({e}); stderr: {stderr}"));
    let (seen, refused) = (
        refuser.tool_calls.load(Ordering::SeqCst),
        refuser.refused.load(Ordering::SeqCst),
    );
    eprintln!("[bench] the relay saw {seen} tool calls and refused {refused}: {report}");

    assert!(
        refused >= 2,
        "the run made too few calls to show anything: {seen}"
    );
    assert_eq!(report["total_errors"], refused, "every refusal is an error");
    assert_eq!(
        report["total_calls"],
        seen - refused,
        "calls are the ones that succeeded, refused ones apart"
    );
    let per_tool: u64 = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["errors"].as_u64().unwrap())
        .sum();
    assert_eq!(per_tool, refused, "the errors column adds up");
    let duration = report["duration_secs"].as_f64().unwrap();
    let calls_per_sec = report["calls_per_sec"].as_f64().unwrap();
    assert!(
        (calls_per_sec - (seen - refused) as f64 / duration).abs() < 1e-6,
        "calls/s counts only the calls that succeeded: {report}"
    );
    let rate = report["error_rate"].as_f64().unwrap();
    assert!(
        (rate - refused as f64 / seen as f64).abs() < 1e-9,
        "{report}"
    );
    assert!(
        !output.status.success(),
        "more than 0.1 % failed, so the run fails"
    );
    assert!(stderr.contains("more than the 0.1 %"), "{stderr}");
}
