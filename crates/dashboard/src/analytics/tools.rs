//! `/app/analytics`: calls over time (with errors), per-tool latency percentiles and error
//! rates, over a window of 1, 7 or 30 days or the days picked (from/to, at most 31), for all
//! servers or one, read from the hourly rollups; the per-tool report as CSV
//! (`/app/analytics/export`); each error rate links to the tool-call log with the same
//! filters; and the walkthroughs whose funnels can be read.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use guidepost_core::hosting::servers;
use guidepost_core::insights::analytics::{self, BucketWidth, CallsOverTime, ToolReport};
use guidepost_core::walkthroughs::authoring;
use guidepost_domain::*;
use serde::Deserialize;

use super::calls::log_href;
use super::range::{day_value, minute_value, typed_time};
use super::{ServerNames, chosen, filter_id, latency, percent, when};
use crate::Dashboard;
use crate::charts::{self, Chart, Column, Row, Series};
use crate::page::Section;
use crate::page::{self, Chrome, PageError, PageResult};
use crate::session::Signed;
use guidepost_core::insights::analytics_csv::report_csv;

/// The windows offered, in days, and the one shown by default.
const WINDOWS: [u32; 3] = [1, 7, 30];
const DEFAULT_DAYS: u32 = 7;
/// The longest range that may be picked, in days (a report covers at most 31).
const MAX_RANGE_DAYS: i64 = 31;
const DAY_SECONDS: i64 = 24 * 60 * 60;
const WALKTHROUGHS_LISTED: u32 = 200;

#[derive(Deserialize)]
pub(crate) struct AnalyticsQuery {
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    days: Option<String>,
    /// The first day of a picked range (a date input's value).
    #[serde(default)]
    from: Option<String>,
    /// The last day of a picked range, included.
    #[serde(default)]
    to: Option<String>,
}

#[derive(Template)]
#[template(path = "analytics/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    /// The chosen server's id, or empty for all.
    server: String,
    /// (id, name, selected)
    servers: Vec<(String, String, bool)>,
    /// The preset window in days, or 0 when a range is picked.
    days: u32,
    /// The picked range's first and last day, or empty; as typed when they were refused.
    from: String,
    to: String,
    /// Why the picked range was refused (the page then shows the default window).
    range_error: Option<String>,
    /// Whether the buckets are hours (else days).
    hourly: bool,
    csv_href: String,
    errors_href: String,
    log_href: String,
    /// (label, href, current)
    windows: Vec<(String, String, bool)>,
    window: String,
    total_calls: u64,
    total_errors: u64,
    error_rate: String,
    calls_chart: Chart,
    buckets: Vec<BucketRow>,
    latency_chart: Chart,
    errors_chart: Chart,
    tools: Vec<ToolRow>,
    walkthroughs: Vec<WalkthroughRow>,
}

struct BucketRow {
    label: String,
    calls: u64,
    errors: u64,
}

struct ToolRow {
    name: String,
    calls: u64,
    errors: u64,
    error_rate: String,
    p50: String,
    p95: String,
    p99: String,
    max: String,
    errors_href: String,
}

struct WalkthroughRow {
    id: String,
    title: String,
    published: bool,
}

pub(crate) async fn overview(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(query): Query<AnalyticsQuery>,
) -> PageResult {
    // A range that cannot be shown keeps the page, with what was typed and why beside it,
    // over the default window: the filter is not lost to a bare error page.
    let (range, range_error) = match picked_range(&query) {
        Ok(range) => (range, None),
        Err(PageError::Invalid { message, .. }) => (None, Some(message)),
        Err(other) => return Err(other),
    };
    let days = match (range, &range_error) {
        (Some(_), _) => 0,
        (None, Some(_)) => DEFAULT_DAYS,
        (None, None) => window_days(&query.days)?,
    };
    let server: Option<ServerId> = filter_id("server", &query.server)?;
    if let Some(id) = &server {
        servers::get(&app.platform, signed.caller(), id).await?;
    }
    let chrome = Chrome::new(&app, &signed, "Analytics", Section::Analytics, None).await?;
    let caller = signed.caller();
    let over_time = match range {
        Some((since, days)) => {
            let (width, count) = buckets_for(days);
            analytics::calls_between(&app.platform, caller, server.as_ref(), since, width, count)
                .await?
        }
        None => {
            let (width, count) = buckets_for(days);
            analytics::calls_over_time(&app.platform, caller, server.as_ref(), width, count).await?
        }
    };
    let (since, until) = (over_time.since, over_time.until);
    let report = analytics::report(
        &app.platform,
        caller,
        server.as_ref(),
        Some(since),
        Some(until),
    )
    .await?;
    let names = ServerNames::of(&app, &signed).await?;
    let first = PageRequest::first(WALKTHROUGHS_LISTED);
    let listed = authoring::list(&app.platform, caller, &first).await?;
    let walkthroughs = listed.items.into_iter().map(walkthrough_row).collect();
    let server = server.map(|s| s.to_string()).unwrap_or_default();
    let total_calls = over_time.buckets.iter().map(|b| b.calls).sum();
    let total_errors = over_time.buckets.iter().map(|b| b.errors).sum();
    let log = LogLinks::new(&server, since, until);
    let picked = |at: Option<Timestamp>| at.map(day_value).unwrap_or_default();
    let (from, to) = match &range_error {
        Some(_) => (typed(&query.from), typed(&query.to)),
        None => (
            picked(range.map(|(since, _)| since)),
            picked(range.map(|_| until.plus_seconds(-DAY_SECONDS))),
        ),
    };
    let status = match range_error {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    Ok(page::render_with(
        status,
        &OverviewPage {
            chrome,
            servers: names
                .0
                .into_iter()
                .map(|(id, name)| (id.clone(), name, id == server))
                .collect(),
            windows: window_links(&server, days),
            window: format!("{} to {}", when(since), when(until)),
            days,
            from,
            to,
            range_error,
            hourly: over_time.width == BucketWidth::Hour,
            csv_href: csv_href(&server, since, until),
            errors_href: log.href(None, true),
            log_href: log.href(None, false),
            total_calls,
            total_errors,
            error_rate: percent(total_errors, total_calls),
            calls_chart: calls_chart(&over_time),
            buckets: bucket_rows(&over_time),
            latency_chart: latency_chart(&report.tools),
            errors_chart: errors_chart(&report.tools),
            tools: report.tools.iter().map(|t| tool_row(t, &log)).collect(),
            walkthroughs,
            server,
        },
    ))
}

#[derive(Deserialize)]
pub(crate) struct ExportQuery {
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
}

/// The per-tool report of the window as a CSV download.
pub(crate) async fn export(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(query): Query<ExportQuery>,
) -> PageResult {
    use axum::response::IntoResponse;
    let server: Option<ServerId> = filter_id("server", &query.server)?;
    let since = rfc3339("since", &query.since)?;
    let until = rfc3339("until", &query.until)?;
    let report = analytics::report(
        &app.platform,
        signed.caller(),
        server.as_ref(),
        since,
        until,
    )
    .await?;
    Ok((
        [
            (http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"tool-analytics.csv\"",
            ),
        ],
        report_csv(&report),
    )
        .into_response())
}

fn rfc3339(field: &str, text: &Option<String>) -> Result<Option<Timestamp>, PageError> {
    chosen(text)
        .map(|text| {
            Timestamp::parse_rfc3339(text).ok_or_else(|| PageError::Invalid {
                field: field.to_owned(),
                message: format!("{text:?} is not an RFC 3339 time"),
            })
        })
        .transpose()
}

/// A filter's text as typed, to be shown again (bounded: it is written back into the page).
fn typed(text: &Option<String>) -> String {
    chosen(text).unwrap_or_default().chars().take(64).collect()
}

/// The days picked with from/to (whole UTC days, `to` included): where they start and
/// how many; `None` when neither is given (a preset window). One alone is a one-day range.
/// Refused as invalid, with why (an unreadable day, a first day after the last, a range
/// too long).
fn picked_range(query: &AnalyticsQuery) -> Result<Option<(Timestamp, u32)>, PageError> {
    let from = typed_time("from", &query.from)?;
    let to = typed_time("to", &query.to)?;
    let (first, last) = match (from, to) {
        (None, None) => return Ok(None),
        (Some(from), None) => (from, from),
        (None, Some(to)) => (to, to),
        (Some(from), Some(to)) => (from, to),
    };
    let day = DAY_SECONDS * 1_000_000;
    let first = first.micros().div_euclid(day);
    let last = last.micros().div_euclid(day);
    let days = last - first + 1;
    if !(1..=MAX_RANGE_DAYS).contains(&days) {
        return Err(PageError::Invalid {
            field: "from".into(),
            message: format!(
                "pick a first day on or before the last, at most {MAX_RANGE_DAYS} days apart"
            ),
        });
    }
    Ok(Some((Timestamp::from_micros(first * day), days as u32)))
}

/// The CSV export's link for the window shown.
fn csv_href(server: &str, since: Timestamp, until: Timestamp) -> String {
    let mut pairs = vec![("since", since.to_rfc3339()), ("until", until.to_rfc3339())];
    if !server.is_empty() {
        pairs.push(("server", server.to_owned()));
    }
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    format!("/app/analytics/export?{query}")
}

/// Links into the tool-call log for the window and server shown.
struct LogLinks {
    server: String,
    from: String,
    to: String,
}

impl LogLinks {
    fn new(server: &str, since: Timestamp, until: Timestamp) -> Self {
        Self {
            server: server.to_owned(),
            from: minute_value(since),
            to: minute_value(until),
        }
    }

    fn href(&self, tool: Option<&str>, errors: bool) -> String {
        log_href(&[
            ("server", &self.server),
            ("tool", tool.unwrap_or_default()),
            ("errors", if errors { "on" } else { "" }),
            ("from", &self.from),
            ("to", &self.to),
        ])
    }
}

fn window_days(days: &Option<String>) -> Result<u32, PageError> {
    let Some(text) = chosen(days) else {
        return Ok(DEFAULT_DAYS);
    };
    text.parse()
        .ok()
        .filter(|d| WINDOWS.contains(d))
        .ok_or_else(|| PageError::Invalid {
            field: "days".into(),
            message: "choose a window of 1, 7 or 30 days".into(),
        })
}

/// A day is drawn by the hour; longer windows by the day.
fn buckets_for(days: u32) -> (BucketWidth, u32) {
    if days == 1 {
        (BucketWidth::Hour, 24)
    } else {
        (BucketWidth::Day, days)
    }
}

fn window_links(server: &str, current: u32) -> Vec<(String, String, bool)> {
    WINDOWS
        .iter()
        .map(|&days| {
            let label = if days == 1 {
                "Last 24 hours".to_owned()
            } else {
                format!("Last {days} days")
            };
            let mut pairs = vec![("days", days.to_string())];
            if !server.is_empty() {
                pairs.push(("server", server.to_owned()));
            }
            let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
            (label, format!("/app/analytics?{query}"), days == current)
        })
        .collect()
}

/// A bucket's start in full (the table) or short (under a column).
fn bucket_label(start: Timestamp, width: BucketWidth, short: bool) -> String {
    let full = when(start);
    match (width, short) {
        (BucketWidth::Hour, true) => full[11..16].to_owned(),
        (BucketWidth::Hour, false) => full[..16].to_owned(),
        (BucketWidth::Day, true) => full[5..10].to_owned(),
        (BucketWidth::Day, false) => full[..10].to_owned(),
    }
}

fn calls_chart(over_time: &CallsOverTime) -> Chart {
    let columns: Vec<Column> = over_time
        .buckets
        .iter()
        .map(|b| Column {
            label: bucket_label(b.start, over_time.width, true),
            total: b.calls,
            part: b.errors,
        })
        .collect();
    let (calls, errors): (u64, u64) = over_time
        .buckets
        .iter()
        .fold((0, 0), |(c, e), b| (c + b.calls, e + b.errors));
    let per = match over_time.width {
        BucketWidth::Hour => "hour",
        BucketWidth::Day => "day",
    };
    charts::columns(
        "calls-chart",
        format!("Tool calls per {per}"),
        format!(
            "{calls} calls, {errors} of them errors, from {} to {}. The table below has each {per}'s numbers.",
            when(over_time.since),
            when(over_time.until)
        ),
        [
            Series {
                name: "calls",
                class: "bar",
            },
            Series {
                name: "errors",
                class: "bar errors",
            },
        ],
        &columns,
    )
}

fn bucket_rows(over_time: &CallsOverTime) -> Vec<BucketRow> {
    over_time
        .buckets
        .iter()
        .map(|b| BucketRow {
            label: bucket_label(b.start, over_time.width, false),
            calls: b.calls,
            errors: b.errors,
        })
        .collect()
}

fn latency_chart(tools: &[ToolReport]) -> Chart {
    let rows: Vec<Row> = tools
        .iter()
        .map(|t| {
            let values = [t.p50_us, t.p95_us, t.p99_us];
            Row {
                label: t.tool_name.clone(),
                values: values.iter().map(|&v| v as f64).collect(),
                texts: ["p50", "p95", "p99"]
                    .iter()
                    .zip(values)
                    .map(|(name, v)| format!("{name} {}", latency(v)))
                    .collect(),
            }
        })
        .collect();
    charts::rows(
        "latency-chart",
        "Latency per tool: p50, p95 and p99".into(),
        format!(
            "{} tools; each has three bars, the 50th, 95th and 99th percentile of its call durations. The table below has the numbers.",
            tools.len()
        ),
        &[
            Series {
                name: "p50",
                class: "bar",
            },
            Series {
                name: "p95",
                class: "bar second",
            },
            Series {
                name: "p99",
                class: "bar third",
            },
        ],
        &rows,
    )
}

fn errors_chart(tools: &[ToolReport]) -> Chart {
    let rows: Vec<Row> = tools
        .iter()
        .map(|t| Row {
            label: t.tool_name.clone(),
            values: vec![t.error_rate],
            texts: vec![format!(
                "{} ({} of {})",
                percent(t.errors, t.calls),
                t.errors,
                t.calls
            )],
        })
        .collect();
    charts::rows(
        "errors-chart",
        "Error rate per tool".into(),
        format!(
            "The share of each tool's calls that failed, for {} tools. The table below has the numbers.",
            tools.len()
        ),
        &[Series {
            name: "error rate",
            class: "bar errors",
        }],
        &rows,
    )
}

fn tool_row(t: &ToolReport, log: &LogLinks) -> ToolRow {
    ToolRow {
        errors_href: log.href(Some(&t.tool_name), true),
        name: t.tool_name.clone(),
        calls: t.calls,
        errors: t.errors,
        error_rate: percent(t.errors, t.calls),
        p50: latency(t.p50_us),
        p95: latency(t.p95_us),
        p99: latency(t.p99_us),
        max: latency(t.max_us),
    }
}

fn walkthrough_row(w: Walkthrough) -> WalkthroughRow {
    WalkthroughRow {
        id: w.id.to_string(),
        published: w.published_version.is_some(),
        title: w.title,
    }
}
