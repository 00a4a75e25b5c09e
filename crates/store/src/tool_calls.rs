//! Recorded tool calls, and their hourly and daily rollups.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// Filters for listing tool calls. Every one that is set must hold.
#[derive(Debug, Clone, Default)]
pub struct ToolCallFilter {
    pub server_id: Option<ServerId>,
    pub end_user_id: Option<EndUserId>,
    pub tool_name: Option<String>,
    /// Only calls answered by this upstream (through the gateway).
    pub upstream_id: Option<UpstreamId>,
    /// Only calls that failed.
    pub errors_only: bool,
    /// Only calls recorded at or after this time.
    pub since: Option<Timestamp>,
    /// Only calls recorded before this time.
    pub until: Option<Timestamp>,
}

/// One tool's rollups over a window: calls, errors, the slowest call and the histogram of
/// durations.
#[derive(Debug, Clone)]
pub struct ToolRollup {
    pub tool_name: String,
    pub calls: u64,
    pub errors: u64,
    pub max_us: i64,
    pub latencies: LatencyHistogram,
}

/// The calls of one tool name refused for one reason (and by one upstream, for arguments
/// an upstream refused) over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedTool {
    pub tool_name: String,
    pub refusal: CallRefusal,
    pub upstream_id: Option<UpstreamId>,
    pub calls: u64,
    pub last_called_at: Timestamp,
}

/// How many calls, and how many of them errors, fell in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallBucket {
    /// The bucket's place: 0 for the one starting at `since`, 1 for the next, and so on.
    pub index: i64,
    pub calls: u64,
    pub errors: u64,
}

/// The length of one rollup, in microseconds: rollups start on whole UTC hours.
pub const ROLLUP_MICROS: i64 = 3_600 * 1_000_000;

#[async_trait]
pub trait ToolCallStore: Send + Sync {
    /// Writes a batch of tool calls in one transaction, and adds them to their hours' and
    /// days' rollups in the same transaction.
    async fn insert_tool_calls(&self, calls: &[ToolCall]) -> Result<()>;
    /// Calls newest first. A person's calls are read through the index that starts with
    /// them, whatever other filters are set.
    async fn list_tool_calls(
        &self,
        org: &OrgId,
        filter: &ToolCallFilter,
        page: &PageRequest,
    ) -> Result<Page<ToolCall>>;
    /// The database's plan for `list_tool_calls` (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on
    /// PostgreSQL), a line per step: tests pin it, so that no filter walks the
    /// organization's calls by time to find a few.
    async fn explain_tool_call_listing(
        &self,
        org: &OrgId,
        filter: &ToolCallFilter,
        page: &PageRequest,
    ) -> Result<Vec<String>>;
    /// Platform-wide housekeeping: deletes up to `limit` tool calls recorded before
    /// `before`, oldest first; returns how many.
    async fn prune_tool_calls(&self, before: Timestamp, limit: u32) -> Result<u64>;
    /// Platform-wide housekeeping: deletes up to `limit` rollups, hourly and daily, of the
    /// UTC days that ended by `before`; returns how many. Both grains go by whole days, so
    /// that they always cover the same hours.
    async fn prune_tool_call_rollups(&self, before: Timestamp, limit: u32) -> Result<u64>;
    /// Per-tool rollups of the hours in `[since, until)` (both on whole hours), by tool
    /// name, in one statement: the whole UTC days inside the window from the daily rollups,
    /// the hours around them from the hourly ones (the same sums as the hours alone).
    async fn tool_rollups(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<ToolRollup>>;
    /// The database's plan for `tool_rollups` (as `explain_tool_call_listing`): tests pin
    /// that a window of whole days reads the daily rollups.
    async fn explain_tool_rollups(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<String>>;
    /// Calls and errors per bucket of `bucket_seconds` (whole hours) over `[since, until)`
    /// (`since` on a whole hour), from the rollups in one grouped statement (a day that
    /// falls wholly in one bucket from its daily rollups); buckets without calls are
    /// absent. Callers bound the window.
    async fn tool_call_buckets(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
        bucket_seconds: i64,
    ) -> Result<Vec<ToolCallBucket>>;
    /// The server's calls refused since `since` (tests left out), grouped by tool name,
    /// refusal and upstream, the most called first, at most 200 groups.
    async fn refused_tools(
        &self,
        org: &OrgId,
        server: &ServerId,
        since: Timestamp,
    ) -> Result<Vec<RefusedTool>>;
}
