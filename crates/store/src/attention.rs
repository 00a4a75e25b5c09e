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
    /// Webhook deliveries since the given time that failed: given up on, or failed at
    /// least once and waiting to be tried again (a receiver that is down shows while it
    /// is retried, not only once the delivery is given up on).
    pub webhook_deliveries_failing: u64,
}

#[async_trait]
pub trait AttentionStore: Send + Sync {
    /// The organization's counts; failing webhook deliveries made at or after `since`.
    async fn attention(&self, org: &OrgId, since: Timestamp) -> Result<Attention>;
}
