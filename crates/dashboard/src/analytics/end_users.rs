//! `/app/end-users`: the people behind MCP clients (by email or tracking id), and one
//! person's picture: sessions, progress per server and walkthrough, recent calls, support
//! requests and their connections to remote upstreams (with Disconnect). The progress and calls tables are shared with a support request.

use askama::Template;
use axum::extract::{Query, State};
use guidepost_core::Permission;
use guidepost_core::accounts::end_users::{self, EndUserFilter, ProgressView};
use guidepost_core::upstreams::connections;
use guidepost_domain::*;
use serde::Deserialize;

use super::{ServerNames, chosen, latency, page_from, when};
use crate::Dashboard;
use crate::confirm::{self, Confirm, Question};
use crate::gateway::connections::status_words;
use crate::page::IdPath;
use crate::page::Section;
use crate::page::{self, Chrome, Done, Notice, PageResult};
use crate::session::{Signed, SignedForm};

/// End users per page of the list.
const PAGE_SIZE: u32 = 50;

#[derive(Deserialize)]
pub(crate) struct EndUserQuery {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    tracking_id: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    /// The notice after an action (an erasure).
    #[serde(default)]
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "end_users/list.html")]
struct ListPage {
    chrome: Chrome,
    email: String,
    tracking_id: String,
    people: Vec<ListedRow>,
    next: Option<String>,
}

struct PersonRow {
    id: String,
    email: Option<String>,
    email_verified: bool,
    tracking_id: Option<String>,
    first_seen: String,
    last_seen: String,
}

/// A person in the list, with how much they used the servers.
struct ListedRow {
    person: PersonRow,
    sessions: i64,
    calls: i64,
}

pub(crate) async fn list(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(query): Query<EndUserQuery>,
) -> PageResult {
    let page = page_from(&query.cursor, PAGE_SIZE)?;
    let email = chosen(&query.email).unwrap_or_default().to_owned();
    let tracking_id = chosen(&query.tracking_id).unwrap_or_default().to_owned();
    // In their normal form, as the API takes them: stored emails are lowercase. Text that
    // is no email or tracking id (too long, say) finds nobody, as it would in the store.
    let filter = EndUserFilter {
        email: (!email.is_empty())
            .then(|| Email::parse(&email).map_or_else(|_| email.clone(), String::from)),
        tracking_id: (!tracking_id.is_empty()).then(|| tracking_id.clone()),
    };
    let found = end_users::list(&app.platform, signed.caller(), &filter, &page).await?;
    let done = query.done.as_deref();
    let chrome = Chrome::new(&app, &signed, "End users", Section::EndUsers, done).await?;
    let next = found.next_cursor.map(|cursor| {
        let pairs = [
            ("email", email.as_str()),
            ("tracking_id", tracking_id.as_str()),
            ("cursor", cursor.as_str()),
        ];
        format!(
            "/app/end-users?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    });
    Ok(page::render(&ListPage {
        chrome,
        people: found.items.into_iter().map(listed_row).collect(),
        email,
        tracking_id,
        next,
    }))
}

fn listed_row(listed: EndUserSummary) -> ListedRow {
    ListedRow {
        person: person_row(listed.end_user),
        sessions: listed.session_count,
        calls: listed.tool_call_count,
    }
}

fn person_row(person: EndUser) -> PersonRow {
    PersonRow {
        id: person.id.to_string(),
        email: person.email.map(|e| e.as_str().to_owned()),
        email_verified: person.email_verified,
        tracking_id: person.tracking_id,
        first_seen: when(person.first_seen_at),
        last_seen: when(person.last_seen_at),
    }
}

#[derive(Template)]
#[template(path = "end_users/show.html")]
struct ShowPage {
    chrome: Chrome,
    person: PersonRow,
    linked_to: Option<String>,
    sessions: Vec<SessionRow>,
    progress: Vec<ProgressRow>,
    calls: Vec<CallRow>,
    requests: Vec<RequestRow>,
    connections: Vec<ConnectionRow>,
}

/// One of the person's connections to a remote upstream.
struct ConnectionRow {
    upstream_id: String,
    upstream: String,
    status: String,
    tone: &'static str,
}

struct SessionRow {
    server: String,
    client: String,
    protocol: String,
    first_seen: String,
    last_seen: String,
}

/// A support request in a person's list.
struct RequestRow {
    id: String,
    title: String,
    status: &'static str,
    server: String,
    created: String,
}

pub(crate) async fn show(
    State(app): State<Dashboard>,
    signed: Signed,
    IdPath(id): IdPath<EndUserId>,
    Query(done): Query<Done>,
) -> PageResult {
    let picture = end_users::picture(&app.platform, signed.caller(), &id).await?;
    let connections = connections::of_person(&app.platform, signed.caller(), &id).await?;
    let person = person_row(picture.end_user.clone());
    let title = person
        .email
        .clone()
        .or_else(|| person.tracking_id.clone().filter(|shown| shown != HIDDEN))
        .unwrap_or_else(|| person.id.clone());
    let done = done.done.as_deref();
    let chrome = Chrome::new(&app, &signed, title, Section::EndUsers, done).await?;
    let names = ServerNames::of(&app, &signed).await?;
    Ok(page::render(&ShowPage {
        chrome,
        person,
        linked_to: picture.end_user.linked_end_user_id.map(|l| l.to_string()),
        sessions: picture
            .sessions
            .iter()
            .map(|s| session_row(&names, s))
            .collect(),
        progress: resettable(
            progress_rows(&names, picture.progress),
            &id,
            signed.caller().may(Permission::Edit),
        ),
        calls: call_rows(&names, picture.recent_tool_calls),
        requests: picture
            .support_requests
            .into_iter()
            .map(|r| RequestRow {
                id: r.id.to_string(),
                status: r.status.as_str(),
                server: names.name(&r.server_id),
                created: when(r.created_at),
                title: r.title,
            })
            .collect(),
        connections: connections
            .iter()
            .map(|c| {
                let (status, tone) = status_words(c);
                ConnectionRow {
                    upstream_id: c.upstream_id.to_string(),
                    upstream: c.upstream_name.clone(),
                    status,
                    tone,
                }
            })
            .collect(),
    }))
}

fn session_row(names: &ServerNames, session: &McpSession) -> SessionRow {
    let client = match (&session.client_name, &session.client_version) {
        (Some(name), Some(version)) => format!("{name} {version}"),
        (Some(name), None) => name.clone(),
        _ => "unknown client".into(),
    };
    SessionRow {
        server: names.name(&session.server_id),
        client,
        protocol: session.protocol_version.clone().unwrap_or_default(),
        first_seen: when(session.first_seen_at),
        last_seen: when(session.last_seen_at),
    }
}

/// One person's progress through one walkthrough on one server.
pub(super) struct ProgressRow {
    pub server_id: String,
    pub server: String,
    pub walkthrough_id: String,
    pub walkthrough: String,
    pub version: i64,
    pub status: &'static str,
    /// (step id, "Step n of m: title")
    pub current_step: Option<(String, String)>,
    pub completed: String,
    pub last_activity: String,
    /// The reset form's action, where the viewer may reset it (the person's own page).
    pub reset: Option<String>,
}

/// The rows with a reset form each, for a member who may edit.
fn resettable(mut rows: Vec<ProgressRow>, person: &EndUserId, may_edit: bool) -> Vec<ProgressRow> {
    if may_edit {
        for row in &mut rows {
            row.reset = Some(format!("/app/end-users/{person}/progress/reset"));
        }
    }
    rows
}

pub(super) fn progress_rows(names: &ServerNames, progress: Vec<ProgressView>) -> Vec<ProgressRow> {
    progress
        .into_iter()
        .map(|p| ProgressRow {
            server_id: p.server_id.to_string(),
            server: names.name(&p.server_id),
            walkthrough_id: p.walkthrough_id.to_string(),
            walkthrough: p.walkthrough_title,
            version: p.version,
            status: p.status.as_str(),
            current_step: p.current_step.map(|step| {
                let place = format!(
                    "Step {} of {}: {}",
                    step.position, p.total_steps, step.title
                );
                (step.id, place)
            }),
            completed: format!("{} of {}", p.completed_steps, p.total_steps),
            last_activity: when(p.last_activity_at),
            reset: None,
        })
        .collect()
}

/// One recorded tool call.
pub(super) struct CallRow {
    pub at: String,
    pub server: String,
    pub tool: String,
    pub is_error: bool,
    /// Made by the dashboard's tool tester: listed, left out of the reports.
    pub is_test: bool,
    pub summary: String,
    pub duration: String,
}

pub(super) fn call_rows(names: &ServerNames, calls: Vec<ToolCall>) -> Vec<CallRow> {
    calls
        .into_iter()
        .map(|c| CallRow {
            at: when(c.created_at),
            server: names.name(&c.server_id),
            tool: c.tool_name,
            is_error: c.is_error,
            is_test: c.is_test,
            summary: c.result_summary,
            duration: latency(c.duration_us),
        })
        .collect()
}

/// Everything stored about the person, as a JSON download (owners only: core refuses
/// everyone else).
pub(crate) async fn export(
    State(app): State<Dashboard>,
    signed: Signed,
    IdPath(id): IdPath<EndUserId>,
) -> PageResult {
    use axum::response::IntoResponse;
    let export =
        guidepost_core::privacy::personal_data::export(&app.platform, signed.caller(), &id).await?;
    // Streamed a page of rows at a time: a person may have any number of them.
    let body = axum::body::Body::from_stream(export.into_stream());
    let disposition = format!("attachment; filename=\"end-user-{id}.json\"");
    Ok((
        [
            (http::header::CONTENT_TYPE, "application/json".to_owned()),
            (http::header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// Erases the person once asked on the server (`confirm=yes`): the first post answers a
/// page that says what goes and what stays, so it asks without JavaScript too.
pub(crate) async fn erase(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<EndUserId>,
    SignedForm { signed, form }: SignedForm<Confirm>,
) -> PageResult {
    if !form.given() {
        // Another organization's person is not found, before anything is asked.
        end_users::get_with_sessions(&app.platform, signed.caller(), &id).await?;
        let question = Question {
            title: "Erase this person?".into(),
            message: "Their email, tracking id, sessions and sign-ins are deleted; their \
                      tool calls, support requests and walkthrough progress stay as anonymous \
                      records, so counts and funnels do not change. It cannot be undone."
                .into(),
            action: format!("/app/end-users/{id}/erase"),
            button: "Erase this person".into(),
            back: format!("/app/end-users/{id}"),
            section: Section::EndUsers,
            instead: None,
            fields: Vec::new(),
        };
        return confirm::ask(&app, &signed, Permission::Administer, question).await;
    }
    guidepost_core::privacy::personal_data::erase(&app.platform, signed.caller(), &id).await?;
    Ok(page::done("/app/end-users", Notice::Erased))
}

/// Which progress a reset is of, and whether it was confirmed.
#[derive(Deserialize)]
pub(crate) struct ResetForm {
    server_id: String,
    walkthrough_id: String,
    #[serde(flatten)]
    confirm: Confirm,
}

/// Resets one walkthrough's progress of the person once asked on the server
/// (`confirm=yes`): their next start begins at step 1; nobody else's changes.
pub(crate) async fn reset_progress(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<EndUserId>,
    SignedForm { signed, form }: SignedForm<ResetForm>,
) -> PageResult {
    let server: ServerId = page::id_or_not_found(&form.server_id)?;
    let walkthrough: WalkthroughId = page::id_or_not_found(&form.walkthrough_id)?;
    if !form.confirm.given() {
        end_users::get_with_sessions(&app.platform, signed.caller(), &id).await?;
        let question = Question {
            title: "Reset this person's progress?".into(),
            message: "Their progress through this walkthrough on this server is deleted:                       their next start begins at step 1 of the newest published version.                       Nobody else's progress changes, and their calls stay recorded."
                .into(),
            action: format!("/app/end-users/{id}/progress/reset"),
            button: "Reset progress".into(),
            back: format!("/app/end-users/{id}#progress"),
            section: Section::EndUsers,
            instead: None,
            fields: vec![
                ("server_id", server.to_string()),
                ("walkthrough_id", walkthrough.to_string()),
            ],
        };
        return confirm::ask(&app, &signed, Permission::Edit, question).await;
    }
    end_users::reset_progress(&app.platform, signed.caller(), &id, &server, &walkthrough).await?;
    Ok(page::done(
        &format!("/app/end-users/{id}"),
        Notice::ProgressReset,
    ))
}
