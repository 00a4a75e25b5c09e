//! `/api/v1/analytics/…`: reports over recorded tool calls (SPEC §6).

use axum::extract::State;
use guidepost_core::Platform;
use guidepost_core::analytics::{self, ToolReport};
use guidepost_domain::{ServerId, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{Json, Query, query_id};

const DAY_SECONDS: i64 = 24 * 60 * 60;
/// The longest window one report covers, so that one request reads a bounded number of rows.
const MAX_WINDOW_DAYS: i64 = 31;

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

/// Per-tool calls, errors and latency over `[since, until)`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolReportWindow {
    pub since: Timestamp,
    pub until: Timestamp,
    /// One line per tool, by tool name.
    pub tools: Vec<ToolReport>,
}

/// Per-tool calls, error rate and latency percentiles over a time window of at most 31 days.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/tools",
    tag = "analytics",
    operation_id = "analytics_tools",
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
    let until = time("until", query.until.as_deref())?.unwrap_or_else(Timestamp::now);
    let since = time("since", query.since.as_deref())?.unwrap_or(until.plus_seconds(-DAY_SECONDS));
    if since >= until {
        return Err(ApiError::invalid("since", "must be before `until`"));
    }
    if until.micros() - since.micros() > MAX_WINDOW_DAYS * DAY_SECONDS * 1_000_000 {
        return Err(ApiError::invalid(
            "since",
            format!("the window must be at most {MAX_WINDOW_DAYS} days"),
        ));
    }
    let samples = platform
        .store
        .tool_call_durations(&auth.org_id, server_id.as_ref(), since, until)
        .await?;
    Ok(Json(ToolReportWindow {
        since,
        until,
        tools: analytics::tool_report(samples),
    }))
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
