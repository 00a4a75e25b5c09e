//! `/app/search?q=`: the organization's servers, walkthroughs, upstreams, tools and
//! people that a few words name, each linked to its page. A plain form: it works without
//! JavaScript.

use askama::Template;
use axum::extract::{Query, State};
use guidepost_core::search::{self, Found};
use serde::Deserialize;

use crate::Dashboard;
use crate::page::{self, Chrome, PageResult, Section};
use crate::session::Signed;

#[derive(Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    chrome: Chrome,
    q: String,
    /// None before anything is asked.
    found: Option<Found>,
}

pub(crate) async fn show(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(query): Query<SearchQuery>,
) -> PageResult {
    let q = query.q.trim().to_owned();
    let found = if q.is_empty() {
        None
    } else {
        Some(search::search(&app.platform, signed.caller(), &q).await?)
    };
    let chrome = Chrome::new(&app, &signed, "Search", Section::Overview, None).await?;
    Ok(page::render(&SearchPage { chrome, q, found }))
}
