//! `guidepost bench --catalog-search N`: catalog search over N registry entries. The
//! entries (npm, PyPI, remote and legacy SSE servers, some listing their tools) are
//! imported into a Guidepost of this process, then `GET /api/v1/catalog` is timed, one
//! request at a time, for a mix of searches: the first page, one word, two words, a tool
//! name, a word that matches nothing, a runtime filter, and a page deep in the registry's
//! entries.

use std::time::{Duration, Instant};

use anyhow::Context;
use guidepost_core::accounts::organizations;
use guidepost_core::upstreams::registry;
use serde::Serialize;
use serde_json::{Value, json};

use crate::app;
use crate::cli::BenchArgs;
use crate::config::Settings;
use crate::output;

/// Timed requests of each search (after one untimed round).
const ROUNDS: usize = 50;

#[derive(Debug, Serialize)]
pub struct CatalogSearchReport {
    pub entries: u32,
    pub backend: String,
    pub requests: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Each search's p95, by its query string.
    pub p95_ms_by_search: Vec<(String, f64)>,
}

pub async fn run(args: &BenchArgs, database_url: Option<String>, json: bool) -> anyhow::Result<()> {
    let entries = args.catalog_search.context("--catalog-search N")?;
    let (url, _dir) = super::bench::database_or_temporary(database_url)?;
    let backend = if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let mut settings = Settings::local(url);
    settings.mcp.rate_limits.per_user_per_minute = 0;
    settings.mcp.rate_limits.per_ip_per_minute = 0;
    let running = app::start(settings).await?;
    let result = measure(&running, entries).await;
    running.shutdown().await?;
    let (requests, samples) = result?;
    let report = report(entries, backend, requests, samples);
    output::print(json, &report, |r| {
        let mut lines = vec![format!(
            "catalog search over {} entries ({}): {} requests, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
            r.entries, r.backend, r.requests, r.p50_ms, r.p95_ms, r.p99_ms
        )];
        lines.extend(
            r.p95_ms_by_search
                .iter()
                .map(|(q, p95)| format!("  p95 {p95:>7.2} ms  ?{q}")),
        );
        lines.join("\n")
    });
    Ok(())
}

/// A registry's entries: names, descriptions and tools of a few themes, a quarter from
/// PyPI, some remote, some only over legacy SSE.
fn generated(entries: u32) -> Value {
    let themes = [
        "weather", "github", "postgres", "files", "calendar", "search", "slack", "pdf",
    ];
    let servers: Vec<Value> = (0..entries)
        .map(|n| {
            let theme = themes[n as usize % themes.len()];
            let mut server = json!({
                "name": format!("io.bench.{theme}/server-{n:05}"),
                "description": format!("A {theme} server, number {n}, for agents that work with {theme} data."),
                "version": "1.0.0",
                "_meta": {"io.modelcontextprotocol.registry/publisher-provided":
                    {"tools": [format!("{theme}_get_{n}"), format!("{theme}_list")]}},
            });
            server["packages"] = match n % 4 {
                0 => json!([{"registryType": "pypi", "identifier": format!("{theme}-mcp"), "version": "1.0.0",
                             "transport": {"type": "stdio"}}]),
                1 => json!([]),
                _ => json!([{"registryType": "npm", "identifier": format!("{theme}-mcp"), "version": "1.0.0",
                             "transport": {"type": "stdio"}}]),
            };
            if n % 4 == 1 {
                let kind = if n % 8 == 1 { "streamable-http" } else { "sse" };
                server["remotes"] = json!([{"type": kind, "url": format!("https://{theme}.example.com/mcp")}]);
            }
            server
        })
        .collect();
    Value::Array(servers)
}

async fn measure(
    running: &app::RunningApp,
    entries: u32,
) -> anyhow::Result<(usize, Vec<(String, Duration)>)> {
    let platform = &running.platform;
    output::note!("bench: importing {entries} registry entries …");
    let imported = registry::import(platform, &generated(entries).to_string()).await?;
    anyhow::ensure!(
        imported.read == entries as usize,
        "{} of {entries} entries imported",
        imported.read
    );
    let (_, key) = organizations::create(platform, "Bench").await?;
    let deep = (entries / 2).to_string();
    let searches = [
        String::new(),
        "q=weather".into(),
        "q=postgres%20agents".into(),
        "q=calendar_get_4217".into(),
        "q=nothing-matches-this".into(),
        "runtime=pypi&q=pdf".into(),
        format!("source=registry&cursor={deep}"),
    ];
    let http = reqwest::Client::new();
    let mut samples = Vec::new();
    output::note!("bench: {} searches × {ROUNDS} …", searches.len());
    for round in 0..=ROUNDS {
        for search in &searches {
            let url = format!("{}/api/v1/catalog?{search}", running.url());
            let started = Instant::now();
            let response = http.get(&url).bearer_auth(&key.plaintext).send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            let took = started.elapsed();
            anyhow::ensure!(
                status.is_success(),
                "?{search}: {status} {}",
                String::from_utf8_lossy(&body)
            );
            if round > 0 {
                samples.push((search.clone(), took));
            }
        }
    }
    Ok((samples.len(), samples))
}

fn report(
    entries: u32,
    backend: &str,
    requests: usize,
    samples: Vec<(String, Duration)>,
) -> CatalogSearchReport {
    let all: Vec<Duration> = samples.iter().map(|(_, d)| *d).collect();
    let mut searches: Vec<String> = samples.iter().map(|(q, _)| q.clone()).collect();
    searches.dedup();
    searches.sort();
    searches.dedup();
    let by_search = searches
        .into_iter()
        .map(|q| {
            let mine = samples
                .iter()
                .filter(|(s, _)| *s == q)
                .map(|(_, d)| *d)
                .collect();
            (q, at(mine, 0.95))
        })
        .collect();
    CatalogSearchReport {
        entries,
        backend: backend.to_owned(),
        requests,
        p50_ms: at(all.clone(), 0.50),
        p95_ms: at(all.clone(), 0.95),
        p99_ms: at(all, 0.99),
        p95_ms_by_search: by_search,
    }
}

/// The `q` quantile of the samples, in milliseconds.
fn at(mut samples: Vec<Duration>, q: f64) -> f64 {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
