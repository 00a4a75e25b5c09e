//! `/api/v1/support-requests`: requests opened by end users with `get_support`.

use axum::extract::State;
use guidepost_core::Platform;
use guidepost_core::accounts::end_users::{self, ProgressView};
use guidepost_core::support::requests::{self, SupportRequestFilter};
use guidepost_domain::{Page, SupportRequest, SupportRequestId, SupportStatus, ToolCall};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{IdPath, Json, Query, query_id};
use crate::pagination::page_request;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListSupportRequests {
    /// Only requests to this server (`ms_…`).
    server_id: Option<String>,
    /// Only requests with this status.
    status: Option<SupportStatus>,
    /// Only requests of this end user (`msu_…`).
    end_user_id: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50); larger values are lowered to 200.
    #[param(minimum = 1)]
    limit: Option<u32>,
}

/// A support request with where its person is on that server.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupportRequestDetail {
    #[serde(flatten)]
    pub request: SupportRequest,
    /// The person's progress on the server's walkthroughs, with the step they are on
    /// (empty when the request cannot be traced to a person).
    pub progress: Vec<ProgressView>,
    /// The person's last tool calls on the server, newest first, at most 20.
    pub recent_tool_calls: Vec<ToolCall>,
}

/// `PATCH /api/v1/support-requests/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSupportRequest {
    pub status: SupportStatus,
}

/// List support requests, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/support-requests",
    tag = "support",
    operation_id = "support_requests_list",
    params(ListSupportRequests),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of support requests", body = Page<SupportRequest>),
        (status = 422, description = "Invalid filter, cursor or limit"),
    )
)]
pub(crate) async fn list(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Query(query): Query<ListSupportRequests>,
) -> Result<Json<Page<SupportRequest>>, ApiError> {
    let page = page_request(query.cursor.as_deref(), query.limit)?;
    let filter = SupportRequestFilter {
        server_id: query_id("server_id", query.server_id.as_deref())?,
        status: query.status,
        end_user_id: query_id("end_user_id", query.end_user_id.as_deref())?,
    };
    Ok(Json(
        requests::list(&platform, &auth.caller, &filter, &page).await?,
    ))
}

/// Read a support request.
#[utoipa::path(
    get,
    path = "/api/v1/support-requests/{id}",
    tag = "support",
    operation_id = "support_requests_get",
    params(("id" = String, Path, description = "Support request id, `sr_…`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The support request, with its person's progress and last calls on that server", body = SupportRequestDetail),
        (status = 404, description = "No such support request in this organization"),
    )
)]
pub(crate) async fn get(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<SupportRequestId>,
) -> Result<Json<SupportRequestDetail>, ApiError> {
    let request = requests::get(&platform, &auth.caller, &id).await?;
    let (progress, recent_tool_calls) = end_users::on_server(
        &platform,
        &auth.caller,
        request.end_user_id.as_ref(),
        &request.server_id,
    )
    .await?;
    Ok(Json(SupportRequestDetail {
        request,
        progress,
        recent_tool_calls,
    }))
}

/// Change the status of a support request.
#[utoipa::path(
    patch,
    path = "/api/v1/support-requests/{id}",
    tag = "support",
    operation_id = "support_requests_update",
    params(("id" = String, Path, description = "Support request id, `sr_…`")),
    request_body = UpdateSupportRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated support request", body = SupportRequest),
        (status = 404, description = "No such support request in this organization"),
        (status = 422, description = "Invalid status"),
    )
)]
pub(crate) async fn update(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<SupportRequestId>,
    Json(input): Json<UpdateSupportRequest>,
) -> Result<Json<SupportRequest>, ApiError> {
    let updated = requests::update_status(&platform, &auth.caller, &id, input.status).await?;
    Ok(Json(updated))
}
