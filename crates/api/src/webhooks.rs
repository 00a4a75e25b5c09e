//! `/api/v1/webhooks`: signed deliveries of support events to the organization's own
//! receivers. A webhook's secret is shown once, when it is created.

use axum::extract::State;
use axum::http::StatusCode;
use guidepost_core::Platform;
use guidepost_core::support::webhooks::{self, CreatedWebhook, WebhookInput};
use guidepost_domain::{Cursor, Page, Webhook, WebhookDelivery, WebhookId};

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{IdPath, Json, Query};
use crate::pagination::PageQuery;

/// Create a webhook. Deliveries are POSTed as JSON `{id, type, created_at, data}` with the
/// header `Guidepost-Signature: t={unix seconds},v1={hex HMAC-SHA256 of "{t}.{body}"}`
/// under the secret returned here, once. `data` by `type`: `support_request.created` and
/// `support_request.updated`: the support request (`SupportRequest`); `upstream.failed`
/// (once when an upstream crashed past its restart limit) and `upstream.recovered` (when it
/// runs again): `UpstreamEventData`; `tool.review_requested` (a discovery newly held
/// definitions back, pending or quarantined): `ToolReviewEventData`;
/// `walkthrough.completed`: `WalkthroughCompletedEventData`; `connection.needs_reconnect`
/// (an upstream refused to refresh a connection, whose owner must connect again):
/// `ConnectionEventData`; `feedback.created` (somebody used `send_feedback`): `Feedback`;
/// `approval.requested` (a call waits for a member's approval): `CallApproval`.
/// A webhook receives only the types it subscribes to.
/// `upstream.failed` and `connection.needs_reconnect` quote the upstream (its last error,
/// its authorization server's refusal): subscribing to them needs the `gateway` scope.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "support", operation_id = "webhooks_create",
    request_body = WebhookInput, security(("bearer" = [])),
    responses(
        (status = 201, description = "The webhook, with its secret shown once", body = CreatedWebhook),
        (status = 409, description = "The organization has as many webhooks as it may"),
        (status = 422, description = "Invalid URL or events, or no master key to keep the secret"),
    ))]
pub(crate) async fn create(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Json(input): Json<WebhookInput>,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    let created = webhooks::create(&platform, &auth.caller, input).await?;
    tracing::info!(org = %auth.caller.org(), webhook = %created.webhook.id, by = %auth.caller.actor(), "webhook created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// List the organization's webhooks, oldest first.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "support", operation_id = "webhooks_list",
    params(PageQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of webhooks", body = Page<Webhook>),
        (status = 422, description = "Invalid cursor or limit"),
    ))]
pub(crate) async fn list(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<Webhook>>, ApiError> {
    let page = query.request()?;
    // At most `Limits::WEBHOOKS`: read whole and cut.
    let all = webhooks::list(&platform, &auth.caller).await?;
    Ok(Json(Page::of_oldest_first(all, &page, |w| Cursor {
        created_at: w.created_at,
        id: w.id.to_string(),
    })))
}

/// Read a webhook.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "support", operation_id = "webhooks_get",
    params(("id" = String, Path, description = "Webhook id, `wh_…`")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The webhook", body = Webhook),
        (status = 404, description = "No such webhook in this organization"),
    ))]
pub(crate) async fn get(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<WebhookId>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(webhooks::get(&platform, &auth.caller, &id).await?))
}

/// Delete a webhook and its deliveries; pending ones are not sent.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "support", operation_id = "webhooks_delete",
    params(("id" = String, Path, description = "Webhook id, `wh_…`")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such webhook in this organization"),
    ))]
pub(crate) async fn delete(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<WebhookId>,
) -> Result<StatusCode, ApiError> {
    webhooks::delete(&platform, &auth.caller, &id).await?;
    tracing::info!(org = %auth.caller.org(), webhook = %id, by = %auth.caller.actor(), "webhook deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// A webhook's deliveries, newest first: attempts, the receiver's last status code or
/// error, and when the next attempt is due.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "support",
    operation_id = "webhook_deliveries_list",
    params(("id" = String, Path, description = "Webhook id, `wh_…`"), PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of deliveries", body = Page<WebhookDelivery>),
        (status = 404, description = "No such webhook in this organization"),
        (status = 422, description = "Invalid cursor or limit"),
    ))]
pub(crate) async fn deliveries(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<WebhookId>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<WebhookDelivery>>, ApiError> {
    let page = query.request()?;
    Ok(Json(
        webhooks::deliveries(&platform, &auth.caller, &id, &page).await?,
    ))
}

/// Queue a `ping` delivery to the webhook, sent and retried like any other: a way to try
/// a receiver. Read its outcome from the deliveries.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "support", operation_id = "webhooks_test",
    params(("id" = String, Path, description = "Webhook id, `wh_…`")), security(("bearer" = [])),
    responses(
        (status = 202, description = "The queued delivery", body = WebhookDelivery),
        (status = 404, description = "No such webhook in this organization"),
    ))]
pub(crate) async fn test(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<WebhookId>,
) -> Result<(StatusCode, Json<WebhookDelivery>), ApiError> {
    let queued = webhooks::ping(&platform, &auth.caller, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(queued)))
}
