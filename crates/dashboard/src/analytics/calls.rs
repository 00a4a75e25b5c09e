//! `/app/tool-calls`: the tool-call log, newest first, filtered by server, tool, upstream,
//! person, errors only and a time range; one bounded page at a time (the store reads it
//! through the index that fits the filter). Every error rate on the analytics page links
//! here with its filters set.

use askama::Template;
use axum::extract::{Query, State};
use guidepost_core::insights::analytics::{self, ToolCallFilter};
use guidepost_domain::*;
use serde::Deserialize;

use super::range::{minute_value, typed_time};
use super::{ServerNames, chosen, filter_id, latency, page_from, when};
use crate::Dashboard;
use crate::page::{self, Chrome, PageError, PageResult, Section};
use crate::session::Signed;

const PAGE_SIZE: u32 = 50;

#[derive(Deserialize, Default)]
pub(crate) struct LogQuery {
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    upstream: Option<String>,
    #[serde(default)]
    person: Option<String>,
    #[serde(default)]
    errors: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "analytics/calls.html")]
struct LogPage {
    chrome: Chrome,
    /// (id, name, selected)
    servers: Vec<(String, String, bool)>,
    tool: String,
    upstream: String,
    person: String,
    errors_only: bool,
    from: String,
    to: String,
    calls: Vec<LogRow>,
    next: Option<String>,
}

struct LogRow {
    at: String,
    server: String,
    tool: String,
    person: Option<String>,
    upstream: Option<String>,
    is_error: bool,
    /// Made by the dashboard's tool tester: listed, left out of the reports.
    is_test: bool,
    summary: String,
    duration: String,
}

pub(crate) async fn log(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(query): Query<LogQuery>,
) -> PageResult {
    let filter = filter_of(&query)?;
    let page = page_from(&query.cursor, PAGE_SIZE)?;
    let found = analytics::list_tool_calls(&app.platform, signed.caller(), &filter, &page).await?;
    let chrome = Chrome::new(&app, &signed, "Tool-call log", Section::ToolCalls, None).await?;
    let names = ServerNames::of(&app, &signed).await?;
    let server = filter
        .server_id
        .as_ref()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let next = found.next_cursor.map(|cursor| next_href(&query, &cursor));
    Ok(page::render(&LogPage {
        chrome,
        calls: found
            .items
            .into_iter()
            .map(|c| log_row(&names, c))
            .collect(),
        servers: names
            .0
            .into_iter()
            .map(|(id, name)| (id.clone(), name, id == server))
            .collect(),
        tool: filter.tool_name.unwrap_or_default(),
        upstream: chosen(&query.upstream).unwrap_or_default().to_owned(),
        person: chosen(&query.person).unwrap_or_default().to_owned(),
        errors_only: filter.errors_only,
        from: filter.since.map(minute_value).unwrap_or_default(),
        to: filter.until.map(minute_value).unwrap_or_default(),
        next,
    }))
}

/// The store's filter from the query, each part checked.
fn filter_of(query: &LogQuery) -> Result<ToolCallFilter, PageError> {
    let tool = chosen(&query.tool).map(str::to_owned);
    if tool.as_ref().is_some_and(|t| t.len() > Limits::NAME) {
        return Err(PageError::Invalid {
            field: "tool".into(),
            message: format!("a tool name has at most {} characters", Limits::NAME),
        });
    }
    let since = typed_time("from", &query.from)?;
    let until = typed_time("to", &query.to)?;
    if let (Some(since), Some(until)) = (since, until)
        && since >= until
    {
        return Err(PageError::Invalid {
            field: "from".into(),
            message: "the start must be before the end".into(),
        });
    }
    Ok(ToolCallFilter {
        server_id: filter_id("server", &query.server)?,
        end_user_id: filter_id("person", &query.person)?,
        tool_name: tool,
        upstream_id: filter_id("upstream", &query.upstream)?,
        errors_only: chosen(&query.errors).is_some(),
        since,
        until,
    })
}

/// The next page's link: the same filters, continuing after `cursor`.
fn next_href(query: &LogQuery, cursor: &str) -> String {
    let pairs: Vec<(&str, &str)> = [
        ("server", &query.server),
        ("tool", &query.tool),
        ("upstream", &query.upstream),
        ("person", &query.person),
        ("errors", &query.errors),
        ("from", &query.from),
        ("to", &query.to),
    ]
    .into_iter()
    .filter_map(|(name, value)| chosen(value).map(|v| (name, v)))
    .chain([("cursor", cursor)])
    .collect();
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    format!("/app/tool-calls?{query}")
}

/// The log's link for a filter: what the analytics page's error rates point to.
pub(super) fn log_href(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<&(&str, &str)> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
    let query = serde_urlencoded::to_string(kept).unwrap_or_default();
    format!("/app/tool-calls?{query}")
}

fn log_row(names: &ServerNames, call: ToolCall) -> LogRow {
    LogRow {
        at: when(call.created_at),
        server: names.name(&call.server_id),
        tool: call.tool_name,
        person: call.end_user_id.map(|id| id.to_string()),
        upstream: call.upstream_id.map(|id| id.to_string()),
        is_error: call.is_error,
        is_test: call.is_test,
        summary: call.result_summary,
        duration: latency(call.duration_us),
    }
}
