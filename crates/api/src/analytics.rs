//! `/api/v1/analytics/…`: reports over recorded tool calls.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use guidepost_core::Platform;
use guidepost_core::insights::analytics::{self, ToolReportWindow};
use guidepost_core::insights::analytics_csv::report_csv;
use guidepost_core::insights::missing::{self, MissingCapabilities};
use guidepost_domain::{ServerId, Timestamp};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{IdPath, Json, Query, query_id};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ToolReportQuery {
    /// Only calls to this server (`ms_…`).
    server_id: Option<String>,
    /// Start of the window, RFC 3339 (e.g. `2025-01-01T00:00:00Z`); default 24 hours before
    /// `until`. Rounded down to a whole UTC hour (reports are read from hourly rollups).
    since: Option<String>,
    /// End of the window (exclusive), RFC 3339; default now. Rounded up to a whole UTC hour.
    until: Option<String>,
}

/// Per-tool calls, error rate and latency percentiles over a time window of at most 31 days,
/// widened to whole UTC hours. Percentiles are read from fixed log-spaced latency buckets
/// (about 25 % apart): each is the upper bound of its bucket, capped by the slowest call.
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
    Ok(Json(report(&platform, &auth, &query).await?))
}

/// The same report as CSV: one line per tool (quoted name, calls, errors, error rate,
/// p50/p95/p99/max in µs, the window).
#[utoipa::path(
    get,
    path = "/api/v1/analytics/tools/export",
    tag = "analytics",
    operation_id = "tool_analytics_export",
    params(ToolReportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report as CSV", body = String, content_type = "text/csv"),
        (status = 422, description = "Invalid server id or window"),
    )
)]
pub(crate) async fn export(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Query(query): Query<ToolReportQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let report = report(&platform, &auth, &query).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"tool-analytics.csv\"",
            ),
        ],
        report_csv(&report),
    ))
}

async fn report(
    platform: &Platform,
    auth: &OrgAuth,
    query: &ToolReportQuery,
) -> Result<ToolReportWindow, ApiError> {
    let server_id: Option<ServerId> = query_id("server_id", query.server_id.as_deref())?;
    let until = time("until", query.until.as_deref())?;
    let since = time("since", query.since.as_deref())?;
    Ok(analytics::report(platform, &auth.caller, server_id.as_ref(), since, until).await?)
}

pub(crate) fn time(field: &'static str, raw: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MissingQuery {
    /// How many days back, up to the end of the current UTC hour: 1 to 31 (default 7).
    #[param(minimum = 1, maximum = 31)]
    days: Option<u32>,
}

/// What agents looked for on a server and did not find: calls of tools it does not
/// offer and arguments a tool (or its upstream) refused, each grouped by name with counts;
/// tools with at least three errors; and offered tools nobody called. The raw calls are
/// `GET /api/v1/tool-calls?server_id=&tool_name=`.
#[utoipa::path(
    get,
    path = "/api/v1/servers/{id}/missing-capabilities",
    tag = "analytics",
    operation_id = "missing_capabilities_get",
    params(("id" = String, Path, description = "The server (`ms_…`)"), MissingQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report", body = MissingCapabilities),
        (status = 404, description = "No such server in the organization"),
        (status = 422, description = "Invalid number of days"),
    )
)]
pub(crate) async fn missing(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<ServerId>,
    Query(query): Query<MissingQuery>,
) -> Result<Json<MissingCapabilities>, ApiError> {
    let days = query.days.unwrap_or(missing::DEFAULT_DAYS);
    Ok(Json(
        missing::report(&platform, &auth.caller, &id, days).await?,
    ))
}
