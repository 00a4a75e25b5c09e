//! `guidepost bench --gateway ENTRY`: what the gateway adds to a tool call. The same
//! upstream is called directly (its own process over stdio, as a client on this host
//! would) and through a Guidepost of this process (HTTP, stateless era, the upstream's
//! tool attached to a hosted server), one call at a time, and the latencies compared.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use guidepost_core::upstreams::{self, AttachUpstream, InstallUpstream};
use guidepost_core::{Caller, organizations};
use guidepost_domain::UpstreamStatus;
use serde::Serialize;
use serde_json::{Value, json};

use crate::app;
use crate::cli::BenchArgs;
use crate::config::{self, Settings};
use crate::output;

/// Untimed calls each way before the timed ones.
const WARMUP: usize = 50;
const PREFIX: &str = "up";

#[derive(Debug, Serialize)]
pub struct GatewayReport {
    pub entry: String,
    pub tool: String,
    pub calls: usize,
    /// The confinement the upstream ran under, as its status says.
    pub confinement: String,
    pub direct: Percentiles,
    pub through_guidepost: Percentiles,
    /// Through Guidepost minus direct, at each percentile.
    pub added: Percentiles,
    /// The first call after the upstream was stopped on this node (a launch, its
    /// handshake and the call), over `cold_starts` tries.
    pub cold_starts: usize,
    pub first_call: Percentiles,
}

#[derive(Debug, Serialize, Clone, Copy)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

pub async fn run(args: &BenchArgs, json: bool) -> anyhow::Result<()> {
    let entry_id = args
        .gateway
        .clone()
        .context("--gateway names a catalog entry")?;
    let arguments: Value = serde_json::from_str(&args.gateway_arguments)
        .context("--gateway-arguments must be a JSON object")?;
    anyhow::ensure!(
        arguments.is_object(),
        "--gateway-arguments must be a JSON object"
    );
    let dir = std::env::temp_dir().join(format!("guidepost-bench-gateway-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut settings = Settings::local(format!("sqlite:{}", dir.join("bench.db").display()));
    settings.mcp.rate_limits.per_user_per_minute = 0;
    settings.mcp.rate_limits.per_ip_per_minute = 0;
    settings.platform.catalog = Arc::new(config::catalog(args.catalog.as_ref())?);
    settings.gateway.toolchain = config::toolchain(&args.toolchain);
    settings.gateway.http_allow_private = true;
    settings.gateway.confinement = config::confinement(&args.confinement);
    let gateway = settings.gateway.clone();
    let running = app::start(settings).await?;
    let result = measure(
        &running,
        &gateway,
        &entry_id,
        &args.gateway_tool,
        &arguments,
        (args.calls as usize, args.cold_starts as usize),
    )
    .await;
    running.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);
    output::print(json, &result?, render);
    Ok(())
}

async fn measure(
    running: &app::RunningApp,
    gateway: &guidepost_gateway::GatewayOptions,
    entry: &str,
    tool: &str,
    arguments: &Value,
    (calls, cold_starts): (usize, usize),
) -> anyhow::Result<GatewayReport> {
    let platform = &running.platform;
    let (org, _) = organizations::create(platform, "Bench").await?;
    let caller = Caller::operator(org.id.clone());
    let trust = organizations::UpdateOrganization {
        tool_approval: Some(guidepost_domain::ToolApproval::TrustOnFirstUse),
        raw_tool_results: None,
        registry_listed: None,
    };
    organizations::update(platform, &caller, trust).await?;
    let server = guidepost_core::servers::create(
        platform,
        &caller,
        serde_json::from_value(json!({"name": "Bench", "slug": "bench"}))?,
    )
    .await?;
    let install = InstallUpstream {
        catalog_entry_id: entry.to_owned(),
        name: None,
        secrets: Default::default(),
        config: Default::default(),
        start: None,
        sign_in: None,
    };
    let upstream = upstreams::install(platform, &caller, install).await?;
    output::note!("bench: installing {entry} ({}) …", upstream.id);
    let deadline = Instant::now() + Duration::from_secs(300);
    let upstream = loop {
        let current = upstreams::get(platform, &caller, &upstream.id).await?;
        match current.status {
            UpstreamStatus::Ready => break current,
            UpstreamStatus::Installing | UpstreamStatus::Starting if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            status => bail!(
                "{entry} is {status}: {}",
                current.last_error.unwrap_or_default()
            ),
        }
    };
    let attach = AttachUpstream {
        prefix: PREFIX.into(),
        allowed_tools: None,
        allowed_prompts: None,
        timeout_ms: None,
    };
    upstreams::attach(platform, &caller, &server.id, &upstream.id, attach).await?;

    output::note!("bench: {calls} calls of {tool} directly …");
    let direct =
        guidepost_gateway::direct::time_calls(gateway, &upstream, tool, arguments, WARMUP, calls)
            .await
            .map_err(anyhow::Error::msg)?;
    output::note!("bench: {calls} calls of {PREFIX}__{tool} through Guidepost …");
    let url = format!("{}/s/bench/mcp", running.url());
    let through =
        time_through(&url, &format!("{PREFIX}__{tool}"), arguments, WARMUP, calls).await?;
    output::note!("bench: {cold_starts} cold starts of {entry} …");
    let mut first_calls = Vec::with_capacity(cold_starts);
    for _ in 0..cold_starts {
        platform.upstreams.stop(&upstream.id).await;
        first_calls
            .push(time_through(&url, &format!("{PREFIX}__{tool}"), arguments, 0, 1).await?[0]);
    }
    let (direct, through) = (percentiles(direct), percentiles(through));
    Ok(GatewayReport {
        entry: entry.to_owned(),
        tool: tool.to_owned(),
        calls,
        confinement: upstream
            .confinement
            .clone()
            .unwrap_or_else(|| "none (not a process)".into()),
        cold_starts,
        first_call: percentiles(first_calls),
        direct,
        through_guidepost: through,
        added: Percentiles {
            p50_ms: through.p50_ms - direct.p50_ms,
            p95_ms: through.p95_ms - direct.p95_ms,
            p99_ms: through.p99_ms - direct.p99_ms,
        },
    })
}

/// Stateless-era `tools/call`s over one kept-alive connection, one at a time, after
/// `warmup` untimed ones.
async fn time_through(
    url: &str,
    tool: &str,
    arguments: &Value,
    warmup: usize,
    calls: usize,
) -> anyhow::Result<Vec<Duration>> {
    let http = reqwest::Client::new();
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "guidepost-bench", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}});
    let mut latencies = Vec::with_capacity(calls);
    for n in 0..warmup + calls {
        let body = json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments, "_meta": meta}});
        let started = Instant::now();
        let response = http
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", tool)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        let elapsed = started.elapsed();
        if !status.is_success() || text.contains("\"isError\":true") || text.contains("\"error\"") {
            bail!("calling {tool} through Guidepost failed ({status}): {text}");
        }
        if n >= warmup {
            latencies.push(elapsed);
        }
    }
    Ok(latencies)
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Percentiles {
        p50_ms: at(0.50),
        p95_ms: at(0.95),
        p99_ms: at(0.99),
    }
}

fn render(report: &GatewayReport) -> String {
    let row = |name: &str, p: &Percentiles| {
        format!(
            "{name:<18} {:>8.3} {:>8.3} {:>8.3}",
            p.p50_ms, p.p95_ms, p.p99_ms
        )
    };
    [
        format!(
            "{} × {} of {}: latency in ms",
            report.calls, report.tool, report.entry
        ),
        format!("confinement: {}", report.confinement),
        format!("{:<18} {:>8} {:>8} {:>8}", "", "p50", "p95", "p99"),
        row("direct (stdio)", &report.direct),
        row("through Guidepost", &report.through_guidepost),
        row("added", &report.added),
        row(
            &format!("first call ×{}", report.cold_starts),
            &report.first_call,
        ),
    ]
    .join("\n")
}
