//! Approvals of single calls, and the one use each approved call gets.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// An approval to ask for, with the hash of its link's token when a person approves.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub approval: CallApproval,
    pub token_hash: Option<String>,
}

#[async_trait]
pub trait ApprovalStore: Send + Sync {
    /// Keeps it; one a member approves is announced to the organization's webhooks that
    /// subscribe to `approval.requested`, in the same transaction.
    async fn create_approval(&self, new: &NewApproval) -> Result<()>;
    /// The newest approval of this exact call that has not expired at `now`, if any.
    async fn find_approval(
        &self,
        binding: &ApprovalBinding,
        now: Timestamp,
    ) -> Result<Option<CallApproval>>;
    async fn get_approval(&self, org: &OrgId, id: &ApprovalId) -> Result<CallApproval>;
    /// Platform-wide, for a person's approval page: the approval whose link's token
    /// hashes to `token_hash`.
    async fn approval_by_token(&self, token_hash: &str) -> Result<Option<CallApproval>>;
    /// Approves or denies a pending approval that has not expired at `now`; `None` when it
    /// is not pending any more, or has expired.
    async fn decide_approval(
        &self,
        org: &OrgId,
        id: &ApprovalId,
        status: ApprovalStatus,
        decided_by: &str,
        now: Timestamp,
    ) -> Result<Option<CallApproval>>;
    /// Marks an approved approval used, once: whether this call took it (on any node,
    /// only one does).
    async fn use_approval(&self, org: &OrgId, id: &ApprovalId, now: Timestamp) -> Result<bool>;
    /// Platform-wide: deletes approvals that expired before `before`. Returns how many.
    async fn delete_expired_approvals(&self, before: Timestamp) -> Result<u64>;
    /// The organization's approvals with `status`, newest first, at most `limit`.
    async fn list_approvals(
        &self,
        org: &OrgId,
        status: ApprovalStatus,
        limit: u32,
    ) -> Result<Vec<CallApproval>>;
}
