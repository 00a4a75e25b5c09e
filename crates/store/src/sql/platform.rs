//! What every store answers about itself: its backend, its statement count, its pool,
//! the change feed, and readiness.

use super::*;

#[async_trait]
impl Store for ThisStore {
    fn backend(&self) -> Backend {
        BACKEND
    }

    fn statements_executed(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    fn pool_connections(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    async fn announce_tools_changed(&self, servers: &[ServerId]) -> Result<()> {
        self.announce(servers).await
    }

    fn tools_changed_feed(&self) -> tokio::sync::broadcast::Receiver<ServerId> {
        self.changes.subscribe()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(self.run()).await?;
        Ok(())
    }
}
