//! Bulk loads: many end users or support requests written in a few statements, as
//! `guidepost bench --pages` seeds a year of data (tool calls go through
//! `ToolCallStore::insert_tool_calls`, which keeps their rollups).

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

#[async_trait]
pub trait BulkStore: Send + Sync {
    /// Writes these end users as they are, in one transaction.
    async fn insert_end_users(&self, end_users: &[EndUser]) -> Result<()>;
    /// Writes these support requests as they are, in one transaction, without webhook
    /// deliveries (they are history, not news).
    async fn insert_support_requests(&self, requests: &[SupportRequest]) -> Result<()>;
}
