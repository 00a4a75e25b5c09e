//! `spawn_app()` and the typed helpers that tests read like user stories with.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use guidepost::app::{self, RunningApp};
use guidepost::config::Settings;
use guidepost_domain::OrgId;
use guidepost_domain::{ApiKeyScopes, ApiKeySecret};
use guidepost_store::Store;
use guidepost_testkit::TestDatabase;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::dns_server::TestDns;

pub struct TestApp {
    pub app: RunningApp,
    pub url: String,
    pub http: reqwest::Client,
    /// The management API's client for this application (base URL: `url`).
    pub client: ApiClient,
    /// The application's store, for what a test must set up or read below the API
    /// (statement counts, stored rows). The application itself reaches it only through
    /// core's services.
    pub store: Arc<dyn Store>,
    /// The DNS server the application looks custom-domain challenges up at.
    pub dns: TestDns,
}

/// An organization with its API key: the one tenant type of the integration tests.
pub struct Tenant {
    pub org: OrgId,
    pub key: String,
}

impl Tenant {
    /// The organization's id as text (CLI arguments, form fields, JSON).
    pub fn org_id(&self) -> &str {
        self.org.as_str()
    }
}

/// The tests' one client for the management API (and any JSON endpoint): requests to
/// paths under a base URL, with an optional bearer key and JSON body, read into a
/// [`Reply`]. [`TestApp::client`] is the one for the application a test started;
/// `ApiClient::new(url)` is for a guidepost process a test started itself.
#[derive(Clone)]
pub struct ApiClient {
    pub http: reqwest::Client,
    /// What every path is appended to, e.g. `http://127.0.0.1:4000` or `…/api/v1`.
    pub base: String,
}

/// A response: status, headers, and the body parsed as JSON (`Null` when empty, the
/// text as a JSON string when it is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    /// The body as received.
    pub text: String,
}

impl ApiClient {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self::with_http(reqwest::Client::new(), base_url)
    }

    pub fn with_http(http: reqwest::Client, base_url: impl Into<String>) -> Self {
        Self {
            http,
            base: base_url.into(),
        }
    }

    /// A request to `path` under the base URL, with `key` as its bearer token when given,
    /// for a test to add what [`ApiClient::call`] does not send (other headers, a raw
    /// body) before [`ApiClient::send`].
    pub fn request(&self, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// Sends a request and reads its reply: the one place a test's API response is read.
    pub async fn send(&self, request: RequestBuilder) -> Reply {
        let response = request.send().await.expect("API request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
        };
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    /// `method path` with an optional bearer `key` and JSON `body`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.request(method, path, key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }
}

impl Reply {
    /// Status and body, as most tests read a reply.
    pub fn into_parts(self) -> (StatusCode, Value) {
        (self.status, self.body)
    }

    /// Whether the body was empty or JSON (not text that [`Reply::body`] holds as a string).
    pub fn is_json(&self) -> bool {
        self.text.is_empty() || serde_json::from_str::<serde::de::IgnoredAny>(&self.text).is_ok()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts an RFC 9457 problem document with this status, and returns it.
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status, body: {}",
            self.body
        );
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status, "body: {}", self.body);
        assert!(
            self.body["type"].is_string() && self.body["title"].is_string(),
            "body: {}",
            self.body
        );
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "body: {}",
            self.body
        );
        &self.body
    }

    /// The `field`s of a validation problem.
    pub fn error_fields(&self) -> Vec<String> {
        let errors = self.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors in {}", self.body));
        errors
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    }
}

pub async fn spawn_app(db: &TestDatabase) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

pub async fn spawn_app_with(db: &TestDatabase, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = Settings::local(db.url.clone());
    let dns = TestDns::start().await;
    settings.dns_resolver = Some(dns.addr);
    // Upstreams' own directories, out of the source tree (named by upstream id).
    settings.gateway.toolchain.data_dir = std::env::temp_dir().join("guidepost-test-upstream-data");
    adjust(&mut settings);
    let store = guidepost_store::connect(&settings.database_url)
        .await
        .expect("the test database opens");
    let app = app::start_with_store(settings, store.clone())
        .await
        .expect("the application starts");
    let url = app.url();
    let http = reqwest::Client::new();
    TestApp {
        app,
        client: ApiClient::with_http(http.clone(), url.clone()),
        url,
        http,
        store,
        dns,
    }
}

impl TestApp {
    pub async fn create_tenant(&self, name: &str) -> Tenant {
        let store = &self.store;
        let org = store
            .create_organization(name)
            .await
            .expect("organization created");
        let secret = ApiKeySecret::generate();
        store
            .create_api_key(&org.id, "test", &ApiKeyScopes::all(), &secret)
            .await
            .expect("key created");
        Tenant {
            org: org.id,
            key: secret.plaintext,
        }
    }

    /// `method /api/v1{path}` with `key` and an optional JSON body, through
    /// [`TestApp::client`]: status and body.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.client
            .call(method, &format!("/api/v1{path}"), Some(key), body)
            .await
            .into_parts()
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.api(Method::GET, path, key, None).await
    }

    /// Sets the tenant's `tool_approval` to `trust_on_first_use`: new, clean upstream tools
    /// are offered when first seen (the gateway tests that are not about review).
    pub async fn trust_new_tools(&self, tenant: &Tenant) {
        let body = json!({"tool_approval": "trust_on_first_use"});
        let (status, org) = self
            .api(
                reqwest::Method::PATCH,
                "/organization",
                &tenant.key,
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{org}");
    }

    /// Creates a server through the API and returns its JSON.
    pub async fn create_server(&self, tenant: &Tenant, slug: &str, extra: Value) -> Value {
        let mut body = json!({"name": format!("Server {slug}"), "slug": slug});
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        let (status, server) = self
            .api(reqwest::Method::POST, "/servers", &tenant.key, Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "server created: {server}");
        server
    }

    /// Creates a server that serves at `domain`: asked for, its challenge published in the
    /// tests' DNS, and verified, as an organization would.
    pub async fn create_server_at_domain(
        &self,
        tenant: &Tenant,
        slug: &str,
        domain: &str,
        extra: Value,
    ) -> Value {
        let mut body = json!({"custom_domain": domain});
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        let server = self.create_server(tenant, slug, body).await;
        let (status, verified) = self.publish_and_verify(tenant, &server).await;
        assert_eq!(status, StatusCode::OK, "domain verified: {verified}");
        assert_eq!(verified["custom_domain"], domain);
        verified
    }

    /// Publishes the server's pending domain challenge in the tests' DNS and asks the API
    /// to verify it.
    pub async fn publish_and_verify(&self, tenant: &Tenant, server: &Value) -> (StatusCode, Value) {
        let challenge = &server["custom_domain_pending"];
        self.dns.publish(
            challenge["record_name"].as_str().expect("a pending domain"),
            challenge["record_value"].as_str().unwrap(),
        );
        self.verify_domain(tenant, server).await
    }

    /// `POST /servers/{id}/custom-domain/verify`.
    pub async fn verify_domain(&self, tenant: &Tenant, server: &Value) -> (StatusCode, Value) {
        let id = server["id"].as_str().unwrap();
        let path = format!("/servers/{id}/custom-domain/verify");
        self.api(reqwest::Method::POST, &path, &tenant.key, None)
            .await
    }

    /// The path-fallback MCP URL of a server, reachable without DNS.
    pub fn mcp_path_url(&self, slug: &str) -> String {
        format!("{}/s/{slug}/mcp", self.url)
    }

    /// Waits until the analytics writer has stored `count` tool calls for the tenant.
    pub async fn wait_for_tool_calls(&self, tenant: &Tenant, count: usize) -> Vec<Value> {
        for _ in 0..50 {
            let (_, calls) = self.get("/tool-calls", &tenant.key).await;
            let items = calls["items"].as_array().cloned().unwrap_or_default();
            if items.len() >= count {
                return items;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected {count} recorded tool calls within 5 s");
    }
}

/// An app without rate limits (tests that make dozens of calls as one person), a tenant,
/// and its server `slug` created with `extra` fields; returns the server's id.
pub async fn unlimited_app_with_server(
    db: &TestDatabase,
    slug: &str,
    extra: Value,
) -> (TestApp, Tenant, String) {
    let app = spawn_app_with(db, |s| {
        s.mcp.rate_limits.per_user_per_minute = 0;
        s.mcp.rate_limits.per_ip_per_minute = 0;
    })
    .await;
    let tenant = app.create_tenant("Acme").await;
    let server = app.create_server(&tenant, slug, extra).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (app, tenant, server)
}

/// A stateless-era client on the personal URL of `tracking_id` at server `slug`.
pub fn personal_client(app: &TestApp, slug: &str, tracking_id: &str) -> RawMcp {
    RawMcp::new(
        format!("{}?tracking_id={tracking_id}", app.mcp_path_url(slug)),
        STATELESS_ERA,
    )
}

/// The tool names of a `tools/list` answer, in order.
pub fn tool_names(answer: &Answer) -> Vec<String> {
    answer.body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A raw MCP client over HTTP, to test what the official clients never send.
pub struct RawMcp {
    pub http: reqwest::Client,
    pub url: String,
    pub host: Option<String>,
    pub session: Option<String>,
    pub version: &'static str,
    /// The client `X-Forwarded-For` names (honoured behind `--trusted-proxy` only).
    pub forwarded_for: Option<String>,
}

pub const SESSION_ERA: &str = "2025-11-25";
pub const STATELESS_ERA: &str = "2026-07-28";

/// A parsed answer: status, headers and the JSON-RPC message (from JSON or SSE).
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl RawMcp {
    pub fn new(url: impl Into<String>, version: &'static str) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: url.into(),
            host: None,
            session: None,
            version,
            forwarded_for: None,
        }
    }

    /// This client, as if forwarded by a proxy for `client`.
    pub fn forwarded_for(mut self, client: &str) -> Self {
        self.forwarded_for = Some(client.to_owned());
        self
    }

    pub fn with_host(mut self, host: &str) -> Self {
        self.host = Some(host.to_owned());
        self
    }

    pub fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, &self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json");
        if let Some(host) = &self.host {
            request = request.header("host", host);
        }
        if let Some(client) = &self.forwarded_for {
            request = request.header("x-forwarded-for", client);
        }
        if let Some(session) = &self.session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", self.version);
        }
        request
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("MCP request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Answer {
            status,
            headers,
            body: parse_message(&text),
        }
    }

    /// Opens a session-era session (initialize + initialized).
    pub async fn initialize(&mut self) -> Answer {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": self.version, "capabilities": {}, "clientInfo": {"name": "it", "version": "1.0"}}});
        let answer = self
            .send(self.request(reqwest::Method::POST).json(&body))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "initialize: {}", answer.body);
        let session = answer
            .headers
            .get("mcp-session-id")
            .expect("a session id")
            .to_str()
            .unwrap()
            .to_owned();
        self.session = Some(session);
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let ack = self
            .send(self.request(reqwest::Method::POST).json(&initialized))
            .await;
        assert_eq!(ack.status, StatusCode::ACCEPTED);
        answer
    }

    /// Sends one request; in the stateless era with the per-request `_meta` and headers.
    pub async fn call(&self, id: i64, method: &str, params: Value) -> Answer {
        self.call_declaring(id, method, params, json!({})).await
    }

    /// [`RawMcp::call`] from a client that declares `capabilities` for this request
    /// (stateless era).
    pub async fn call_declaring(
        &self,
        id: i64,
        method: &str,
        params: Value,
        capabilities: Value,
    ) -> Answer {
        self.send(self.build_call(id, method, params, capabilities))
            .await
    }

    /// A tool call whose transport may fail (a node that stops): `None` then.
    pub async fn try_call_tool(&self, id: i64, name: &str, arguments: Value) -> Option<Answer> {
        let params = json!({"name": name, "arguments": arguments});
        let request = self.build_call(id, "tools/call", params, json!({}));
        let response = request.send().await.ok()?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.ok()?;
        let body = parse_message(&text);
        body.get("id").is_some().then_some(Answer {
            status,
            headers,
            body,
        })
    }

    fn build_call(
        &self,
        id: i64,
        method: &str,
        mut params: Value,
        capabilities: Value,
    ) -> reqwest::RequestBuilder {
        let mut request = self.request(reqwest::Method::POST);
        if self.version == STATELESS_ERA {
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": STATELESS_ERA,
                "io.modelcontextprotocol/clientInfo": {"name": "it", "version": "1.0"},
                "io.modelcontextprotocol/clientCapabilities": capabilities});
            request = request
                .header("mcp-protocol-version", STATELESS_ERA)
                .header("mcp-method", method);
            let name = params
                .get("name")
                .or_else(|| params.get("taskId"))
                .or_else(|| params.get("uri"));
            if let Some(name) = name.and_then(Value::as_str) {
                request = request.header("mcp-name", name);
            }
        }
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        request.json(&body)
    }

    pub async fn call_tool(&self, id: i64, name: &str, arguments: Value) -> Answer {
        self.call(
            id,
            "tools/call",
            json!({"name": name, "arguments": arguments}),
        )
        .await
    }
}

/// The JSON-RPC message of a response body: plain JSON, or the last `data:` line of SSE.
pub fn parse_message(text: &str) -> Value {
    if let Ok(value) = serde_json::from_str(text) {
        return value;
    }
    text.lines()
        .rev()
        .filter_map(|line| line.strip_prefix("data:"))
        .find_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .unwrap_or(Value::Null)
}

/// The interpreter of the venv with the official Python MCP client.
pub fn python() -> PathBuf {
    if let Ok(path) = std::env::var("GUIDEPOST_TEST_PYTHON") {
        return PathBuf::from(path);
    }
    let local = workspace_root().join(".tools/venv/bin/python");
    assert!(
        local.exists(),
        "the Python MCP client is not installed: run scripts/install-test-tools (or scripts/test)"
    );
    local
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What a database holds after [`seeded_and_stopped`]: the tenant, its server `acme`'s
/// id and its walkthrough.
pub struct Seeded {
    pub tenant: Tenant,
    pub server: String,
    pub walkthrough: SeededWalkthrough,
}

/// Creates tenant Acme, its server `acme` and a walkthrough of `steps` steps assigned to
/// it through an in-process app, then stops the app: the test's nodes are processes.
pub async fn seeded_and_stopped(db: &TestDatabase, steps: usize) -> Seeded {
    let setup = spawn_app(db).await;
    let tenant = setup.create_tenant("Acme").await;
    let server = setup.create_server(&tenant, "acme", json!({})).await;
    let server = server["id"].as_str().unwrap().to_owned();
    let walkthrough = setup
        .seed_walkthrough(&tenant, "Seeded", steps, Some((&server, 1)))
        .await;
    setup.app.shutdown().await.unwrap();
    Seeded {
        tenant,
        server,
        walkthrough,
    }
}

/// Runs tests/e2e/mcp_smoke.py with the official Python client; returns its JSON report.
pub async fn python_smoke(args: &[&str]) -> Value {
    python_script("mcp_smoke.py", args).await
}

/// Runs a script of tests/e2e with the official Python client; returns its JSON report
/// (the last line of its output).
pub async fn python_script(name: &str, args: &[&str]) -> Value {
    let script = workspace_root().join("tests/e2e").join(name);
    let output = tokio::process::Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .await
        .expect("the Python client runs");
    json_report(&output, "the Python client")
}

/// The JSON object an end-to-end script prints as the last line of its output; a
/// failure shows `who` printed, its exit status and its standard error.
pub fn json_report(output: &std::process::Output, who: &str) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok());
    report.unwrap_or_else(|| {
        panic!(
            "no JSON report from {who} (exit {:?}):\n{stdout}\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// A published walkthrough seeded through the authoring service.
pub struct SeededWalkthrough {
    pub id: String,
    pub step_ids: Vec<String>,
}

impl TestApp {
    /// Creates a walkthrough with `steps` steps ("Step 1"…), publishes it and assigns it
    /// to `server_id` (when given) with `display_order`.
    pub async fn seed_walkthrough(
        &self,
        tenant: &Tenant,
        title: &str,
        steps: usize,
        assign_to: Option<(&str, i64)>,
    ) -> SeededWalkthrough {
        use guidepost_core::walkthroughs::authoring::{
            self, AssignWalkthrough, CreateStep, CreateWalkthrough,
        };
        let platform = &self.app.platform;
        let org = &tenant.org;
        let input = CreateWalkthrough {
            title: title.into(),
            description: Some(format!("About {title}")),
            tags: Some(vec!["test".into()]),
            estimated_duration_minutes: Some(5),
            metadata: None,
        };
        let walkthrough = authoring::create(platform, &crate::helpers::operator(org), input, None)
            .await
            .expect("walkthrough created");
        let mut step_ids = Vec::new();
        for n in 1..=steps {
            let step = CreateStep {
                title: format!("Step {n}"),
                content: format!("Content of step {n} of {title}."),
                section_title: Some(format!("Part {}", n.div_ceil(2))),
                after_step_id: None,
            };
            step_ids.push(
                authoring::add_step(
                    platform,
                    &crate::helpers::operator(org),
                    &walkthrough.id,
                    step,
                )
                .await
                .expect("step added")
                .id
                .to_string(),
            );
        }
        authoring::publish(platform, &crate::helpers::operator(org), &walkthrough.id)
            .await
            .expect("published");
        if let Some((server, display_order)) = assign_to {
            let server = guidepost_domain::Id::parse(server).expect("a server id");
            let input = AssignWalkthrough {
                display_order: Some(display_order),
                is_enabled: Some(true),
            };
            authoring::assign(
                platform,
                &crate::helpers::operator(org),
                &server,
                &walkthrough.id,
                input,
            )
            .await
            .expect("assigned");
        }
        SeededWalkthrough {
            id: walkthrough.id.to_string(),
            step_ids,
        }
    }
}

impl Answer {
    /// The `structuredContent` of a successful tool call.
    pub fn structured(&self) -> &Value {
        assert_eq!(
            self.body["result"]["isError"],
            Value::Bool(false),
            "tool call failed: {}",
            self.body
        );
        &self.body["result"]["structuredContent"]
    }

    pub fn tool_error_text(&self) -> String {
        assert_eq!(
            self.body["result"]["isError"],
            Value::Bool(true),
            "expected a tool error: {}",
            self.body
        );
        self.body["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Starts `guidepost serve` on a free port and returns it with its base URL.
pub async fn serve_process(database_url: &str) -> (tokio::process::Child, String) {
    serve_process_with(database_url, &[]).await
}

/// `serve_process` with more environment (`GUIDEPOST_*` settings; a `GUIDEPOST_LOG`
/// of the test's replaces `info`).
pub async fn serve_process_with(
    database_url: &str,
    env: &[(&str, &str)],
) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"))
        .env("GUIDEPOST_LOG", "info")
        .envs(env.iter().copied())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("guidepost starts");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let find = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(addr) = line.split("addr=").nth(1) {
                return addr.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("guidepost did not report its address");
    };
    let addr = tokio::time::timeout(Duration::from_secs(30), find)
        .await
        .expect("listening within 30 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, format!("http://{addr}"))
}

/// The platform's operator acting for `org`: how tests that seed through core's services
/// act (as the CLI does).
pub fn operator(org: &guidepost_domain::OrgId) -> guidepost_core::Caller {
    guidepost_core::Caller::operator(org.clone())
}
