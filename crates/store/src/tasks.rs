//! Tasks (the MCP tasks extension): tool calls that outlive their request.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Writes a new task unless one of its caps is reached ([`OpenTasks::full`]): the
    /// open tasks are counted and the task written in one transaction that concurrent
    /// starts on the server wait for. The cap that refused it, if one did (nothing is
    /// written then).
    async fn create_task(&self, task: &Task) -> Result<Result<(), TasksFull>>;
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
    /// The tasks that are neither finished nor expired by `now` on `like`'s server: all
    /// of them, those of its end user and those from its client address.
    async fn count_open_tasks(&self, like: &Task, now: Timestamp) -> Result<OpenTasks>;
    /// Platform-wide: forgets every task whose time to live ended before `now`.
    async fn delete_expired_tasks(&self, now: Timestamp) -> Result<u64>;
}
