//! Recorded tool calls: batched inserts (with their hourly and daily rollups,
//! `tool_call_rollups.rs`) and
//! keyset-paged listing through the index that fits the filter.

use super::tool_call_rollups::{Grain, add_to_rollups, rollups_of};
use super::*;
use crate::{RefusedTool, ToolCallBucket, ToolRollup};

const TOOL_CALL_COLUMNS: &str = "id, org_id, server_id, session_id, end_user_id, tool_name, \
     arguments, result_summary, is_error, error_code, duration_us, created_at, upstream_id, is_test, \
     refusal";

fn tool_call(row: &DbRow) -> Result<ToolCall> {
    Ok(ToolCall {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        server_id: Id::from_trusted(text(row, "server_id")?),
        // Calls recorded before 2026-11-27 hold the transport's session id, a secret of
        // the session's: read as none.
        session_id: opt_text(row, "session_id")?.and_then(|id| SessionId::parse(&id)),
        end_user_id: opt_text(row, "end_user_id")?.map(Id::from_trusted),
        tool_name: text(row, "tool_name")?,
        arguments: text(row, "arguments")?,
        result_summary: text(row, "result_summary")?,
        is_error: row.try_get("is_error")?,
        error_code: row.try_get("error_code")?,
        duration_us: row.try_get("duration_us")?,
        created_at: time(row, "created_at")?,
        upstream_id: opt_text(row, "upstream_id")?.map(Id::from_trusted),
        is_test: row.try_get("is_test")?,
        refusal: match opt_text(row, "refusal")? {
            Some(text) => {
                Some(CallRefusal::parse(&text).ok_or_else(|| corrupt("call refusal", &text))?)
            }
            None => None,
        },
    })
}

#[async_trait]
impl ToolCallStore for ThisStore {
    async fn insert_tool_calls(&self, calls: &[ToolCall]) -> Result<()> {
        if calls.is_empty() {
            return Ok(());
        }
        // One multi-row INSERT per chunk: a batch costs a round trip per
        // `ROWS_PER_INSERT` calls, not one per call. On SQLite the recorded calls have a
        // file of their own, and so a lock of their own: the transaction begins deferred
        // (its first statement writes) so that it takes that file's lock only, and the
        // progress writes go on meanwhile (`write_turn`).
        let _turn = self
            .write_turn
            .take(crate::write_turn::Writer::Analytics)
            .await;
        let mut tx = self.begin_writing().await?;
        for chunk in calls.chunks(ROWS_PER_INSERT) {
            self.count(1);
            let mut insert = sqlx::QueryBuilder::<Db>::new(format!(
                "INSERT INTO tool_calls ({TOOL_CALL_COLUMNS}) "
            ));
            insert.push_values(chunk, |mut row, call| {
                row.push_bind(call.id.as_str())
                    .push_bind(call.org_id.as_str())
                    .push_bind(call.server_id.as_str())
                    .push_bind(call.session_id.as_ref().map(SessionId::as_str))
                    .push_bind(call.end_user_id.as_ref().map(|id| id.as_str()))
                    .push_bind(&call.tool_name)
                    .push_bind(&call.arguments)
                    .push_bind(&call.result_summary)
                    .push_bind(call.is_error)
                    .push_bind(call.error_code)
                    .push_bind(call.duration_us)
                    .push_bind(call.created_at.micros())
                    .push_bind(call.upstream_id.as_ref().map(|id| id.as_str()))
                    .push_bind(call.is_test)
                    .push_bind(call.refusal.map(CallRefusal::as_str));
            });
            insert.build().execute(traced(&mut *tx)).await?;
        }
        // Hourly rows, then daily ones, each in key order: writers lock the rows they
        // share in the same order.
        for grain in Grain::ALL {
            for chunk in rollups_of(calls, grain).chunks(ROLLUP_ROWS_PER_STATEMENT) {
                self.count(1);
                add_to_rollups(grain, chunk)
                    .build()
                    .execute(&mut *tx)
                    .await?;
            }
        }
        self.count(1);
        super::commit(tx).await?;
        Ok(())
    }

    async fn list_tool_calls(
        &self,
        org: &OrgId,
        filter: &ToolCallFilter,
        page: &PageRequest,
    ) -> Result<Page<ToolCall>> {
        let mut query = listing("", org, filter, page);
        self.count(1);
        let found = query.build().fetch_all(&self.pool).await?;
        Ok(page_of(rows(found, tool_call)?, page.limit, |c| Cursor {
            created_at: c.created_at,
            id: c.id.to_string(),
        }))
    }

    async fn explain_tool_call_listing(
        &self,
        org: &OrgId,
        filter: &ToolCallFilter,
        page: &PageRequest,
    ) -> Result<Vec<String>> {
        let head = explain_prefix();
        let mut query = listing(head, org, filter, page);
        self.count(1);
        let found = query.build().fetch_all(&self.pool).await?;
        plan_lines(&found)
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

    async fn prune_tool_call_rollups(&self, before: Timestamp, limit: u32) -> Result<u64> {
        self.prune_rollups(before, limit).await
    }

    async fn tool_rollups(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<ToolRollup>> {
        self.rollups_by_tool(org, server, since, until).await
    }

    async fn explain_tool_rollups(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<String>> {
        self.explain_rollups_by_tool(org, server, since, until)
            .await
    }

    async fn tool_call_buckets(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
        bucket_seconds: i64,
    ) -> Result<Vec<ToolCallBucket>> {
        self.rollup_buckets(org, server, since, until, bucket_seconds)
            .await
    }

    async fn refused_tools(
        &self,
        org: &OrgId,
        server: &ServerId,
        since: Timestamp,
    ) -> Result<Vec<RefusedTool>> {
        // Through the partial index of refused calls by server and time: the calls that
        // ran are never read.
        let sql = format!(
            "SELECT tool_name, refusal, upstream_id, COUNT(*) AS calls, \
             MAX(created_at) AS last_called_at FROM tool_calls \
             WHERE server_id = $2 AND created_at >= $3 AND refusal IS NOT NULL \
             AND org_id = $1 AND NOT is_test \
             GROUP BY tool_name, refusal, upstream_id \
             ORDER BY calls DESC, tool_name, refusal LIMIT {MAX_REFUSED_TOOLS}"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(server.as_str())
            .bind(since.micros())
            .fetch_all(self.run())
            .await?;
        rows(found, |row| {
            let refusal = text(row, "refusal")?;
            let calls: i64 = row.try_get("calls")?;
            Ok(RefusedTool {
                tool_name: text(row, "tool_name")?,
                refusal: CallRefusal::parse(&refusal)
                    .ok_or_else(|| corrupt("call refusal", &refusal))?,
                upstream_id: opt_text(row, "upstream_id")?.map(Id::from_trusted),
                calls: calls.max(0) as u64,
                last_called_at: time(row, "last_called_at")?,
            })
        })
    }
}

/// The most groups of refused calls one report lists (the most called first).
const MAX_REFUSED_TOOLS: i64 = 200;

/// Recorded calls per INSERT: the analytics writer's whole batch (500 calls) in one
/// statement. 15 parameters a row, 7,500 in all, stays under both backends' limits
/// (SQLite 32,766, PostgreSQL 65,535).
const ROWS_PER_INSERT: usize = 500;

/// Rollup rows per upsert: 68 parameters a row stays under both backends' limits.
const ROLLUP_ROWS_PER_STATEMENT: usize = 200;

/// Which filter picks the index a listing walks: the narrowest one set.
#[derive(PartialEq)]
enum Leading {
    Person,
    Tool,
    Server,
    Organization,
}

/// The listing's statement. Only the leading filter's columns are compared plainly; the
/// others are compared as `column || ''`, which no index serves, so that neither planner
/// walks a broader index by time and filters (SQLite without statistics picks among
/// indexes that look alike by their order, and walked the organization's calls for a person
/// with five).
fn listing(
    head: &str,
    org: &OrgId,
    filter: &ToolCallFilter,
    page: &PageRequest,
) -> sqlx::QueryBuilder<Db> {
    let leading = match filter {
        ToolCallFilter {
            end_user_id: Some(_),
            ..
        } => Leading::Person,
        ToolCallFilter {
            tool_name: Some(_), ..
        } => Leading::Tool,
        ToolCallFilter {
            server_id: Some(_), ..
        } => Leading::Server,
        _ => Leading::Organization,
    };
    let column = |name: &str, indexed: bool| {
        if indexed {
            format!(" AND {name} = ")
        } else {
            format!(" AND {name} || '' = ")
        }
    };
    let mut query = sqlx::QueryBuilder::<Db>::new(format!(
        "{head}SELECT {TOOL_CALL_COLUMNS} FROM tool_calls WHERE 1 = 1"
    ));
    let org_leads = matches!(leading, Leading::Tool | Leading::Organization);
    query
        .push(column("org_id", org_leads))
        .push_bind(org.as_str());
    if let Some(person) = &filter.end_user_id {
        query
            .push(column("end_user_id", true))
            .push_bind(person.as_str());
    }
    if let Some(tool) = &filter.tool_name {
        let indexed = leading == Leading::Tool;
        query
            .push(column("tool_name", indexed))
            .push_bind(tool.as_str());
    }
    if let Some(server) = &filter.server_id {
        let indexed = leading == Leading::Server;
        query
            .push(column("server_id", indexed))
            .push_bind(server.as_str());
    }
    if let Some(upstream) = &filter.upstream_id {
        query
            .push(" AND upstream_id = ")
            .push_bind(upstream.as_str());
    }
    if filter.errors_only {
        query.push(" AND is_error");
    }
    if let Some(since) = filter.since {
        query.push(" AND created_at >= ").push_bind(since.micros());
    }
    if let Some(until) = filter.until {
        query.push(" AND created_at < ").push_bind(until.micros());
    }
    if let Some(after) = &page.after {
        let at = after.created_at.micros();
        query.push(" AND (created_at < ").push_bind(at);
        query.push(" OR (created_at = ").push_bind(at);
        query
            .push(" AND id < ")
            .push_bind(after.id.clone())
            .push("))");
    }
    query.push(" ORDER BY created_at DESC, id DESC LIMIT ");
    query.push_bind(i64::from(page.limit) + 1);
    query
}
