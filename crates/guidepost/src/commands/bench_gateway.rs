//! `guidepost bench --gateway ENTRY`: the gateway under concurrent load. In a
//! Guidepost of this process, the entry is installed `--gateway-upstreams` times (each with
//! `--replicas` processes) and attached to one hosted server; then, one after the other in
//! the same run, `--users` clients call its tool for `--duration` seconds each:
//!
//! - directly, without Guidepost: the upstream's own HTTP transport (`--direct-http`, by
//!   default `streamableHttp` for the entry `everything`), or else its stdio, every
//!   client's calls concurrent on one connection;
//! - through Guidepost in the session era (2025-11-25) and the stateless era
//!   (2026-07-28), against one upstream, then spread over all the attached ones.
//!
//! It prints calls per second, p50, p95 and p99 of each, and each one's calls per second
//! over the direct path's. With `--cold-starts`, the first call after a stop is timed too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use guidepost_core::upstreams::{self, AttachUpstream, InstallUpstream};
use guidepost_core::{Caller, accounts::organizations};
use guidepost_domain::{Upstream, UpstreamStatus};
use serde::Serialize;
use serde_json::{Value, json};

use super::bench::MAX_ERROR_RATE;
use super::bench_load::{self, Era, Load, LoadFigures};
use crate::app;
use crate::cli::BenchArgs;
use crate::config::{self, Settings};
use crate::output;

/// Clients when `--users` is not given.
pub const DEFAULT_USERS: u16 = 16;
/// Untimed calls before each timed window (replicas start, connections open), at most.
const WARMUP: Duration = Duration::from_secs(3);

/// The warm-up of a run of `duration`: shorter runs (tests) warm up as long as they run.
fn warmup(duration: Duration) -> Duration {
    WARMUP.min(duration)
}
const SLUG: &str = "bench";

#[derive(Debug, Serialize)]
pub struct GatewayReport {
    pub entry: String,
    pub tool: String,
    pub users: u16,
    /// Processes of each installation on this node.
    pub replicas: u32,
    /// Installations attached to the hosted server in the `many upstreams` rows.
    pub upstreams: usize,
    pub duration_secs: u64,
    /// The confinement the upstream ran under, as its status says.
    pub confinement: String,
    pub rows: Vec<Row>,
    /// The first call after the upstream was stopped on this node (a launch, its
    /// handshake and the call), over `cold_starts` tries.
    pub cold_starts: usize,
    pub first_call: Option<LoadFigures>,
}

#[derive(Debug, Serialize)]
pub struct Row {
    /// `direct (HTTP)`, `direct (stdio)` or `through Guidepost`.
    pub path: String,
    pub era: &'static str,
    /// Upstream installations the calls were spread over.
    pub upstreams: usize,
    #[serde(flatten)]
    pub figures: LoadFigures,
    /// Calls per second over the direct path's.
    pub share_of_direct: Option<f64>,
}

/// On `database_url` when one is given (a fresh database: the bench creates its own
/// organization), else on a temporary SQLite file.
pub async fn run(args: &BenchArgs, database_url: Option<String>, json: bool) -> anyhow::Result<()> {
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
    let (url, _dir) = super::bench::database_or_temporary(database_url)?;
    let mut settings = Settings::local(url);
    settings.mcp.rate_limits.per_user_per_minute = 0;
    settings.mcp.rate_limits.per_ip_per_minute = 0;
    // Every client comes from this host's one address, where a deployment's would come
    // from as many: the per-address session cap would refuse the session era's clients.
    let users = usize::from(args.users.unwrap_or(DEFAULT_USERS));
    let caps = &mut settings.mcp.session_caps;
    caps.per_ip = caps.per_ip.max(users * 2);
    caps.per_server = caps.per_server.max(users * 2);
    caps.per_node = caps.per_node.max(users * 2);
    settings.platform.catalog = Arc::new(config::catalog(args.catalog.as_ref())?);
    settings.platform.max_replicas = args.replicas.max(settings.platform.max_replicas);
    settings.gateway.toolchain = config::toolchain(&args.toolchain);
    settings.gateway.http_allow_private = true;
    settings.gateway.confinement = config::confinement(&args.confinement);
    // The bench's one organization runs alone on its node: it may take the node's caps.
    let caps = &mut settings.gateway.confinement.caps;
    caps.org_memory_mb = caps.org_memory_mb.max(caps.node_memory_mb);
    caps.org_processes = caps.org_processes.max(caps.node_processes);
    let gateway = settings.gateway.clone();
    let running = app::start(settings).await?;
    let result = measure(&running, &gateway, &entry_id, args, &arguments).await;
    running.shutdown().await?;
    let report = result?;
    output::print(json, &report, render);
    if let Some(row) = report
        .rows
        .iter()
        .find(|row| row.figures.error_rate() > MAX_ERROR_RATE)
    {
        bail!(
            "{} of {} calls failed ({} {}, {} upstreams), more than the {:.1} % a run may lose: \
             its figures measure a failing path; the first error: {}",
            row.figures.errors,
            row.figures.calls + row.figures.errors,
            row.path,
            row.era,
            row.upstreams,
            MAX_ERROR_RATE * 100.0,
            row.figures.first_error.as_deref().unwrap_or("(none)")
        );
    }
    Ok(())
}

async fn measure(
    running: &app::RunningApp,
    gateway: &guidepost_gateway::GatewayOptions,
    entry: &str,
    args: &BenchArgs,
    arguments: &Value,
) -> anyhow::Result<GatewayReport> {
    let users = args.users.unwrap_or(DEFAULT_USERS);
    let duration = Duration::from_secs(args.duration);
    let count = usize::from(args.gateway_upstreams.max(1));
    let platform = &running.platform;
    let (org, _) = organizations::create(platform, "Bench").await?;
    let caller = Caller::operator(org.id.clone());
    let trust = organizations::UpdateOrganization {
        tool_approval: Some(guidepost_domain::ToolApproval::TrustOnFirstUse),
        raw_tool_results: None,
        registry_listed: None,
    };
    organizations::update(platform, &caller, trust).await?;
    let server = guidepost_core::hosting::servers::create(
        platform,
        &caller,
        serde_json::from_value(json!({"name": "Bench", "slug": SLUG}))?,
    )
    .await?;
    output::note!(
        "bench: installing {count} × {entry}, {} replicas each …",
        args.replicas
    );
    let mut installed = Vec::with_capacity(count);
    for n in 0..count {
        let install = InstallUpstream {
            catalog_entry_id: entry.to_owned(),
            version: None,
            name: Some(format!("{entry} {n}")),
            secrets: Default::default(),
            config: Default::default(),
            start: None,
            sign_in: None,
            allow_foreign_oauth_endpoints: None,
            replicas: Some(args.replicas),
            network: None,
        };
        let upstream = upstreams::install(platform, &caller, install).await?;
        let upstream = ready(platform, &caller, upstream).await?;
        let attach = AttachUpstream {
            prefix: format!("up{n}"),
            // The tool called only: ten attachments of a whole server would pass the
            // server's tool cap.
            allowed_tools: Some(vec![args.gateway_tool.clone()]),
            allowed_prompts: None,
            timeout_ms: None,
        };
        upstreams::attach(platform, &caller, &server.id, &upstream.id, attach).await?;
        installed.push(upstream);
    }
    let first = &installed[0];
    let tool = &args.gateway_tool;

    let mut rows = Vec::new();
    let direct = direct(gateway, first, args, arguments, users).await?;
    let direct_rate = direct.figures.calls_per_sec;
    rows.push(direct);
    let url = format!("{}/s/{SLUG}/mcp", running.url());
    let mut spreads = vec![1];
    if args.gateway_upstreams > 1 {
        spreads.push(count);
    }
    for spread in spreads {
        for era in [Era::Session, Era::Stateless] {
            output::note!(
                "bench: {users} clients through Guidepost, {}, {spread} upstreams …",
                era.label()
            );
            let load = Load {
                url: url.clone(),
                era,
                tools: (0..spread).map(|n| format!("up{n}__{tool}")).collect(),
                arguments: arguments.clone(),
                users,
                warmup: warmup(duration),
                duration,
            };
            let figures = bench_load::run(&load).await?;
            rows.push(Row {
                path: "through Guidepost".into(),
                era: era.label(),
                upstreams: spread,
                share_of_direct: Some(figures.calls_per_sec / direct_rate.max(f64::MIN_POSITIVE)),
                figures,
            });
        }
    }

    let cold_starts = args.cold_starts as usize;
    let first_call = if cold_starts > 0 {
        output::note!("bench: {cold_starts} cold starts of {entry} …");
        let mut latencies = Vec::with_capacity(cold_starts);
        for _ in 0..cold_starts {
            platform.upstreams.stop(&first.id).await;
            let load = Load {
                url: url.clone(),
                era: Era::Stateless,
                tools: vec![format!("up0__{tool}")],
                arguments: arguments.clone(),
                users: 1,
                warmup: Duration::ZERO,
                duration: Duration::ZERO,
            };
            latencies.push(one_call(&load).await?);
        }
        Some(LoadFigures::from_samples(
            latencies,
            0,
            Duration::from_secs(1),
            None,
        ))
    } else {
        None
    };
    Ok(GatewayReport {
        entry: entry.to_owned(),
        tool: tool.clone(),
        users,
        replicas: args.replicas,
        upstreams: count,
        duration_secs: args.duration,
        confinement: first
            .confinement
            .clone()
            .unwrap_or_else(|| "none (not a process)".into()),
        rows,
        cold_starts,
        first_call,
    })
}

/// Waits until the installation is ready (its package fetched, started, its tools stored).
async fn ready(
    platform: &guidepost_core::Platform,
    caller: &Caller,
    upstream: Upstream,
) -> anyhow::Result<Upstream> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let current = upstreams::get(platform, caller, &upstream.id).await?;
        match current.status {
            UpstreamStatus::Ready => return Ok(current),
            UpstreamStatus::Installing | UpstreamStatus::Starting if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            status => bail!(
                "{} is {status}: {}",
                current.name,
                current.last_error.unwrap_or_default()
            ),
        }
    }
}

/// The upstream measured without Guidepost: its own HTTP transport when it has one, else
/// its stdio.
async fn direct(
    gateway: &guidepost_gateway::GatewayOptions,
    upstream: &Upstream,
    args: &BenchArgs,
    arguments: &Value,
    users: u16,
) -> anyhow::Result<Row> {
    let duration = Duration::from_secs(args.duration);
    let http_args = match &args.direct_http {
        Some(text) => text.split_whitespace().map(str::to_owned).collect(),
        None if upstream.catalog_entry_id.as_deref() == Some("everything") => {
            vec!["streamableHttp".to_owned()]
        }
        None => Vec::new(),
    };
    if http_args.is_empty() {
        output::note!("bench: {users} clients on the upstream's own stdio …");
        let samples = guidepost_gateway::direct::load_stdio(
            gateway,
            upstream,
            (&args.gateway_tool, arguments),
            users,
            (warmup(duration), duration),
        )
        .await
        .map_err(anyhow::Error::msg)?;
        let figures = LoadFigures::from_samples(
            samples.latencies_us,
            samples.errors,
            samples.window,
            samples.first_error,
        );
        return Ok(Row {
            path: "direct (stdio, one connection)".into(),
            era: "stdio",
            upstreams: 1,
            figures,
            share_of_direct: Some(1.0),
        });
    }
    output::note!(
        "bench: {users} clients on the upstream's own HTTP transport ({}) …",
        http_args.join(" ")
    );
    let server = guidepost_gateway::direct::serve_http(gateway, upstream, &http_args)
        .await
        .map_err(anyhow::Error::msg)?;
    let load = Load {
        url: server.url(&args.direct_http_path),
        era: Era::Session,
        tools: vec![args.gateway_tool.clone()],
        arguments: arguments.clone(),
        users,
        warmup: warmup(duration),
        duration,
    };
    let figures = bench_load::run(&load).await?;
    drop(server);
    Ok(Row {
        path: "direct (the upstream's own HTTP)".into(),
        era: Era::Session.label(),
        upstreams: 1,
        figures,
        share_of_direct: Some(1.0),
    })
}

/// One call's latency (µs) on a connection of its own; an error if it failed.
async fn one_call(load: &Load) -> anyhow::Result<i64> {
    let started = Instant::now();
    bench_load::single_call(&load.url, load.era, &load.tools[0], &load.arguments)
        .await
        .map_err(|why| anyhow::anyhow!("the first call after a stop failed: {why}"))?;
    Ok(started.elapsed().as_micros() as i64)
}

fn render(report: &GatewayReport) -> String {
    let mut lines = vec![
        format!(
            "{} clients calling {} of {} for {} s per row, {} replicas per installation",
            report.users, report.tool, report.entry, report.duration_secs, report.replicas
        ),
        format!("confinement: {}", report.confinement),
        format!(
            "{:<34} {:<24} {:>9} {:>9} {:>8} {:>8} {:>8} {:>7} {:>8}",
            "path",
            "era",
            "upstreams",
            "calls/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "errors",
            "×direct"
        ),
    ];
    for row in &report.rows {
        let f = &row.figures;
        lines.push(format!(
            "{:<34} {:<24} {:>9} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>8.2}",
            row.path,
            row.era,
            row.upstreams,
            f.calls_per_sec,
            f.p50_ms,
            f.p95_ms,
            f.p99_ms,
            f.errors,
            row.share_of_direct.unwrap_or(0.0)
        ));
    }
    for row in report.rows.iter().filter(|r| r.figures.errors > 0) {
        lines.push(format!(
            "first error ({}, {}): {}",
            row.path,
            row.era,
            row.figures.first_error.as_deref().unwrap_or("")
        ));
    }
    if let Some(first) = &report.first_call {
        lines.push(format!(
            "first call after a stop ×{}: p50 {:.1} ms, p95 {:.1} ms",
            report.cold_starts, first.p50_ms, first.p95_ms
        ));
    }
    lines.join("\n")
}
