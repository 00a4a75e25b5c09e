//! The audit log: appended, and read newest first by keyset pages.

use super::*;
use crate::audit::{AuditFilter, AuditStore};

const AUDIT_COLUMNS: &str = "id, org_id, created_at, actor, action, upstream_id, server_id, tool, \
     detail, actor_name, object_type, object_id, object_name";

fn audit_event(row: &DbRow) -> Result<AuditEvent> {
    let detail = text(row, "detail")?;
    Ok(AuditEvent {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        created_at: time(row, "created_at")?,
        actor: text(row, "actor")?,
        action: text(row, "action")?,
        upstream_id: opt_text(row, "upstream_id")?.map(Id::from_trusted),
        server_id: opt_text(row, "server_id")?.map(Id::from_trusted),
        tool: opt_text(row, "tool")?,
        detail: serde_json::from_str(&detail).map_err(|_| corrupt("audit detail", "…"))?,
        actor_name: opt_text(row, "actor_name")?,
        object_type: opt_text(row, "object_type")?,
        object_id: opt_text(row, "object_id")?,
        object_name: opt_text(row, "object_name")?,
        upstream_name: None,
        server_name: None,
        text: String::new(),
    })
}

#[async_trait]
impl AuditStore for ThisStore {
    async fn record_audit_event(&self, event: &AuditEvent) -> Result<()> {
        let sql = format!(
            "INSERT INTO audit_events ({AUDIT_COLUMNS}) \
             SELECT $1, id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 \
             FROM organizations WHERE id = $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event.id.as_str())
            .bind(event.org_id.as_str())
            .bind(event.created_at.micros())
            .bind(&event.actor)
            .bind(&event.action)
            .bind(event.upstream_id.as_ref().map(|id| id.as_str()))
            .bind(event.server_id.as_ref().map(|id| id.as_str()))
            .bind(event.tool.as_deref())
            .bind(event.detail.to_string())
            .bind(event.actor_name.as_deref())
            .bind(event.object_type.as_deref())
            .bind(event.object_id.as_deref())
            .bind(event.object_name.as_deref())
            .execute(self.run())
            .await?;
        Ok(())
    }

    async fn list_audit_events(
        &self,
        org: &OrgId,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>> {
        let (before_time, before_id, limit) = page_bounds(page);
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE org_id = $1 \
             AND (created_at < $2 OR (created_at = $2 AND id < $3) OR $3 = '') \
             AND ($5 IS NULL OR actor = $5) \
             AND ($6 IS NULL OR object_id = $6 OR upstream_id = $6 OR server_id = $6) \
             AND ($7 IS NULL OR action LIKE $7) \
             AND ($8 IS NULL OR action NOT LIKE $8) \
             ORDER BY created_at DESC, id DESC LIMIT $4"
        );
        // The type is the action's first part. Types are a fixed list of words (core
        // checks), and `_` matching any one character cannot make one look like another.
        let kind = filter.kind.as_ref().map(|kind| format!("{kind}.%"));
        let hidden = filter.hidden_kind.map(|kind| format!("{kind}.%"));
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(before_time)
            .bind(before_id)
            .bind(limit)
            .bind(filter.actor.as_deref())
            .bind(filter.object.as_deref())
            .bind(kind)
            .bind(hidden)
            .fetch_all(self.run())
            .await?;
        Ok(page_of(rows(found, audit_event)?, page.limit, |e| Cursor {
            created_at: e.created_at,
            id: e.id.to_string(),
        }))
    }

    async fn count_upstream_audit_events(
        &self,
        org: &OrgId,
        upstream: &UpstreamId,
        actor: &str,
        since: Timestamp,
    ) -> Result<u64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS events FROM audit_events WHERE upstream_id = $2 \
             AND created_at >= $4 AND org_id = $1 AND actor = $3",
        )
        .bind(org.as_str())
        .bind(upstream.as_str())
        .bind(actor)
        .bind(since.micros())
        .fetch_one(self.run())
        .await?;
        Ok(u64::try_from(row.try_get::<i64, _>("events")?).unwrap_or(0))
    }

    async fn prune_audit_events(&self, before: Timestamp, limit: u32) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM audit_events WHERE id IN \
             (SELECT id FROM audit_events WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        )
        .bind(before.micros())
        .bind(i64::from(limit))
        .execute(self.run())
        .await?;
        Ok(done.rows_affected())
    }
}
