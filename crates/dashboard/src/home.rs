//! The overview: the organization at a glance, and what to do next while no agent has
//! called a tool yet (the first real connection is what a new organization waits for).

use askama::Template;
use axum::extract::{Query, State};
use guidepost_core::insights::attention::{self, Attention};
use guidepost_core::{hosting::servers, insights::analytics, walkthroughs};
use guidepost_domain::*;

use crate::Dashboard;
use crate::page::Section;
use crate::page::{self, Chrome, Done, PageResult};
use crate::session::Signed;

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    chrome: Chrome,
    servers: usize,
    walkthroughs: usize,
    calls_today: u64,
    errors_today: u64,
    first_server: Option<String>,
    attention: Attention,
    webhook_window_days: i64,
}

pub(crate) async fn overview(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(done): Query<Done>,
) -> PageResult {
    let chrome = Chrome::new(
        &app,
        &signed,
        "Overview",
        Section::Overview,
        done.done.as_deref(),
    )
    .await?;
    let caller = signed.caller();
    let page = PageRequest::first(200);
    let server_list = servers::list(&app.platform, caller, &page).await?.items;
    let walkthrough_list = walkthroughs::authoring::list(&app.platform, caller, &page)
        .await?
        .items;
    let today = analytics::calls_in_last_day(&app.platform, caller).await?;
    let attention = attention::counts(&app.platform, caller).await?;
    Ok(page::render(&Overview {
        chrome,
        servers: server_list.len(),
        walkthroughs: walkthrough_list.len(),
        calls_today: today.calls,
        errors_today: today.errors,
        first_server: server_list.first().map(|s| s.id.to_string()),
        attention,
        webhook_window_days: attention::WEBHOOK_FAILURE_WINDOW_DAYS,
    }))
}
