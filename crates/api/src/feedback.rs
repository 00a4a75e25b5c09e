//! `/api/v1/feedback`: what people sent with `send_feedback`, and its count per day.

use axum::extract::State;
use guidepost_core::Platform;
use guidepost_core::support::feedback::{self, FeedbackFilter};
use guidepost_domain::{Feedback, FeedbackDay, Page};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{Json, Query, query_id};
use crate::pagination::page_request;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListFeedback {
    /// Only feedback sent to this server (`ms_…`).
    server_id: Option<String>,
    /// Only feedback of this end user (`msu_…`).
    end_user_id: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50); larger values are lowered to 200.
    #[param(minimum = 1)]
    limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct FeedbackDaysQuery {
    /// Only feedback sent to this server (`ms_…`).
    server_id: Option<String>,
    /// How many days back, today included: 1 to 366 (default 30).
    #[param(minimum = 1, maximum = 366)]
    days: Option<u32>,
}

/// Feedback per day (UTC), oldest first; days without any are left out.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackDays {
    pub days: Vec<FeedbackDay>,
}

/// List feedback, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/feedback",
    tag = "support",
    operation_id = "feedback_list",
    params(ListFeedback),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of feedback", body = Page<Feedback>),
        (status = 422, description = "Invalid filter, cursor or limit"),
    )
)]
pub(crate) async fn list(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Query(query): Query<ListFeedback>,
) -> Result<Json<Page<Feedback>>, ApiError> {
    let page = page_request(query.cursor.as_deref(), query.limit)?;
    let filter = FeedbackFilter {
        server_id: query_id("server_id", query.server_id.as_deref())?,
        end_user_id: query_id("end_user_id", query.end_user_id.as_deref())?,
    };
    Ok(Json(
        feedback::list(&platform, &auth.caller, &filter, &page).await?,
    ))
}

/// Count feedback per day, with its average rating.
#[utoipa::path(
    get,
    path = "/api/v1/feedback/daily",
    tag = "support",
    operation_id = "feedback_days_list",
    params(FeedbackDaysQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Feedback per day", body = FeedbackDays),
        (status = 422, description = "Invalid server id or number of days"),
    )
)]
pub(crate) async fn daily(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Query(query): Query<FeedbackDaysQuery>,
) -> Result<Json<FeedbackDays>, ApiError> {
    let server = query_id("server_id", query.server_id.as_deref())?;
    let days = query.days.unwrap_or(30);
    let days = feedback::per_day(&platform, &auth.caller, server.as_ref(), days).await?;
    Ok(Json(FeedbackDays { days }))
}
