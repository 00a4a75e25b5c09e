//! `/api/v1/audit-events`: the audit log: the same events the dashboard shows.

use axum::extract::State;
use guidepost_core::Platform;
use guidepost_core::audit::{self, AuditFilter};
use guidepost_domain::{AuditEvent, Page};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::pagination::page_request;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListAuditEvents {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50); larger values are lowered to 200.
    #[param(minimum = 1)]
    limit: Option<u32>,
    /// Only this actor's events, as events name it (`member:mem_…`, `api_key:key_…`,
    /// `cli`, `platform`).
    actor: Option<String>,
    /// Only events about this object: an id of a member, key, server, walkthrough,
    /// webhook, support request or upstream.
    object: Option<String>,
    /// Only events of this type (the action's first part): `member`, `api_key`, `server`,
    /// `walkthrough`, `webhook`, `organization`, `support_request`, `end_user`,
    /// `upstream`, `tool`, `connection`.
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// The audit log: every change to members, API keys, servers, walkthroughs, webhooks,
/// support requests and the organization's settings, and the gateway's installs,
/// attachments, discoveries, quarantines, approvals and rejections; with who (by name),
/// on what (by name), the event in words (`text`), newest first. The API keys' own events
/// only to an `admin` key; the words an upstream gave (`detail.why` of an undone upgrade,
/// `detail.reason` of a refused refresh) only to a `gateway` key.
#[utoipa::path(get, path = "/api/v1/audit-events", tag = "gateway", operation_id = "audit_events_list",
    params(ListAuditEvents), security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of events", body = Page<AuditEvent>),
        (status = 422, description = "Invalid cursor or limit"),
    ))]
pub(crate) async fn list(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Query(query): Query<ListAuditEvents>,
) -> Result<Json<Page<AuditEvent>>, ApiError> {
    let page = page_request(query.cursor.as_deref(), query.limit)?;
    let filter = AuditFilter {
        actor: query.actor,
        object: query.object,
        kind: query.kind,
        hidden_kind: None,
    };
    Ok(Json(
        audit::list(&platform, &auth.caller, &filter, &page).await?,
    ))
}
