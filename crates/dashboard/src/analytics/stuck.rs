//! `/app/analytics/funnel/{walkthrough_id}/stuck?step=…`: the people stuck at one step of
//! the newest published version, with no activity for a chosen number of days, the longest
//! inactive first; each links to the person's page, where their progress can be reset.

use askama::Template;
use axum::extract::{Query, State};
use guidepost_core::walkthroughs::stuck::{self, DEFAULT_INACTIVE_DAYS, StuckAtStep};
use guidepost_domain::*;
use serde::Deserialize;

use super::{ServerNames, chosen, filter_id, when};
use crate::Dashboard;
use crate::page::IdPath;
use crate::page::Section;
use crate::page::{self, Chrome, PageError, PageResult};
use crate::session::Signed;

#[derive(Deserialize)]
pub(crate) struct StuckQuery {
    #[serde(default)]
    step: Option<String>,
    #[serde(default)]
    days: Option<String>,
    #[serde(default)]
    server: Option<String>,
}

#[derive(Template)]
#[template(path = "analytics/stuck.html")]
struct StuckPage {
    chrome: Chrome,
    walkthrough_id: String,
    step_id: String,
    position: usize,
    days: u32,
    server: String,
    total: u64,
    people: Vec<PersonRow>,
}

struct PersonRow {
    id: String,
    /// The email, else the id.
    name: String,
    server: String,
    version: i64,
    started: String,
    last_activity: String,
}

pub(crate) async fn show(
    State(app): State<Dashboard>,
    signed: Signed,
    IdPath(id): IdPath<WalkthroughId>,
    Query(query): Query<StuckQuery>,
) -> PageResult {
    let server: Option<ServerId> = filter_id("server", &query.server)?;
    let step = chosen(&query.step).ok_or_else(|| PageError::Invalid {
        field: "step".into(),
        message: "choose a step of the funnel".into(),
    })?;
    let days = match chosen(&query.days) {
        None => DEFAULT_INACTIVE_DAYS,
        Some(text) => text.parse().map_err(|_| PageError::Invalid {
            field: "days".into(),
            message: format!("{text:?} is not a number of days"),
        })?,
    };
    let caller = signed.caller();
    let found = stuck::stuck_at(&app.platform, caller, &id, step, days, server.as_ref()).await?;
    let title = format!("Stuck at step {}: {}", found.position, found.step_title);
    let chrome = Chrome::new(&app, &signed, title, Section::Analytics, None).await?;
    let names = ServerNames::of(&app, &signed).await?;
    Ok(page::render(&page_of(chrome, found, &names, server)))
}

fn page_of(
    chrome: Chrome,
    found: StuckAtStep,
    names: &ServerNames,
    server: Option<ServerId>,
) -> StuckPage {
    let people = found
        .people
        .into_iter()
        .map(|person| PersonRow {
            id: person.end_user_id.to_string(),
            name: person
                .email
                .unwrap_or_else(|| person.end_user_id.to_string()),
            server: names.name(&person.server_id),
            version: person.version,
            started: when(person.started_at),
            last_activity: when(person.last_activity_at),
        })
        .collect();
    StuckPage {
        chrome,
        walkthrough_id: found.walkthrough_id.to_string(),
        step_id: found.step_id,
        position: found.position,
        days: found.inactive_days,
        server: server.map(|s| s.to_string()).unwrap_or_default(),
        total: found.total,
        people,
    }
}
