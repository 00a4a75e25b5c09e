//! The gateway's API: the catalog, installed upstreams, their tools and logs,
//! and attaching them to hosted servers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use guidepost_core::Platform;
use guidepost_core::upstreams::catalog_search::{CatalogQuery, ListedEntry};
use guidepost_core::upstreams::{
    self, AttachUpstream, InstallUpstream, UpdateUpstream, catalog::CatalogEntry,
};
use guidepost_domain::{
    Attachment, Cursor, DefinitionKind, Page, RegistrySync, ServerId, ToolState, Upstream,
    UpstreamId, UpstreamTool,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{IdPath, Json, Query};
use crate::pagination::{PageQuery, page_request};

/// A list without pages (bounded by the platform's limits).
#[derive(Debug, Serialize, ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// Recent stderr lines of an upstream on the node that answered, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpstreamLogs {
    pub lines: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListCatalog {
    /// Words that must each appear in an entry's name, id, description or tool names.
    q: Option<String>,
    /// Only entries of this runtime: `npm`, `pypi`, `container`, `http` or `command`.
    runtime: Option<String>,
    /// Only entries of this source: `platform`, `organization` or `registry`.
    source: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50); larger values are lowered to 200.
    #[param(minimum = 1)]
    limit: Option<u32>,
}

/// A page of the catalog, and how its registries' syncs went.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogList {
    pub items: Vec<ListedEntry>,
    pub next_cursor: Option<String>,
    /// The registries the platform syncs (`--registry-url`), with their last sync.
    pub sources: Vec<RegistrySync>,
}

/// The catalog of installable MCP servers: the platform's entries, the organization's
/// own, then the registries' (`source: "registry"`, with their registry, status and
/// version), searched with `q` and filtered by runtime and source.
#[utoipa::path(get, path = "/api/v1/catalog", tag = "gateway", operation_id = "catalog_list",
    params(ListCatalog), security(("bearer" = [])),
    responses(
        (status = 200, description = "The platform's entries, the organization's, then the registries'", body = CatalogList),
        (status = 422, description = "Invalid input, such as an unknown runtime or source"),
    ))]
pub(crate) async fn catalog(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Query(query): Query<ListCatalog>,
) -> Result<Json<CatalogList>, ApiError> {
    let offset = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => 0,
        Some(text) => text
            .parse::<u32>()
            .map_err(|_| ApiError::invalid("cursor", "is not a cursor returned by this API"))?,
    };
    let page = page_request(None, query.limit)?;
    let search = CatalogQuery {
        q: query.q.unwrap_or_default(),
        runtime: query.runtime.filter(|r| !r.is_empty()),
        source: query.source.filter(|s| !s.is_empty()),
        offset,
        limit: page.limit,
    };
    let found = upstreams::catalog_search::search(&platform, &auth.caller, &search).await?;
    Ok(Json(CatalogList {
        items: found.items,
        next_cursor: found.next_offset.map(|o| o.to_string()),
        sources: upstreams::registry::sources(&platform).await?,
    }))
}

/// Add a private catalog entry: a container image the operator allows
/// (`--container-images`), a remote server over https, or, where the operator allows
/// packages, an npm or PyPI package pinned to an exact version; seen and installable by
/// this organization only.
#[utoipa::path(post, path = "/api/v1/catalog", tag = "gateway", operation_id = "catalog_add",
    request_body = CatalogEntry, security(("bearer" = [])),
    responses(
        (status = 201, description = "Added", body = CatalogEntry),
        (status = 409, description = "The id is taken, or the organization has as many entries as it may"),
        (status = 422, description = "Invalid input, such as a command entry, a version range, a package name starting with '-' or an image the operator does not allow"),
    ))]
pub(crate) async fn add_entry(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Json(entry): Json<CatalogEntry>,
) -> Result<(StatusCode, Json<CatalogEntry>), ApiError> {
    let added = upstreams::private::add(&platform, &auth.caller, entry).await?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// Install an upstream MCP server from the catalog (`catalog_entry_id`), or described in
/// the request itself: `{name, description?, secrets?, start?, runtime, …}`, the rest of
/// the object the launch spec of that runtime as a private catalog entry's `spec` takes
/// it (`npm` and `pypi` where the operator allows organizations' packages, `container`
/// of an image on the operator's list, `http`). Returns at once with status
/// `installing`; the package is fetched and started in the background.
#[utoipa::path(post, path = "/api/v1/upstreams", tag = "gateway", operation_id = "upstreams_install",
    request_body = InstallUpstream, security(("bearer" = [])),
    responses(
        (status = 201, description = "Installing", body = Upstream),
        (status = 409, description = "The organization has as many upstreams as it may"),
        (status = 422, description = "Invalid input, such as an unknown catalog entry"),
    ))]
pub(crate) async fn install(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Json(body): Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<(StatusCode, Json<Upstream>), ApiError> {
    let caller = &auth.caller;
    let upstream = if body.contains_key("catalog_entry_id") || !body.contains_key("runtime") {
        let input: InstallUpstream = serde_json::from_value(body.into())
            .map_err(|error| ApiError::invalid("body", error.to_string()))?;
        upstreams::install(&platform, caller, input).await?
    } else {
        let direct = upstreams::DirectUpstream::from_body(body)?;
        upstreams::install_direct(&platform, caller, direct).await?
    };
    Ok((StatusCode::CREATED, Json(upstream)))
}

/// The organization's upstreams, oldest first.
#[utoipa::path(get, path = "/api/v1/upstreams", tag = "gateway", operation_id = "upstreams_list",
    params(PageQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of upstreams", body = Page<Upstream>),
        (status = 422, description = "Invalid cursor or limit"),
    ))]
pub(crate) async fn list(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<Upstream>>, ApiError> {
    let page = query.request()?;
    // At most `Limits::UPSTREAMS`, each read with its latest registry version: read
    // whole and cut.
    let all = upstreams::list(&platform, &auth.caller).await?;
    Ok(Json(Page::of_oldest_first(all, &page, |u| Cursor {
        created_at: u.created_at,
        id: u.id.to_string(),
    })))
}

/// An upstream: status, last error, restarts.
#[utoipa::path(get, path = "/api/v1/upstreams/{id}", tag = "gateway", operation_id = "upstreams_get",
    params(("id" = String, Path, description = "Upstream id, `up_…`")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The upstream", body = Upstream),
        (status = 404, description = "No such upstream in this organization"),
    ))]
pub(crate) async fn get(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<UpstreamId>,
) -> Result<Json<Upstream>, ApiError> {
    Ok(Json(upstreams::get(&platform, &auth.caller, &id).await?))
}

/// Rename it, change when nodes start it (`eager` or `on_demand`), its sign-in or its
/// `replicas` (processes per node: more than 1 only for a stateless catalog entry, at
/// most the platform's maximum; every node's pool follows at its next call), or
/// upgrade it: another package `version`, `config` settings or `secrets` (set, never shown
/// back). An upgrade returns at once: the new launch is fetched and started beside the
/// running one, which answers until it is up; its changed or new tools wait for review
/// with their diff, unchanged ones stay approved, and `POST …/rollback` restores the
/// replaced version with its approvals.
#[utoipa::path(patch, path = "/api/v1/upstreams/{id}", tag = "gateway", operation_id = "upstreams_update",
    params(("id" = String, Path, description = "Upstream id, `up_…`")),
    request_body = UpdateUpstream, security(("bearer" = [])),
    responses(
        (status = 200, description = "The upstream", body = Upstream),
        (status = 404, description = "No such upstream in this organization"),
        (status = 409, description = "The node cannot run the new launch (its confinement or caps refuse it), or the upstream kept changing under the update (retry)"),
        (status = 422, description = "Invalid input, such as an inexact version, an unknown setting or secret, or a version for an upstream without a package"),
    ))]
pub(crate) async fn update(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<UpstreamId>,
    Json(input): Json<UpdateUpstream>,
) -> Result<Json<Upstream>, ApiError> {
    Ok(Json(
        upstreams::update(&platform, &auth.caller, &id, input).await?,
    ))
}

/// Uninstall: stops it and detaches it from every server.
#[utoipa::path(delete, path = "/api/v1/upstreams/{id}", tag = "gateway", operation_id = "upstreams_uninstall",
    params(("id" = String, Path, description = "Upstream id, `up_…`")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Uninstalled"),
        (status = 404, description = "No such upstream in this organization"),
    ))]
pub(crate) async fn uninstall(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<UpstreamId>,
) -> Result<StatusCode, ApiError> {
    upstreams::uninstall(&platform, &auth.caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restart: stops it on the node that answers and starts it again with its restart count
/// reset (the way out of `failed`). Returns at once; the status shows the progress.
#[utoipa::path(post, path = "/api/v1/upstreams/{id}/restart", tag = "gateway", operation_id = "upstreams_restart",
    params(("id" = String, Path, description = "Upstream id, `up_…`")), security(("bearer" = [])),
    responses(
        (status = 202, description = "Restarting", body = Upstream),
        (status = 404, description = "No such upstream in this organization"),
    ))]
pub(crate) async fn restart(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<UpstreamId>,
) -> Result<(StatusCode, Json<Upstream>), ApiError> {
    let upstream = upstreams::restart(&platform, &auth.caller, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(upstream)))
}

/// Roll back: restores the version, settings and secrets its last upgrade replaced,
/// with the definitions and approvals it had then, and switches to it as an upgrade
/// does (no call fails). The version it leaves is kept: rolling back again goes forward.
#[utoipa::path(post, path = "/api/v1/upstreams/{id}/rollback", tag = "gateway", operation_id = "upstreams_rollback",
    params(("id" = String, Path, description = "Upstream id, `up_…`")), security(("bearer" = [])),
    responses(
        (status = 202, description = "Switching back", body = Upstream),
        (status = 404, description = "No such upstream in this organization"),
        (status = 409, description = "It was never upgraded or reconfigured, so there is nothing to restore"),
    ))]
pub(crate) async fn rollback(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<UpstreamId>,
) -> Result<(StatusCode, Json<Upstream>), ApiError> {
    let upstream = upstreams::upgrade::rollback(&platform, &auth.caller, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(upstream)))
}

/// The tools, prompts, resources and resource templates the upstream listed when it
/// last started (each with its `kind`; tools first).
#[utoipa::path(get, path = "/api/v1/upstreams/{id}/tools", tag = "gateway", operation_id = "upstream_tools_list",
    params(("id" = String, Path, description = "Upstream id, `up_…`")), security(("bearer" = [])),
    responses(
        (status = 200, description = "In the upstream's order, each with its diff from the definition last approved", body = Items<upstreams::ReviewedTool>),
        (status = 404, description = "No such upstream in this organization"),
    ))]
pub(crate) async fn tools(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<UpstreamId>,
) -> Result<Json<Items<upstreams::ReviewedTool>>, ApiError> {
    let items = upstreams::tools(&platform, &auth.caller, &id).await?;
    Ok(Json(Items { items }))
}

/// What a bulk approval approved.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovedClean {
    /// The names approved, in the upstream's order; empty when none was clean.
    pub approved: Vec<String>,
}

/// Approve every clean definition of the upstream at once: new (pending) with no finding.
/// Quarantined ones, and those left out of a server for want of room, still wait for a
/// decision each. Each approval is audited.
#[utoipa::path(post, path = "/api/v1/upstreams/{id}/tools/approve-clean", tag = "gateway",
    operation_id = "upstream_tools_clean_approve",
    params(("id" = String, Path, description = "Upstream id, `up_…`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The names approved", body = ApprovedClean),
        (status = 403, description = "The key lacks the `gateway` scope"),
        (status = 404, description = "No such upstream in this organization"),
    ))]
pub(crate) async fn approve_clean(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<UpstreamId>,
) -> Result<Json<ApprovedClean>, ApiError> {
    let approved = upstreams::approve_clean(&platform, &auth.caller, &id).await?;
    Ok(Json(ApprovedClean { approved }))
}

/// Approve a tool's current definition: it is offered again (and its definition is not
/// flagged when it comes back).
#[utoipa::path(post, path = "/api/v1/upstreams/{id}/tools/{name}/approve", tag = "gateway",
    operation_id = "upstream_tools_approve",
    params(("id" = String, Path, description = "Upstream id, `up_…`"), ("name" = String, Path, description = "The upstream's name for the tool")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tool, approved", body = UpstreamTool),
        (status = 404, description = "No such upstream or tool in this organization"),
        (status = 409, description = "The tool was left out of a hosted server for want of room or for its name, and still does not fit there"),
    ))]
pub(crate) async fn approve(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<UpstreamTool>, ApiError> {
    decide(
        &platform,
        &auth,
        &id,
        DefinitionKind::Tool,
        &name,
        ToolState::Approved,
    )
    .await
}

/// Reject a tool: it is not offered, and calls to it are refused.
#[utoipa::path(post, path = "/api/v1/upstreams/{id}/tools/{name}/reject", tag = "gateway",
    operation_id = "upstream_tools_reject",
    params(("id" = String, Path, description = "Upstream id, `up_…`"), ("name" = String, Path, description = "The upstream's name for the tool")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tool, rejected", body = UpstreamTool),
        (status = 404, description = "No such upstream or tool in this organization"),
    ))]
pub(crate) async fn reject(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<UpstreamTool>, ApiError> {
    decide(
        &platform,
        &auth,
        &id,
        DefinitionKind::Tool,
        &name,
        ToolState::Rejected,
    )
    .await
}

/// Approve a prompt's, resource's or resource template's current definition (or a
/// tool's): it is offered again. `name` is the upstream's own name, or the resource's
/// URI (template) percent-encoded.
#[utoipa::path(post, path = "/api/v1/upstreams/{id}/definitions/{kind}/{name}/approve", tag = "gateway",
    operation_id = "upstream_definitions_approve",
    params(("id" = String, Path, description = "Upstream id, `up_…`"),
        ("kind" = String, Path, description = "`tool`, `prompt`, `resource` or `resource_template`"),
        ("name" = String, Path, description = "The upstream's name for it, or its URI (template)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The definition, approved", body = UpstreamTool),
        (status = 404, description = "No such upstream, kind or definition in this organization"),
        (status = 409, description = "A tool left out of a hosted server that still does not fit there"),
    ))]
pub(crate) async fn approve_definition(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Path((id, kind, name)): Path<(String, String, String)>,
) -> Result<Json<UpstreamTool>, ApiError> {
    let kind = DefinitionKind::parse(&kind).ok_or(ApiError::NotFound)?;
    decide(&platform, &auth, &id, kind, &name, ToolState::Approved).await
}

/// Reject a prompt, resource or resource template (or a tool): it is not offered.
#[utoipa::path(post, path = "/api/v1/upstreams/{id}/definitions/{kind}/{name}/reject", tag = "gateway",
    operation_id = "upstream_definitions_reject",
    params(("id" = String, Path, description = "Upstream id, `up_…`"),
        ("kind" = String, Path, description = "`tool`, `prompt`, `resource` or `resource_template`"),
        ("name" = String, Path, description = "The upstream's name for it, or its URI (template)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The definition, rejected", body = UpstreamTool),
        (status = 404, description = "No such upstream, kind or definition in this organization"),
    ))]
pub(crate) async fn reject_definition(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Path((id, kind, name)): Path<(String, String, String)>,
) -> Result<Json<UpstreamTool>, ApiError> {
    let kind = DefinitionKind::parse(&kind).ok_or(ApiError::NotFound)?;
    decide(&platform, &auth, &id, kind, &name, ToolState::Rejected).await
}

async fn decide(
    platform: &Platform,
    auth: &OrgAuth,
    id: &str,
    kind: DefinitionKind,
    name: &str,
    state: ToolState,
) -> Result<Json<UpstreamTool>, ApiError> {
    let id: UpstreamId = guidepost_domain::Id::parse(id).ok_or(ApiError::NotFound)?;
    let tool = upstreams::decide(platform, &auth.caller, &id, kind, name, state).await?;
    Ok(Json(tool))
}

/// Recent stderr lines of the upstream on the node that answers.
#[utoipa::path(get, path = "/api/v1/upstreams/{id}/logs", tag = "gateway", operation_id = "upstream_logs_get",
    params(("id" = String, Path, description = "Upstream id, `up_…`")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Oldest first, at most 1 MiB", body = UpstreamLogs),
        (status = 403, description = "The API key lacks the gateway scope"),
        (status = 404, description = "No such upstream in this organization"),
    ))]
pub(crate) async fn logs(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<UpstreamId>,
) -> Result<Json<UpstreamLogs>, ApiError> {
    let lines = upstreams::logs(&platform, &auth.caller, &id).await?;
    Ok(Json(UpstreamLogs { lines }))
}

/// Attach an upstream to a server (or change the attachment): its tools appear as
/// `{prefix}__{tool}` on the server.
#[utoipa::path(put, path = "/api/v1/servers/{id}/upstreams/{upstream_id}", tag = "gateway",
    operation_id = "server_upstreams_attach",
    params(
        ("id" = String, Path, description = "Server id, `ms_…`"),
        ("upstream_id" = String, Path, description = "Upstream id, `up_…`"),
    ),
    request_body = AttachUpstream, security(("bearer" = [])),
    responses(
        (status = 200, description = "The attachment", body = Attachment),
        (status = 404, description = "No such server or upstream in this organization"),
        (status = 409, description = "Another attachment of the server has this prefix"),
        (status = 422, description = "Invalid input"),
    ))]
pub(crate) async fn attach(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath((server, upstream)): IdPath<(ServerId, UpstreamId)>,
    Json(input): Json<AttachUpstream>,
) -> Result<Json<Attachment>, ApiError> {
    let attached = upstreams::attach(&platform, &auth.caller, &server, &upstream, input).await?;
    Ok(Json(attached))
}

/// Detach an upstream from a server.
#[utoipa::path(delete, path = "/api/v1/servers/{id}/upstreams/{upstream_id}", tag = "gateway",
    operation_id = "server_upstreams_detach",
    params(
        ("id" = String, Path, description = "Server id, `ms_…`"),
        ("upstream_id" = String, Path, description = "Upstream id, `up_…`"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Detached"),
        (status = 404, description = "Not attached, or no such server or upstream"),
    ))]
pub(crate) async fn detach(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath((server, upstream)): IdPath<(ServerId, UpstreamId)>,
) -> Result<StatusCode, ApiError> {
    upstreams::detach(&platform, &auth.caller, &server, &upstream).await?;
    Ok(StatusCode::NO_CONTENT)
}
