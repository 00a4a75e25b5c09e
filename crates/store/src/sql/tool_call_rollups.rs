//! Hourly rollups of tool calls (calls, errors, the slowest, a latency histogram per
//! organization, server and tool): added to in the transaction that inserts the calls,
//! read by the reports, pruned with the calls.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use super::*;
use crate::{ROLLUP_MICROS, ToolCallBucket, ToolRollup};

/// The histogram's columns, `l00` to `l60`, one per latency bucket.
static LATENCY_COLUMNS: LazyLock<Vec<String>> =
    LazyLock::new(|| (0..LATENCY_BUCKETS).map(|i| format!("l{i:02}")).collect());

/// The upsert's head: every column in insert order.
static INSERT_HEAD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO tool_call_rollups (org_id, hour_start, server_id, tool_name, calls, \
         errors, max_us, {}) ",
        LATENCY_COLUMNS.join(", ")
    )
});

/// The upsert's tail: counts add up, the slowest call is the slower of the two.
static ON_CONFLICT: LazyLock<String> = LazyLock::new(|| {
    let added = ["calls", "errors"]
        .iter()
        .map(|c| c.to_string())
        .chain(LATENCY_COLUMNS.iter().cloned())
        .map(|c| format!("{c} = tool_call_rollups.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        " ON CONFLICT (org_id, hour_start, server_id, tool_name) DO UPDATE SET {added}, \
         max_us = CASE WHEN excluded.max_us > tool_call_rollups.max_us \
         THEN excluded.max_us ELSE tool_call_rollups.max_us END"
    )
});

/// The per-tool report's statement: each tool's sums over the window.
static TOOL_SUMS: LazyLock<String> = LazyLock::new(|| {
    let sums = LATENCY_COLUMNS
        .iter()
        .map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT tool_name, CAST(SUM(calls) AS BIGINT) AS calls, \
         CAST(SUM(errors) AS BIGINT) AS errors, MAX(max_us) AS max_us, {sums} \
         FROM tool_call_rollups WHERE org_id = $1 AND ($2 IS NULL OR server_id = $2) \
         AND hour_start >= $3 AND hour_start < $4 GROUP BY tool_name ORDER BY tool_name"
    )
});

/// One rollup row's key: organization, hour, server, tool.
type RollupKey<'a> = (&'a str, i64, &'a str, &'a str);

/// What a batch adds to one rollup row.
#[derive(Default)]
pub(super) struct RollupDelta {
    calls: u64,
    errors: u64,
    max_us: i64,
    latencies: LatencyHistogram,
}

/// A batch of calls summed per rollup row, in key order (so that two writers lock the rows
/// they share in the same order, and one statement never touches a row twice). Test calls
/// (the dashboard's tool tester) are left out: the reports count what agents did, and the
/// call log still lists them, marked.
pub(super) fn rollups_of(calls: &[ToolCall]) -> Vec<(RollupKey<'_>, RollupDelta)> {
    let mut rows: BTreeMap<RollupKey<'_>, RollupDelta> = BTreeMap::new();
    for call in calls.iter().filter(|call| !call.is_test) {
        let hour = call.created_at.micros().div_euclid(ROLLUP_MICROS) * ROLLUP_MICROS;
        let key = (
            call.org_id.as_str(),
            hour,
            call.server_id.as_str(),
            call.tool_name.as_str(),
        );
        let row = rows.entry(key).or_default();
        row.calls += 1;
        row.errors += u64::from(call.is_error);
        row.max_us = row.max_us.max(call.duration_us);
        row.latencies.record(call.duration_us);
    }
    rows.into_iter().collect()
}

/// The upsert that adds `rows` to their rollups.
pub(super) fn add_to_rollups(rows: &[(RollupKey<'_>, RollupDelta)]) -> sqlx::QueryBuilder<Db> {
    let mut insert = sqlx::QueryBuilder::<Db>::new(INSERT_HEAD.as_str());
    insert.push_values(rows, |mut row, ((org, hour, server, tool), delta)| {
        row.push_bind(*org)
            .push_bind(*hour)
            .push_bind(*server)
            .push_bind(*tool)
            .push_bind(signed(delta.calls))
            .push_bind(signed(delta.errors))
            .push_bind(delta.max_us);
        for count in delta.latencies.counts() {
            row.push_bind(signed(*count));
        }
    });
    insert.push(ON_CONFLICT.as_str());
    insert
}

fn signed(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn count(row: &DbRow, column: &str) -> Result<u64> {
    Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
}

impl ThisStore {
    pub(super) async fn prune_rollups(&self, before: Timestamp, limit: u32) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM tool_call_rollups WHERE (org_id, hour_start, server_id, tool_name) IN \
             (SELECT org_id, hour_start, server_id, tool_name FROM tool_call_rollups \
              WHERE hour_start <= $1 ORDER BY hour_start LIMIT $2)",
        )
        .bind(before.micros() - ROLLUP_MICROS)
        .bind(i64::from(limit))
        .execute(self.run())
        .await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn rollups_by_tool(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<ToolRollup>> {
        let found = sqlx::query(sqlx::AssertSqlSafe(TOOL_SUMS.as_str()))
            .bind(org.as_str())
            .bind(server.map(|id| id.as_str()))
            .bind(since.micros())
            .bind(until.micros())
            .fetch_all(self.run())
            .await?;
        found
            .iter()
            .map(|row| {
                let counts = LATENCY_COLUMNS
                    .iter()
                    .map(|c| count(row, c))
                    .collect::<Result<Vec<u64>>>()?;
                Ok(ToolRollup {
                    tool_name: text(row, "tool_name")?,
                    calls: count(row, "calls")?,
                    errors: count(row, "errors")?,
                    max_us: row.try_get("max_us")?,
                    latencies: LatencyHistogram::from_counts(counts),
                })
            })
            .collect()
    }

    pub(super) async fn rollup_buckets(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
        bucket_seconds: i64,
    ) -> Result<Vec<ToolCallBucket>> {
        // Integer division of the offset from `since` numbers the buckets in both dialects.
        let found = sqlx::query(
            "SELECT (hour_start - $3) / $5 AS bucket, CAST(SUM(calls) AS BIGINT) AS calls, \
             CAST(SUM(errors) AS BIGINT) AS errors FROM tool_call_rollups \
             WHERE org_id = $1 AND ($2 IS NULL OR server_id = $2) \
             AND hour_start >= $3 AND hour_start < $4 GROUP BY bucket ORDER BY bucket",
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
                Ok(ToolCallBucket {
                    index: row.try_get("bucket")?,
                    calls: count(row, "calls")?,
                    errors: count(row, "errors")?,
                })
            })
            .collect()
    }
}
