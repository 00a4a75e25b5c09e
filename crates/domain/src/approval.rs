//! Approvals of single calls: a call-time policy may ask that a call be approved before
//! it runs, by the person who makes it or by a member of the organization. An approval is
//! bound to the exact call (who, where, which tool, the digest of its canonical
//! arguments, the tool's definition hash and the policy version that asked) and expires;
//! once approved it lets that call run once. Any change asks again.

use serde::Serialize;
use utoipa::ToSchema;

use crate::{ApprovalId, OrgId, ServerId, Timestamp};

string_enum! {
    /// Who may approve a call: the person who makes it (asked in protocol, on a page of
    /// the platform), or a member of the organization (a queue in the dashboard and API).
    Approver {
        Person => "person",
        Member => "member",
    }
}

string_enum! {
    /// Where an approval stands. `used`: its call ran.
    ApprovalStatus {
        Pending => "pending",
        Approved => "approved",
        Denied => "denied",
        Used => "used",
    }
}

/// What an approval is bound to: the same call again finds it, any change does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalBinding {
    pub org_id: OrgId,
    pub server_id: ServerId,
    /// Whose call: `user:{end user id}`, or an anonymous caller's `address:{prefix}`.
    pub caller: String,
    pub tool: String,
    /// SHA-256 of the arguments' canonical JSON.
    pub arguments_digest: String,
    pub definition_hash: String,
    pub policy_version: i64,
}

/// An approval, as the API and the approval pages show it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CallApproval {
    #[schema(value_type = String)]
    pub id: ApprovalId,
    #[serde(skip)]
    pub binding: ApprovalBinding,
    #[schema(value_type = String)]
    pub server_id: ServerId,
    pub tool: String,
    /// The arguments exactly as the tool will receive them (canonical JSON).
    pub arguments: String,
    /// The caller as people know them: an email, or `an end user`, `an anonymous caller`.
    pub caller_name: String,
    /// The policy that asked, and its reason.
    pub policy: String,
    pub reason: Option<String>,
    pub approver: Approver,
    pub status: ApprovalStatus,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
}

impl CallApproval {
    /// Whether it is still open to a decision or to its call at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires_at <= now
    }
}
