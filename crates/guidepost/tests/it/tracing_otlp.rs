//! Traces: a `guidepost serve` with `--otlp-endpoint` sends an OTLP receiver
//! of the test's own one trace for a proxied tool call. The trace continues the client's
//! `traceparent` (as the HTTP header, and as `_meta.traceparent`), holds the store's and
//! the upstream call's spans, and the upstream (the tests' stdio fixture) is handed the
//! same trace in `_meta.traceparent`, naming Guidepost's upstream-call span as its parent;
//! an HTTP upstream of the tests' own gets it as the `traceparent` header. A call that
//! starts its upstream is sent too. Without an endpoint nothing is sent, even to a
//! receiver that is listening.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
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

use crate::gateway_fixture::{ProcessTenant, fixture_catalog_with, text_of, wait_for_mark};
use crate::helpers::{RawMcp, STATELESS_ERA, serve_process_with};

/// The client's span, as its `traceparent` names it.
const HEADER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const HEADER_PARENT: &str = "00f067aa0ba902b7";
const META_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const META_PARENT: &str = "b7ad6b7169203331";
const HTTP_TRACE: &str = "5e0c63257de34c926f9efcd03927272e";

/// Every span the receiver was sent.
#[derive(Clone, Default)]
pub(crate) struct Received(Arc<Mutex<Vec<Span>>>);

impl Received {
    /// Each span received as `trace/parent name`, for failure messages.
    pub(crate) fn summary(&self) -> Vec<String> {
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

    /// Every span received named `name`, of any trace.
    pub(crate) fn named(&self, name: &str) -> Vec<Span> {
        let spans = self.0.lock().unwrap();
        spans.iter().filter(|s| s.name == name).cloned().collect()
    }

    pub(crate) fn of_trace(&self, trace: &str) -> Vec<Span> {
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

/// An OTLP/HTTP receiver on a free port: its base URL and what it received.
pub(crate) fn receiver() -> (String, Received) {
    let received = Received::default();
    let app = axum::Router::new()
        .route("/v1/traces", post(export))
        .with_state(received.clone());
    (serve_apart(app), received)
}

/// Serves `app` on a free port, on a runtime of its own (the test blocks on CLI commands
/// meanwhile): its base URL.
pub(crate) fn serve_apart(app: axum::Router) -> String {
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
    format!("http://{addr}")
}

/// The `traceparent` headers of the `tools/call` requests an [`http_upstream`] was sent.
#[derive(Clone, Default)]
struct HeadersSeen(Arc<Mutex<Vec<String>>>);

/// A Streamable HTTP MCP server of the tests' own, without sessions, answering in JSON,
/// with one tool, `echo`: its MCP URL and the `traceparent` headers it was sent.
fn http_upstream() -> (String, HeadersSeen) {
    let seen = HeadersSeen::default();
    let app = axum::Router::new()
        .route("/mcp", post(http_mcp))
        .with_state(seen.clone());
    (format!("{}/mcp", serve_apart(app)), seen)
}

async fn http_mcp(
    State(seen): State<HeadersSeen>,
    headers: HeaderMap,
    axum::Json(message): axum::Json<Value>,
) -> Response {
    let Some(id) = message.get("id").cloned() else {
        return StatusCode::ACCEPTED.into_response();
    };
    let params = &message["params"];
    let result = match message["method"].as_str().unwrap_or_default() {
        "initialize" => json!({
            "protocolVersion": params["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "http-fixture", "version": "1.0"},
        }),
        "tools/list" => json!({"tools": [{
            "name": "echo",
            "description": "Says the message back.",
            "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}},
        }]}),
        "tools/call" => {
            let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok());
            seen.0
                .lock()
                .unwrap()
                .push(traceparent.unwrap_or("none").to_owned());
            json!({"content": [{"type": "text", "text": params["arguments"]["message"]}]})
        }
        _ => json!({}),
    };
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

/// The catalog entry `httpfx`: the HTTP upstream at `url`.
fn http_entry(url: &str) -> String {
    format!(
        "\n[[entry]]\nid = \"httpfx\"\nname = \"HTTP fixture\"\n\
         description = \"The tests' HTTP upstream.\"\nspec = {{ runtime = \"http\", url = {url:?} }}\n"
    )
}

/// A fresh directory of the test's (`guidepost-otlp-{name}-{pid}`), with an operator
/// catalog of the fixture and `extra` entries: the directory, the fixture's marks file and
/// the catalog's path.
fn fixture_files(name: &str, extra: &str) -> (PathBuf, PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("guidepost-otlp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marks = dir.join("marks");
    let catalog = dir.join("catalog.toml");
    std::fs::write(&catalog, fixture_catalog_with(&marks, &[], extra)).unwrap();
    (dir, marks, catalog.display().to_string())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn attribute(span: &Span, key: &str) -> Option<String> {
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

/// Checks one proxied call of `tool`'s trace: continued from the client's `parent`, with
/// the upstream call's span, and the store's where the call `reads_the_store` (the first
/// call after an attach builds the server's view; later ones are served from the node
/// cache with no statement). Returns the upstream call's span.
async fn check_trace(
    received: &Received,
    trace: &str,
    parent: &str,
    tool: &str,
    reads_the_store: bool,
) -> Span {
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
        .find(|s| s.name == format!("tools/call {tool}"))
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
        spans
            .iter()
            .any(|s| s.name == format!("execute_tool {tool}")),
        "no tool call span: {names:?}"
    );
    let statements = spans.iter().any(|s| {
        attribute(s, "db.query.text").is_some() && attribute(s, "db.system.name").is_some()
    });
    assert!(
        statements || !reads_the_store,
        "no store statement span: {names:?}"
    );
    upstream.clone()
}

/// Checks that the stdio fixture was handed `trace` in `_meta.traceparent`, with
/// Guidepost's `upstream` call as its parent.
async fn check_passed_on(marks: &std::path::Path, trace: &str, upstream: &Span) {
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
        let (http_url, headers_seen) = http_upstream();
        let backend = format!("call-{}", db.url.len());
        let (dir, marks, catalog) = fixture_files(&backend, &http_entry(&http_url));
        let env = [
            ("GUIDEPOST_CATALOG", catalog.as_str()),
            ("GUIDEPOST_OTLP_ENDPOINT", endpoint.as_str()),
            ("GUIDEPOST_OTLP_SAMPLE_RATIO", "1"),
            // The HTTP upstream listens on loopback.
            ("GUIDEPOST_UPSTREAM_ALLOW_PRIVATE", "true"),
            // Exported every 100 ms rather than every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ];
        let (_node, base) = serve_process_with(&db.url, &env).await;
        let acme = ProcessTenant::create(&db.url, &base).await;
        acme.install_and_attach("fixture", "fx").await;
        acme.install_and_attach("httpfx", "hx").await;
        let mcp = acme.mcp();

        let header = format!("00-{HEADER_TRACE}-{HEADER_PARENT}-01");
        let called = send(&mcp, "fx__echo", stateless_meta(), Some(&header)).await;
        assert_eq!(text_of(&called), "traced", "{called}");
        let upstream = check_trace(&received, HEADER_TRACE, HEADER_PARENT, "fx__echo", true).await;
        check_passed_on(&marks, HEADER_TRACE, &upstream).await;

        let mut meta = stateless_meta();
        meta["traceparent"] = json!(format!("00-{META_TRACE}-{META_PARENT}-01"));
        let called = send(&mcp, "fx__echo", meta, None).await;
        assert_eq!(text_of(&called), "traced", "{called}");
        let upstream = check_trace(&received, META_TRACE, META_PARENT, "fx__echo", false).await;
        check_passed_on(&marks, META_TRACE, &upstream).await;

        // An HTTP upstream gets the trace as the `traceparent` header.
        let header = format!("00-{HTTP_TRACE}-{HEADER_PARENT}-01");
        let called = send(&mcp, "hx__echo", stateless_meta(), Some(&header)).await;
        assert_eq!(text_of(&called), "traced", "{called}");
        let upstream = check_trace(&received, HTTP_TRACE, HEADER_PARENT, "hx__echo", false).await;
        let expected = format!("00-{HTTP_TRACE}-{}-01", hex(&upstream.span_id));
        let seen = headers_seen.0.lock().unwrap().clone();
        assert_eq!(seen, vec![expected], "the HTTP upstream's traceparent headers");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Without `--otlp-endpoint` nothing is sent, though the SDK's own variables name a
/// listening receiver: a node without one takes a traced call and is stopped (a node
/// sends what it still holds as it stops), and the receiver has nothing; the same call
/// on a node with the endpoint reaches it.
#[tokio::test]
async fn without_an_endpoint_no_trace_is_sent() {
    let db = TestDatabase::create(guidepost_testkit::TestBackend::Sqlite).await;
    let (endpoint, received) = receiver();
    let (dir, _, catalog) = fixture_files("off", "");
    let traces_url = format!("{endpoint}/v1/traces");
    let untraced = [
        ("GUIDEPOST_CATALOG", catalog.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces_url.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let (node, base) = serve_process_with(&db.url, &untraced).await;
    let acme = ProcessTenant::create(&db.url, &base).await;
    acme.install_and_attach("fixture", "fx").await;
    let mut meta = stateless_meta();
    meta["traceparent"] = json!(format!("00-{META_TRACE}-{META_PARENT}-01"));
    let header = format!("00-{META_TRACE}-{HEADER_PARENT}-01");
    let called = send(&acme.mcp(), "fx__echo", meta, Some(&header)).await;
    assert_eq!(text_of(&called), "traced", "{called}");
    stop(node).await;
    assert_eq!(
        received.summary(),
        Vec::<String>::new(),
        "sent without an endpoint"
    );

    let _node = traced_call_on_a_new_node(&db.url, &catalog, &endpoint, &received, "info").await;
    assert!(received.of_trace(META_TRACE).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A call that starts its upstream on its node is one trace as well, with rmcp's `info`
/// spans let through (its default filter keeps them out): the span of rmcp's service
/// loop, which lives as long as the connection, is not made in the call's trace and so
/// does not hold it open. Acme's upstream is installed through one node, which stops; the
/// first call on a second node starts it there.
#[tokio::test]
async fn a_call_that_starts_its_upstream_is_sent() {
    let db = TestDatabase::create(guidepost_testkit::TestBackend::Sqlite).await;
    let (endpoint, received) = receiver();
    let (dir, marks, catalog) = fixture_files("cold", "");
    let (node, base) = serve_process_with(&db.url, &[("GUIDEPOST_CATALOG", &catalog)]).await;
    let acme = ProcessTenant::create(&db.url, &base).await;
    acme.install_and_attach("fixture", "fx").await;
    stop(node).await;
    let installed = wait_for_mark(&marks, "started").await.len();
    let log = "info,rmcp=info";
    let _node = traced_call_on_a_new_node(&db.url, &catalog, &endpoint, &received, log).await;
    let started = wait_for_mark(&marks, "started").await.len();
    assert_eq!(started, installed + 1, "the call started the upstream");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts a node that traces to `endpoint`, logging with `log` (`GUIDEPOST_LOG`), and has
/// it take a call of Acme's `fx__echo` with the client's `traceparent` header: checks that
/// the call's trace is received, and returns the node.
async fn traced_call_on_a_new_node(
    database_url: &str,
    catalog: &str,
    endpoint: &str,
    received: &Received,
    log: &str,
) -> tokio::process::Child {
    let traced = [
        ("GUIDEPOST_CATALOG", catalog),
        ("GUIDEPOST_OTLP_ENDPOINT", endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("GUIDEPOST_LOG", log),
    ];
    let (node, base) = serve_process_with(database_url, &traced).await;
    let mcp = RawMcp::new(format!("{base}/s/acme/mcp"), STATELESS_ERA);
    let header = format!("00-{HEADER_TRACE}-{HEADER_PARENT}-01");
    let called = send(&mcp, "fx__echo", stateless_meta(), Some(&header)).await;
    assert_eq!(text_of(&called), "traced", "{called}");
    check_trace(received, HEADER_TRACE, HEADER_PARENT, "fx__echo", true).await;
    node
}

/// Stops a `guidepost serve` as an operator would (SIGTERM) and waits for its exit.
async fn stop(mut node: tokio::process::Child) {
    let pid = node.id().unwrap().to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(stopped.unwrap().success());
    let exit = tokio::time::timeout(Duration::from_secs(30), node.wait()).await;
    exit.expect("stopped within 30 s").unwrap();
}

fn stateless_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS_ERA,
        "io.modelcontextprotocol/clientInfo": {"name": "it", "version": "1.0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

/// A stateless-era `tools/call` of `tool` (id 7, message "traced") with `meta`, and the
/// `traceparent` header if given.
async fn send(mcp: &RawMcp, tool: &str, meta: Value, traceparent: Option<&str>) -> Value {
    let params = json!({"name": tool, "arguments": {"message": "traced"}, "_meta": meta});
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params});
    let mut request = mcp
        .request(Method::POST)
        .header("mcp-protocol-version", STATELESS_ERA)
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .json(&body);
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let answer = mcp.send(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body
}
