//! What the organization's servers are used for and by whom: analytics (calls
//! over time, per-tool latency and errors, walkthrough funnels and who is stuck in them), end users with their
//! progress and calls, the support inbox, feedback, and the webhooks that announce support events.
//!
//! Every number comes from a core report over the signed-in member's organization; the
//! pages only lay it out (charts in `crate::charts`, each followed by its table). Time
//! windows and filters are query parameters, so every view is a URL.

mod calls;
mod conversation;
mod end_users;
mod feedback;
mod funnel;
mod missing;
mod range;
mod stuck;
mod support;
mod tools;
mod webhooks;

use axum::routing::{get, post};
use guidepost_core::hosting::servers;
use guidepost_domain::*;

use crate::Dashboard;
// The pages of this section show times as every page does.
use crate::page::{self, PageError};
use crate::route_table::RouteTable;
use crate::session::Signed;
use crate::when::when;

pub(crate) fn routes() -> RouteTable<Dashboard> {
    RouteTable::new()
        .route("/analytics", get(tools::overview))
        .route("/analytics/export", get(tools::export))
        .route("/analytics/missing", get(missing::show))
        .route("/tool-calls", get(calls::log))
        .route("/analytics/funnel/{id}", get(funnel::show))
        .route("/analytics/funnel/{id}/stuck", get(stuck::show))
        .route("/end-users", get(end_users::list))
        .route("/end-users/{id}", get(end_users::show))
        .route("/end-users/{id}/export", get(end_users::export))
        .route("/end-users/{id}/erase", post(end_users::erase))
        .route(
            "/end-users/{id}/progress/reset",
            post(end_users::reset_progress),
        )
        .route(
            "/end-users/{id}/upstreams/{upstream}/disconnect",
            post(crate::gateway::connections::disconnect_person),
        )
        .route("/support", get(support::inbox))
        .route("/support/feedback", get(feedback::list))
        .route("/support/{id}", get(support::show))
        .route("/support/{id}/status", post(support::change_status))
        .route("/support/{id}/conversation", get(conversation::show))
        .route("/support/{id}/reply", post(conversation::reply))
        .route("/support/{id}/note", post(conversation::note))
        .route(
            "/support/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route("/support/webhooks/{id}", get(webhooks::show))
        .route("/support/webhooks/{id}/delete", post(webhooks::delete))
        .route("/support/webhooks/{id}/test", post(webhooks::test))
}

/// The most servers a filter lists (an organization with more filters by URL).
const SERVER_CHOICES: u32 = 200;

/// The organization's servers as (id, name), for filters and for naming servers in tables.
struct ServerNames(Vec<(String, String)>);

impl ServerNames {
    async fn of(app: &Dashboard, signed: &Signed) -> Result<Self, PageError> {
        let page = PageRequest::first(SERVER_CHOICES);
        let listed = servers::list(&app.platform, signed.caller(), &page).await?;
        Ok(ServerNames(
            listed
                .items
                .into_iter()
                .map(|s| (s.id.to_string(), s.name))
                .collect(),
        ))
    }

    /// The server's name, or its id when it is not among the listed ones.
    fn name(&self, id: &ServerId) -> String {
        self.0
            .iter()
            .find(|(known, _)| known == id.as_str())
            .map_or_else(|| id.to_string(), |(_, name)| name.clone())
    }
}

/// An optional filter from a query: empty means "any".
fn chosen(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

/// An id from a filter; a malformed one is named back to the person.
fn filter_id<K: IdKind>(field: &str, text: &Option<String>) -> Result<Option<Id<K>>, PageError> {
    chosen(text)
        .map(|text| {
            Id::parse(text).ok_or_else(|| PageError::Invalid {
                field: field.to_owned(),
                message: format!("{text:?} is not a valid id"),
            })
        })
        .transpose()
}

/// Where a list continues, from its `cursor` query.
fn page_from(cursor: &Option<String>, limit: u32) -> Result<PageRequest, PageError> {
    let after = page::cursor(cursor.as_deref())?;
    Ok(PageRequest { after, limit })
}

/// A latency in the unit that keeps it short.
fn latency(micros: i64) -> String {
    match micros {
        m if m < 1_000 => format!("{m} µs"),
        m if m < 1_000_000 => format!("{:.1} ms", m as f64 / 1_000.0),
        m => format!("{:.2} s", m as f64 / 1_000_000.0),
    }
}

/// `part` of `whole` as a percentage with one decimal; "–" when there is no whole.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_and_percentages_read_well() {
        assert_eq!(latency(850), "850 µs");
        assert_eq!(latency(12_340), "12.3 ms");
        assert_eq!(latency(2_500_000), "2.50 s");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(0, 0), "–");
    }
}
