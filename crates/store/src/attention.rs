//! What needs a person's attention in an organization, counted for the dashboard's
//! overview in one statement.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// The overview's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attention {
    /// Support requests `open` or `in_progress`.
    pub open_support_requests: u64,
    /// Upstream tools (prompts and resources too) `pending` or `quarantined`.
    pub tools_awaiting_review: u64,
    /// Upstreams `failed` or `degraded`.
    pub upstreams_failing: u64,
    /// Webhook deliveries given up on since the given time.
    pub webhook_deliveries_failed: u64,
}

#[async_trait]
pub trait AttentionStore: Send + Sync {
    /// The organization's counts; webhook failures of deliveries made at or after `since`.
    async fn attention(&self, org: &OrgId, since: Timestamp) -> Result<Attention>;
}
