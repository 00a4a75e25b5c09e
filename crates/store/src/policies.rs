//! An organization's call-time policies, version by version.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// The most versions [`PolicyStore::policy_versions`] lists at once.
pub const MAX_POLICY_VERSIONS: u32 = 100;

#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// Stores `new` as the organization's next version, which is then in force
    /// (`Conflict` when another publication took the same number at the same time).
    async fn publish_policies(
        &self,
        new: &NewPolicyVersion,
        now: Timestamp,
    ) -> Result<PolicyVersion>;
    /// The version in force: the newest, if any was ever published.
    async fn current_policies(&self, org: &OrgId) -> Result<Option<PolicyVersion>>;
    /// One version, by number.
    async fn policy_version(&self, org: &OrgId, version: i64) -> Result<Option<PolicyVersion>>;
    /// The newest `limit` versions (at most [`MAX_POLICY_VERSIONS`]), newest first.
    async fn policy_versions(&self, org: &OrgId, limit: u32) -> Result<Vec<PolicyVersion>>;
}
