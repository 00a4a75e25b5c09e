//! The report of `guidepost bench`: what one run measured (`--json` prints it as it is),
//! and its text: a line per tool, the totals, and the store's and the floor's figures
//! when they were measured.

use serde::Serialize;

/// What one run measured.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub era: &'static str,
    pub users: u16,
    pub steps: u16,
    /// Call-time policies in force during the run (`--policies`).
    pub policies: u16,
    pub duration_secs: f64,
    pub tools: Vec<ToolFigures>,
    /// Calls that succeeded; failed ones are `total_errors`, in no other figure.
    pub total_calls: u64,
    pub total_errors: u64,
    /// Failed calls over all calls made (succeeded and failed).
    pub error_rate: f64,
    /// Succeeded calls per second.
    pub calls_per_sec: f64,
    /// Store statements per tool call, analytics batch writes included.
    pub statements_per_call: Option<f64>,
    /// Database commits per tool call (PostgreSQL only), analytics batches included.
    pub commits_per_call: Option<f64>,
    /// CPU time of this process per succeeded call during the mix, in microseconds:
    /// Guidepost and the simulated users, all threads (SQLite's included), not a
    /// PostgreSQL server's own. Only when Guidepost runs in this process (no `--target`).
    pub cpu_us_per_call: Option<f64>,
    /// With `--floor`: the database's floor at the same concurrency, and the mix's
    /// calls per second as a share of the floor's transactions per second.
    pub floor: Option<super::bench_floor::FloorFigures>,
    pub share_of_floor: Option<f64>,
    /// On SQLite: how long the hot writers held the write turn and waited for it.
    pub write_turn: Option<super::bench_write_turn::WriteTurnShares>,
}

#[derive(Debug, Serialize)]
pub struct ToolFigures {
    pub tool: String,
    /// Calls that succeeded; the latencies and calls per second are theirs.
    pub calls: u64,
    pub errors: u64,
    pub calls_per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

pub(super) fn render(report: &BenchReport) -> String {
    let mut lines = vec![
        format!(
            "{} users, {} steps, {:.1} s, {}, {} call-time policies",
            report.users, report.steps, report.duration_secs, report.era, report.policies
        ),
        format!(
            "{:<28} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7}",
            "tool", "calls", "calls/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"
        ),
    ];
    for t in &report.tools {
        lines.push(format!(
            "{:<28} {:>8} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7}",
            t.tool, t.calls, t.calls_per_sec, t.p50_ms, t.p95_ms, t.p99_ms, t.max_ms, t.errors
        ));
    }
    lines.push(format!(
        "total: {} calls succeeded, {:.1} calls/s; {} errors ({:.2} % of calls, counted apart)",
        report.total_calls,
        report.calls_per_sec,
        report.total_errors,
        report.error_rate * 100.0
    ));
    if let Some(statements) = report.statements_per_call {
        lines.push(format!(
            "store statements per tool call (analytics writes included): {statements:.2}"
        ));
    }
    if let Some(commits) = report.commits_per_call {
        lines.push(format!(
            "database commits per tool call (analytics included): {commits:.2}"
        ));
    }
    if let Some(cpu) = report.cpu_us_per_call {
        lines.push(format!(
            "CPU of this process per call (Guidepost and the simulated users; a database server's own not counted): {cpu:.1} µs"
        ));
    }
    lines.extend(
        report
            .write_turn
            .as_ref()
            .map(super::bench_write_turn::render),
    );
    if let (Some(floor), Some(share)) = (&report.floor, report.share_of_floor) {
        lines.push(format!(
            "floor: {} clients of one single-row UPDATE: {:.1} tx/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            floor.clients, floor.transactions_per_sec, floor.p50_ms, floor.p99_ms, floor.errors
        ));
        if let Some(cpu) = floor.cpu_us_per_transaction {
            lines.push(format!(
                "floor: CPU of this process per transaction: {cpu:.1} µs"
            ));
        }
        lines.push(format!(
            "the mix reaches {:.0} % of the floor's transactions per second",
            share * 100.0
        ));
    }
    lines.join("\n")
}
