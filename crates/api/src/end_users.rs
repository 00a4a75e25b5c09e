//! `/api/v1/end-users`: the people behind MCP clients, with their sessions.

use axum::extract::State;
use guidepost_core::Platform;
use guidepost_core::accounts::end_users::{self, EndUserFilter, ProgressView};
use guidepost_domain::{
    Email, EndUser, EndUserId, EndUserSummary, McpSession, Page, ServerId, SessionId,
    SupportRequest, Timestamp, ToolCall, TrackingId, WalkthroughId,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{IdPath, Json, Query};
use crate::pagination::page_request;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListEndUsers {
    /// Only end users with this email address (compared case-insensitively).
    email: Option<String>,
    /// Only the end user with this tracking id.
    tracking_id: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50); larger values are lowered to 200.
    #[param(minimum = 1)]
    limit: Option<u32>,
}

/// An end user's whole picture.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndUserDetail {
    #[serde(flatten)]
    pub end_user: EndUser,
    /// Newest first, at most 100.
    pub sessions: Vec<SessionView>,
    /// Per server and walkthrough, with the step they are on; most recently active
    /// first, at most 100.
    pub progress: Vec<ProgressView>,
    /// Newest first, at most 20.
    pub recent_tool_calls: Vec<ToolCall>,
    /// Newest first, at most 20.
    pub support_requests: Vec<SupportRequest>,
}

/// A session as the API shows it. The transport's session id is left out: it lets whoever
/// holds it continue the session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: SessionId,
    pub server_id: ServerId,
    pub end_user_id: Option<EndUserId>,
    pub client_name: Option<String>,
    pub client_version: Option<String>,
    pub protocol_version: Option<String>,
    pub first_seen_at: Timestamp,
    pub last_seen_at: Timestamp,
}

impl From<McpSession> for SessionView {
    fn from(session: McpSession) -> Self {
        Self {
            id: session.id,
            server_id: session.server_id,
            end_user_id: session.end_user_id,
            client_name: session.client_name,
            client_version: session.client_version,
            protocol_version: session.protocol_version,
            first_seen_at: session.first_seen_at,
            last_seen_at: session.last_seen_at,
        }
    }
}

/// List end users, most recently first seen first, each with their session and tool call
/// counts.
#[utoipa::path(
    get,
    path = "/api/v1/end-users",
    tag = "end-users",
    operation_id = "end_users_list",
    params(ListEndUsers),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of end users", body = Page<EndUserSummary>),
        (status = 422, description = "Invalid filter, cursor or limit"),
    )
)]
pub(crate) async fn list(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Query(query): Query<ListEndUsers>,
) -> Result<Json<Page<EndUserSummary>>, ApiError> {
    let page = page_request(query.cursor.as_deref(), query.limit)?;
    // Parsed for their rules and normal form: stored emails are lowercase.
    let email = query.email.as_deref().map(Email::parse).transpose()?;
    let tracking_id = query
        .tracking_id
        .as_deref()
        .map(TrackingId::parse)
        .transpose()?;
    let filter = EndUserFilter {
        email: email.map(String::from),
        tracking_id: tracking_id.map(String::from),
    };
    Ok(Json(
        end_users::list(&platform, &auth.caller, &filter, &page).await?,
    ))
}

/// Read an end user's whole picture: sessions, progress per server and walkthrough,
/// recent tool calls and support requests.
#[utoipa::path(
    get,
    path = "/api/v1/end-users/{id}",
    tag = "end-users",
    operation_id = "end_users_get",
    params(("id" = String, Path, description = "End user id, `msu_…`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The end user's whole picture", body = EndUserDetail),
        (status = 404, description = "No such end user in this organization"),
    )
)]
pub(crate) async fn get(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<EndUserId>,
) -> Result<Json<EndUserDetail>, ApiError> {
    let picture = end_users::picture(&platform, &auth.caller, &id).await?;
    Ok(Json(EndUserDetail {
        end_user: picture.end_user,
        sessions: picture
            .sessions
            .into_iter()
            .map(SessionView::from)
            .collect(),
        progress: picture.progress,
        recent_tool_calls: picture.recent_tool_calls,
        support_requests: picture.support_requests,
    }))
}

/// Everything stored about one person (`GET /api/v1/end-users/{id}/export`), written a
/// page of rows at a time (the document's schema: the answer is streamed, never built).
#[derive(Debug, Serialize, ToSchema)]
#[allow(
    dead_code,
    reason = "the OpenAPI document's schema of a body written as it is read"
)]
pub struct EndUserExport {
    pub end_user_id: EndUserId,
    pub exported_at: Timestamp,
    /// Every table's rows about the person (and the anonymous end users linked to them),
    /// by table name, each table whole (however many rows) in the order of its key, column
    /// by column; secrets such as token hashes are left out, and so, for a caller without
    /// the `gateway` scope, are an upstream's own words that audit events and webhook
    /// deliveries quote (`reason`, `last_error`, `why`). A table with no row about them is
    /// present with an empty list.
    #[schema(value_type = Object)]
    pub tables: std::collections::BTreeMap<String, Vec<serde_json::Map<String, serde_json::Value>>>,
}

/// What an erasure did (`DELETE /api/v1/end-users/{id}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct EndUserErased {
    pub end_user_id: EndUserId,
    /// The anonymous end user the person's tool calls, support requests and progress now
    /// belong to, so that counts and funnels do not change.
    pub anonymous_end_user_id: Option<EndUserId>,
    pub sessions_deleted: u64,
    pub grants_deleted: u64,
    pub login_sessions_deleted: u64,
    pub tool_calls_kept_anonymous: u64,
    pub support_requests_kept_anonymous: u64,
    pub feedback_kept_anonymous: u64,
    pub progress_kept_anonymous: u64,
}

/// Export everything stored about an end user, as JSON (audited; `admin` scope).
#[utoipa::path(
    get,
    path = "/api/v1/end-users/{id}/export",
    tag = "end-users",
    operation_id = "end_users_export",
    params(("id" = String, Path, description = "End user id, `msu_…`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every table's rows about the person", body = EndUserExport),
        (status = 403, description = "The key lacks the `admin` scope"),
        (status = 404, description = "No such end user in this organization"),
    )
)]
pub(crate) async fn export(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<EndUserId>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let export =
        guidepost_core::privacy::personal_data::export(&platform, &auth.caller, &id).await?;
    let body = axum::body::Body::from_stream(export.into_stream());
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// Erase an end user: their email, tracking id, sessions, OAuth grants and tokens are
/// deleted; their tool calls, support requests and walkthrough progress stay
/// as one anonymous end user's, so counts and funnels do not change (audited; `admin`
/// scope).
#[utoipa::path(
    delete,
    path = "/api/v1/end-users/{id}",
    tag = "end-users",
    operation_id = "end_users_erase",
    params(("id" = String, Path, description = "End user id, `msu_…`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Erased", body = EndUserErased),
        (status = 403, description = "The key lacks the `admin` scope"),
        (status = 404, description = "No such end user in this organization"),
    )
)]
pub(crate) async fn erase(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<EndUserId>,
) -> Result<Json<EndUserErased>, ApiError> {
    let erased =
        guidepost_core::privacy::personal_data::erase(&platform, &auth.caller, &id).await?;
    tracing::info!(org = %auth.caller.org(), end_user = %id, by = %auth.caller.actor(), "end user erased");
    Ok(Json(EndUserErased {
        end_user_id: id,
        anonymous_end_user_id: erased.tombstone,
        sessions_deleted: erased.sessions_deleted,
        grants_deleted: erased.grants_deleted,
        login_sessions_deleted: erased.login_sessions_deleted,
        tool_calls_kept_anonymous: erased.tool_calls_kept_anonymous,
        support_requests_kept_anonymous: erased.support_requests_kept_anonymous,
        feedback_kept_anonymous: erased.feedback_kept_anonymous,
        progress_kept_anonymous: erased.progress_kept_anonymous,
    }))
}

/// Reset one person's progress through a walkthrough on a server: it is deleted, so their
/// next start begins at step 1 of the newest published version; nobody else's progress
/// changes (audited; `write` scope, an editor's permission).
#[utoipa::path(
    delete,
    path = "/api/v1/end-users/{id}/progress/{server_id}/{walkthrough_id}",
    tag = "end-users",
    operation_id = "end_users_progress_reset",
    params(
        ("id" = String, Path, description = "End user id, `msu_…`"),
        ("server_id" = String, Path, description = "Server id, `ms_…`"),
        ("walkthrough_id" = String, Path, description = "Walkthrough id, `wt_…`"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Reset: the progress is gone"),
        (status = 403, description = "The key lacks the `write` scope"),
        (status = 404, description = "No such end user, walkthrough or progress in this organization"),
    )
)]
pub(crate) async fn reset_progress(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath((id, server, walkthrough)): IdPath<(EndUserId, ServerId, WalkthroughId)>,
) -> Result<axum::http::StatusCode, ApiError> {
    end_users::reset_progress(&platform, &auth.caller, &id, &server, &walkthrough).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
