//! `/api/v1/servers/{id}/tools`: a hosted server's tools, each switched on or off for that
//! server alone.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use guidepost_core::Platform;
use guidepost_core::hosting::servers::{self, ServerView};
use guidepost_core::hosting::tool_switches::{self, ToolSwitch};
use guidepost_domain::{Id, ServerId};

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{IdPath, Json};
use crate::upstreams::Items;

/// The server's tools that can be switched on or off: its built-in tools while their
/// family is on, then its attached upstreams' approved tools, each with whether it is on.
#[utoipa::path(get, path = "/api/v1/servers/{id}/tools", tag = "servers",
    operation_id = "server_tools_list",
    params(("id" = String, Path, description = "Server id, `ms_…`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Built-in tools first, then each attachment's", body = Items<ToolSwitch>),
        (status = 404, description = "No such server in this organization"),
    ))]
pub(crate) async fn list(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<ServerId>,
) -> Result<Json<Items<ToolSwitch>>, ApiError> {
    let (_, items) = tool_switches::switches(&platform, &auth.caller, &id).await?;
    Ok(Json(Items { items }))
}

/// Switch a tool off on this server: it is no longer listed in `tools/list` there, and a
/// call to it is answered with a tool error. Other servers are not affected.
#[utoipa::path(put, path = "/api/v1/servers/{id}/tools/{name}/disabled", tag = "servers",
    operation_id = "server_tools_disable",
    params(("id" = String, Path, description = "Server id, `ms_…`"),
        ("name" = String, Path, description = "The tool's name on this server")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The server, with the tool in `disabled_tools`", body = ServerView),
        (status = 403, description = "The API key lacks the write scope"),
        (status = 404, description = "No such server in this organization, or no such tool on it"),
        (status = 422, description = "The name is too long, or too many tools are off"),
    ))]
pub(crate) async fn disable(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<ServerView>, ApiError> {
    let id: ServerId = Id::parse(&id).ok_or(ApiError::NotFound)?;
    let server = tool_switches::set_enabled(&platform, &auth.caller, &id, &name, false).await?;
    Ok(Json(servers::view(&platform.config, server)))
}

/// Switch a tool back on on this server (nothing happens if it was on).
#[utoipa::path(delete, path = "/api/v1/servers/{id}/tools/{name}/disabled", tag = "servers",
    operation_id = "server_tools_enable",
    params(("id" = String, Path, description = "Server id, `ms_…`"),
        ("name" = String, Path, description = "The tool's name on this server")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The tool is on"),
        (status = 403, description = "The API key lacks the write scope"),
        (status = 404, description = "No such server in this organization"),
        (status = 422, description = "The name is too long"),
    ))]
pub(crate) async fn enable(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Path((id, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id: ServerId = Id::parse(&id).ok_or(ApiError::NotFound)?;
    tool_switches::set_enabled(&platform, &auth.caller, &id, &name, true).await?;
    Ok(StatusCode::NO_CONTENT)
}
