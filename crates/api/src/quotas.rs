//! `/api/v1/quotas`: the organization's call quotas, per caller, counted across nodes.

use axum::extract::State;
use guidepost_core::Platform;
use guidepost_core::guardrails::quotas;
use guidepost_domain::CallQuotas;

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::Json;

/// Read the call quotas.
#[utoipa::path(get, path = "/api/v1/quotas", tag = "policies",
    operation_id = "quotas_get",
    security(("bearer" = [])),
    responses((status = 200, description = "The rules (none if never set)", body = CallQuotas)))]
pub(crate) async fn get(
    State(platform): State<Platform>,
    auth: OrgAuth,
) -> Result<Json<CallQuotas>, ApiError> {
    Ok(Json(quotas::current(&platform, &auth.caller).await?))
}

/// Replace the call quotas: at most `limit` calls of each rule's target per caller per
/// window (minute, hour or day, from its start in UTC). A call over a quota is answered
/// with a tool error that says the limit and when it resets. Audited; in force on every
/// node once the change is announced.
#[utoipa::path(put, path = "/api/v1/quotas", tag = "policies",
    operation_id = "quotas_put",
    request_body = CallQuotas,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The rules now in force", body = CallQuotas),
        (status = 403, description = "The caller may not run the gateway"),
        (status = 422, description = "Too many rules, a limit out of range, or two alike"),
    ))]
pub(crate) async fn put(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Json(body): Json<CallQuotas>,
) -> Result<Json<CallQuotas>, ApiError> {
    Ok(Json(quotas::set(&platform, &auth.caller, body).await?))
}
