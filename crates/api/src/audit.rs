//! `/api/v1/audit-events`: the gateway's audit log (SPEC §8).

use axum::extract::State;
use guidepost_core::Platform;
use guidepost_core::upstreams::audit;
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
}

/// The audit log: installs, uninstalls, attachments, discoveries, changes, quarantines,
/// approvals and rejections, with who and when, newest first.
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
    Ok(Json(audit::list(&platform, &auth.caller, &page).await?))
}
