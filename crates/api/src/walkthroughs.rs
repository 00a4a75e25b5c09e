//! `/api/v1/walkthroughs`: interactive walkthroughs — the walkthroughs, their
//! ordered draft steps, publishing, assignment to servers
//! (`/api/v1/servers/{id}/walkthroughs/…`) and the funnel report.

use axum::extract::State;
use axum::http::{StatusCode, header};
use guidepost_core::Platform;
use guidepost_core::walkthroughs::authoring::{
    self, AssignWalkthrough, CreateStep, CreateWalkthrough, UpdateStep, UpdateWalkthrough,
};
use guidepost_core::walkthroughs::funnel::{self, Funnel};
use guidepost_core::walkthroughs::stuck::{self, StuckAtStep};
use guidepost_core::walkthroughs::versions;
use guidepost_domain::{
    Assignment, Page, ServerId, Step, StepId, Timestamp, Walkthrough, WalkthroughId,
    WalkthroughStatus, WalkthroughVersion,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{IdPath, Json, Query, query_id};
use crate::pagination::page_request;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListWalkthroughs {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50); larger values are lowered to 200.
    #[param(minimum = 1)]
    limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct FunnelQuery {
    /// Only progress on this server (`ms_…`).
    server_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StuckQuery {
    /// The step (`ws_…`) of the newest published version.
    step_id: String,
    /// Only people with no activity for at least this many days (default 7; 0: any;
    /// at most 3650).
    inactive_days: Option<u32>,
    /// Only progress on this server (`ms_…`).
    server_id: Option<String>,
}

/// A walkthrough.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalkthroughView {
    pub id: WalkthroughId,
    pub org_id: guidepost_domain::OrgId,
    pub title: String,
    pub description: Option<String>,
    /// Only `published` walkthroughs are offered to end users.
    pub status: WalkthroughStatus,
    pub estimated_duration_minutes: Option<i64>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// The first draft step; `null` when there are none.
    pub first_step_id: Option<StepId>,
    /// The newest published version; `null` until the first publish.
    pub published_version: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<Walkthrough> for WalkthroughView {
    fn from(w: Walkthrough) -> Self {
        Self {
            id: w.id,
            org_id: w.org_id,
            title: w.title,
            description: w.description,
            status: w.status,
            estimated_duration_minutes: w.estimated_duration_minutes,
            tags: w.tags,
            metadata: w.metadata,
            first_step_id: w.first_step_id,
            published_version: w.published_version,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// A draft step.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepView {
    pub id: StepId,
    pub walkthrough_id: WalkthroughId,
    pub title: String,
    pub section_title: Option<String>,
    /// Markdown.
    pub content: String,
    /// The step after this one in the draft; `null` for the last.
    pub next_step_id: Option<StepId>,
}

impl From<Step> for StepView {
    fn from(s: Step) -> Self {
        Self {
            id: s.id,
            walkthrough_id: s.walkthrough_id,
            title: s.title,
            section_title: s.section_title,
            content: s.content,
            next_step_id: s.next_step_id,
        }
    }
}

/// A walkthrough with its draft steps.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalkthroughDetail {
    #[serde(flatten)]
    pub walkthrough: WalkthroughView,
    /// The draft steps in order, from `first_step_id` along `next_step_id`.
    pub steps: Vec<StepView>,
}

/// A newly published version.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishedVersion {
    pub walkthrough_id: WalkthroughId,
    /// 1 for the first publish, then one more each time.
    pub version: i64,
    /// The steps frozen in this version.
    pub step_count: usize,
    pub published_at: Timestamp,
}

impl From<WalkthroughVersion> for PublishedVersion {
    fn from(v: WalkthroughVersion) -> Self {
        Self {
            walkthrough_id: v.walkthrough_id,
            version: v.version,
            step_count: v.steps.len(),
            published_at: v.published_at,
        }
    }
}

/// A walkthrough assigned to a server.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentView {
    pub server_id: ServerId,
    pub walkthrough_id: WalkthroughId,
    /// Walkthroughs are offered by `display_order`, then title.
    pub display_order: i64,
    /// A disabled assignment is kept but not offered.
    pub is_enabled: bool,
    pub assigned_at: Timestamp,
}

impl From<Assignment> for AssignmentView {
    fn from(a: Assignment) -> Self {
        Self {
            server_id: a.server_id,
            walkthrough_id: a.walkthrough_id,
            display_order: a.display_order,
            is_enabled: a.is_enabled,
            assigned_at: a.assigned_at,
        }
    }
}

/// Create a walkthrough, as a draft without steps.
#[utoipa::path(
    post,
    path = "/api/v1/walkthroughs",
    operation_id = "walkthroughs_create",
    tag = "walkthroughs",
    request_body = CreateWalkthrough,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The walkthrough", body = WalkthroughView),
        (status = 409, description = "The organization has as many walkthroughs as it may"),
        (status = 422, description = "Invalid input"),
    )
)]
pub(crate) async fn create(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Json(input): Json<CreateWalkthrough>,
) -> Result<
    (
        StatusCode,
        [(header::HeaderName, String); 1],
        Json<WalkthroughView>,
    ),
    ApiError,
> {
    let walkthrough = authoring::create(&platform, &auth.caller, input, None).await?;
    let location = format!("/api/v1/walkthroughs/{}", walkthrough.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(walkthrough.into()),
    ))
}

/// List the organization's walkthroughs, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/walkthroughs",
    operation_id = "walkthroughs_list",
    tag = "walkthroughs",
    params(ListWalkthroughs),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of walkthroughs", body = Page<WalkthroughView>),
        (status = 422, description = "Invalid cursor or limit"),
    )
)]
pub(crate) async fn list(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Query(query): Query<ListWalkthroughs>,
) -> Result<Json<Page<WalkthroughView>>, ApiError> {
    let page = page_request(query.cursor.as_deref(), query.limit)?;
    let found = authoring::list(&platform, &auth.caller, &page).await?;
    Ok(Json(Page {
        items: found.items.into_iter().map(Into::into).collect(),
        next_cursor: found.next_cursor,
    }))
}

/// Read a walkthrough with its draft steps in order.
#[utoipa::path(
    get,
    path = "/api/v1/walkthroughs/{id}",
    operation_id = "walkthroughs_get",
    tag = "walkthroughs",
    params(("id" = String, Path, description = "Walkthrough id, `wt_…`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The walkthrough and its ordered draft steps", body = WalkthroughDetail),
        (status = 404, description = "No such walkthrough in this organization"),
    )
)]
pub(crate) async fn get(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<WalkthroughId>,
) -> Result<Json<WalkthroughDetail>, ApiError> {
    let (walkthrough, steps) = authoring::get_with_steps(&platform, &auth.caller, &id).await?;
    Ok(Json(WalkthroughDetail {
        walkthrough: walkthrough.into(),
        steps: steps.into_iter().map(Into::into).collect(),
    }))
}

/// Update a walkthrough: absent fields stay as they are, `null` clears a nullable field.
/// `status` can return a walkthrough to `draft` (hidden from end users) or `archive` it;
/// `published` only restores one that was published before.
#[utoipa::path(
    patch,
    path = "/api/v1/walkthroughs/{id}",
    operation_id = "walkthroughs_update",
    tag = "walkthroughs",
    params(("id" = String, Path, description = "Walkthrough id, `wt_…`")),
    request_body = UpdateWalkthrough,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated walkthrough", body = WalkthroughView),
        (status = 404, description = "No such walkthrough in this organization"),
        (status = 409, description = "The walkthrough kept changing under the update (retry)"),
        (status = 422, description = "Invalid input"),
    )
)]
pub(crate) async fn update(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<WalkthroughId>,
    Json(input): Json<UpdateWalkthrough>,
) -> Result<Json<WalkthroughView>, ApiError> {
    let updated = authoring::update(&platform, &auth.caller, &id, input).await?;
    Ok(Json(updated.into()))
}

/// Delete a walkthrough with its steps, versions, assignments and progress.
#[utoipa::path(
    delete,
    path = "/api/v1/walkthroughs/{id}",
    operation_id = "walkthroughs_delete",
    tag = "walkthroughs",
    params(("id" = String, Path, description = "Walkthrough id, `wt_…`")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such walkthrough in this organization"),
    )
)]
pub(crate) async fn delete(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<WalkthroughId>,
) -> Result<StatusCode, ApiError> {
    authoring::delete(&platform, &auth.caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a draft step: after `after_step_id`, or at the end when it is absent.
#[utoipa::path(
    post,
    path = "/api/v1/walkthroughs/{id}/steps",
    operation_id = "walkthrough_steps_create",
    tag = "walkthroughs",
    params(("id" = String, Path, description = "Walkthrough id, `wt_…`")),
    request_body = CreateStep,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The step", body = StepView),
        (status = 404, description = "No such walkthrough in this organization"),
        (status = 422, description = "Invalid input, or `after_step_id` is not a step of this walkthrough"),
    )
)]
pub(crate) async fn create_step(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<WalkthroughId>,
    Json(input): Json<CreateStep>,
) -> Result<(StatusCode, Json<StepView>), ApiError> {
    let step = authoring::add_step(&platform, &auth.caller, &id, input).await?;
    Ok((StatusCode::CREATED, Json(step.into())))
}

/// Update a draft step and/or move it: `after_step_id` moves it after that step, `null`
/// moves it first, absent leaves it where it is.
#[utoipa::path(
    patch,
    path = "/api/v1/walkthroughs/{id}/steps/{step_id}",
    operation_id = "walkthrough_steps_update",
    tag = "walkthroughs",
    params(
        ("id" = String, Path, description = "Walkthrough id, `wt_…`"),
        ("step_id" = String, Path, description = "Step id, `ws_…`"),
    ),
    request_body = UpdateStep,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated step", body = StepView),
        (status = 404, description = "No such step of a walkthrough in this organization"),
        (status = 422, description = "Invalid input, or `after_step_id` is the step itself or not a step of this walkthrough"),
    )
)]
pub(crate) async fn update_step(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath((id, step_id)): IdPath<(WalkthroughId, StepId)>,
    Json(input): Json<UpdateStep>,
) -> Result<Json<StepView>, ApiError> {
    let step = authoring::update_step(&platform, &auth.caller, &id, &step_id, input).await?;
    Ok(Json(step.into()))
}

/// Delete a draft step; the steps around it are linked together. Published versions keep it.
#[utoipa::path(
    delete,
    path = "/api/v1/walkthroughs/{id}/steps/{step_id}",
    operation_id = "walkthrough_steps_delete",
    tag = "walkthroughs",
    params(
        ("id" = String, Path, description = "Walkthrough id, `wt_…`"),
        ("step_id" = String, Path, description = "Step id, `ws_…`"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such step of a walkthrough in this organization"),
    )
)]
pub(crate) async fn delete_step(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath((id, step_id)): IdPath<(WalkthroughId, StepId)>,
) -> Result<StatusCode, ApiError> {
    authoring::delete_step(&platform, &auth.caller, &id, &step_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Publish the draft steps as a new immutable version and make the walkthrough `published`.
/// End users in progress stay on the version they started.
#[utoipa::path(
    post,
    path = "/api/v1/walkthroughs/{id}/publish",
    operation_id = "walkthroughs_publish",
    tag = "walkthroughs",
    params(("id" = String, Path, description = "Walkthrough id, `wt_…`")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new version", body = PublishedVersion),
        (status = 404, description = "No such walkthrough in this organization"),
        (status = 422, description = "The walkthrough has no steps"),
    )
)]
pub(crate) async fn publish(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<WalkthroughId>,
) -> Result<(StatusCode, Json<PublishedVersion>), ApiError> {
    let version = authoring::publish(&platform, &auth.caller, &id).await?;
    Ok((StatusCode::CREATED, Json(version.into())))
}

/// Publish an older version again, as the newest: new starts begin on its steps, progress
/// pinned to any version stays pinned, and the draft is left as it is.
#[utoipa::path(
    post,
    path = "/api/v1/walkthroughs/{id}/versions/{version}/republish",
    operation_id = "walkthroughs_version_republish",
    tag = "walkthroughs",
    params(
        ("id" = String, Path, description = "Walkthrough id, `wt_…`"),
        ("version" = i64, Path, description = "The published version to publish again"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new version", body = PublishedVersion),
        (status = 404, description = "No such walkthrough or version in this organization"),
    )
)]
pub(crate) async fn republish(
    State(platform): State<Platform>,
    auth: OrgAuth,
    axum::extract::Path((id, from)): axum::extract::Path<(String, String)>,
) -> Result<(StatusCode, Json<PublishedVersion>), ApiError> {
    let id: WalkthroughId = guidepost_domain::Id::parse(&id).ok_or(ApiError::NotFound)?;
    let from: i64 = from.parse().map_err(|_| ApiError::NotFound)?;
    let version = versions::republish(&platform, &auth.caller, &id, from).await?;
    Ok((StatusCode::CREATED, Json(version.into())))
}

/// The funnel of the newest published version: per step, the end users who reached it,
/// completed it and dropped off there; and how many started, completed and how fast.
#[utoipa::path(
    get,
    path = "/api/v1/walkthroughs/{id}/funnel",
    operation_id = "walkthrough_funnel_get",
    tag = "walkthroughs",
    params(("id" = String, Path, description = "Walkthrough id, `wt_…`"), FunnelQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The funnel report", body = Funnel),
        (status = 404, description = "No such walkthrough, or no such server, in this organization"),
        (status = 409, description = "The walkthrough was never published: publish it first"),
        (status = 422, description = "Invalid server id"),
    )
)]
pub(crate) async fn funnel(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<WalkthroughId>,
    Query(query): Query<FunnelQuery>,
) -> Result<Json<Funnel>, ApiError> {
    let server_id: Option<ServerId> = query_id("server_id", query.server_id.as_deref())?;
    let report = funnel::report(&platform, &auth.caller, &id, server_id.as_ref()).await?;
    Ok(Json(report))
}

/// The people stuck at a step of the newest published version: still there, with no
/// activity for `inactive_days`, the longest inactive first (at most 200; `total` counts
/// all).
#[utoipa::path(
    get,
    path = "/api/v1/walkthroughs/{id}/funnel/stuck",
    operation_id = "walkthrough_funnel_stuck_list",
    tag = "walkthroughs",
    params(("id" = String, Path, description = "Walkthrough id, `wt_…`"), StuckQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The people stuck at the step", body = StuckAtStep),
        (status = 404, description = "No such walkthrough, step or server in this organization"),
        (status = 409, description = "The walkthrough was never published"),
        (status = 422, description = "Invalid step, server id or number of days"),
    )
)]
pub(crate) async fn stuck(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<WalkthroughId>,
    Query(query): Query<StuckQuery>,
) -> Result<Json<StuckAtStep>, ApiError> {
    let server_id: Option<ServerId> = query_id("server_id", query.server_id.as_deref())?;
    let days = query.inactive_days.unwrap_or(stuck::DEFAULT_INACTIVE_DAYS);
    let caller = &auth.caller;
    let found = stuck::stuck_at(
        &platform,
        caller,
        &id,
        &query.step_id,
        days,
        server_id.as_ref(),
    );
    Ok(Json(found.await?))
}

/// The walkthroughs assigned to a server, by display order.
#[utoipa::path(
    get,
    path = "/api/v1/servers/{id}/walkthroughs",
    operation_id = "server_walkthroughs_list",
    tag = "walkthroughs",
    params(("id" = String, Path, description = "Server id, `ms_…`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every assignment of the server in one page (`next_cursor` is always null)", body = Page<AssignmentView>),
        (status = 404, description = "No such server in this organization"),
    )
)]
pub(crate) async fn list_assignments(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<ServerId>,
) -> Result<Json<Page<AssignmentView>>, ApiError> {
    let assignments = authoring::assignments_of_server(&platform, &auth.caller, &id).await?;
    Ok(Json(Page {
        items: assignments.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

/// Assign a walkthrough to a server, or update its assignment: absent fields keep their
/// value (new assignments: `display_order` 0, enabled).
#[utoipa::path(
    put,
    path = "/api/v1/servers/{id}/walkthroughs/{walkthrough_id}",
    operation_id = "server_walkthroughs_assign",
    tag = "walkthroughs",
    params(
        ("id" = String, Path, description = "Server id, `ms_…`"),
        ("walkthrough_id" = String, Path, description = "Walkthrough id, `wt_…`"),
    ),
    request_body = AssignWalkthrough,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The assignment", body = AssignmentView),
        (status = 404, description = "No such server or walkthrough in this organization"),
        (status = 422, description = "Invalid input"),
    )
)]
pub(crate) async fn assign(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath((server, walkthrough)): IdPath<(ServerId, WalkthroughId)>,
    Json(input): Json<AssignWalkthrough>,
) -> Result<Json<AssignmentView>, ApiError> {
    let assignment =
        authoring::assign(&platform, &auth.caller, &server, &walkthrough, input).await?;
    Ok(Json(assignment.into()))
}

/// Unassign a walkthrough from a server. End users' progress is kept.
#[utoipa::path(
    delete,
    path = "/api/v1/servers/{id}/walkthroughs/{walkthrough_id}",
    operation_id = "server_walkthroughs_unassign",
    tag = "walkthroughs",
    params(
        ("id" = String, Path, description = "Server id, `ms_…`"),
        ("walkthrough_id" = String, Path, description = "Walkthrough id, `wt_…`"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Unassigned"),
        (status = 404, description = "The walkthrough is not assigned to this server, or either is not in this organization"),
    )
)]
pub(crate) async fn unassign(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath((server, walkthrough)): IdPath<(ServerId, WalkthroughId)>,
) -> Result<StatusCode, ApiError> {
    authoring::unassign(&platform, &auth.caller, &server, &walkthrough).await?;
    Ok(StatusCode::NO_CONTENT)
}
