//! `/app/support/feedback`: what people sent with the `send_feedback` tool, newest
//! first, filtered by server, with how much came each day of the last 30 and its average
//! rating.

use askama::Template;
use axum::extract::{Query, State};
use guidepost_core::support::feedback::{self, FeedbackFilter};
use guidepost_domain::ServerId;
use serde::Deserialize;

use super::{ServerNames, filter_id, page_from, when};
use crate::Dashboard;
use crate::page::{self, Chrome, PageResult, Section};
use crate::session::Signed;

/// Feedback per page.
const PAGE_SIZE: u32 = 50;
/// The days counted above the list.
const DAYS: u32 = 30;

#[derive(Deserialize)]
pub(crate) struct FeedbackQuery {
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "support/feedback.html")]
struct FeedbackPage {
    chrome: Chrome,
    /// (id, name, selected)
    servers: Vec<(String, String, bool)>,
    any_server: bool,
    days: Vec<DayRow>,
    feedback: Vec<FeedbackRow>,
    next: Option<String>,
}

struct DayRow {
    day: String,
    count: u64,
    average: String,
}

struct FeedbackRow {
    rating: u8,
    text: String,
    server: String,
    end_user: Option<String>,
    sent: String,
}

pub(crate) async fn list(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(query): Query<FeedbackQuery>,
) -> PageResult {
    let page = page_from(&query.cursor, PAGE_SIZE)?;
    let server: Option<ServerId> = filter_id("server", &query.server)?;
    let filter = FeedbackFilter {
        server_id: server.clone(),
        end_user_id: None,
    };
    let caller = signed.caller();
    let found = feedback::list(&app.platform, caller, &filter, &page).await?;
    let days = feedback::per_day(&app.platform, caller, server.as_ref(), DAYS).await?;
    let chrome = Chrome::new(&app, &signed, "Feedback", Section::Support, None).await?;
    let names = ServerNames::of(&app, &signed).await?;
    let server = server.map(|id| id.to_string());
    let next = found
        .next_cursor
        .map(|cursor| next_link(server.as_deref(), &cursor));
    Ok(page::render(&FeedbackPage {
        chrome,
        servers: names
            .0
            .iter()
            .map(|(id, name)| (id.clone(), name.clone(), Some(id) == server.as_ref()))
            .collect(),
        any_server: server.is_none(),
        days: days
            .into_iter()
            .rev()
            .map(|day| DayRow {
                day: day.day,
                count: day.count,
                average: format!("{:.1}", day.average_rating),
            })
            .collect(),
        feedback: found
            .items
            .into_iter()
            .map(|f| FeedbackRow {
                rating: f.rating.get(),
                server: names.name(&f.server_id),
                end_user: f.end_user_id.map(|id| id.to_string()),
                sent: when(f.created_at),
                text: f.text,
            })
            .collect(),
        next,
    }))
}

/// The list's next page, with the same server filter.
fn next_link(server: Option<&str>, cursor: &str) -> String {
    let pairs = [("server", server), ("cursor", Some(cursor))];
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    format!("/app/support/feedback?{query}")
}
