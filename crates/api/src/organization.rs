//! `/api/v1/organization`: the organization's own settings.

use axum::extract::State;
use guidepost_core::Platform;
use guidepost_core::accounts::organizations::{self, UpdateOrganization};
use guidepost_domain::Organization;

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::Json;

/// The organization the API key belongs to, with its settings.
#[utoipa::path(get, path = "/api/v1/organization", tag = "organization", operation_id = "organization_get",
    security(("bearer" = [])),
    responses((status = 200, description = "The organization", body = Organization)))]
pub(crate) async fn get(
    State(platform): State<Platform>,
    auth: OrgAuth,
) -> Result<Json<Organization>, ApiError> {
    Ok(Json(organizations::get(&platform, &auth.caller).await?))
}

/// Change the organization's settings: `tool_approval` is `manual` (new upstream tools
/// wait for an administrator) or `trust_on_first_use`; `raw_tool_results` lets upstream
/// tool results reach agents with their control, invisible and bidirectional characters
/// (stripped by default); `registry_listed` lists the organization's hosted servers in
/// the platform's registry API (`GET /v0.1/servers` on the platform host; off by default).
#[utoipa::path(patch, path = "/api/v1/organization", tag = "organization", operation_id = "organization_update",
    request_body = UpdateOrganization, security(("bearer" = [])),
    responses(
        (status = 200, description = "The organization", body = Organization),
        (status = 422, description = "Invalid input"),
    ))]
pub(crate) async fn update(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Json(input): Json<UpdateOrganization>,
) -> Result<Json<Organization>, ApiError> {
    Ok(Json(
        organizations::update(&platform, &auth.caller, input).await?,
    ))
}
