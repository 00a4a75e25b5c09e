//! `/api/v1/interceptors`: the organization's own HTTP services asked at call time,
//! before a tool runs and on its result. An interceptor's secret is shown once, when it
//! is registered.

use axum::extract::State;
use axum::http::StatusCode;
use guidepost_core::Platform;
use guidepost_core::guardrails::interceptors::{self, CreatedInterceptor, InterceptorInput};
use guidepost_domain::{Interceptor, InterceptorId};

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{IdPath, Json};
use crate::upstreams::Items;

/// Register an interceptor. On each tool call of the organization's servers, Guidepost
/// POSTs `{event: "tools/call", phase, mode, interceptor, payload, context}` (and
/// `request` in the result phase) signed with `Guidepost-Signature` under the secret
/// returned here, once; a 2xx answer `{"action": "allow"}`, `{"action": "deny",
/// "reason": …}` or `{"action": "modify", "payload": …}` decides. Interceptors are asked
/// in the order they were registered, before the call-time policies.
#[utoipa::path(post, path = "/api/v1/interceptors", tag = "policies",
    operation_id = "interceptors_create",
    request_body = InterceptorInput, security(("bearer" = [])),
    responses(
        (status = 201, description = "The interceptor, with its secret shown once", body = CreatedInterceptor),
        (status = 403, description = "The caller may not run the gateway"),
        (status = 409, description = "The name is taken, or the organization has as many interceptors as it may"),
        (status = 422, description = "Invalid name, URL, phases or timeout, or no master key to keep the secret"),
    ))]
pub(crate) async fn create(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Json(input): Json<InterceptorInput>,
) -> Result<(StatusCode, Json<CreatedInterceptor>), ApiError> {
    let created = interceptors::create(&platform, &auth.caller, input).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// List the organization's interceptors, in the order they are asked.
#[utoipa::path(get, path = "/api/v1/interceptors", tag = "policies",
    operation_id = "interceptors_list", security(("bearer" = [])),
    responses((status = 200, description = "The interceptors", body = Items<Interceptor>)))]
pub(crate) async fn list(
    State(platform): State<Platform>,
    auth: OrgAuth,
) -> Result<Json<Items<Interceptor>>, ApiError> {
    let items = interceptors::list(&platform, &auth.caller).await?;
    Ok(Json(Items { items }))
}

/// Remove an interceptor: no call asks it from the next one on, on every node.
#[utoipa::path(delete, path = "/api/v1/interceptors/{id}", tag = "policies",
    operation_id = "interceptors_delete",
    params(("id" = String, Path, description = "Interceptor id, `icp_…`")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "The caller may not run the gateway"),
        (status = 404, description = "No such interceptor in this organization"),
    ))]
pub(crate) async fn delete(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<InterceptorId>,
) -> Result<StatusCode, ApiError> {
    interceptors::delete(&platform, &auth.caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
