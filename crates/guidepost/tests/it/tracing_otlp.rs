//! Traces (issue 29): a `guidepost serve` with `--otlp-endpoint` sends an OTLP receiver
//! of the test's own one trace for a proxied tool call. The trace continues the client's
//! `traceparent` (as the HTTP header, and as `_meta.traceparent`), holds the store's and
//! the upstream call's spans, and the upstream (the tests' stdio fixture) is handed the
//! same trace in `_meta.traceparent`, naming Guidepost's upstream-call span as its parent.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use guidepost_testkit::{TestDatabase, backend_tests};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::{fixture_catalog, text_of, wait_for_mark};
use crate::helpers::{ApiClient, RawMcp, STATELESS_ERA, serve_process_with};

/// The client's span, as its `traceparent` names it.
const HEADER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const HEADER_PARENT: &str = "00f067aa0ba902b7";
const META_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const META_PARENT: &str = "b7ad6b7169203331";

/// Every span the receiver was sent.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Span>>>);

impl Received {
    /// Each span received as `trace/parent name`, for failure messages.
    fn summary(&self) -> Vec<String> {
        let spans = self.0.lock().unwrap();
        spans
            .iter()
            .map(|s| {
                format!(
                    "{}/{}/{} {} {:?} {:?}",
                    hex(&s.trace_id),
                    hex(&s.span_id),
                    hex(&s.parent_span_id),
                    s.name,
                    attribute(s, "route"),
                    attribute(s, "db.query.text").map(|q| q.chars().take(60).collect::<String>())
                )
            })
            .collect()
    }

    fn of_trace(&self, trace: &str) -> Vec<Span> {
        let spans = self.0.lock().unwrap();
        spans
            .iter()
            .filter(|s| hex(&s.trace_id) == trace)
            .cloned()
            .collect()
    }
}

async fn export(State(received): State<Received>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
    let spans = request
        .resource_spans
        .into_iter()
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans);
    received.0.lock().unwrap().extend(spans);
    ExportTraceServiceResponse::default().encode_to_vec()
}

/// An OTLP/HTTP receiver on a free port, on a runtime of its own (the test blocks on
/// CLI commands meanwhile): its base URL and what it received.
fn receiver() -> (String, Received) {
    let received = Received::default();
    let app = axum::Router::new()
        .route("/v1/traces", post(export))
        .with_state(received.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await
        })
    });
    (format!("http://{addr}"), received)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    let value = span.attributes.iter().find(|a| a.key == key)?;
    match value.value.as_ref()?.value.as_ref()? {
        AnyValue::StringValue(text) => Some(text.clone()),
        AnyValue::IntValue(number) => Some(number.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// The trace's spans once it holds the upstream call's span and one whose parent is the
/// client's `parent` (spans of one trace may come in several exports).
async fn trace_of(received: &Received, trace: &str, parent: &str) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let spans = received.of_trace(trace);
        let has_root = spans.iter().any(|s| hex(&s.parent_span_id) == parent);
        let has_upstream = spans.iter().any(|s| s.name == "tools/call echo");
        if has_root && has_upstream {
            return spans;
        }
        assert!(
            Instant::now() < deadline,
            "trace {trace} incomplete after 30 s: {:?}; all received: {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>(),
            received.summary()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `traceparent` the upstream was handed in `trace`: its trace and parent ids.
async fn seen_upstream(marks: &std::path::Path, trace: &str) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = wait_for_mark(marks, "traceparent").await;
        let seen = lines.iter().find_map(|line| {
            let value = line.split_whitespace().nth(1)?;
            let fields: Vec<&str> = value.split('-').collect();
            (fields.len() == 4 && fields[1] == trace)
                .then(|| (fields[1].to_owned(), fields[2].to_owned()))
        });
        if let Some(seen) = seen {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "the upstream saw no {trace}: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks one proxied call's trace: continued from the client's `parent`, with the
/// store's and the upstream call's spans, and passed on to the upstream.
async fn check_trace(received: &Received, marks: &std::path::Path, trace: &str, parent: &str) {
    let spans = trace_of(received, trace, parent).await;
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let upstream = spans.iter().find(|s| s.name == "tools/call echo").unwrap();
    assert_eq!(
        attribute(upstream, "mcp.method.name").as_deref(),
        Some("tools/call")
    );
    assert_eq!(
        attribute(upstream, "gen_ai.tool.name").as_deref(),
        Some("echo")
    );
    let request = spans
        .iter()
        .find(|s| s.name == "tools/call fx__echo")
        .unwrap_or_else(|| panic!("no MCP request span: {names:?}"));
    assert_eq!(
        attribute(request, "jsonrpc.request.id").as_deref(),
        Some("7")
    );
    assert!(
        attribute(request, "guidepost.organization.id").is_some_and(|org| org.starts_with("org_")),
        "{request:?}"
    );
    assert!(
        spans.iter().any(|s| s.name == "execute_tool fx__echo"),
        "no tool call span: {names:?}"
    );
    assert!(
        spans
            .iter()
            .any(|s| attribute(s, "db.query.text").is_some()
                && attribute(s, "db.system.name").is_some()),
        "no store statement span: {names:?}"
    );
    let (seen_trace, seen_parent) = seen_upstream(marks, trace).await;
    assert_eq!(seen_trace, trace);
    assert_eq!(
        seen_parent,
        hex(&upstream.span_id),
        "the upstream's parent is Guidepost's upstream call"
    );
}

backend_tests! {
    async fn a_proxied_call_is_one_trace_from_the_client_into_the_upstream(db: &TestDatabase) {
        let (endpoint, received) = receiver();
        let dir = std::env::temp_dir().join(format!("guidepost-otlp-{}-{}", std::process::id(), db.url.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let marks = dir.join("marks");
        let catalog = dir.join("catalog.toml");
        std::fs::write(&catalog, fixture_catalog(&marks, &[])).unwrap();
        let catalog = catalog.display().to_string();
        let env = [
            ("GUIDEPOST_CATALOG", catalog.as_str()),
            ("GUIDEPOST_OTLP_ENDPOINT", endpoint.as_str()),
            ("GUIDEPOST_OTLP_SAMPLE_RATIO", "1"),
            // Exported every 100 ms rather than every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ];
        let (_node, base) = serve_process_with(&db.url, &env).await;
        let mcp = seed(&db.url, &base).await;

        let header = format!("00-{HEADER_TRACE}-{HEADER_PARENT}-01");
        let params = json!({"name": "fx__echo", "arguments": {"message": "traced"}, "_meta": stateless_meta()});
        let called = send(&mcp, params, Some(&header)).await;
        assert_eq!(text_of(&called), "traced", "{called}");
        check_trace(&received, &marks, HEADER_TRACE, HEADER_PARENT).await;

        let mut meta = stateless_meta();
        meta["traceparent"] = json!(format!("00-{META_TRACE}-{META_PARENT}-01"));
        let params = json!({"name": "fx__echo", "arguments": {"message": "traced"}, "_meta": meta});
        let called = send(&mcp, params, None).await;
        assert_eq!(text_of(&called), "traced", "{called}");
        check_trace(&received, &marks, META_TRACE, META_PARENT).await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn stateless_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS_ERA,
        "io.modelcontextprotocol/clientInfo": {"name": "it", "version": "1.0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

/// A stateless-era `tools/call` (id 7), with the `traceparent` header if given.
async fn send(mcp: &RawMcp, params: Value, traceparent: Option<&str>) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params});
    let mut request = mcp
        .request(Method::POST)
        .header("mcp-protocol-version", STATELESS_ERA)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "fx__echo")
        .json(&body);
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let answer = mcp.send(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body
}

/// An organization whose server `acme` attaches the fixture as `fx`; the server's MCP
/// client.
async fn seed(database_url: &str, base: &str) -> RawMcp {
    let org = std::process::Command::new(env!("CARGO_BIN_EXE_guidepost"))
        .args([
            "--json",
            "--database-url",
            database_url,
            "org",
            "create",
            "--name",
            "Acme",
        ])
        .output()
        .unwrap();
    let org: Value = serde_json::from_slice(&org.stdout).unwrap();
    let key = org["api_key"].as_str().unwrap().to_owned();
    let api = ApiClient::new(format!("{base}/api/v1"));
    let key = Some(key.as_str());
    let trust = json!({"tool_approval": "trust_on_first_use"});
    let trusted = api
        .call(Method::PATCH, "/organization", key, Some(trust))
        .await;
    assert_eq!(trusted.status, StatusCode::OK);
    let server = api
        .call(
            Method::POST,
            "/servers",
            key,
            Some(json!({"name": "Acme", "slug": "acme"})),
        )
        .await
        .body;
    let server = server["id"].as_str().unwrap().to_owned();
    let (status, up) = api
        .call(
            Method::POST,
            "/upstreams",
            key,
            Some(json!({"catalog_entry_id": "fixture"})),
        )
        .await
        .into_parts();
    assert_eq!(status, StatusCode::CREATED, "{up}");
    let id = up["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = api
            .call(Method::GET, &format!("/upstreams/{id}"), key, None)
            .await
            .body;
        if up["status"] == "ready" {
            break;
        }
        assert!(Instant::now() < deadline, "not ready: {up}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let attach = format!("/servers/{server}/upstreams/{id}");
    let (status, attached) = api
        .call(Method::PUT, &attach, key, Some(json!({"prefix": "fx"})))
        .await
        .into_parts();
    assert_eq!(status, StatusCode::OK, "{attached}");
    RawMcp::new(format!("{base}/s/acme/mcp"), STATELESS_ERA)
}
