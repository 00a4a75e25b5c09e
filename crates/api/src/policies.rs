//! `/api/v1/policies`: the organization's call-time policies (Cedar): the version in
//! force, publishing a new one, checking a draft, trying a sample call, the versions
//! before, and the schema they are written against.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use guidepost_core::Platform;
use guidepost_core::guardrails::decide::{self, SampleCall, SampleDecision};
use guidepost_core::guardrails::policies::MAX_POLICY_VERSIONS;
use guidepost_core::guardrails::policies::{self, CheckedPolicies, PublishedPolicies};
use guidepost_domain::PolicyVersion;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::upstreams::Items;

/// The version in force, if any was published.
#[derive(Debug, Serialize, ToSchema)]
pub struct PoliciesInForce {
    pub in_force: Option<PolicyVersion>,
}

/// Policies as written, in Cedar.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicySource {
    /// The whole set; empty turns the policies off. At most 64 KiB and 200 policies.
    pub source: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct VersionsQuery {
    /// How many versions, newest first: 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// Read the policies in force.
#[utoipa::path(get, path = "/api/v1/policies", tag = "policies",
    operation_id = "policies_get",
    security(("bearer" = [])),
    responses((status = 200, description = "The version in force, or null", body = PoliciesInForce)))]
pub(crate) async fn get(
    State(platform): State<Platform>,
    auth: OrgAuth,
) -> Result<Json<PoliciesInForce>, ApiError> {
    let in_force = policies::current(&platform, &auth.caller).await?;
    Ok(Json(PoliciesInForce { in_force }))
}

/// Publish policies: checked against the schema, stored as the next version, audited,
/// and in force on every node for the next call.
#[utoipa::path(put, path = "/api/v1/policies", tag = "policies",
    operation_id = "policies_publish",
    request_body = PolicySource,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The version now in force, with warnings", body = PublishedPolicies),
        (status = 403, description = "The caller may not run the gateway"),
        (status = 409, description = "Another version was published at the same time"),
        (status = 422, description = "The policies do not parse or do not match the schema"),
    ))]
pub(crate) async fn publish(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Json(body): Json<PolicySource>,
) -> Result<Json<PublishedPolicies>, ApiError> {
    Ok(Json(
        policies::publish(&platform, &auth.caller, &body.source).await?,
    ))
}

/// Check a draft without publishing it: its policies' names and warnings, or why it
/// would be refused.
#[utoipa::path(post, path = "/api/v1/policies/check", tag = "policies",
    operation_id = "policies_verify",
    request_body = PolicySource,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The draft is valid", body = CheckedPolicies),
        (status = 403, description = "The caller may not run the gateway"),
        (status = 422, description = "The draft does not parse or does not match the schema"),
    ))]
pub(crate) async fn check(
    auth: OrgAuth,
    Json(body): Json<PolicySource>,
) -> Result<Json<CheckedPolicies>, ApiError> {
    Ok(Json(policies::check(&auth.caller, &body.source)?))
}

/// Would this call pass? A sample call put to the policies in force, or to a draft.
#[utoipa::path(post, path = "/api/v1/policies/test", tag = "policies",
    operation_id = "policies_test",
    request_body = SampleCall,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What the policies decide", body = SampleDecision),
        (status = 403, description = "The caller may not run the gateway"),
        (status = 404, description = "No such server in this organization"),
        (status = 422, description = "An invalid sample, or a draft that does not compile"),
    ))]
pub(crate) async fn test(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Json(sample): Json<SampleCall>,
) -> Result<Json<SampleDecision>, ApiError> {
    Ok(Json(
        decide::try_call(&platform, &auth.caller, &sample).await?,
    ))
}

/// List the published versions, newest first.
#[utoipa::path(get, path = "/api/v1/policies/versions", tag = "policies",
    operation_id = "policy_versions_list",
    params(VersionsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The newest versions", body = Items<PolicyVersion>),
        (status = 422, description = "Invalid limit"),
    ))]
pub(crate) async fn versions(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Query(query): Query<VersionsQuery>,
) -> Result<Json<Items<PolicyVersion>>, ApiError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=MAX_POLICY_VERSIONS).contains(&limit) {
        let message = format!("must be from 1 to {MAX_POLICY_VERSIONS}");
        return Err(ApiError::invalid("limit", message));
    }
    let items = policies::versions(&platform, &auth.caller, limit).await?;
    Ok(Json(Items { items }))
}

/// Read one published version.
#[utoipa::path(get, path = "/api/v1/policies/versions/{version}", tag = "policies",
    operation_id = "policy_versions_get",
    params(("version" = i64, Path, description = "The version's number, from 1")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The version", body = PolicyVersion),
        (status = 404, description = "No such version"),
    ))]
pub(crate) async fn version(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Path(number): Path<String>,
) -> Result<Json<PolicyVersion>, ApiError> {
    let number: i64 = number.parse().map_err(|_| ApiError::NotFound)?;
    Ok(Json(
        policies::version(&platform, &auth.caller, number).await?,
    ))
}

/// The schema policies are written against, in Cedar's schema syntax.
#[utoipa::path(get, path = "/api/v1/policies/schema", tag = "policies",
    operation_id = "policy_schema_get",
    security(("bearer" = [])),
    responses((status = 200, description = "The Cedar schema", body = String, content_type = "text/plain")))]
pub(crate) async fn schema(_auth: OrgAuth) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        guidepost_core::guardrails::policies::SCHEMA,
    )
}
