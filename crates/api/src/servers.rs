//! `/api/v1/servers`: hosted MCP servers and their install snippets.

use axum::extract::State;
use axum::http::{StatusCode, header};
use guidepost_core::Platform;
use guidepost_core::hosting::servers::{
    self, CreateServer, InstallSnippets, ServerView, UpdateServer,
};
use guidepost_domain::{Page, ServerId, TrackingId, ValidationError};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{IdPath, Json, Query};
use crate::pagination::PageQuery;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct InstallQuery {
    /// Written into the URLs so that the end user is recognized across sessions:
    /// 1 to 128 letters, digits, `.`, `_` and `-`.
    tracking_id: Option<String>,
    /// `true`: a fresh tracking id (40 random letters and digits, over 128 bits) is minted
    /// and written into the URLs, a personal link for one person that nobody can guess.
    /// Not together with `tracking_id`.
    mint_tracking_id: Option<bool>,
}

impl InstallQuery {
    /// The tracking id to write into the URLs: the one given, a minted one, or none.
    fn tracking_id(&self) -> Result<Option<TrackingId>, ValidationError> {
        match (self.tracking_id.as_deref(), self.mint_tracking_id) {
            (Some(_), Some(true)) => Err(ValidationError::new(
                "mint_tracking_id",
                "give a tracking_id or ask for a minted one, not both",
            )),
            (Some(given), _) => TrackingId::parse(given).map(Some),
            (None, Some(true)) => Ok(Some(TrackingId::generate("pl-"))),
            (None, _) => Ok(None),
        }
    }
}

/// Create a server.
#[utoipa::path(
    post,
    path = "/api/v1/servers",
    tag = "servers",
    operation_id = "servers_create",
    request_body = CreateServer,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The server, with its MCP URLs", body = ServerView),
        (status = 403, description = "A conformance fixture was asked for, and fixtures are disabled"),
        (status = 409, description = "The slug or custom domain is taken, or the organization has as many servers as it may"),
        (status = 422, description = "Invalid input"),
    )
)]
pub(crate) async fn create(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Json(input): Json<CreateServer>,
) -> Result<
    (
        StatusCode,
        [(header::HeaderName, String); 1],
        Json<ServerView>,
    ),
    ApiError,
> {
    let server = servers::create(&platform, &auth.caller, input).await?;
    let location = format!("/api/v1/servers/{}", server.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(servers::view(&platform.config, server)),
    ))
}

/// List the organization's servers, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/servers",
    tag = "servers",
    operation_id = "servers_list",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of servers", body = Page<ServerView>),
        (status = 422, description = "Invalid cursor or limit"),
    )
)]
pub(crate) async fn list(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<ServerView>>, ApiError> {
    let page = query.request()?;
    let found = servers::list(&platform, &auth.caller, &page).await?;
    let items = found
        .items
        .into_iter()
        .map(|s| servers::view(&platform.config, s))
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: found.next_cursor,
    }))
}

/// Read a server.
#[utoipa::path(
    get,
    path = "/api/v1/servers/{id}",
    tag = "servers",
    operation_id = "servers_get",
    params(("id" = String, Path, description = "Server id, `ms_…`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The server", body = ServerView),
        (status = 404, description = "No such server in this organization"),
    )
)]
pub(crate) async fn get(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<ServerId>,
) -> Result<Json<ServerView>, ApiError> {
    let server = servers::get(&platform, &auth.caller, &id).await?;
    Ok(Json(servers::view(&platform.config, server)))
}

/// Update a server: absent fields stay as they are, `null` clears a nullable field.
#[utoipa::path(
    patch,
    path = "/api/v1/servers/{id}",
    tag = "servers",
    operation_id = "servers_update",
    params(("id" = String, Path, description = "Server id, `ms_…`")),
    request_body = UpdateServer,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated server", body = ServerView),
        (status = 404, description = "No such server in this organization"),
        (status = 409, description = "The slug or custom domain is taken"),
        (status = 422, description = "Invalid input"),
    )
)]
pub(crate) async fn update(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<ServerId>,
    Json(input): Json<UpdateServer>,
) -> Result<Json<ServerView>, ApiError> {
    let server = servers::update(&platform, &auth.caller, &id, input).await?;
    Ok(Json(servers::view(&platform.config, server)))
}

/// Delete a server and its sessions and support requests; its recorded tool calls stay in
/// the analytics.
#[utoipa::path(
    delete,
    path = "/api/v1/servers/{id}",
    tag = "servers",
    operation_id = "servers_delete",
    params(("id" = String, Path, description = "Server id, `ms_…`")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such server in this organization"),
    )
)]
pub(crate) async fn delete(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<ServerId>,
) -> Result<StatusCode, ApiError> {
    servers::delete(&platform, &auth.caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Verify the server's pending custom domain: the DNS TXT record named in
/// `custom_domain_pending` must carry its value. Once verified, the server is served at
/// the domain.
#[utoipa::path(
    post,
    path = "/api/v1/servers/{id}/custom-domain/verify",
    tag = "servers",
    operation_id = "server_domains_verify",
    params(("id" = String, Path, description = "Server id, `ms_…`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Verified: the server answers at its custom domain", body = ServerView),
        (status = 404, description = "No such server in this organization"),
        (status = 409, description = "No domain awaits verification, or another server has it"),
        (status = 422, description = "The TXT record is not published (the detail says what to publish)"),
    )
)]
pub(crate) async fn verify_custom_domain(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<ServerId>,
) -> Result<Json<ServerView>, ApiError> {
    let server = guidepost_core::hosting::domains::verify(&platform, &auth.caller, &id).await?;
    Ok(Json(servers::view(&platform.config, server)))
}

/// Install snippets for Cursor, VS Code, Claude Code and a generic JSON config.
#[utoipa::path(
    get,
    path = "/api/v1/servers/{id}/install",
    tag = "servers",
    operation_id = "server_install_snippets_get",
    params(("id" = String, Path, description = "Server id, `ms_…`"), InstallQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Ready-to-paste configuration", body = InstallSnippets),
        (status = 404, description = "No such server in this organization"),
        (status = 422, description = "Invalid tracking id, or one given and one asked to be minted"),
    )
)]
pub(crate) async fn install(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<ServerId>,
    Query(query): Query<InstallQuery>,
) -> Result<Json<InstallSnippets>, ApiError> {
    let tracking_id = query.tracking_id()?;
    let server = servers::get(&platform, &auth.caller, &id).await?;
    Ok(Json(servers::install_snippets(
        &platform.config,
        &server,
        tracking_id.as_ref(),
    )))
}
