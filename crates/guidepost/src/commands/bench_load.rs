//! The concurrent load of `guidepost bench --gateway`: U clients, each calling one tool
//! over MCP's HTTP transport in a loop for a while, in either era (a session of its own
//! per client: `initialize`, then `tools/call` with its `Mcp-Session-Id`; or stateless
//! 2026-07-28 requests), against Guidepost or the upstream's own HTTP transport alike.
//!
//! A warm-up runs first (untimed), then the timed window. A failed call (no answer, an
//! HTTP or JSON-RPC error, a tool error) is counted apart, in no other figure.

use std::time::{Duration, Instant};

use guidepost_core::insights::analytics::percentile;
use serde::Serialize;
use serde_json::{Value, json};

const SESSION_VERSION: &str = "2025-11-25";
const STATELESS_VERSION: &str = "2026-07-28";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Era {
    /// 2025-11-25: `initialize`, then calls in its session.
    Session,
    /// 2026-07-28: every request stands alone.
    Stateless,
}

impl Era {
    pub fn label(self) -> &'static str {
        match self {
            Era::Session => "session (2025-11-25)",
            Era::Stateless => "stateless (2026-07-28)",
        }
    }
}

/// One load: who calls what, where, for how long.
pub struct Load {
    pub url: String,
    pub era: Era,
    /// Client `n` calls `tools[n % tools.len()]`.
    pub tools: Vec<String>,
    pub arguments: Value,
    pub users: u16,
    pub warmup: Duration,
    pub duration: Duration,
}

/// What one load measured: calls that succeeded in the timed window, per second, with
/// their latencies; failed calls apart.
#[derive(Debug, Clone, Serialize)]
pub struct LoadFigures {
    pub calls: u64,
    pub errors: u64,
    pub calls_per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// What the first failed call said, to tell a broken run from a slow one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl LoadFigures {
    /// Figures from per-call latencies (µs) of the timed window.
    pub fn from_samples(
        mut latencies: Vec<i64>,
        errors: u64,
        window: Duration,
        first_error: Option<String>,
    ) -> Self {
        latencies.sort_unstable();
        let ms = |us: i64| us as f64 / 1000.0;
        LoadFigures {
            calls: latencies.len() as u64,
            errors,
            calls_per_sec: latencies.len() as f64 / window.as_secs_f64().max(f64::MIN_POSITIVE),
            p50_ms: ms(percentile(&latencies, 50.0)),
            p95_ms: ms(percentile(&latencies, 95.0)),
            p99_ms: ms(percentile(&latencies, 99.0)),
            max_ms: ms(latencies.last().copied().unwrap_or(0)),
            first_error,
        }
    }

    /// Failed calls over all calls made.
    pub fn error_rate(&self) -> f64 {
        let attempted = self.calls + self.errors;
        if attempted == 0 {
            0.0
        } else {
            self.errors as f64 / attempted as f64
        }
    }
}

/// What one client recorded.
#[derive(Default)]
pub struct ClientSamples {
    pub latencies: Vec<i64>,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl ClientSamples {
    pub fn failed(&mut self, why: String) {
        self.errors += 1;
        self.first_error.get_or_insert(why);
    }
}

/// Runs `load`; the timed window starts after the warm-up, for every client at once.
pub async fn run(load: &Load) -> anyhow::Result<LoadFigures> {
    anyhow::ensure!(!load.tools.is_empty(), "no tool to call");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::from(load.users))
        .tcp_nodelay(true)
        .build()?;
    let timed_from = Instant::now() + load.warmup;
    let until = timed_from + load.duration;
    let clients = (0..load.users).map(|n| {
        let client = Client {
            http: http.clone(),
            url: load.url.clone(),
            era: load.era,
            session: None,
            next_id: 0,
        };
        let tool = load.tools[usize::from(n) % load.tools.len()].clone();
        let arguments = load.arguments.clone();
        tokio::spawn(client.run(tool, arguments, timed_from, until))
    });
    let mut all = ClientSamples::default();
    for client in futures::future::join_all(clients).await {
        let samples = client?;
        all.latencies.extend(samples.latencies);
        all.errors += samples.errors;
        if all.first_error.is_none() {
            all.first_error = samples.first_error;
        }
    }
    // The window is the time the timed calls had, the last one's end included.
    let window = timed_from.elapsed().max(load.duration);
    Ok(LoadFigures::from_samples(
        all.latencies,
        all.errors,
        window,
        all.first_error,
    ))
}

/// One call (after `initialize` in the session era) on a connection of its own.
pub async fn single_call(url: &str, era: Era, tool: &str, arguments: &Value) -> anyhow::Result<()> {
    let mut client = Client {
        http: reqwest::Client::new(),
        url: url.to_owned(),
        era,
        session: None,
        next_id: 0,
    };
    if era == Era::Session {
        client
            .initialize()
            .await
            .map_err(|e| anyhow::anyhow!("initialize: {e}"))?;
    }
    client.call(tool, arguments).await
}

struct Client {
    http: reqwest::Client,
    url: String,
    era: Era,
    session: Option<String>,
    next_id: u64,
}

impl Client {
    async fn run(
        mut self,
        tool: String,
        arguments: Value,
        timed_from: Instant,
        until: Instant,
    ) -> ClientSamples {
        let mut samples = ClientSamples::default();
        if self.era == Era::Session
            && let Err(error) = self.initialize().await
        {
            samples.failed(format!("initialize: {error}"));
            return samples;
        }
        loop {
            let started = Instant::now();
            if started >= until {
                break;
            }
            let outcome = self.call(&tool, &arguments).await;
            if started < timed_from {
                continue;
            }
            match outcome {
                Ok(()) => samples.latencies.push(started.elapsed().as_micros() as i64),
                Err(why) => samples.failed(why.to_string()),
            }
        }
        samples
    }

    fn post(&mut self, method: &str, tool: Option<&str>) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream");
        match self.era {
            Era::Stateless => {
                request = request
                    .header("mcp-protocol-version", STATELESS_VERSION)
                    .header("mcp-method", method);
                if let Some(tool) = tool {
                    request = request.header("mcp-name", tool);
                }
            }
            Era::Session => {
                if let Some(session) = &self.session {
                    request = request
                        .header("mcp-session-id", session)
                        .header("mcp-protocol-version", SESSION_VERSION);
                }
            }
        }
        self.next_id += 1;
        request
    }

    async fn initialize(&mut self) -> anyhow::Result<()> {
        let params = json!({"protocolVersion": SESSION_VERSION, "capabilities": {},
            "clientInfo": {"name": "guidepost-bench", "version": "1"}});
        let request = self.post("initialize", None);
        let body =
            json!({"jsonrpc": "2.0", "id": self.next_id, "method": "initialize", "params": params});
        let response = request.json(&body).send().await?;
        let session = response
            .headers()
            .get("mcp-session-id")
            .ok_or_else(|| anyhow::anyhow!("no session id ({})", response.status()))?
            .to_str()?
            .to_owned();
        // Read to the end, so that the connection goes back to the pool.
        response.bytes().await?;
        self.session = Some(session);
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.post("notifications/initialized", None)
            .json(&initialized)
            .send()
            .await?
            .bytes()
            .await?;
        Ok(())
    }

    async fn call(&mut self, tool: &str, arguments: &Value) -> anyhow::Result<()> {
        let mut params = json!({"name": tool, "arguments": arguments});
        if self.era == Era::Stateless {
            params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
                "io.modelcontextprotocol/clientInfo": {"name": "guidepost-bench", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {}});
        }
        let request = self.post("tools/call", Some(tool));
        let body =
            json!({"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call", "params": params});
        let response = request
            .json(&body)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("no answer: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| anyhow::anyhow!("no answer: {e}"))?;
        if !status.is_success() {
            anyhow::bail!("{status}: {}", cut(&text));
        }
        tool_succeeded(&text).ok_or_else(|| anyhow::anyhow!("failed: {}", cut(&text)))
    }
}

/// Whether the answer (JSON, or the last SSE event with data) is a tool result that is
/// not an error.
pub fn tool_succeeded(text: &str) -> Option<()> {
    let message: Value = serde_json::from_str(text).ok().or_else(|| {
        text.lines()
            .rev()
            .filter_map(|l| l.strip_prefix("data:"))
            .find_map(|d| serde_json::from_str(d.trim()).ok())
    })?;
    let result = message.get("result")?;
    (result["isError"] != Value::Bool(true)).then_some(())
}

/// The start of an answer, for an error message.
fn cut(text: &str) -> String {
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_result_counts_only_when_it_is_no_error() {
        let ok = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#;
        assert!(tool_succeeded(ok).is_some());
        let sse =
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}\n\n";
        assert!(tool_succeeded(sse).is_some());
        let tool_error = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true}}"#;
        assert!(tool_succeeded(tool_error).is_none());
        let rpc_error = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"no"}}"#;
        assert!(tool_succeeded(rpc_error).is_none());
    }

    #[test]
    fn figures_count_calls_in_the_window_and_errors_apart() {
        let figures = LoadFigures::from_samples(
            vec![3000, 1000, 2000, 4000],
            1,
            Duration::from_secs(2),
            None,
        );
        assert_eq!(figures.calls, 4);
        assert_eq!(figures.calls_per_sec, 2.0);
        assert_eq!(figures.p50_ms, 2.0);
        assert_eq!(figures.max_ms, 4.0);
        assert!((figures.error_rate() - 0.2).abs() < 1e-9);
    }
}
