//! Rollups of tool calls (calls, errors, the slowest, a latency histogram per
//! organization, server and tool) by UTC hour and by UTC day: both added to in the
//! transaction that inserts the calls, read by the reports (whole days from the daily
//! rows, the hours at a window's ends from the hourly ones), pruned by whole days.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use super::*;
use crate::{ROLLUP_MICROS, ToolCallBucket, ToolRollup};

/// The length of a daily rollup, in microseconds: they start on whole UTC days.
const DAY_MICROS: i64 = 24 * ROLLUP_MICROS;

/// The two grains rollups are kept at. A day's row is the sum of its hours' rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Grain {
    Hour,
    Day,
}

impl Grain {
    pub(super) const ALL: [Grain; 2] = [Grain::Hour, Grain::Day];

    fn table(self) -> &'static str {
        match self {
            Grain::Hour => "tool_call_rollups",
            Grain::Day => "tool_call_daily_rollups",
        }
    }

    fn start(self) -> &'static str {
        match self {
            Grain::Hour => "hour_start",
            Grain::Day => "day_start",
        }
    }

    fn micros(self) -> i64 {
        match self {
            Grain::Hour => ROLLUP_MICROS,
            Grain::Day => DAY_MICROS,
        }
    }

    fn upsert(self) -> &'static (String, String) {
        match self {
            Grain::Hour => &HOURLY_UPSERT,
            Grain::Day => &DAILY_UPSERT,
        }
    }
}

/// The histogram's columns, `l00` to `l60`, one per latency bucket.
static LATENCY_COLUMNS: LazyLock<Vec<String>> =
    LazyLock::new(|| (0..LATENCY_BUCKETS).map(|i| format!("l{i:02}")).collect());

static HOURLY_UPSERT: LazyLock<(String, String)> = LazyLock::new(|| upsert(Grain::Hour));
static DAILY_UPSERT: LazyLock<(String, String)> = LazyLock::new(|| upsert(Grain::Day));

/// The upsert's head (every column in insert order) and tail (counts add up, the slowest
/// call is the slower of the two).
fn upsert(grain: Grain) -> (String, String) {
    let (table, start) = (grain.table(), grain.start());
    let head = format!(
        "INSERT INTO {table} (org_id, {start}, server_id, tool_name, calls, errors, max_us, \
         {}) ",
        LATENCY_COLUMNS.join(", ")
    );
    let added = ["calls", "errors"]
        .iter()
        .map(|c| c.to_string())
        .chain(LATENCY_COLUMNS.iter().cloned())
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let tail = format!(
        " ON CONFLICT (org_id, {start}, server_id, tool_name) DO UPDATE SET {added}, \
         max_us = CASE WHEN excluded.max_us > {table}.max_us \
         THEN excluded.max_us ELSE {table}.max_us END"
    );
    (head, tail)
}

/// The rows a report reads, `columns` of each: the hourly rows of `[$3, $4)`, the daily
/// rows of `[$4, $5)` and the hourly rows of `[$5, $6)` (see [`Split`]), of organization
/// `$1` and, unless `$2` is null, server `$2`. `{start}` names the row's start in each.
fn window_rows(columns: &str) -> String {
    let branch = |grain: Grain, from: u8, to: u8| {
        let (table, start) = (grain.table(), grain.start());
        let columns = columns.replace("{start}", start);
        format!(
            "SELECT {columns} FROM {table} WHERE org_id = $1 AND ($2 IS NULL OR server_id = $2) \
             AND {start} >= ${from} AND {start} < ${to}"
        )
    };
    format!(
        "{} UNION ALL {} UNION ALL {}",
        branch(Grain::Hour, 3, 4),
        branch(Grain::Day, 4, 5),
        branch(Grain::Hour, 5, 6)
    )
}

/// The per-tool report's statement: each tool's sums over the window.
static TOOL_SUMS: LazyLock<String> = LazyLock::new(|| {
    let sums = LATENCY_COLUMNS
        .iter()
        .map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let columns = format!(
        "tool_name, calls, errors, max_us, {}",
        LATENCY_COLUMNS.join(", ")
    );
    format!(
        "SELECT tool_name, CAST(SUM(calls) AS BIGINT) AS calls, \
         CAST(SUM(errors) AS BIGINT) AS errors, MAX(max_us) AS max_us, {sums} \
         FROM ({}) AS rollups GROUP BY tool_name ORDER BY tool_name",
        window_rows(&columns)
    )
});

/// Calls and errors per bucket: integer division of the offset from `since` ($3) by the
/// bucket's length ($7) numbers the buckets in both dialects.
static BUCKET_SUMS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT (row_start - $3) / $7 AS bucket, CAST(SUM(calls) AS BIGINT) AS calls, \
         CAST(SUM(errors) AS BIGINT) AS errors FROM ({}) AS rollups \
         GROUP BY bucket ORDER BY bucket",
        window_rows("{start} AS row_start, calls, errors")
    )
});

/// Where a window `[since, until)` (on whole hours) reads which grain: hourly rows from
/// `since` to `days_from`, daily rows from `days_from` to `days_until`, hourly rows from
/// `days_until` to `until`. Since a day's row is the sum of its hours, any split gives the
/// same sums; this one reads the fewest rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Split {
    since: i64,
    days_from: i64,
    days_until: i64,
    until: i64,
}

impl Split {
    /// The whole days inside the window from the daily rows, the hours around them from
    /// the hourly ones; hours only if no whole day fits.
    fn of(since: i64, until: i64) -> Split {
        let days_from = (since + DAY_MICROS - 1).div_euclid(DAY_MICROS) * DAY_MICROS;
        let days_until = until.div_euclid(DAY_MICROS) * DAY_MICROS;
        if days_from < days_until {
            Split {
                since,
                days_from,
                days_until,
                until,
            }
        } else {
            Split::hours_only(since, until)
        }
    }

    fn hours_only(since: i64, until: i64) -> Split {
        Split {
            since,
            days_from: until,
            days_until: until,
            until,
        }
    }

    /// For buckets of `bucket` microseconds from `since`: a day may be read from its daily
    /// row only if it falls wholly in one bucket, which holds for every day when the
    /// buckets are whole days from a midnight, and for the days inside the window when it
    /// is a single bucket.
    fn for_buckets(since: i64, until: i64, bucket: i64) -> Split {
        let whole_days = bucket % DAY_MICROS == 0 && since.rem_euclid(DAY_MICROS) == 0;
        if whole_days || until - since <= bucket {
            Split::of(since, until)
        } else {
            Split::hours_only(since, until)
        }
    }
}

/// One rollup row's key: organization, start of the hour or day, server, tool.
type RollupKey<'a> = (&'a str, i64, &'a str, &'a str);

/// What a batch adds to one rollup row.
#[derive(Default)]
pub(super) struct RollupDelta {
    calls: u64,
    errors: u64,
    max_us: i64,
    latencies: LatencyHistogram,
}

/// A batch of calls summed per rollup row of `grain`, in key order (so that two writers
/// lock the rows they share in the same order, and one statement never touches a row
/// twice). Test calls (the dashboard's tool tester) are left out: the reports count what
/// agents did, and the call log still lists them, marked.
pub(super) fn rollups_of(calls: &[ToolCall], grain: Grain) -> Vec<(RollupKey<'_>, RollupDelta)> {
    let mut rows: BTreeMap<RollupKey<'_>, RollupDelta> = BTreeMap::new();
    let length = grain.micros();
    for call in calls.iter().filter(|call| !call.is_test) {
        let start = call.created_at.micros().div_euclid(length) * length;
        let key = (
            call.org_id.as_str(),
            start,
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

/// The upsert that adds `rows` to their rollups of `grain`.
pub(super) fn add_to_rollups(
    grain: Grain,
    rows: &[(RollupKey<'_>, RollupDelta)],
) -> sqlx::QueryBuilder<Db> {
    let (head, tail) = grain.upsert();
    let mut insert = sqlx::QueryBuilder::<Db>::new(head.as_str());
    insert.push_values(rows, |mut row, ((org, start, server, tool), delta)| {
        row.push_bind(*org)
            .push_bind(*start)
            .push_bind(*server)
            .push_bind(*tool)
            .push_bind(signed(delta.calls))
            .push_bind(signed(delta.errors))
            .push_bind(delta.max_us);
        for count in delta.latencies.counts() {
            row.push_bind(signed(*count));
        }
    });
    insert.push(tail.as_str());
    insert
}

fn signed(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn count(row: &DbRow, column: &str) -> Result<u64> {
    Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
}

impl ThisStore {
    /// Deletes up to `limit` rollups, hourly then daily, of the UTC days that ended by
    /// `before`: both grains always cover the same days, so a report reads the same sums
    /// whichever it reads a day from.
    pub(super) async fn prune_rollups(&self, before: Timestamp, limit: u32) -> Result<u64> {
        let first_kept_day = before.micros().div_euclid(DAY_MICROS) * DAY_MICROS;
        let mut deleted = 0;
        for grain in Grain::ALL {
            let left = u64::from(limit).saturating_sub(deleted);
            if left == 0 {
                break;
            }
            let (table, start) = (grain.table(), grain.start());
            let statement = format!(
                "DELETE FROM {table} WHERE (org_id, {start}, server_id, tool_name) IN \
                 (SELECT org_id, {start}, server_id, tool_name FROM {table} \
                  WHERE {start} < $1 ORDER BY {start} LIMIT $2)"
            );
            let done = sqlx::query(sqlx::AssertSqlSafe(statement))
                .bind(first_kept_day)
                .bind(signed(left))
                .execute(self.run())
                .await?;
            deleted += done.rows_affected();
        }
        Ok(deleted)
    }

    pub(super) async fn rollups_by_tool(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<ToolRollup>> {
        let split = Split::of(since.micros(), until.micros());
        let found = split
            .bind(
                sqlx::query(sqlx::AssertSqlSafe(TOOL_SUMS.as_str())),
                org,
                server,
            )
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

    /// The database's plan for [`Self::rollups_by_tool`], a line per step.
    pub(super) async fn explain_rollups_by_tool(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<String>> {
        let head = explain_prefix();
        let statement = format!("{head}{}", TOOL_SUMS.as_str());
        let split = Split::of(since.micros(), until.micros());
        let found = split
            .bind(sqlx::query(sqlx::AssertSqlSafe(statement)), org, server)
            .fetch_all(self.run())
            .await?;
        plan_lines(&found)
    }

    pub(super) async fn rollup_buckets(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
        bucket_seconds: i64,
    ) -> Result<Vec<ToolCallBucket>> {
        let bucket = bucket_seconds.max(1).saturating_mul(1_000_000);
        let split = Split::for_buckets(since.micros(), until.micros(), bucket);
        let found = split
            .bind(
                sqlx::query(sqlx::AssertSqlSafe(BUCKET_SUMS.as_str())),
                org,
                server,
            )
            .bind(bucket)
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

impl Split {
    /// Binds `$1` to `$6` of [`window_rows`].
    fn bind<'q>(
        self,
        query: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>,
        org: &'q OrgId,
        server: Option<&'q ServerId>,
    ) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments> {
        query
            .bind(org.as_str())
            .bind(server.map(|id| id.as_str()))
            .bind(self.since)
            .bind(self.days_from)
            .bind(self.days_until)
            .bind(self.until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = ROLLUP_MICROS;
    const DAY: i64 = DAY_MICROS;

    #[test]
    fn a_window_reads_its_whole_days_from_the_daily_rows() {
        let since = 10 * DAY + 5 * HOUR;
        let until = 40 * DAY + 3 * HOUR;
        assert_eq!(
            Split::of(since, until),
            Split {
                since,
                days_from: 11 * DAY,
                days_until: 40 * DAY,
                until
            }
        );
        // Midnight to midnight: days only; less than a whole day: hours only.
        let days = Split::of(10 * DAY, 40 * DAY);
        assert_eq!((days.days_from, days.days_until), (10 * DAY, 40 * DAY));
        let hours = Split::of(10 * DAY + HOUR, 11 * DAY + 23 * HOUR);
        assert_eq!(
            (hours.days_from, hours.days_until),
            (hours.until, hours.until)
        );
    }

    #[test]
    fn buckets_read_a_day_only_when_it_falls_in_one_bucket() {
        // Hourly buckets never read days.
        let hourly = Split::for_buckets(10 * DAY, 12 * DAY, HOUR);
        assert_eq!(hourly.days_from, hourly.until);
        // Daily buckets from midnight read every day.
        let daily = Split::for_buckets(10 * DAY, 40 * DAY, DAY);
        assert_eq!((daily.days_from, daily.days_until), (10 * DAY, 40 * DAY));
        // Daily buckets from 05:00: a day straddles two buckets.
        let shifted = Split::for_buckets(10 * DAY + 5 * HOUR, 12 * DAY + 5 * HOUR, DAY);
        assert_eq!(shifted.days_from, shifted.until);
        // One bucket as wide as the window: its whole days.
        let one = Split::for_buckets(10 * DAY + 5 * HOUR, 12 * DAY + 5 * HOUR, 2 * DAY);
        assert_eq!((one.days_from, one.days_until), (11 * DAY, 12 * DAY));
    }
}
