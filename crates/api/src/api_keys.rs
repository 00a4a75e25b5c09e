//! `/api/v1/api-keys`: the organization's API keys. A key's plaintext is shown once, when
//! it is created; only its hash is kept. A key may do what its scopes give, and only a key
//! with `admin` (or an owner) makes keys, never with a scope it lacks itself.

use axum::extract::State;
use axum::http::StatusCode;
use guidepost_core::{Platform, accounts::organizations};
use guidepost_domain::{ApiKey, ApiKeyId, ApiKeyScope, ApiKeyScopes, Page};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{IdPath, Json, Query};
use crate::pagination::PageQuery;

/// `POST /api/v1/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// What the key is for, e.g. `ci`.
    pub name: String,
    /// What it may do: `read` (every key reads), `write` (servers, walkthroughs, support
    /// requests, webhooks, identity providers), `gateway` (upstreams, their tools and
    /// private catalog entries), `admin` (API keys and the organization's settings).
    /// Only scopes the creating key holds. Left out: `["read", "write"]`.
    #[serde(default)]
    pub scopes: Option<Vec<ApiKeyScope>>,
}

/// A new key, with its plaintext.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The key itself (`gp_…`). It is shown only this once.
    pub key: String,
}

/// List the organization's API keys, revoked ones included, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/api-keys",
    tag = "api-keys",
    operation_id = "api_keys_list",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of the organization's keys, oldest first, revoked ones too", body = Page<ApiKey>),
        (status = 403, description = "The API key lacks the admin scope"),
        (status = 422, description = "Invalid cursor or limit"),
    )
)]
pub(crate) async fn list(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<ApiKey>>, ApiError> {
    let page = query.request()?;
    Ok(Json(
        organizations::page_api_keys(&platform, &auth.caller, &page).await?,
    ))
}

/// Create an API key.
#[utoipa::path(
    post,
    path = "/api/v1/api-keys",
    tag = "api-keys",
    operation_id = "api_keys_create",
    request_body = CreateApiKey,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The key, with its plaintext shown once", body = CreatedApiKey),
        (status = 403, description = "The key lacks the admin scope, or a scope it would grant"),
        (status = 409, description = "The organization has as many keys in use as it may, or the key or member asking was revoked meanwhile"),
        (status = 422, description = "Invalid name or scope"),
    )
)]
pub(crate) async fn create(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Json(input): Json<CreateApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let scopes = input
        .scopes
        .map(|chosen| ApiKeyScopes::from_chosen(&chosen));
    let created =
        organizations::create_api_key(&platform, &auth.caller, &input.name, scopes).await?;
    tracing::info!(org = %auth.caller.org(), key = %created.key.id, scopes = %created.key.scopes.to_list(), by = %auth.caller.actor(), "API key created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            api_key: created.key,
            key: created.plaintext,
        }),
    ))
}

/// Revoke an API key. A key may revoke itself; revoking a revoked key changes nothing.
#[utoipa::path(
    delete,
    path = "/api/v1/api-keys/{id}",
    tag = "api-keys",
    operation_id = "api_keys_revoke",
    params(("id" = String, Path, description = "API key id, `key_…`")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such key in this organization"),
    )
)]
pub(crate) async fn revoke(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<ApiKeyId>,
) -> Result<StatusCode, ApiError> {
    organizations::revoke_api_key(&platform, &auth.caller, &id).await?;
    tracing::info!(org = %auth.caller.org(), key = %id, by = %auth.caller.actor(), "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}
