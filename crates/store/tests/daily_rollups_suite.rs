//! Daily rollups of tool calls (migration 0028): written with the hourly ones, read for the
//! whole days of a report's window (the ragged hours at its ends from the hourly ones) with
//! the very sums the hours alone give, pruned with the hourly ones by whole days; and the
//! migration that fills them and takes the tool tester's calls out of older hourly rows.

mod common;

use std::collections::BTreeMap;

use common::*;
use guidepost_domain::*;
use guidepost_store::{ROLLUP_MICROS, Store, ToolRollup};
use guidepost_testkit::{TestDatabase, backend_tests};
use sqlx::Connection;

const DAY_MICROS: i64 = 24 * ROLLUP_MICROS;

/// The start of the UTC day `n` days after the one that holds `T0`.
fn day(n: i64) -> Timestamp {
    Timestamp::from_micros(T0.div_euclid(DAY_MICROS) * DAY_MICROS + n * DAY_MICROS)
}

fn hours_after(start: Timestamp, hours: i64) -> Timestamp {
    start.plus_seconds(hours * 3_600)
}

/// One tool's sums, comparable: calls, errors, the slowest call, the histogram and its
/// p50, p95 and p99.
type Line = (u64, u64, i64, Vec<u64>, [i64; 3]);

fn lines(rollups: &[ToolRollup]) -> BTreeMap<String, Line> {
    rollups
        .iter()
        .map(|r| {
            let p = |q| r.latencies.percentile(q, r.max_us);
            let line = (
                r.calls,
                r.errors,
                r.max_us,
                r.latencies.counts().to_vec(),
                [p(50.0), p(95.0), p(99.0)],
            );
            (r.tool_name.clone(), line)
        })
        .collect()
}

/// The report the hourly rows alone give: each hour of `[since, until)` read on its own
/// (a window shorter than a day reads no daily row) and summed here.
async fn summed_by_hour(
    store: &std::sync::Arc<dyn Store>,
    org: &OrgId,
    server: Option<&ServerId>,
    since: Timestamp,
    until: Timestamp,
) -> Vec<ToolRollup> {
    let mut tools: BTreeMap<String, ToolRollup> = BTreeMap::new();
    let mut hour = since;
    while hour < until {
        let next = hours_after(hour, 1);
        for r in store.tool_rollups(org, server, hour, next).await.unwrap() {
            let line = tools.entry(r.tool_name.clone()).or_insert(ToolRollup {
                tool_name: r.tool_name.clone(),
                calls: 0,
                errors: 0,
                max_us: 0,
                latencies: LatencyHistogram::default(),
            });
            line.calls += r.calls;
            line.errors += r.errors;
            line.max_us = line.max_us.max(r.max_us);
            line.latencies.add(&r.latencies);
        }
        hour = next;
    }
    tools.into_values().collect()
}

/// Three days of calls from the midnight before `T0`, one every 7 minutes, over two tools
/// on two servers, durations from 150 µs to about 3 s, every 9th an error.
async fn three_days(store: &std::sync::Arc<dyn Store>) -> (OrgId, ServerId) {
    let acme = new_org(store, "Acme").await;
    let docs = new_server(store, &acme, "acme-docs").await;
    let help = new_server(store, &acme, "acme-help").await;
    let calls: Vec<ToolCall> = (0..(3 * 24 * 60 / 7))
        .map(|i: i64| {
            let server = if i % 3 == 0 { &help.id } else { &docs.id };
            let tool = ["search", "lookup"][(i % 2) as usize];
            let mut call = tool_call(&acme, server, tool, day(0).plus_seconds(i * 7 * 60));
            call.duration_us = 150 + (i * i * 7_919) % 3_000_000;
            call.is_error = i % 9 == 0;
            call
        })
        .collect();
    for batch in calls.chunks(150) {
        store.insert_tool_calls(batch).await.unwrap();
    }
    (acme, help.id)
}

async fn reports_over_ragged_windows_equal_the_hourly_sums(db: &TestDatabase) {
    let store = open(db).await;
    let (acme, help) = three_days(&store).await;
    let windows = [
        // From 05:00 on the first day to 07:00 on the third: one whole day between.
        (hours_after(day(0), 5), hours_after(day(2), 7)),
        // Three whole days, midnight to midnight: the daily rows only.
        (day(0), day(3)),
        // Two whole days and an hour at the end.
        (day(1), hours_after(day(3), 1)),
    ];
    for (since, until) in windows {
        for server in [None, Some(&help)] {
            let split = store
                .tool_rollups(&acme, server, since, until)
                .await
                .unwrap();
            let hourly = summed_by_hour(&store, &acme, server, since, until).await;
            assert_eq!(
                lines(&split),
                lines(&hourly),
                "{since:?}..{until:?} on {server:?}"
            );
            assert!(split.iter().all(|r| r.calls > 0), "the window holds calls");
        }
    }

    // Calls over time by day from a midnight (the daily rows) equal the hours, 24 a day.
    let by_day = store
        .tool_call_buckets(&acme, None, day(0), day(3), 86_400)
        .await
        .unwrap();
    let by_hour = store
        .tool_call_buckets(&acme, None, day(0), day(3), 3_600)
        .await
        .unwrap();
    let mut expected: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for bucket in &by_hour {
        let sums = expected.entry(bucket.index / 24).or_default();
        sums.0 += bucket.calls;
        sums.1 += bucket.errors;
    }
    let got: BTreeMap<i64, (u64, u64)> = by_day
        .iter()
        .map(|b| (b.index, (b.calls, b.errors)))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(got.len(), 3);
    // One bucket over a ragged window of 50 hours.
    let (since, until) = (hours_after(day(0), 5), hours_after(day(2), 7));
    let whole = store
        .tool_call_buckets(&acme, None, since, until, 50 * 3_600)
        .await
        .unwrap();
    let hourly: Vec<(u64, u64)> = store
        .tool_call_buckets(&acme, None, since, until, 3_600)
        .await
        .unwrap()
        .iter()
        .map(|b| (b.calls, b.errors))
        .collect();
    let summed = hourly
        .iter()
        .fold((0, 0), |(c, e), (calls, errors)| (c + calls, e + errors));
    assert_eq!(whole.len(), 1);
    assert_eq!((whole[0].calls, whole[0].errors), summed);
}

async fn a_report_of_whole_days_reads_the_daily_rollups(db: &TestDatabase) {
    let store = open(db).await;
    let (acme, help) = three_days(&store).await;
    for server in [None, Some(&help)] {
        let plan = store
            .explain_tool_rollups(&acme, server, day(-27), day(3))
            .await
            .unwrap()
            .join("\n");
        assert!(
            plan.contains("tool_call_daily_rollups"),
            "30 days read the daily rollups:\n{plan}"
        );
        for line in plan.lines() {
            let line = line.trim().trim_start_matches("->").trim();
            assert!(
                !(line == "SCAN tool_calls" || line.starts_with("Seq Scan on tool_calls ")),
                "a report never reads the calls:\n{plan}"
            );
        }
    }
}

async fn retention_deletes_both_grains_by_whole_days(db: &TestDatabase) {
    let store = open(db).await;
    let (acme, _) = three_days(&store).await;
    let calls_in = async |since: Timestamp, until: Timestamp| -> u64 {
        let rollups = store.tool_rollups(&acme, None, since, until).await.unwrap();
        rollups.iter().map(|r| r.calls).sum()
    };
    let first_day = calls_in(day(0), day(1)).await;
    let second_day = calls_in(day(1), day(2)).await;
    assert!(first_day > 0 && second_day > 0);
    // Half-way through the second day: only the first has wholly passed. Its 24 hourly
    // rows and its daily ones go (2 tools on 2 servers: at most 4 keys a day).
    let cutoff = hours_after(day(1), 12);
    let pruned = store.prune_tool_call_rollups(cutoff, 1_000).await.unwrap();
    assert!(pruned > 24, "hourly and daily rows: {pruned}");
    assert_eq!(
        store.prune_tool_call_rollups(cutoff, 1_000).await.unwrap(),
        0
    );
    // The first day read whole (its daily rows) and hour by hour: nothing left either way.
    assert_eq!(calls_in(day(0), day(1)).await, 0, "the daily rows are gone");
    assert_eq!(calls_in(hours_after(day(0), 23), day(1)).await, 0);
    // The second day is kept whole, in both grains.
    assert_eq!(calls_in(day(1), day(2)).await, second_day);
    assert_eq!(
        calls_in(hours_after(day(1), 1), day(2)).await
            + calls_in(day(1), hours_after(day(1), 1)).await,
        second_day
    );
    assert_eq!(
        store.prune_tool_call_rollups(day(3), 5).await.unwrap(),
        5,
        "a batch is bounded"
    );
}

/// Runs `statements` (separated by `;`) on the test database itself (on SQLite, with the
/// recorded calls' file attached, as the store has it).
async fn run_sql(db: &TestDatabase, statements: &str) {
    if let Some(path) = db.url.strip_prefix("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        let analytics = guidepost_store::analytics_file::beside(std::path::Path::new(path));
        guidepost_store::analytics_file::attach(&mut connection, analytics.to_str().unwrap())
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(statements))
            .execute(&mut connection)
            .await
            .unwrap();
    } else {
        let mut connection = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(statements))
            .execute(&mut connection)
            .await
            .unwrap();
    }
}

async fn the_migration_fills_the_days_and_takes_test_calls_out_of_older_hours(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let docs = new_server(&store, &acme, "acme-docs").await;
    let call = |hour: i64, duration_us: i64, test: bool| {
        let mut call = tool_call(&acme, &docs.id, "search", hours_after(day(0), hour));
        (call.duration_us, call.is_test, call.is_error) = (duration_us, test, test);
        call
    };
    store
        .insert_tool_calls(&[
            call(1, 500, false),
            call(3, 2_000, false),
            call(3, 9_000_000, true),
            call(30, 700, false),
        ])
        .await
        .unwrap();
    drop(store);
    // As a database was before migration 0028: no daily rollups, and the tool tester's
    // call of 03:00 summed into its hour (as the writer did from migration 0022 on).
    let hour_3 = hours_after(day(0), 3).micros();
    run_sql(
        db,
        &format!(
            "DROP TABLE tool_call_daily_rollups; \
             UPDATE tool_call_rollups SET calls = calls + 1, errors = errors + 1, \
             max_us = 9000000, l60 = l60 + 1 WHERE hour_start = {hour_3}; \
             DELETE FROM _sqlx_migrations WHERE version = 28"
        ),
    )
    .await;
    let store = open(db).await;
    let at_3 = store
        .tool_rollups(&acme, None, hours_after(day(0), 3), hours_after(day(0), 4))
        .await
        .unwrap();
    let line: Vec<_> = at_3.iter().map(|r| (r.calls, r.errors, r.max_us)).collect();
    assert_eq!(line, [(1, 0, 2_000)], "the agent's call only");
    // The days, from their hours: the first day has 01:00 and 03:00, the second 06:00.
    let days = store
        .tool_rollups(&acme, None, day(0), day(2))
        .await
        .unwrap();
    let hourly = summed_by_hour(&store, &acme, None, day(0), day(2)).await;
    assert_eq!(lines(&days), lines(&hourly));
    assert_eq!(
        (days[0].calls, days[0].max_us),
        (3, 2_000),
        "three agent calls"
    );
    let plan = store
        .explain_tool_rollups(&acme, None, day(0), day(2))
        .await
        .unwrap()
        .join("\n");
    assert!(plan.contains("tool_call_daily_rollups"), "{plan}");
}

backend_tests!(
    reports_over_ragged_windows_equal_the_hourly_sums,
    a_report_of_whole_days_reads_the_daily_rollups,
    retention_deletes_both_grains_by_whole_days,
    the_migration_fills_the_days_and_takes_test_calls_out_of_older_hours,
);
