//! `/api/v1/servers/{id}/oidc`: the organization's own OpenID Connect provider of a server,
//! for `auth_mode` `custom_oauth`. The client secret goes in and never comes out.

use axum::extract::State;
use axum::http::StatusCode;
use guidepost_core::Platform;
use guidepost_core::accounts::oidc::{self, OidcInput, OidcView};
use guidepost_domain::ServerId;

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{IdPath, Json};

/// Set the server's identity provider (replacing any): its discovery document must be
/// usable now, and a client secret needs the platform's master key. The response never
/// contains the secret.
#[utoipa::path(
    put,
    path = "/api/v1/servers/{id}/oidc",
    tag = "servers",
    operation_id = "server_oidc_put",
    params(("id" = String, Path, description = "Server id, `ms_…`")),
    request_body = OidcInput,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The provider, and the redirect URIs to register with it", body = OidcView),
        (status = 404, description = "No such server in this organization"),
        (status = 422, description = "Invalid input, a provider that cannot be used, or a secret \
                                      without a master key to encrypt it"),
    )
)]
pub(crate) async fn put(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<ServerId>,
    Json(input): Json<OidcInput>,
) -> Result<Json<OidcView>, ApiError> {
    Ok(Json(oidc::put(&platform, &auth.caller, &id, input).await?))
}

/// Read the server's identity provider (without the secret).
#[utoipa::path(
    get,
    path = "/api/v1/servers/{id}/oidc",
    tag = "servers",
    operation_id = "server_oidc_get",
    params(("id" = String, Path, description = "Server id, `ms_…`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The provider", body = OidcView),
        (status = 404, description = "No such server, or it has no identity provider"),
    )
)]
pub(crate) async fn get(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<ServerId>,
) -> Result<Json<OidcView>, ApiError> {
    Ok(Json(oidc::get(&platform, &auth.caller, &id).await?))
}

/// Remove the server's identity provider; refused while the server uses it.
#[utoipa::path(
    delete,
    path = "/api/v1/servers/{id}/oidc",
    tag = "servers",
    operation_id = "server_oidc_delete",
    params(("id" = String, Path, description = "Server id, `ms_…`")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such server, or it has no identity provider"),
        (status = 409, description = "The server's auth_mode is custom_oauth"),
    )
)]
pub(crate) async fn delete(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<ServerId>,
) -> Result<StatusCode, ApiError> {
    oidc::delete(&platform, &auth.caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
