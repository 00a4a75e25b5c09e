//! Call quotas: an organization's rules, and the calls counted against them.

use super::*;
use crate::{QuotaCounter, QuotaStore};

#[async_trait]
impl QuotaStore for ThisStore {
    async fn call_quotas(&self, org: &OrgId) -> Result<CallQuotas> {
        let row = sqlx::query("SELECT rules FROM call_quotas WHERE org_id = $1")
            .bind(org.as_str())
            .fetch_optional(self.run())
            .await?;
        match row {
            Some(row) => json_column(&row, "rules"),
            None => Ok(CallQuotas::default()),
        }
    }

    async fn set_call_quotas(
        &self,
        org: &OrgId,
        quotas: &CallQuotas,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO call_quotas (org_id, rules, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (org_id) DO UPDATE SET rules = excluded.rules, \
             updated_at = excluded.updated_at",
        )
        .bind(org.as_str())
        .bind(to_json(quotas))
        .bind(now.micros())
        .execute(self.run())
        .await?;
        Ok(())
    }

    async fn count_quota_call(
        &self,
        org: &OrgId,
        counters: &[QuotaCounter],
    ) -> Result<Option<usize>> {
        let mut tx = self.begin_write().await?;
        for (index, counter) in counters.iter().enumerate() {
            self.count(2);
            sqlx::query(
                "DELETE FROM quota_counts WHERE org_id = $1 AND counter = $2 \
                 AND window_start < $3",
            )
            .bind(org.as_str())
            .bind(&counter.name)
            .bind(counter.window_start.micros())
            .execute(traced(&mut *tx))
            .await?;
            // The row lock the upsert takes orders concurrent calls; the condition keeps
            // the count at the limit.
            let counted = sqlx::query(
                "INSERT INTO quota_counts (org_id, counter, window_start, calls) \
                 VALUES ($1, $2, $3, 1) \
                 ON CONFLICT (org_id, counter, window_start) \
                 DO UPDATE SET calls = quota_counts.calls + 1 WHERE quota_counts.calls < $4 \
                 RETURNING calls",
            )
            .bind(org.as_str())
            .bind(&counter.name)
            .bind(counter.window_start.micros())
            .bind(i64::from(counter.limit))
            .fetch_optional(traced(&mut *tx))
            .await?;
            if counted.is_none() {
                // Dropped, the transaction counts nothing.
                return Ok(Some(index));
            }
        }
        self.count(1);
        super::commit(tx).await?;
        Ok(None)
    }

    async fn delete_expired_quota_counts(&self, before: Timestamp) -> Result<u64> {
        let deleted = sqlx::query("DELETE FROM quota_counts WHERE window_start < $1")
            .bind(before.micros())
            .execute(self.run())
            .await?;
        Ok(deleted.rows_affected())
    }
}
