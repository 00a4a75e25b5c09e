//! Recorded tool calls: batched inserts, keyset-paged listing, the durations report.

use super::*;
use crate::ToolCallBucket;

const TOOL_CALL_COLUMNS: &str = "id, org_id, server_id, session_id, end_user_id, tool_name, \
     arguments, result_summary, is_error, error_code, duration_us, created_at, upstream_id";

fn tool_call(row: &DbRow) -> Result<ToolCall> {
    Ok(ToolCall {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        server_id: Id::from_trusted(text(row, "server_id")?),
        session_id: opt_text(row, "session_id")?,
        end_user_id: opt_text(row, "end_user_id")?.map(Id::from_trusted),
        tool_name: text(row, "tool_name")?,
        arguments: text(row, "arguments")?,
        result_summary: text(row, "result_summary")?,
        is_error: row.try_get("is_error")?,
        error_code: row.try_get("error_code")?,
        duration_us: row.try_get("duration_us")?,
        created_at: time(row, "created_at")?,
        upstream_id: opt_text(row, "upstream_id")?.map(Id::from_trusted),
    })
}

#[async_trait]
impl ToolCallStore for ThisStore {
    async fn insert_tool_calls(&self, calls: &[ToolCall]) -> Result<()> {
        if calls.is_empty() {
            return Ok(());
        }
        // One multi-row INSERT per chunk: a batch costs a round trip per 200 calls, not
        // one per call (13 parameters a row stays far under both backends' limits).
        let mut tx = self.begin_write().await?;
        for chunk in calls.chunks(200) {
            self.count(1);
            let mut insert = sqlx::QueryBuilder::<Db>::new(format!(
                "INSERT INTO tool_calls ({TOOL_CALL_COLUMNS}) "
            ));
            insert.push_values(chunk, |mut row, call| {
                row.push_bind(call.id.as_str())
                    .push_bind(call.org_id.as_str())
                    .push_bind(call.server_id.as_str())
                    .push_bind(call.session_id.as_deref())
                    .push_bind(call.end_user_id.as_ref().map(|id| id.as_str()))
                    .push_bind(&call.tool_name)
                    .push_bind(&call.arguments)
                    .push_bind(&call.result_summary)
                    .push_bind(call.is_error)
                    .push_bind(call.error_code)
                    .push_bind(call.duration_us)
                    .push_bind(call.created_at.micros())
                    .push_bind(call.upstream_id.as_ref().map(|id| id.as_str()));
            });
            insert.build().execute(traced(&mut *tx)).await?;
        }
        self.count(1);
        tx.commit().await?;
        Ok(())
    }

    async fn list_tool_calls(
        &self,
        org: &OrgId,
        filter: &ToolCallFilter,
        page: &PageRequest,
    ) -> Result<Page<ToolCall>> {
        let (before_time, before_id, limit) = page_bounds(page);
        let sql = format!(
            "SELECT {TOOL_CALL_COLUMNS} FROM tool_calls WHERE org_id = $1 \
             AND ($2 IS NULL OR server_id = $2) AND ($3 IS NULL OR end_user_id = $3) \
             AND ($4 IS NULL OR tool_name = $4) \
             AND (created_at < $5 OR (created_at = $5 AND id < $6) OR $6 = '') \
             ORDER BY created_at DESC, id DESC LIMIT $7"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(filter.server_id.as_ref().map(|id| id.as_str()))
            .bind(filter.end_user_id.as_ref().map(|id| id.as_str()))
            .bind(filter.tool_name.as_deref())
            .bind(before_time)
            .bind(before_id)
            .bind(limit)
            .fetch_all(self.run())
            .await?;
        Ok(page_of(rows(found, tool_call)?, page.limit, |c| Cursor {
            created_at: c.created_at,
            id: c.id.to_string(),
        }))
    }

    async fn prune_tool_calls(&self, before: Timestamp, limit: u32) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM tool_calls WHERE id IN \
             (SELECT id FROM tool_calls WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        )
        .bind(before.micros())
        .bind(i64::from(limit))
        .execute(self.run())
        .await?;
        Ok(done.rows_affected())
    }

    async fn tool_call_durations(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<ToolCallSample>> {
        let found = sqlx::query(
            "SELECT tool_name, is_error, duration_us FROM tool_calls WHERE org_id = $1 \
             AND ($2 IS NULL OR server_id = $2) AND created_at >= $3 AND created_at < $4 \
             ORDER BY tool_name LIMIT 1000000",
        )
        .bind(org.as_str())
        .bind(server.map(|id| id.as_str()))
        .bind(since.micros())
        .bind(until.micros())
        .fetch_all(self.run())
        .await?;
        found
            .iter()
            .map(|row| {
                Ok(ToolCallSample {
                    tool_name: text(row, "tool_name")?,
                    is_error: row.try_get("is_error")?,
                    duration_us: row.try_get("duration_us")?,
                })
            })
            .collect()
    }

    async fn tool_call_buckets(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
        bucket_seconds: i64,
    ) -> Result<Vec<ToolCallBucket>> {
        // Integer division of the offset from `since` numbers the buckets in both dialects.
        let found = sqlx::query(
            "SELECT (created_at - $3) / $5 AS bucket, COUNT(*) AS calls, \
             SUM(CASE WHEN is_error THEN 1 ELSE 0 END) AS errors FROM tool_calls \
             WHERE org_id = $1 AND ($2 IS NULL OR server_id = $2) \
             AND created_at >= $3 AND created_at < $4 GROUP BY bucket ORDER BY bucket",
        )
        .bind(org.as_str())
        .bind(server.map(|id| id.as_str()))
        .bind(since.micros())
        .bind(until.micros())
        .bind(bucket_seconds.max(1).saturating_mul(1_000_000))
        .fetch_all(self.run())
        .await?;
        found
            .iter()
            .map(|row| {
                let count = |column: &str| -> Result<u64> {
                    Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
                };
                Ok(ToolCallBucket {
                    index: row.try_get("bucket")?,
                    calls: count("calls")?,
                    errors: count("errors")?,
                })
            })
            .collect()
    }
}
