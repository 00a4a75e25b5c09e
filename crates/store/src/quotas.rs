//! Call quotas: an organization's rules, and the calls counted against them.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// One count a call adds to: a rule's counter for one caller, in the window that holds
/// the call, and the rule's limit.
#[derive(Debug, Clone)]
pub struct QuotaCounter {
    /// The rule's counter name and the caller, joined.
    pub name: String,
    pub window_start: Timestamp,
    pub limit: u32,
}

#[async_trait]
pub trait QuotaStore: Send + Sync {
    /// The organization's rules (none if it never set any).
    async fn call_quotas(&self, org: &OrgId) -> Result<CallQuotas>;
    /// Replaces the organization's rules.
    async fn set_call_quotas(&self, org: &OrgId, quotas: &CallQuotas, now: Timestamp)
    -> Result<()>;
    /// Counts one call on every counter, all or none: if a counter is at its limit,
    /// nothing is counted and its index is returned. Counters of the same name in older
    /// windows are deleted on the way. Concurrent calls on any node never count past a
    /// limit.
    async fn count_quota_call(
        &self,
        org: &OrgId,
        counters: &[QuotaCounter],
    ) -> Result<Option<usize>>;
    /// Platform-wide: deletes counts of windows that started before `before`.
    async fn delete_expired_quota_counts(&self, before: Timestamp) -> Result<u64>;
}
