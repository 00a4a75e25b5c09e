//! The overview's counts: four subqueries, one statement.

use super::*;
use crate::attention::{Attention, AttentionStore};

fn count(row: &DbRow, column: &str) -> Result<u64> {
    Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
}

#[async_trait]
impl AttentionStore for ThisStore {
    async fn attention(&self, org: &OrgId, since: Timestamp) -> Result<Attention> {
        let row = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM support_requests WHERE org_id = $1 \
               AND status IN ('open', 'in_progress')) AS open_support, \
             (SELECT COUNT(*) FROM upstream_tools WHERE org_id = $1 \
               AND state IN ('pending', 'quarantined')) AS awaiting_review, \
             (SELECT COUNT(*) FROM upstreams WHERE org_id = $1 \
               AND status IN ('failed', 'degraded')) AS failing, \
             (SELECT COUNT(*) FROM webhook_deliveries WHERE org_id = $1 \
               AND status IN ('failed', 'pending') AND created_at >= $2 \
               AND (status = 'failed' OR attempts > 0)) AS webhook_failing",
        )
        .bind(org.as_str())
        .bind(since.micros())
        .fetch_one(self.run())
        .await?;
        Ok(Attention {
            open_support_requests: count(&row, "open_support")?,
            tools_awaiting_review: count(&row, "awaiting_review")?,
            upstreams_failing: count(&row, "failing")?,
            webhook_deliveries_failing: count(&row, "webhook_failing")?,
        })
    }
}
