//! `/api/v1/analytics/…`: reports over recorded tool calls (SPEC §6).

use axum::extract::State;
use guidepost_core::Platform;
use guidepost_core::analytics::{self, ToolReportWindow};
use guidepost_domain::{ServerId, Timestamp};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{Json, Query, query_id};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ToolReportQuery {
    /// Only calls to this server (`ms_…`).
    server_id: Option<String>,
    /// Start of the window, RFC 3339 (e.g. `2025-01-01T00:00:00Z`); default 24 hours before `until`.
    since: Option<String>,
    /// End of the window (exclusive), RFC 3339; default now.
    until: Option<String>,
}

/// Per-tool calls, error rate and latency percentiles over a time window of at most 31 days.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/tools",
    tag = "analytics",
    operation_id = "tool_analytics_get",
    params(ToolReportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report", body = ToolReportWindow),
        (status = 422, description = "Invalid server id or window"),
    )
)]
pub(crate) async fn tools(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Query(query): Query<ToolReportQuery>,
) -> Result<Json<ToolReportWindow>, ApiError> {
    let server_id: Option<ServerId> = query_id("server_id", query.server_id.as_deref())?;
    let until = time("until", query.until.as_deref())?;
    let since = time("since", query.since.as_deref())?;
    let report = analytics::report(&platform, &auth.caller, server_id.as_ref(), since, until);
    Ok(Json(report.await?))
}

fn time(field: &'static str, raw: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    raw.map(|text| {
        Timestamp::parse_rfc3339(text).ok_or_else(|| {
            ApiError::invalid(
                field,
                "must be an RFC 3339 time such as 2025-01-01T00:00:00Z",
            )
        })
    })
    .transpose()
}
