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
        // Idle: in the pool, and lent out between statements (`held`).
        (self.pool.size(), self.pool.num_idle() + self.held.idle())
    }

    fn write_turns(&self) -> Option<[(Writer, TurnTime); 2]> {
        self.write_turn.times()
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

    async fn floor_write(&self, org: &OrgId, end_user: &EndUserId, now: Timestamp) -> Result<()> {
        // No write turn (`write_turn`): the floor's writers are all alike and short, and
        // with a turn they ran at about four fifths of their rate without one. The floor
        // is the least a write can cost, so it goes straight to the database.
        sqlx::query("UPDATE end_users SET last_seen_at = $3 WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(end_user.as_str())
            .bind(now.micros())
            .execute(self.run())
            .await?;
        Ok(())
    }

    async fn commits(&self) -> Result<Option<u64>> {
        if BACKEND == Backend::Sqlite {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(row.try_get::<i64, _>("n")?).ok())
    }
}
