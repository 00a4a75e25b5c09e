//! `guidepost bench --idle-sessions N --addresses K --target URL`: what a flood of
//! sessions costs a running Guidepost (nothing an unauthenticated client
//! sends may grow memory without bound). It opens N session-era sessions spread over K
//! loopback source addresses, leaves them idle, and reads the target's resident memory
//! from its `/metrics` before and after.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;

use super::target::{checked, metric};
use crate::cli::BenchArgs;
use crate::output;

/// Sessions being opened at once.
const IN_FLIGHT: usize = 32;
const RSS_METRIC: &str = "guidepost_process_resident_memory_bytes";

#[derive(Debug, Serialize)]
pub struct FloodReport {
    pub sessions_attempted: u32,
    pub addresses: u32,
    pub accepted: u32,
    pub rate_limited: u32,
    pub failed: u32,
    pub seconds: f64,
    pub rss_before_mb: Option<f64>,
    pub rss_after_mb: Option<f64>,
    pub rss_growth_mb: Option<f64>,
}

pub async fn run(args: &BenchArgs, json: bool) -> anyhow::Result<()> {
    let sessions = args
        .idle_sessions
        .context("the flood needs --idle-sessions")?;
    let base = args
        .target
        .as_deref()
        .context("--idle-sessions needs --target")?
        .trim_end_matches('/')
        .to_owned();
    let key = args
        .api_key
        .clone()
        .context("--target needs --api-key (an organization API key)")?;
    let http = reqwest::Client::new();
    let slug = format!(
        "flood-{}",
        &guidepost_domain::random_token("").to_lowercase()[..10]
    );
    let server = http
        .post(format!("{base}/api/v1/servers"))
        .bearer_auth(&key)
        .json(&json!({"name": "Flood", "slug": slug}))
        .send()
        .await?;
    checked(server).await?;
    let url = format!("{base}/s/{slug}/mcp");
    let clients = source_clients(args.addresses)?;
    let rss_before = metric(&http, &base, RSS_METRIC).await;
    output::note!(
        "flood: {sessions} idle sessions from {} addresses against {url}",
        args.addresses
    );
    let started = Instant::now();
    let outcomes: Vec<u16> = futures::stream::iter(0..sessions)
        .map(|n| initialize(&clients[n as usize % clients.len()], &url))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    // Let the target settle (background writes, freed buffers) before reading memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = metric(&http, &base, RSS_METRIC).await;
    let count = |wanted: fn(u16) -> bool| outcomes.iter().filter(|s| wanted(**s)).count() as u32;
    let mb = |bytes: f64| bytes / (1024.0 * 1024.0);
    let report = FloodReport {
        sessions_attempted: sessions,
        addresses: args.addresses,
        accepted: count(|s| s == 200),
        rate_limited: count(|s| s == 429),
        failed: count(|s| s != 200 && s != 429),
        seconds,
        rss_before_mb: rss_before.map(mb),
        rss_after_mb: rss_after.map(mb),
        rss_growth_mb: rss_before.zip(rss_after).map(|(b, a)| mb(a - b)),
    };
    output::print(json, &report, render);
    Ok(())
}

/// One HTTP client per source address, 127.0.0.2 upwards.
fn source_clients(addresses: u32) -> anyhow::Result<Vec<reqwest::Client>> {
    (0..addresses)
        .map(|n| {
            let address = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 2)) + n);
            if address.octets()[0] != 127 {
                bail!("too many source addresses for 127.0.0.0/8");
            }
            Ok(reqwest::Client::builder()
                .local_address(IpAddr::V4(address))
                .build()?)
        })
        .collect()
}

/// Opens one session and leaves it; the HTTP status says how the target took it.
async fn initialize(http: &reqwest::Client, url: &str) -> u16 {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "guidepost-flood", "version": "1"}}});
    let sent = http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await;
    sent.map_or(0, |response| response.status().as_u16())
}

fn render(report: &FloodReport) -> String {
    let memory = match (
        report.rss_before_mb,
        report.rss_after_mb,
        report.rss_growth_mb,
    ) {
        (Some(before), Some(after), Some(growth)) => {
            format!("resident memory {before:.1} MB -> {after:.1} MB (+{growth:.1} MB)")
        }
        _ => "resident memory: not exposed by the target".to_owned(),
    };
    format!(
        "{} sessions from {} addresses in {:.1} s: {} accepted, {} rate-limited, {} failed\n{memory}",
        report.sessions_attempted,
        report.addresses,
        report.seconds,
        report.accepted,
        report.rate_limited,
        report.failed,
    )
}
