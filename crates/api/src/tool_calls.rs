//! `/api/v1/tool-calls`: every recorded `tools/call`.

use axum::extract::State;
use guidepost_core::Platform;
use guidepost_core::insights::analytics::{self, ToolCallFilter};
use guidepost_domain::{Limits, Page, ToolCall};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::analytics::time;
use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{Json, Query, query_id};
use crate::pagination::page_request;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListToolCalls {
    /// Only calls to this server (`ms_…`).
    server_id: Option<String>,
    /// Only calls by this end user (`msu_…`).
    end_user_id: Option<String>,
    /// Only calls of this tool.
    tool_name: Option<String>,
    /// Only calls answered by this upstream (`up_…`, through the gateway).
    upstream_id: Option<String>,
    /// Only calls that failed.
    errors_only: Option<bool>,
    /// Only calls at or after this time, RFC 3339.
    since: Option<String>,
    /// Only calls before this time, RFC 3339.
    until: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50); larger values are lowered to 200.
    #[param(minimum = 1)]
    limit: Option<u32>,
}

/// List recorded tool calls, newest first. Every filter given must hold; a filter by end user
/// reads that person's calls through their own index.
#[utoipa::path(
    get,
    path = "/api/v1/tool-calls",
    tag = "analytics",
    operation_id = "tool_calls_list",
    params(ListToolCalls),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of tool calls", body = Page<ToolCall>),
        (status = 422, description = "Invalid filter, cursor or limit"),
    )
)]
pub(crate) async fn list(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Query(query): Query<ListToolCalls>,
) -> Result<Json<Page<ToolCall>>, ApiError> {
    let page = page_request(query.cursor.as_deref(), query.limit)?;
    if query
        .tool_name
        .as_ref()
        .is_some_and(|name| name.len() > Limits::NAME)
    {
        return Err(ApiError::invalid(
            "tool_name",
            format!("must be at most {} characters", Limits::NAME),
        ));
    }
    let filter = ToolCallFilter {
        server_id: query_id("server_id", query.server_id.as_deref())?,
        end_user_id: query_id("end_user_id", query.end_user_id.as_deref())?,
        tool_name: query.tool_name,
        upstream_id: query_id("upstream_id", query.upstream_id.as_deref())?,
        errors_only: query.errors_only.unwrap_or(false),
        since: time("since", query.since.as_deref())?,
        until: time("until", query.until.as_deref())?,
    };
    Ok(Json(
        analytics::list_tool_calls(&platform, &auth.caller, &filter, &page).await?,
    ))
}
