//! The gateway's audit log (SPEC §8): who installed, attached, approved or rejected what,
//! and what the platform discovered and quarantined, newest first, a page at a time.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use guidepost_core::members;
use guidepost_core::upstreams::audit;
use guidepost_domain::*;
use serde::Deserialize;

use super::visible::Visible;
use crate::Dashboard;
use crate::page::Section;
use crate::page::{self, Chrome, PageResult};
use crate::session::Signed;

/// Events per page.
const PAGE_SIZE: u32 = 50;

#[derive(Template)]
#[template(path = "gateway/audit.html")]
struct AuditPage {
    chrome: Chrome,
    events: Vec<EventRow>,
    next: Option<String>,
    first_page: bool,
}

struct EventRow {
    when: String,
    actor: String,
    action: String,
    upstream: Option<String>,
    server: Option<String>,
    tool: Option<String>,
    detail: Visible,
}

#[derive(Deserialize, Default)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    cursor: Option<String>,
}

/// `GET /app/gateway/audit?cursor=`.
pub(crate) async fn list(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(query): Query<AuditQuery>,
) -> PageResult {
    let after = page::cursor(query.cursor.as_deref())?;
    let first_page = after.is_none();
    let chrome = Chrome::new(&app, &signed, "Audit log", Section::Gateway, None).await?;
    let request = PageRequest {
        after,
        limit: PAGE_SIZE,
    };
    let listed = audit::list(&app.platform, signed.caller(), &request).await?;
    let emails: HashMap<String, String> = members::list(&app.platform, signed.caller())
        .await?
        .into_iter()
        .map(|m| {
            (
                Actor::Member(m.id.clone()).to_string(),
                m.email.as_str().to_owned(),
            )
        })
        .collect();
    let events = listed
        .items
        .into_iter()
        .map(|event| EventRow {
            when: event.created_at.to_rfc3339(),
            actor: emails.get(&event.actor).cloned().unwrap_or(event.actor),
            action: event.action,
            upstream: event.upstream_id.map(|id| id.to_string()),
            server: event.server_id.map(|id| id.to_string()),
            tool: event.tool,
            detail: Visible::of(&compact(&event.detail)),
        })
        .collect();
    Ok(page::render(&AuditPage {
        chrome,
        events,
        next: listed.next_cursor,
        first_page,
    }))
}

/// An event's detail as one line; an empty object says nothing.
fn compact(detail: &serde_json::Value) -> String {
    match detail {
        serde_json::Value::Object(map) if map.is_empty() => String::new(),
        other => other.to_string(),
    }
}
