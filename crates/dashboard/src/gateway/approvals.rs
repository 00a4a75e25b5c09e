//! The approvals queue: calls a call-time policy asked a member to approve
//! (`@approval("member")`), each with its arguments exactly as the tool would receive
//! them (hidden characters shown as badges), and the approve and deny forms for who runs
//! the gateway. The rules are core's (`guardrails::approvals`).

use askama::Template;
use axum::extract::{Path, Query, State};
use guidepost_core::guardrails::approvals;
use guidepost_domain::*;

use super::visible::Visible;
use crate::Dashboard;
use crate::page::{self, Chrome, Done, Notice, PageResult, Section};
use crate::session::{Signed, SignedForm};

#[derive(Template)]
#[template(path = "gateway/approvals.html")]
struct QueuePage {
    chrome: Chrome,
    waiting: Vec<ApprovalRow>,
}

struct ApprovalRow {
    id: String,
    tool: String,
    caller: String,
    policy: String,
    reason: String,
    arguments: Visible,
    expires: String,
}

impl ApprovalRow {
    fn of(approval: &CallApproval) -> Self {
        Self {
            id: approval.id.to_string(),
            tool: approval.tool.clone(),
            caller: approval.caller_name.clone(),
            policy: approval.policy.clone(),
            reason: approval.reason.clone().unwrap_or_default(),
            arguments: Visible::of(&approval.arguments),
            expires: crate::when::when(approval.expires_at),
        }
    }
}

/// `GET /app/gateway/approvals`: the calls waiting for a member, newest first.
pub(crate) async fn queue(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(done): Query<Done>,
) -> PageResult {
    let done = done.done.as_deref();
    let chrome = Chrome::new(&app, &signed, "Approvals", Section::Gateway, done).await?;
    let pending = approvals::list(&app.platform, signed.caller(), ApprovalStatus::Pending).await?;
    let now = Timestamp::now();
    let waiting = pending
        .iter()
        .filter(|approval| approval.approver == Approver::Member && !approval.expired(now))
        .map(ApprovalRow::of)
        .collect();
    Ok(page::render(&QueuePage { chrome, waiting }))
}

/// `POST /app/gateway/approvals/{id}/approve`.
pub(crate) async fn approve(
    State(app): State<Dashboard>,
    Path(id): Path<String>,
    SignedForm { signed, .. }: SignedForm<serde::de::IgnoredAny>,
) -> PageResult {
    decide(&app, &signed, &id, true).await
}

/// `POST /app/gateway/approvals/{id}/reject`.
pub(crate) async fn reject(
    State(app): State<Dashboard>,
    Path(id): Path<String>,
    SignedForm { signed, .. }: SignedForm<serde::de::IgnoredAny>,
) -> PageResult {
    decide(&app, &signed, &id, false).await
}

async fn decide(app: &Dashboard, signed: &Signed, id: &str, approve: bool) -> PageResult {
    let id: ApprovalId = page::id_or_not_found(id)?;
    approvals::decide(&app.platform, signed.caller(), &id, approve).await?;
    let notice = match approve {
        true => Notice::Approved,
        false => Notice::Rejected,
    };
    Ok(page::done("/app/gateway/approvals", notice))
}
