//! `/app/analytics/missing`: what agents looked for on a server and did not find (tools
//! it does not offer, refused arguments), the tools that fail again and again, and the
//! ones nobody called, over the last days; each name links to its raw calls.

use askama::Template;
use axum::extract::{Query, State};
use guidepost_core::hosting::tool_switches::SwitchSource;
use guidepost_core::insights::missing::{self, MAX_DAYS, RefusedCalls};
use guidepost_domain::ServerId;
use serde::Deserialize;

use super::calls::log_href;
use super::{ServerNames, filter_id, when};
use crate::Dashboard;
use crate::page::{self, Chrome, PageError, PageResult, Section};
use crate::session::Signed;

/// The windows offered as links, in days.
const WINDOWS: [u32; 3] = [1, 7, 30];

#[derive(Deserialize)]
pub(crate) struct MissingQuery {
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    days: Option<u32>,
}

#[derive(Template)]
#[template(path = "analytics/missing.html")]
struct MissingPage {
    chrome: Chrome,
    /// (id, name, selected)
    servers: Vec<(String, String, bool)>,
    report: Option<Report>,
}

struct Report {
    days: u32,
    /// (label, href, current)
    windows: Vec<(String, String, bool)>,
    unknown: Vec<RefusedRow>,
    refused: Vec<RefusedRow>,
    /// (name, calls, errors, log href)
    failing: Vec<(String, u64, u64, String)>,
    /// (name, where it comes from)
    never_called: Vec<(String, String)>,
}

struct RefusedRow {
    name: String,
    calls: u64,
    last: String,
    log: String,
}

pub(crate) async fn show(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(query): Query<MissingQuery>,
) -> PageResult {
    let names = ServerNames::of(&app, &signed).await?;
    let chosen: Option<ServerId> = filter_id("server", &query.server)?;
    // No server chosen: the organization's first, if it has one.
    let server = chosen.or_else(|| names.0.first().and_then(|(id, _)| ServerId::parse(id)));
    let days = query.days.unwrap_or(missing::DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(PageError::Invalid {
            field: "days".into(),
            message: format!("choose from 1 to {MAX_DAYS} days"),
        });
    }
    let report = match &server {
        Some(server) => Some(report(&app, &signed, server, days).await?),
        None => None,
    };
    let chrome = Chrome::new(
        &app,
        &signed,
        "Missing capabilities",
        Section::Analytics,
        None,
    )
    .await?;
    let selected = server.map(|id| id.to_string());
    Ok(page::render(&MissingPage {
        chrome,
        servers: names
            .0
            .iter()
            .map(|(id, name)| (id.clone(), name.clone(), Some(id) == selected.as_ref()))
            .collect(),
        report,
    }))
}

async fn report(
    app: &Dashboard,
    signed: &Signed,
    server: &ServerId,
    days: u32,
) -> Result<Report, PageError> {
    let found = missing::report(&app.platform, signed.caller(), server, days).await?;
    let log = |name: &str| log_href(&[("server", server.as_str()), ("tool", name)]);
    let rows = |groups: Vec<RefusedCalls>| {
        groups
            .into_iter()
            .map(|group| RefusedRow {
                log: log(&group.tool_name),
                calls: group.calls,
                last: when(group.last_called_at),
                name: group.tool_name,
            })
            .collect()
    };
    Ok(Report {
        days,
        windows: WINDOWS
            .iter()
            .map(|&window| {
                let label = format!("{window} day{}", if window == 1 { "" } else { "s" });
                let href = format!("/app/analytics/missing?server={server}&days={window}");
                (label, href, window == days)
            })
            .collect(),
        unknown: rows(found.unknown_tools),
        refused: rows(found.refused_arguments),
        failing: found
            .failing_tools
            .into_iter()
            .map(|tool| {
                let pairs = [
                    ("server", server.as_str()),
                    ("tool", tool.tool_name.as_str()),
                    ("errors", "on"),
                ];
                let href = log_href(&pairs);
                (tool.tool_name, tool.calls, tool.errors, href)
            })
            .collect(),
        never_called: found
            .never_called
            .into_iter()
            .map(|tool| {
                let from = match tool.source {
                    SwitchSource::Builtin => "Guidepost (built-in)".to_owned(),
                    SwitchSource::Upstream { upstream_name, .. } => upstream_name,
                };
                (tool.tool_name, from)
            })
            .collect(),
    })
}
