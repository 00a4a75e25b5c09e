//! Tasks (the MCP tasks extension): tool calls that outlive their request.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

#[async_trait]
pub trait TaskStore: Send + Sync {
    async fn create_task(&self, task: &Task) -> Result<()>;
    /// The task, if it is the server's and has not expired by `now`.
    async fn get_task(
        &self,
        org: &OrgId,
        server: &ServerId,
        id: &TaskId,
        now: Timestamp,
    ) -> Result<Task>;
    /// Writes `task` (with its revision bumped) if the stored one is still at
    /// `task.revision`; whether it was written.
    async fn replace_task(&self, task: &Task) -> Result<bool>;
    /// Tasks of the server that are neither finished nor expired.
    async fn count_open_tasks(&self, org: &OrgId, server: &ServerId, now: Timestamp)
    -> Result<u32>;
    /// Platform-wide: forgets every task whose time to live ended before `now`.
    async fn delete_expired_tasks(&self, now: Timestamp) -> Result<u64>;
}
