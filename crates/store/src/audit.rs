//! The gateway's audit log (SPEC §8).

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit_event(&self, event: &AuditEvent) -> Result<()>;
    /// The organization's events, newest first.
    async fn list_audit_events(&self, org: &OrgId, page: &PageRequest) -> Result<Page<AuditEvent>>;
}
