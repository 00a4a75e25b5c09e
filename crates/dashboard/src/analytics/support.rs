//! `/app/support`: the inbox of support requests opened by the `get_support` tool, filtered
//! by status, server and person; a request with the person's progress and recent calls on
//! that server; and the status form (editors only).

use askama::Template;
use axum::extract::{Query, State};
use guidepost_core::accounts::end_users;
use guidepost_core::support::requests::{self, SupportRequestFilter};
use guidepost_domain::*;
use serde::Deserialize;

use super::end_users::{CallRow, ProgressRow, call_rows, progress_rows};
use super::{ServerNames, chosen, filter_id, page_from, when};
use crate::Dashboard;
use crate::page::IdPath;
use crate::page::{self, Chrome, Done, PageError, PageResult};
use crate::page::{Notice, Section};
use crate::session::{Signed, SignedForm};

/// Requests per page of the inbox.
const PAGE_SIZE: u32 = 50;

#[derive(Deserialize)]
pub(crate) struct InboxQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    end_user: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "support/list.html")]
struct InboxPage {
    chrome: Chrome,
    /// (value, selected)
    statuses: Vec<(&'static str, bool)>,
    any_status: bool,
    /// (id, name, selected)
    servers: Vec<(String, String, bool)>,
    any_server: bool,
    end_user: String,
    requests: Vec<RequestRow>,
    next: Option<String>,
}

struct RequestRow {
    id: String,
    title: String,
    email: String,
    status: &'static str,
    server: String,
    created: String,
}

fn status(text: &str) -> Result<SupportStatus, PageError> {
    SupportStatus::parse(text).ok_or_else(|| PageError::Invalid {
        field: "status".into(),
        message: "choose open, in_progress, resolved or closed".into(),
    })
}

pub(crate) async fn inbox(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(query): Query<InboxQuery>,
) -> PageResult {
    let page = page_from(&query.cursor, PAGE_SIZE)?;
    let filter = SupportRequestFilter {
        status: chosen(&query.status).map(status).transpose()?,
        server_id: filter_id("server", &query.server)?,
        end_user_id: filter_id("end_user", &query.end_user)?,
    };
    let found = requests::list(&app.platform, signed.caller(), &filter, &page).await?;
    let chrome = Chrome::new(&app, &signed, "Support", Section::Support, None).await?;
    let names = ServerNames::of(&app, &signed).await?;
    let server = filter.server_id.as_ref().map(|s| s.to_string());
    let end_user = filter.end_user_id.as_ref().map(|e| e.to_string());
    let next = found.next_cursor.map(|cursor| {
        let status = filter.status.map(SupportStatus::as_str);
        next_link(status, server.as_deref(), end_user.as_deref(), &cursor)
    });
    Ok(page::render(&InboxPage {
        chrome,
        statuses: SupportStatus::ALL
            .iter()
            .map(|s| (s.as_str(), Some(*s) == filter.status))
            .collect(),
        any_status: filter.status.is_none(),
        servers: names
            .0
            .iter()
            .map(|(id, name)| (id.clone(), name.clone(), Some(id) == server.as_ref()))
            .collect(),
        any_server: server.is_none(),
        end_user: end_user.unwrap_or_default(),
        requests: found
            .items
            .into_iter()
            .map(|r| RequestRow {
                id: r.id.to_string(),
                email: r.email.as_str().to_owned(),
                status: r.status.as_str(),
                server: names.name(&r.server_id),
                created: when(r.created_at),
                title: r.title,
            })
            .collect(),
        next,
    }))
}

/// The inbox's next page, with the same filters (absent ones are left out).
fn next_link(
    status: Option<&str>,
    server: Option<&str>,
    end_user: Option<&str>,
    cursor: &str,
) -> String {
    let pairs = [
        ("status", status),
        ("server", server),
        ("end_user", end_user),
        ("cursor", Some(cursor)),
    ];
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    format!("/app/support?{query}")
}

#[derive(Template)]
#[template(path = "support/show.html")]
struct ShowPage {
    chrome: Chrome,
    id: String,
    request: SupportRequest,
    server: String,
    created: String,
    updated: String,
    /// (value, selected)
    statuses: Vec<(&'static str, bool)>,
    progress: Vec<ProgressRow>,
    calls: Vec<CallRow>,
}

pub(crate) async fn show(
    State(app): State<Dashboard>,
    signed: Signed,
    IdPath(id): IdPath<SupportRequestId>,
    Query(done): Query<Done>,
) -> PageResult {
    let caller = signed.caller();
    let request = requests::get(&app.platform, caller, &id).await?;
    let person = request.end_user_id.as_ref();
    let (progress, calls) =
        end_users::on_server(&app.platform, caller, person, &request.server_id).await?;
    let title = format!("Support: {}", request.title);
    let chrome = Chrome::new(&app, &signed, title, Section::Support, done.done.as_deref()).await?;
    let names = ServerNames::of(&app, &signed).await?;
    Ok(page::render(&ShowPage {
        chrome,
        id: id.to_string(),
        server: names.name(&request.server_id),
        created: when(request.created_at),
        updated: when(request.updated_at),
        statuses: SupportStatus::ALL
            .iter()
            .map(|s| (s.as_str(), *s == request.status))
            .collect(),
        progress: progress_rows(&names, progress),
        calls: call_rows(&names, calls),
        request,
    }))
}

#[derive(Deserialize)]
pub(crate) struct StatusForm {
    #[serde(default)]
    status: String,
}

pub(crate) async fn change_status(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<SupportRequestId>,
    SignedForm { signed, form }: SignedForm<StatusForm>,
) -> PageResult {
    let status = status(&form.status)?;
    requests::update_status(&app.platform, signed.caller(), &id, status).await?;
    Ok(page::done(&format!("/app/support/{id}"), Notice::Status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_keeps_the_filters_that_are_set() {
        let link = next_link(Some("open"), None, Some("msu_1"), "42.sr_a");
        assert_eq!(
            link,
            "/app/support?status=open&end_user=msu_1&cursor=42.sr_a"
        );
    }
}
