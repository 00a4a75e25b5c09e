//! `guidepost bench`: U simulated end users, each with its own tracking id (and
//! session in the session era), run list → select → next × N → status → reset for D
//! seconds against a walkthrough of N steps; prints throughput and latency per tool,
//! errors, and store statements per tool call.
//!
//! A failed call (no answer, an HTTP error, a JSON-RPC error or a tool error) is counted
//! apart: calls, calls per second and latencies are of the calls that succeeded. A run
//! whose errors exceed [`MAX_ERROR_RATE`] of its calls exits non-zero after its report,
//! so that a figure measured while the target was failing is never taken for a result.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::http::HeaderValue;
use axum::http::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use bytes::Bytes;
use guidepost_core::accounts::organizations;
use guidepost_core::insights::analytics::percentile;
use guidepost_domain::EndUserId;
use serde_json::{Value, json};

use super::bench_report::{BenchReport, ToolFigures, render};
use super::bench_wire::{ToolAnswer, Wire, tool_answer};
use super::target::{checked, metric};
use crate::app;
use crate::cli::{BenchArgs, BenchEra};
use crate::config::Settings;
use crate::output;
const SESSION_VERSION: &str = "2025-11-25";

/// Simulated users when `--users` is not given.
const DEFAULT_USERS: u16 = 10;

/// The share of failed calls above which a run fails: 0.1 %.
pub const MAX_ERROR_RATE: f64 = 0.001;

const STATELESS_VERSION: &str = "2026-07-28";

/// Latencies (µs) of the calls that succeeded, and failed calls, per tool, as one
/// simulated user recorded them.
#[derive(Default)]
struct Samples {
    latencies: BTreeMap<&'static str, Vec<i64>>,
    errors: BTreeMap<&'static str, u64>,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        for (tool, mut values) in other.latencies {
            self.latencies.entry(tool).or_default().append(&mut values);
        }
        for (tool, count) in other.errors {
            *self.errors.entry(tool).or_default() += count;
        }
    }
}

pub async fn run(args: BenchArgs, database_url: Option<String>, json: bool) -> anyhow::Result<()> {
    let (base, api_key, local, database_url) = match &args.target {
        Some(target) => {
            let key = args
                .api_key
                .clone()
                .context("--target needs --api-key (an organization API key)")?;
            (
                target.trim_end_matches('/').to_owned(),
                key,
                None,
                database_url,
            )
        }
        None => {
            let (running, key, url, dir) = start_local(database_url).await?;
            (running.url(), key, Some((running, dir)), Some(url))
        }
    };
    let floor_store = match (&database_url, args.floor) {
        (Some(url), true) => Some(super::bench_floor::open(url).await?),
        (None, true) => {
            anyhow::bail!("--floor with --target needs --database-url: the target's database")
        }
        (Some(url), false) if url.starts_with("postgres") => {
            super::bench_floor::open(url).await.ok()
        }
        _ => None,
    };
    let users = args.users.unwrap_or(DEFAULT_USERS);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::from(users))
        .build()?;
    let slug = format!("bench-{}", &EndUserId::generate().as_str()[4..14]);
    let walkthrough = prepare(&http, &base, &api_key, &slug, args.steps).await?;
    if args.policies > 0 {
        publish_policies(&http, &base, &api_key, args.policies).await?;
    }
    output::note!(
        "bench: {} users, {} steps, {} s, {:?} era against {base}/s/{slug}/mcp",
        users,
        args.steps,
        args.duration,
        args.era
    );
    let statements_before = statements(&http, &base).await;
    let commits_before = match &floor_store {
        Some(store) => super::bench_floor::commits(store).await,
        None => None,
    };
    let turns_before = super::bench_write_turn::totals(&http, &base).await;
    let cpu_before = super::cpu_time::used();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let calls = Arc::new(AtomicU64::new(0));
    let ticker = tokio::spawn(show_progress(calls.clone(), started, args.duration));
    let mut simulated = Vec::with_capacity(usize::from(users));
    for n in 0..users {
        let url = format!("{base}/s/{slug}/mcp?tracking_id=bench-{n}");
        let user = SimulatedUser::new(Wire::new(&http, &url)?, args.era, calls.clone());
        simulated.push(tokio::spawn(user.run(walkthrough.clone(), deadline)));
    }
    let mut samples = Samples::default();
    for user in futures::future::join_all(simulated).await {
        samples.merge(user.context("a simulated user panicked")?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = super::cpu_time::used();
    ticker.abort();
    let statements_after = statements(&http, &base).await;
    let turns_after = super::bench_write_turn::totals(&http, &base).await;
    let commits_after = match &floor_store {
        Some(store) => super::bench_floor::commits(store).await,
        None => None,
    };
    let mut report = summarize(
        &args,
        samples,
        elapsed,
        statements_before.zip(statements_after),
    );
    if local.is_some() {
        report.cpu_us_per_call =
            super::cpu_time::per_unit_micros(cpu_before, cpu_after, report.total_calls);
    }
    report.write_turn = turns_before
        .zip(turns_after)
        .map(|(before, after)| super::bench_write_turn::shares(before, after, elapsed));
    if let (Some(before), Some(after)) = (commits_before, commits_after)
        && report.total_calls > 0
    {
        report.commits_per_call =
            Some(after.saturating_sub(before) as f64 / report.total_calls as f64);
    }
    if let (true, Some(store)) = (args.floor, &floor_store) {
        let duration = Duration::from_secs(args.duration);
        let floor = super::bench_floor::measure(store, users, duration).await?;
        report.share_of_floor =
            Some(report.calls_per_sec / floor.transactions_per_sec.max(f64::MIN_POSITIVE));
        report.floor = Some(floor);
    }
    output::print(json, &report, render);
    if let Some((running, _dir)) = local {
        running.shutdown().await?;
    }
    if report.error_rate > MAX_ERROR_RATE {
        anyhow::bail!(
            "{} of {} calls failed ({:.2} %), more than the {:.1} % a run may lose: its figures \
             measure a failing target",
            report.total_errors,
            report.total_calls + report.total_errors,
            report.error_rate * 100.0,
            MAX_ERROR_RATE * 100.0
        );
    }
    Ok(())
}

/// Starts Guidepost in this process with rate limits off, and an organization to use.
async fn start_local(
    database_url: Option<String>,
) -> anyhow::Result<(app::RunningApp, String, String, Option<TempDir>)> {
    let (url, dir) = database_or_temporary(database_url)?;
    let mut settings = Settings::local(url.clone());
    settings.mcp.rate_limits.per_user_per_minute = 0;
    settings.mcp.rate_limits.per_ip_per_minute = 0;
    let running = app::start(settings).await?;
    let (_, key) = organizations::create(&running.platform, "Bench").await?;
    Ok((running, key.plaintext, url, dir))
}

/// `database_url`, or else a SQLite file in a fresh temporary directory, which is
/// removed when the returned guard is dropped.
pub(super) fn database_or_temporary(
    database_url: Option<String>,
) -> anyhow::Result<(String, Option<TempDir>)> {
    match database_url {
        Some(url) => Ok((url, None)),
        None => {
            let dir = TempDir::new()?;
            let url = format!("sqlite:{}", dir.path().join("bench.db").display());
            Ok((url, Some(dir)))
        }
    }
}

/// A temporary directory removed on drop.
pub(super) struct TempDir(std::path::PathBuf);

impl TempDir {
    pub(super) fn path(&self) -> &std::path::Path {
        &self.0
    }

    pub(super) fn new() -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "guidepost-bench-{}",
            EndUserId::generate().as_str()
        ));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Creates the server and the published walkthrough of `steps` steps through the API.
async fn prepare(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    slug: &str,
    steps: u16,
) -> anyhow::Result<String> {
    let api = |path: &str| format!("{base}/api/v1{path}");
    let post = |path: String, body: Value| http.post(path).bearer_auth(key).json(&body).send();
    let server =
        checked(post(api("/servers"), json!({"name": "Bench", "slug": slug})).await?).await?;
    let walkthrough = checked(
        post(
            api("/walkthroughs"),
            json!({"title": "Benchmark walkthrough"}),
        )
        .await?,
    )
    .await?;
    let id = walkthrough["id"]
        .as_str()
        .context("the API returned no walkthrough id")?
        .to_owned();
    for n in 1..=steps {
        let step = json!({"title": format!("Step {n}"), "content": format!("Do thing {n}, then continue.")});
        checked(post(api(&format!("/walkthroughs/{id}/steps")), step).await?).await?;
    }
    checked(post(api(&format!("/walkthroughs/{id}/publish")), json!({})).await?).await?;
    let server_id = server["id"]
        .as_str()
        .context("the API returned no server id")?;
    let assign = http
        .put(api(&format!("/servers/{server_id}/walkthroughs/{id}")))
        .bearer_auth(key)
        .json(&json!({}));
    checked(assign.send().await?).await?;
    Ok(id)
}

/// Publishes `count` call-time policies that every benchmark call is decided by and that
/// refuse none of them: one `permit`, and `forbid`s that each read the tool, the caller,
/// the hints and an argument.
async fn publish_policies(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    count: u16,
) -> anyhow::Result<()> {
    let mut source = String::from("permit(principal, action, resource);\n");
    for n in 1..count {
        source.push_str(&format!(
            "@id(\"bench-{n}\") @reason(\"benchmark policy {n}\")\n\
             forbid(principal, action, resource) when {{ resource.tool == \"never_{n}\" || \
             (resource.hints.destructive && principal is Guidepost::Person && \
             principal.email_domain == \"bench-{n}.invalid\") || \
             (context.arguments.hasTag(\"path\") && \
             context.arguments.getTag(\"path\") like \"/never-{n}/*\") }};\n"
        ));
    }
    let published = http
        .put(format!("{base}/api/v1/policies"))
        .bearer_auth(key)
        .json(&json!({ "source": source }))
        .send()
        .await?;
    checked(published).await?;
    output::note!("bench: {count} call-time policies in force");
    Ok(())
}

/// The store statement counter from `/metrics`, if the target exposes it.
async fn statements(http: &reqwest::Client, base: &str) -> Option<f64> {
    metric(http, base, "guidepost_store_statements_executed").await
}

/// A line on the terminal each second while the benchmark runs.
async fn show_progress(calls: Arc<AtomicU64>, started: Instant, seconds: u64) {
    use std::io::IsTerminal;
    let terminal = std::io::stderr().is_terminal();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let done = calls.load(Ordering::Relaxed);
        let elapsed = started.elapsed().as_secs_f64();
        let line = format!(
            "bench: {:.0} of {seconds} s, {done} calls, {:.0} calls/s",
            elapsed,
            done as f64 / elapsed
        );
        if terminal {
            output::progress(&line);
        } else if started.elapsed().as_secs().is_multiple_of(10) {
            output::note!("{line}");
        }
    }
}

struct SimulatedUser {
    wire: Wire,
    era: BenchEra,
    /// The headers every request of this user sends (its session's, once it has one).
    headers: HeaderMap,
    next_id: u64,
    samples: Samples,
    calls: Arc<AtomicU64>,
}

/// The `_meta` field a 2026-07-28 request's params carry, written once.
const STATELESS_META: &str = r#","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"guidepost-bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}"#;

impl SimulatedUser {
    fn new(wire: Wire, era: BenchEra, calls: Arc<AtomicU64>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if era == BenchEra::Stateless {
            headers.insert(
                "mcp-protocol-version",
                HeaderValue::from_static(STATELESS_VERSION),
            );
        }
        Self {
            wire,
            era,
            headers,
            next_id: 1,
            samples: Samples::default(),
            calls,
        }
    }

    async fn run(mut self, walkthrough: String, deadline: Instant) -> Samples {
        if self.era == BenchEra::Session && self.initialize().await.is_err() {
            *self.samples.errors.entry("initialize").or_default() += 1;
            return self.samples;
        }
        while Instant::now() < deadline {
            self.one_pass(&walkthrough, deadline).await;
        }
        self.samples
    }

    /// list → select → next until completed → status → reset.
    async fn one_pass(&mut self, walkthrough: &str, deadline: Instant) {
        let id = json!(walkthrough);
        self.call("list_walkthroughs", json!({})).await;
        let mut step = self
            .call(
                "select_walkthrough",
                json!({"walkthrough_id": id, "resume_if_exists": false}),
            )
            .await
            .and_then(|answered| answered.step);
        while let Some(current) = step.take() {
            if Instant::now() >= deadline {
                return;
            }
            let arguments = json!({"walkthrough_id": id, "current_step_id": current});
            step = self
                .call("next_walkthrough_step", arguments)
                .await
                .and_then(|answered| answered.step);
        }
        self.call("get_walkthrough_status", json!({"walkthrough_id": id}))
            .await;
        self.call(
            "reset_walkthrough_progress",
            json!({"walkthrough_id": id, "confirm": true}),
        )
        .await;
    }

    async fn initialize(&mut self) -> anyhow::Result<()> {
        let params = json!({"protocolVersion": SESSION_VERSION, "capabilities": {}, "clientInfo": {"name": "guidepost-bench", "version": "1"}});
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params});
        let answer = self
            .wire
            .post(self.headers.clone(), body.to_string().into())
            .await?;
        let session = answer
            .headers
            .get("mcp-session-id")
            .context("no session id")?
            .clone();
        self.headers.insert("mcp-session-id", session);
        self.headers.insert(
            "mcp-protocol-version",
            HeaderValue::from_static(SESSION_VERSION),
        );
        let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        self.wire
            .post(
                self.headers.clone(),
                Bytes::from_static(initialized.as_bytes()),
            )
            .await?;
        Ok(())
    }

    /// The body of a `tools/call` of `tool`, written directly rather than built as a
    /// tree first.
    fn tools_call(&mut self, tool: &str, arguments: &Value) -> Bytes {
        self.next_id += 1;
        let meta = match self.era {
            BenchEra::Stateless => STATELESS_META,
            BenchEra::Session => "",
        };
        // A tool's name as a JSON string, escaped as JSON escapes it.
        let name = Value::from(tool);
        format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":{name},"arguments":{arguments}{meta}}}}}"#,
            self.next_id
        )
        .into()
    }

    /// Calls a tool, records its latency, and returns what its answer says on success.
    async fn call(&mut self, tool: &'static str, arguments: Value) -> Option<ToolAnswer> {
        let body = self.tools_call(tool, &arguments);
        let mut headers = self.headers.clone();
        if self.era == BenchEra::Stateless {
            headers.insert("mcp-method", HeaderValue::from_static("tools/call"));
            headers.insert("mcp-name", HeaderValue::from_static(tool));
        }
        let started = Instant::now();
        let outcome = match self.wire.post(headers, body).await {
            Ok(answer) if answer.status.is_success() => tool_answer(&answer.body),
            _ => None,
        };
        let took = started.elapsed().as_micros() as i64;
        // A failure is no throughput, and its latency (often an instant refusal) is not
        // a call's: it is counted apart.
        match outcome {
            Some(_) => {
                self.samples.latencies.entry(tool).or_default().push(took);
                self.calls.fetch_add(1, Ordering::Relaxed);
            }
            None => *self.samples.errors.entry(tool).or_default() += 1,
        }
        outcome
    }
}

fn summarize(
    args: &BenchArgs,
    samples: Samples,
    elapsed: f64,
    statements: Option<(f64, f64)>,
) -> BenchReport {
    let ms = |us: i64| us as f64 / 1000.0;
    let mut latencies = samples.latencies;
    // A tool whose every call failed still gets its row.
    for tool in samples.errors.keys() {
        latencies.entry(tool).or_default();
    }
    let tools: Vec<ToolFigures> = latencies
        .into_iter()
        .map(|(tool, mut values)| {
            values.sort_unstable();
            ToolFigures {
                tool: tool.to_owned(),
                calls: values.len() as u64,
                errors: samples.errors.get(tool).copied().unwrap_or(0),
                calls_per_sec: values.len() as f64 / elapsed,
                p50_ms: ms(percentile(&values, 50.0)),
                p95_ms: ms(percentile(&values, 95.0)),
                p99_ms: ms(percentile(&values, 99.0)),
                max_ms: ms(values.last().copied().unwrap_or(0)),
            }
        })
        .collect();
    let total_calls: u64 = tools.iter().map(|t| t.calls).sum();
    let total_errors: u64 = samples.errors.values().sum();
    let attempted = total_calls + total_errors;
    BenchReport {
        era: if args.era == BenchEra::Session {
            "session (2025-11-25)"
        } else {
            "stateless (2026-07-28)"
        },
        users: args.users.unwrap_or(DEFAULT_USERS),
        steps: args.steps,
        policies: args.policies,
        duration_secs: elapsed,
        total_errors,
        error_rate: if attempted == 0 {
            0.0
        } else {
            total_errors as f64 / attempted as f64
        },
        calls_per_sec: total_calls as f64 / elapsed,
        statements_per_call: statements
            .filter(|_| total_calls > 0)
            .map(|(before, after)| (after - before) / total_calls as f64),
        total_calls,
        tools,
        commits_per_call: None,
        cpu_us_per_call: None,
        floor: None,
        share_of_floor: None,
        write_turn: None,
    }
}
