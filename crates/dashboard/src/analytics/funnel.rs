//! `/app/analytics/funnel/{walkthrough_id}`: per step of the newest published version, how
//! many people reached it, how many were lost since the step before, how many completed
//! it; for all servers or one. Each step links to its editor, and the people who stopped
//! at it to their list (`stuck`).

use askama::Template;
use axum::extract::{Query, State};
use guidepost_core::hosting::servers;
use guidepost_core::walkthroughs::authoring;
use guidepost_core::walkthroughs::funnel::{self, Funnel, FunnelStep};
use guidepost_domain::*;
use serde::Deserialize;

use super::{ServerNames, filter_id, percent};
use crate::Dashboard;
use crate::charts::{self, Chart, Row, Series};
use crate::page::IdPath;
use crate::page::Section;
use crate::page::{self, Chrome, PageResult};
use crate::session::Signed;

#[derive(Deserialize)]
pub(crate) struct FunnelQuery {
    #[serde(default)]
    server: Option<String>,
}

#[derive(Template)]
#[template(path = "analytics/funnel.html")]
struct FunnelPage {
    chrome: Chrome,
    walkthrough_id: String,
    title: String,
    server: String,
    /// (id, name, selected)
    servers: Vec<(String, String, bool)>,
    /// `None` while the walkthrough was never published.
    funnel: Option<FunnelView>,
}

struct FunnelView {
    version: i64,
    started: u64,
    completed: u64,
    completion_rate: String,
    median: String,
    chart: Chart,
    steps: Vec<StepRow>,
}

struct StepRow {
    position: usize,
    id: String,
    title: String,
    reached: u64,
    /// People who got to the step before (or started, for the first) but not to this one.
    lost: u64,
    lost_percent: String,
    completed: u64,
    /// People whose progress stops at this step.
    stopped_here: u64,
}

pub(crate) async fn show(
    State(app): State<Dashboard>,
    signed: Signed,
    IdPath(id): IdPath<WalkthroughId>,
    Query(query): Query<FunnelQuery>,
) -> PageResult {
    let server: Option<ServerId> = filter_id("server", &query.server)?;
    let caller = signed.caller();
    let walkthrough = authoring::get(&app.platform, caller, &id).await?;
    // Another organization's server is not found, as on the analytics overview, whether
    // or not there is a funnel to filter.
    if let Some(server) = &server {
        servers::get(&app.platform, caller, server).await?;
    }
    let funnel = match walkthrough.published_version {
        Some(_) => Some(funnel::report(&app.platform, caller, &id, server.as_ref()).await?),
        None => None,
    };
    let title = format!("Funnel: {}", walkthrough.title);
    let chrome = Chrome::new(&app, &signed, title, Section::Analytics, None).await?;
    let server = server.map(|s| s.to_string()).unwrap_or_default();
    let names = ServerNames::of(&app, &signed).await?;
    Ok(page::render(&FunnelPage {
        chrome,
        walkthrough_id: id.to_string(),
        title: walkthrough.title,
        servers: names
            .0
            .into_iter()
            .map(|(id, name)| (id.clone(), name, id == server))
            .collect(),
        server,
        funnel: funnel.map(view),
    }))
}

fn view(funnel: Funnel) -> FunnelView {
    let totals = &funnel.totals;
    FunnelView {
        version: funnel.version,
        started: totals.started,
        completed: totals.completed,
        completion_rate: percent(totals.completed, totals.started),
        median: totals
            .median_time_to_complete_seconds
            .map_or_else(|| "–".to_owned(), seconds),
        chart: chart(&funnel.steps),
        steps: step_rows(&funnel.steps, totals.started),
    }
}

/// The steps with what was lost since the step before; the first step is measured
/// against everyone who started.
fn step_rows(steps: &[FunnelStep], started: u64) -> Vec<StepRow> {
    let mut before = started;
    steps
        .iter()
        .map(|step| {
            let lost = before.saturating_sub(step.reached);
            let row = StepRow {
                position: step.position,
                id: step.step_id.clone(),
                title: step.title.clone(),
                reached: step.reached,
                lost,
                lost_percent: percent(lost, before),
                completed: step.completed,
                stopped_here: step.drop_off,
            };
            before = step.reached;
            row
        })
        .collect()
}

fn chart(steps: &[FunnelStep]) -> Chart {
    let rows: Vec<Row> = steps
        .iter()
        .map(|s| Row {
            label: format!("{}. {}", s.position, s.title),
            values: vec![s.reached as f64, s.completed as f64],
            texts: vec![
                format!("{} reached", s.reached),
                format!("{} completed", s.completed),
            ],
        })
        .collect();
    charts::rows(
        "funnel-chart",
        "People per step".into(),
        format!(
            "For each of {} steps, two bars: the people who reached it and the people who completed it. The table below has the numbers.",
            steps.len()
        ),
        &[
            Series {
                name: "reached",
                class: "bar",
            },
            Series {
                name: "completed",
                class: "bar second",
            },
        ],
        &rows,
    )
}

/// A duration in the largest unit that keeps it readable.
fn seconds(total: f64) -> String {
    match total {
        s if s < 60.0 => format!("{s:.0} s"),
        s if s < 3600.0 => format!("{:.1} min", s / 60.0),
        s => format!("{:.1} h", s / 3600.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(position: usize, reached: u64, completed: u64) -> FunnelStep {
        FunnelStep {
            step_id: format!("ws_{position}"),
            title: format!("Step {position}"),
            position,
            reached,
            completed,
            drop_off: reached - completed,
        }
    }

    #[test]
    fn losses_are_counted_from_the_step_before() {
        let rows = step_rows(&[step(1, 4, 3), step(2, 3, 1), step(3, 1, 1)], 5);
        let lost: Vec<(u64, &str)> = rows
            .iter()
            .map(|r| (r.lost, r.lost_percent.as_str()))
            .collect();
        assert_eq!(lost, [(1, "20.0%"), (1, "25.0%"), (2, "66.7%")]);
        assert_eq!(rows[1].stopped_here, 2);
    }

    #[test]
    fn durations_use_a_readable_unit() {
        assert_eq!(seconds(42.0), "42 s");
        assert_eq!(seconds(90.0), "1.5 min");
        assert_eq!(seconds(7200.0), "2.0 h");
    }
}
