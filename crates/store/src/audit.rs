//! The audit log: the gateway's events and every other mutating action.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// Which events a listing keeps; `None` keeps all.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The stored actor (`member:mem_…`, `api_key:key_…`, `cli`, `platform`).
    pub actor: Option<String>,
    /// An object's id: the event's object, upstream or server.
    pub object: Option<String>,
    /// The type: the part of the action before its dot (`member`, `tool`, …).
    pub kind: Option<String>,
    /// A type left out whatever the rest says: one the reader may not see.
    pub hidden_kind: Option<&'static str>,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit_event(&self, event: &AuditEvent) -> Result<()>;
    /// The organization's events that match `filter`, newest first.
    async fn list_audit_events(
        &self,
        org: &OrgId,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>>;
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
