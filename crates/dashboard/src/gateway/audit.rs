//! The audit log: every change made in the organization, by the dashboard, the
//! API or the command line, and what the gateway discovered and quarantined, newest first,
//! in words, filtered by who, what and which type, a page at a time.

use askama::Template;
use axum::extract::{Query, State};
use guidepost_core::audit::{self, AuditFilter};
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
    /// The filter's choices: stored actor and name; type and label.
    actors: Vec<(String, String)>,
    types: Vec<(&'static str, String)>,
    actor: String,
    kind: String,
    object: String,
    /// What the object filter names, when it does.
    object_name: Option<String>,
    /// The filter as a query string, without the cursor.
    filter_query: String,
    next: Option<String>,
    first_page: bool,
}

struct EventRow {
    when: String,
    text: Visible,
    action: String,
    /// Links that narrow the log to the event's objects: id and name.
    objects: Vec<(String, String)>,
    detail: Vec<(String, Visible)>,
}

#[derive(Deserialize, Default)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    object: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// `GET /app/gateway/audit?actor=&object=&type=&cursor=`.
pub(crate) async fn list(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(query): Query<AuditQuery>,
) -> PageResult {
    let after = page::cursor(query.cursor.as_deref())?;
    let first_page = after.is_none();
    let chrome = Chrome::new(&app, &signed, "Audit log", Section::Gateway, None).await?;
    let filter = AuditFilter {
        actor: query.actor.as_deref().and_then(page::optional),
        object: query.object.as_deref().and_then(page::optional),
        kind: query.kind.as_deref().and_then(page::optional),
        hidden_kind: None,
    };
    let request = PageRequest {
        after,
        limit: PAGE_SIZE,
    };
    let listed = audit::list(&app.platform, signed.caller(), &filter, &request).await?;
    let actors = audit::actors(&app.platform, signed.caller()).await?;
    let events: Vec<EventRow> = listed.items.into_iter().map(row).collect();
    let object_name = filter.object.as_ref().map(|id| {
        events
            .iter()
            .flat_map(|e| e.objects.iter())
            .find(|(object, _)| object == id)
            .map_or_else(|| id.clone(), |(_, name)| name.clone())
    });
    Ok(page::render(&AuditPage {
        chrome,
        events,
        actors,
        types: audit::types_for(signed.caller())
            .into_iter()
            .map(|kind| (kind, type_label(kind)))
            .collect(),
        filter_query: filter_query(&filter),
        actor: filter.actor.unwrap_or_default(),
        kind: filter.kind.unwrap_or_default(),
        object: filter.object.unwrap_or_default(),
        object_name,
        next: listed.next_cursor,
        first_page,
    }))
}

fn row(event: AuditEvent) -> EventRow {
    let mut objects = Vec::new();
    let about_upstream = event.object_type.as_deref() == Some("upstream");
    if let (Some(id), Some(name), false) = (&event.object_id, &event.object_name, about_upstream) {
        objects.push((id.clone(), name.clone()));
    }
    if let Some(id) = &event.upstream_id {
        let name = event
            .upstream_name
            .clone()
            .unwrap_or_else(|| id.to_string());
        objects.push((id.to_string(), name));
    }
    if let Some(id) = &event.server_id {
        let name = event.server_name.clone().unwrap_or_else(|| id.to_string());
        objects.push((id.to_string(), name));
    }
    EventRow {
        when: event.created_at.to_rfc3339(),
        text: Visible::of(&event.text),
        action: event.action,
        objects,
        detail: detail_lines(&event.detail),
    }
}

/// An event's detail, one line per key; strings as they are, the rest as JSON.
fn detail_lines(detail: &serde_json::Value) -> Vec<(String, Visible)> {
    let Some(map) = detail.as_object() else {
        return vec![("detail".into(), Visible::of(&detail.to_string()))];
    };
    map.iter()
        .map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(text) => text.clone(),
                other => serde_json::to_string_pretty(other).unwrap_or_default(),
            };
            (key.replace('_', " "), Visible::of(&text))
        })
        .collect()
}

/// `api_key` → `API keys`, `support_request` → `Support requests`.
fn type_label(kind: &str) -> String {
    match kind {
        "api_key" => "API keys".into(),
        "catalog_entry" => "Catalog entries".into(),
        "end_user" => "End users' data".into(),
        "organization" => "Organization settings".into(),
        other => {
            let words = other.replace('_', " ");
            let mut chars = words.chars();
            match chars.next() {
                Some(first) => format!("{}{}s", first.to_uppercase(), chars.as_str()),
                None => String::new(),
            }
        }
    }
}

fn filter_query(filter: &AuditFilter) -> String {
    let pairs: Vec<(&str, &str)> = [
        ("actor", &filter.actor),
        ("object", &filter.object),
        ("type", &filter.kind),
    ]
    .into_iter()
    .filter_map(|(key, value)| value.as_deref().map(|value| (key, value)))
    .collect();
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}
