//! Connections of remote upstreams that sign in: the link an editor opens to
//! connect the organization's account, the connections an upstream has, and
//! disconnecting one (its tokens revoked at the upstream); and one person's connections
//! across upstreams.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use guidepost_core::Platform;
use guidepost_core::upstreams::connections::{self, ConnectLink};
use guidepost_domain::{ConnectionOwner, ConnectionView, EndUserId, UpstreamId};

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{IdPath, Json};
use crate::upstreams::Items;

/// A connect link: opened in a browser, it sends the editor to the upstream's
/// authorization server and back, and the organization's account is connected. Good
/// once, for 15 minutes.
#[utoipa::path(post, path = "/api/v1/upstreams/{id}/connect", tag = "gateway", operation_id = "upstream_connect_links_create",
    params(("id" = String, Path, description = "Upstream id, `up_…`")), security(("bearer" = [])),
    responses(
        (status = 201, description = "Open `url` in a browser", body = ConnectLink),
        (status = 403, description = "The API key lacks the gateway scope"),
        (status = 404, description = "No such upstream in this organization"),
        (status = 409, description = "The upstream takes no sign-in, or the platform has no master key"),
    ))]
pub(crate) async fn connect(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<UpstreamId>,
) -> Result<(StatusCode, Json<ConnectLink>), ApiError> {
    let link = connections::connect_link(&platform, &auth.caller, &id).await?;
    Ok((StatusCode::CREATED, Json(link)))
}

/// The upstream's connections (never their tokens).
#[utoipa::path(get, path = "/api/v1/upstreams/{id}/connections", tag = "gateway", operation_id = "upstream_connections_list",
    params(("id" = String, Path, description = "Upstream id, `up_…`")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Oldest first", body = Items<ConnectionView>),
        (status = 404, description = "No such upstream in this organization"),
    ))]
pub(crate) async fn list(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<UpstreamId>,
) -> Result<Json<Items<ConnectionView>>, ApiError> {
    let items = connections::list(&platform, &auth.caller, &id).await?;
    Ok(Json(Items { items }))
}

/// Disconnects: the connection is removed and its tokens revoked at the upstream; the
/// next call asks to connect again.
#[utoipa::path(delete, path = "/api/v1/upstreams/{id}/connections/{owner}", tag = "gateway", operation_id = "upstream_connection_delete",
    params(
        ("id" = String, Path, description = "Upstream id, `up_…`"),
        ("owner" = String, Path, description = "`organization`, or an end user's id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Disconnected"),
        (status = 403, description = "The API key lacks the gateway scope"),
        (status = 404, description = "No such upstream or connection in this organization"),
    ))]
pub(crate) async fn disconnect(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Path((id, owner)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id: UpstreamId = guidepost_domain::Id::parse(&id).ok_or(ApiError::NotFound)?;
    let owner = ConnectionOwner::from_key(&owner).ok_or(ApiError::NotFound)?;
    connections::disconnect(&platform, &auth.caller, &id, &owner).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One person's connections, across the organization's upstreams (never their tokens).
#[utoipa::path(get, path = "/api/v1/end-users/{id}/connections", tag = "end-users", operation_id = "end_user_connections_list",
    params(("id" = String, Path, description = "End user id, `eu_…`")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Oldest first", body = Items<ConnectionView>),
        (status = 404, description = "No such end user in this organization"),
    ))]
pub(crate) async fn of_person(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<EndUserId>,
) -> Result<Json<Items<ConnectionView>>, ApiError> {
    let items = connections::of_person(&platform, &auth.caller, &id).await?;
    Ok(Json(Items { items }))
}
