//! Approvals bound to the exact call. A call-time policy that asks for approval
//! (`@approval("person")` or `@approval("member")` on a `forbid`) stops the call until
//! somebody approves it: the person who makes it, on a page of the platform host that a
//! link (URL elicitation, an `input_required` round, or a tool error) opens; or a member
//! of the organization, from the queue (API and dashboard). The approval is bound to the
//! caller, server, tool, the digest of the canonical arguments, the definition hash and
//! the policy version; the same call retried finds it and runs once. Any change finds
//! nothing, and asks again. Approvals expire. A call waiting for a member is announced
//! by the `approval.requested` webhook event and mailed to the members who may decide it
//! (`approval_mail`).

use guidepost_domain::*;
use guidepost_policy::{Asked, AskedOf};
use serde_json::Value;

use crate::audit::{self, Object};
use crate::{Caller, CoreError, Permission, Platform};

/// Where a person's approval page lives on the platform host.
pub const APPROVE_PATH: &str = "/approve";
/// How many approvals the queue shows at once.
pub const QUEUE_MAX: u32 = 100;

/// One call that a policy asked to be approved, as the MCP layer knows it.
pub struct AskedCall<'a> {
    pub server: &'a McpServer,
    /// Whose call (`user:{id}`, `address:{prefix}`), as quotas count callers.
    pub caller: &'a str,
    /// How people know the caller: an email, or a description.
    pub caller_name: &'a str,
    /// Whether the caller is a person who could approve on a page (known, not anonymous).
    pub caller_is_known: bool,
    pub tool: &'a str,
    pub arguments: &'a Value,
    pub definition_hash: String,
    pub policy_version: i64,
    pub asked: &'a Asked,
}

/// What the call may do.
#[derive(Debug)]
pub enum Gate {
    /// Approved, and this call took the approval: it runs.
    Go,
    /// Waiting for a decision; for a person, the link to their approval page.
    Waiting {
        /// Boxed: an approval is large beside the other answers.
        approval: Box<CallApproval>,
        link: Option<String>,
    },
    /// Refused: denied, or nobody can approve it.
    Refused(String),
}

/// Whether `call` may run under its approval, asking for one if none is there yet.
pub async fn gate(platform: &Platform, call: &AskedCall<'_>) -> Result<Gate, CoreError> {
    let approver = match call.asked.of {
        AskedOf::Person => Approver::Person,
        AskedOf::Member => Approver::Member,
    };
    if approver == Approver::Person && !call.caller_is_known {
        return Ok(Gate::Refused(format!(
            "Refused: policy `{}` asks the person making this call to approve it, and this \
             caller is not known. Sign in (or use your personal link) and call again.",
            call.asked.policy
        )));
    }
    let canonical = canonical_json(&normalized(call.arguments));
    let binding = ApprovalBinding {
        org_id: call.server.org_id.clone(),
        server_id: call.server.id.clone(),
        caller: call.caller.to_owned(),
        tool: call.tool.to_owned(),
        arguments_digest: hash_secret(&canonical),
        definition_hash: call.definition_hash.clone(),
        policy_version: call.policy_version,
    };
    let now = Timestamp::now();
    let found = platform.store.find_approval(&binding, now).await?;
    match found {
        Some(approval) if approval.status == ApprovalStatus::Approved => {
            let org = &binding.org_id;
            match platform.store.use_approval(org, &approval.id, now).await? {
                true => Ok(Gate::Go),
                // Another call took it a moment ago: this one asks again.
                false => ask(platform, call, binding, canonical, approver).await,
            }
        }
        Some(approval) if approval.status == ApprovalStatus::Denied => Ok(Gate::Refused(format!(
            "Refused: {} denied this call (approval {}). Do not retry it as it is; ask the \
             user what to do instead.",
            approval.decided_by.as_deref().unwrap_or("the approver"),
            approval.id
        ))),
        // A member's queue holds the call once, however often it is retried.
        Some(approval) if approval.approver == Approver::Member => Ok(Gate::Waiting {
            approval: Box::new(approval),
            link: None,
        }),
        // A person's link is not kept (only its hash): a retry gets a fresh one.
        _ => ask(platform, call, binding, canonical, approver).await,
    }
}

/// No arguments are `{}`, as the tool receives them.
fn normalized(arguments: &Value) -> Value {
    match arguments {
        Value::Null => Value::Object(Default::default()),
        other => other.clone(),
    }
}

async fn ask(
    platform: &Platform,
    call: &AskedCall<'_>,
    binding: ApprovalBinding,
    arguments: String,
    approver: Approver,
) -> Result<Gate, CoreError> {
    let now = Timestamp::now();
    let approval = CallApproval {
        id: ApprovalId::generate(),
        server_id: binding.server_id.clone(),
        tool: binding.tool.clone(),
        binding,
        arguments,
        caller_name: call.caller_name.to_owned(),
        policy: call.asked.policy.clone(),
        reason: call.asked.reason.clone(),
        approver,
        status: ApprovalStatus::Pending,
        created_at: now,
        expires_at: now.plus(platform.config.approval_expiry),
        decided_by: None,
        decided_at: None,
    };
    let token = (approver == Approver::Person).then(|| random_token("apv_"));
    let new = guidepost_store::NewApproval {
        approval: approval.clone(),
        token_hash: token.as_deref().map(hash_secret),
    };
    platform.store.create_approval(&new).await?;
    if approver == Approver::Member {
        super::approval_mail::tell_members(platform, call.server, &approval);
    }
    let origin = crate::upstreams::connections::platform_origin(&platform.config);
    let link = token.map(|token| format!("{origin}{APPROVE_PATH}/{token}"));
    Ok(Gate::Waiting {
        approval: Box::new(approval),
        link,
    })
}

/// What the agent reads while an approval waits.
pub fn waiting_text(approval: &CallApproval, link: Option<&str>) -> String {
    let why = match &approval.reason {
        Some(reason) => format!(
            "policy `{}`: {}",
            approval.policy,
            reason.trim_end_matches('.')
        ),
        None => format!("policy `{}`", approval.policy),
    };
    let expires = approval.expires_at.to_rfc3339();
    match link {
        Some(link) => format!(
            "This call needs your approval ({why}). Show the user this link to approve \
             exactly this call: {link} Then call again with the same arguments (the \
             approval expires at {expires})."
        ),
        None => format!(
            "This call needs the approval of a member of the organization ({why}). It was \
             asked as approval {}; call again with the same arguments once it is approved \
             (it expires at {expires}).",
            approval.id
        ),
    }
}

/// The organization's approvals with `status`, newest first.
pub async fn list(
    platform: &Platform,
    caller: &Caller,
    status: ApprovalStatus,
) -> Result<Vec<CallApproval>, CoreError> {
    let org = caller.org();
    Ok(platform
        .store
        .list_approvals(org, status, QUEUE_MAX)
        .await?)
}

pub async fn get(
    platform: &Platform,
    caller: &Caller,
    id: &ApprovalId,
) -> Result<CallApproval, CoreError> {
    Ok(platform.store.get_approval(caller.org(), id).await?)
}

/// A member approves or denies a call waiting for a member. Who runs the gateway may:
/// the calls are the gateway's.
pub async fn decide(
    platform: &Platform,
    caller: &Caller,
    id: &ApprovalId,
    approve: bool,
) -> Result<CallApproval, CoreError> {
    caller.require(Permission::Gateway)?;
    let org = caller.org();
    let found = platform.store.get_approval(org, id).await?;
    if found.approver != Approver::Member {
        let message = "is for the person making the call to approve, on their own link";
        return Err(ValidationError::new("approval", message).into());
    }
    let decided = settle(platform, &found, approve, caller.name()).await?;
    let action = match approve {
        true => AuditAction::ApprovalApproved,
        false => AuditAction::ApprovalDenied,
    };
    let object = Object {
        kind: "approval",
        id: decided.id.as_str(),
        name: &decided.tool,
    };
    let detail = serde_json::json!({"tool": decided.tool, "caller": decided.caller_name,
        "policy": decided.policy});
    audit::record(platform, caller, action, object, detail).await?;
    Ok(decided)
}

async fn settle(
    platform: &Platform,
    approval: &CallApproval,
    approve: bool,
    by: &str,
) -> Result<CallApproval, CoreError> {
    let status = match approve {
        true => ApprovalStatus::Approved,
        false => ApprovalStatus::Denied,
    };
    let now = Timestamp::now();
    let org = &approval.binding.org_id;
    let decided = platform
        .store
        .decide_approval(org, &approval.id, status, by, now)
        .await?;
    decided.ok_or_else(|| {
        let message = match approval.expired(now) {
            true => "has expired: the call must be made again to be asked again",
            false => "was decided already",
        };
        CoreError::Conflict(format!("This approval {message}."))
    })
}

/// Whether the approval was approved or denied (its call may be retried).
pub async fn decided(platform: &Platform, org: &OrgId, id: &ApprovalId) -> Result<bool, CoreError> {
    let approval = platform.store.get_approval(org, id).await?;
    Ok(approval.status != ApprovalStatus::Pending)
}

/// A person's approval page: the approval its link's token opens.
pub async fn by_token(platform: &Platform, token: &str) -> Result<CallApproval, CoreError> {
    let found = platform
        .store
        .approval_by_token(&hash_secret(token))
        .await?;
    found.ok_or(CoreError::NotFound)
}

/// The person approves or denies their own call, on the page their link opened.
pub async fn decide_by_token(
    platform: &Platform,
    token: &str,
    approve: bool,
) -> Result<CallApproval, CoreError> {
    let approval = by_token(platform, token).await?;
    let by = approval.caller_name.clone();
    settle(platform, &approval, approve, &by).await
}
