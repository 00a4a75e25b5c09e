//! `/api/v1/approvals`: calls that a call-time policy asked a member of the organization
//! to approve (`@approval("member")`): the queue, and the decisions. The same call,
//! retried once approved, runs once.

use axum::extract::State;
use guidepost_core::Platform;
use guidepost_core::guardrails::approvals;
use guidepost_domain::{ApprovalId, ApprovalStatus, CallApproval};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{IdPath, Json, Query};
use crate::upstreams::Items;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ApprovalsQuery {
    /// `pending` (default), `approved`, `denied` or `used`.
    #[param(value_type = Option<String>)]
    status: Option<ApprovalStatus>,
}

/// List approvals with a status (pending by default), newest first, at most 100: the
/// calls waiting for a member, and those decided.
#[utoipa::path(get, path = "/api/v1/approvals", tag = "policies",
    operation_id = "approvals_list", params(ApprovalsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "The approvals", body = Items<CallApproval>),
        (status = 422, description = "Unknown status"),
    ))]
pub(crate) async fn list(
    State(platform): State<Platform>,
    auth: OrgAuth,
    Query(query): Query<ApprovalsQuery>,
) -> Result<Json<Items<CallApproval>>, ApiError> {
    let status = query.status.unwrap_or(ApprovalStatus::Pending);
    let items = approvals::list(&platform, &auth.caller, status).await?;
    Ok(Json(Items { items }))
}

/// Read an approval: the call exactly as its tool would receive it.
#[utoipa::path(get, path = "/api/v1/approvals/{id}", tag = "policies",
    operation_id = "approvals_get",
    params(("id" = String, Path, description = "Approval id, `apr_…`")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The approval", body = CallApproval),
        (status = 404, description = "No such approval in this organization"),
    ))]
pub(crate) async fn get(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<ApprovalId>,
) -> Result<Json<CallApproval>, ApiError> {
    Ok(Json(approvals::get(&platform, &auth.caller, &id).await?))
}

/// Approve a call waiting for a member: the same call, retried, runs once.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/approve", tag = "policies",
    operation_id = "approvals_approve",
    params(("id" = String, Path, description = "Approval id, `apr_…`")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Approved", body = CallApproval),
        (status = 403, description = "The caller may not run the gateway"),
        (status = 404, description = "No such approval in this organization"),
        (status = 409, description = "Decided already, or expired"),
        (status = 422, description = "The person making the call approves it, not a member"),
    ))]
pub(crate) async fn approve(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<ApprovalId>,
) -> Result<Json<CallApproval>, ApiError> {
    Ok(Json(
        approvals::decide(&platform, &auth.caller, &id, true).await?,
    ))
}

/// Deny a call waiting for a member: retried, it is refused.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/reject", tag = "policies",
    operation_id = "approvals_reject",
    params(("id" = String, Path, description = "Approval id, `apr_…`")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Denied", body = CallApproval),
        (status = 403, description = "The caller may not run the gateway"),
        (status = 404, description = "No such approval in this organization"),
        (status = 409, description = "Decided already, or expired"),
        (status = 422, description = "The person making the call approves it, not a member"),
    ))]
pub(crate) async fn reject(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<ApprovalId>,
) -> Result<Json<CallApproval>, ApiError> {
    Ok(Json(
        approvals::decide(&platform, &auth.caller, &id, false).await?,
    ))
}
