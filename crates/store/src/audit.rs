//! The gateway's audit log (SPEC §8).

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit_event(&self, event: &AuditEvent) -> Result<()>;
    /// The organization's events, newest first.
    async fn list_audit_events(&self, org: &OrgId, page: &PageRequest) -> Result<Page<AuditEvent>>;
    /// Events of `actor` about the upstream recorded at or after `since`.
    async fn count_upstream_audit_events(
        &self,
        org: &OrgId,
        upstream: &UpstreamId,
        actor: &str,
        since: Timestamp,
    ) -> Result<u64>;
    /// Platform-wide housekeeping: deletes up to `limit` events recorded before `before`,
    /// oldest first; returns how many.
    async fn prune_audit_events(&self, before: Timestamp, limit: u32) -> Result<u64>;
}
