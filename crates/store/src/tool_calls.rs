//! Recorded tool calls.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// Filters for listing tool calls.
#[derive(Debug, Clone, Default)]
pub struct ToolCallFilter {
    pub server_id: Option<ServerId>,
    pub end_user_id: Option<EndUserId>,
    pub tool_name: Option<String>,
}

/// One call's tool name, error flag and duration: the raw material of the tool report.
#[derive(Debug, Clone)]
pub struct ToolCallSample {
    pub tool_name: String,
    pub is_error: bool,
    pub duration_us: i64,
}

#[async_trait]
pub trait ToolCallStore: Send + Sync {
    /// Writes a batch of tool calls in one transaction.
    async fn insert_tool_calls(&self, calls: &[ToolCall]) -> Result<()>;
    async fn list_tool_calls(
        &self,
        org: &OrgId,
        filter: &ToolCallFilter,
        page: &PageRequest,
    ) -> Result<Page<ToolCall>>;
    /// Platform-wide housekeeping: deletes up to `limit` tool calls recorded before
    /// `before`, oldest first; returns how many.
    async fn prune_tool_calls(&self, before: Timestamp, limit: u32) -> Result<u64>;
    /// Per-tool report over `[since, until)`.
    async fn tool_call_durations(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<ToolCallSample>>;
}
