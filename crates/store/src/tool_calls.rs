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

/// How many calls, and how many of them errors, fell in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallBucket {
    /// The bucket's place: 0 for the one starting at `since`, 1 for the next, and so on.
    pub index: i64,
    pub calls: u64,
    pub errors: u64,
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
    /// Calls and errors per bucket of `bucket_seconds` over `[since, until)`, counted in
    /// one grouped statement; buckets without calls are absent. Callers bound the window.
    async fn tool_call_buckets(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
        bucket_seconds: i64,
    ) -> Result<Vec<ToolCallBucket>>;
}
