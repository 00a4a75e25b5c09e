//! A raw MCP client over HTTP, and the answers it reads.

use reqwest::StatusCode;
use serde_json::{Value, json};

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

    /// The request of a tool call, for a test to add headers of its own before `send`.
    pub fn tool_call_request(
        &self,
        id: i64,
        name: &str,
        arguments: Value,
    ) -> reqwest::RequestBuilder {
        let params = json!({"name": name, "arguments": arguments});
        self.build_call(id, "tools/call", params, json!({}))
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
fn parse_message(text: &str) -> Value {
    if let Ok(value) = serde_json::from_str(text) {
        return value;
    }
    text.lines()
        .rev()
        .filter_map(|line| line.strip_prefix("data:"))
        .find_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .unwrap_or(Value::Null)
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
