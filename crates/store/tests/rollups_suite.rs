//! Hourly rollups of tool calls: what the analytics reports read instead of the
//! calls, added to with each batch (their daily twins and pruning: `daily_rollups_suite`);
//! and the call listing, whose plan is pinned so that a filter never walks the
//! organization's calls by time.

mod common;

use common::*;
use guidepost_domain::*;
use guidepost_store::{ROLLUP_MICROS, ToolCallFilter};
use guidepost_testkit::{TestDatabase, backend_tests};

/// The start of the hour that holds `T0`.
fn hour(n: i64) -> Timestamp {
    Timestamp::from_micros(T0.div_euclid(ROLLUP_MICROS) * ROLLUP_MICROS + n * ROLLUP_MICROS)
}

fn after(start: Timestamp, seconds: i64) -> Timestamp {
    start.plus_seconds(seconds)
}

async fn rollups_add_up_across_batches_and_hours(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let globex = new_org(&store, "Globex").await;
    let docs = new_server(&store, &acme, "acme-docs").await;
    let help = new_server(&store, &acme, "acme-help").await;
    let theirs = new_server(&store, &globex, "globex").await;
    let call = |server: &ServerId, tool: &str, at: Timestamp, duration_us: i64, error: bool| {
        let mut call = tool_call(
            if server == &theirs.id { &globex } else { &acme },
            server,
            tool,
            at,
        );
        call.duration_us = duration_us;
        call.is_error = error;
        call
    };
    store
        .insert_tool_calls(&[
            call(&docs.id, "search", after(hour(0), 10), 900, true),
            call(&theirs.id, "search", after(hour(0), 10), 5_000_000, false),
        ])
        .await
        .unwrap();
    // A second batch into the same hour adds to its rollup.
    store
        .insert_tool_calls(&[
            call(&docs.id, "search", after(hour(0), 1_200), 1_100, false),
            call(&help.id, "lookup", after(hour(1), 5), 30_000, false),
        ])
        .await
        .unwrap();

    let two_hours = store
        .tool_rollups(&acme, None, hour(0), hour(2))
        .await
        .unwrap();
    let lines: Vec<_> = two_hours
        .iter()
        .map(|r| {
            (
                r.tool_name.as_str(),
                r.calls,
                r.errors,
                r.max_us,
                r.latencies.total(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [("lookup", 1, 0, 30_000, 1), ("search", 2, 1, 1_100, 2)],
        "Globex's slow call is not Acme's"
    );
    let search = &two_hours[1];
    assert_eq!(search.latencies.percentile(50.0, search.max_us), 1_000);
    assert_eq!(search.latencies.percentile(99.0, search.max_us), 1_100);

    let first_hour = store
        .tool_rollups(&acme, None, hour(0), hour(1))
        .await
        .unwrap();
    assert_eq!(first_hour.len(), 1, "the window's end is excluded");
    let on_help = store
        .tool_rollups(&acme, Some(&help.id), hour(0), hour(2))
        .await
        .unwrap();
    assert_eq!(on_help.len(), 1);
    assert_eq!(on_help[0].tool_name, "lookup");

    let mut buckets = store
        .tool_call_buckets(&acme, None, hour(0), hour(3), 3_600)
        .await
        .unwrap();
    buckets.sort_by_key(|b| b.index);
    let counts: Vec<_> = buckets
        .iter()
        .map(|b| (b.index, b.calls, b.errors))
        .collect();
    assert_eq!(counts, [(0, 2, 1), (1, 1, 0)]);
    let whole = store
        .tool_call_buckets(&acme, None, hour(0), hour(24), 86_400)
        .await
        .unwrap();
    assert_eq!((whole[0].calls, whole[0].errors), (3, 1));
}

async fn test_calls_are_listed_but_left_out_of_the_rollups(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let docs = new_server(&store, &acme, "acme-docs").await;
    let tested = |at: Timestamp, error: bool| {
        let mut call = tool_call(&acme, &docs.id, "search", at);
        (call.is_test, call.is_error, call.duration_us) = (true, error, 9_000_000);
        call
    };
    // A batch of test calls only, then one that mixes them with an agent's.
    store
        .insert_tool_calls(&[tested(after(hour(0), 5), true)])
        .await
        .unwrap();
    store
        .insert_tool_calls(&[
            tested(after(hour(0), 6), false),
            tool_call(&acme, &docs.id, "search", after(hour(0), 7)),
        ])
        .await
        .unwrap();

    let rollups = store
        .tool_rollups(&acme, None, hour(0), hour(1))
        .await
        .unwrap();
    let lines: Vec<_> = rollups
        .iter()
        .map(|r| (r.tool_name.as_str(), r.calls, r.errors, r.max_us))
        .collect();
    assert_eq!(lines, [("search", 1, 0, 100)], "the agent's call only");
    let buckets = store
        .tool_call_buckets(&acme, None, hour(0), hour(1), 3_600)
        .await
        .unwrap();
    let counts: Vec<_> = buckets.iter().map(|b| (b.calls, b.errors)).collect();
    assert_eq!(counts, [(1, 0)]);
    // The log keeps all three, the test calls marked.
    let listed = all_tool_calls(&store, &acme, &ToolCallFilter::default()).await;
    let mut marks: Vec<bool> = listed.iter().map(|c| c.is_test).collect();
    marks.sort();
    assert_eq!(marks, [false, true, true]);
}

/// Acme's calls: 1,500 by busy people and the organization's own, and three by `quiet`.
async fn seeded_calls(
    store: &std::sync::Arc<dyn guidepost_store::Store>,
) -> (OrgId, ServerId, ServerId, EndUserId) {
    let acme = new_org(store, "Acme").await;
    let docs = new_server(store, &acme, "acme-docs").await;
    let help = new_server(store, &acme, "acme-help").await;
    let busy: Vec<EndUserId> = (0..5).map(|_| EndUserId::generate()).collect();
    let quiet = EndUserId::generate();
    let upstream = UpstreamId::generate();
    let mut calls: Vec<ToolCall> = (0..1_500i64)
        .map(|i| {
            let server = if i % 2 == 0 { &docs.id } else { &help.id };
            let mut call = tool_call(
                &acme,
                server,
                ["search", "lookup"][(i % 2) as usize],
                at(i * 1_000_000),
            );
            call.end_user_id = Some(busy[(i % 5) as usize].clone());
            call.is_error = i % 50 == 0;
            call.upstream_id = (i % 3 == 0).then(|| upstream.clone());
            call
        })
        .collect();
    for i in 0..3 {
        let mut call = tool_call(&acme, &help.id, "search", at(i * 400_000_000));
        call.end_user_id = Some(quiet.clone());
        call.is_error = i == 1;
        calls.push(call);
    }
    store.insert_tool_calls(&calls).await.unwrap();
    (acme, docs.id, help.id, quiet)
}

async fn a_persons_calls_are_read_through_their_own_index(db: &TestDatabase) {
    let store = open(db).await;
    let (acme, docs, help, quiet) = seeded_calls(&store).await;
    let page = PageRequest::first(10);
    let plan = async |filter: ToolCallFilter| {
        store
            .explain_tool_call_listing(&acme, &filter, &page)
            .await
            .unwrap()
            .join("\n")
    };
    let person = ToolCallFilter {
        end_user_id: Some(quiet.clone()),
        ..Default::default()
    };
    // The support request's context: the person on one server.
    let person_on_server = ToolCallFilter {
        server_id: Some(help.clone()),
        ..person.clone()
    };
    let tool_errors = ToolCallFilter {
        tool_name: Some("search".into()),
        server_id: Some(docs.clone()),
        errors_only: true,
        ..Default::default()
    };
    // Errors only: the failed calls' own partial indexes (migration 0023).
    let errors = ToolCallFilter {
        errors_only: true,
        ..Default::default()
    };
    let person_errors = ToolCallFilter {
        errors_only: true,
        ..person.clone()
    };
    for (filter, index) in [
        (person.clone(), "tool_calls_end_user"),
        (person_on_server.clone(), "tool_calls_end_user"),
        (tool_errors, "tool_calls_tool_errors"),
        // Either failed-call index that starts with the organization (which one is the
        // planner's choice on PostgreSQL with this few rows).
        (errors, "_errors"),
        (person_errors, "tool_calls_end_user_errors"),
        // The whole organization: by time through an index (which one is the planner's
        // choice on PostgreSQL), never a scan of every organization's calls.
        (ToolCallFilter::default(), "tool_calls_"),
    ] {
        let plan = plan(filter.clone()).await;
        assert!(
            plan.contains(index),
            "{filter:?} should use {index}:\n{plan}"
        );
        for line in plan.lines() {
            let line = line.trim().trim_start_matches("->").trim();
            assert!(
                !(line == "SCAN tool_calls" || line.starts_with("Seq Scan on tool_calls")),
                "{filter:?} scans every call:\n{plan}"
            );
        }
    }

    let found = store
        .list_tool_calls(&acme, &person_on_server, &page)
        .await
        .unwrap();
    assert_eq!(found.items.len(), 3);
    assert!(
        found
            .items
            .windows(2)
            .all(|w| w[0].created_at > w[1].created_at)
    );
}

async fn listings_filter_by_errors_upstream_and_time(db: &TestDatabase) {
    let store = open(db).await;
    let (acme, _, _, quiet) = seeded_calls(&store).await;
    let count = async |filter: ToolCallFilter| all_tool_calls(&store, &acme, &filter).await.len();
    let errors = ToolCallFilter {
        errors_only: true,
        ..Default::default()
    };
    assert_eq!(count(errors.clone()).await, 30 + 1);
    let quiet_errors = ToolCallFilter {
        end_user_id: Some(quiet.clone()),
        ..errors.clone()
    };
    assert_eq!(count(quiet_errors).await, 1);
    let by_upstream = all_tool_calls(&store, &acme, &ToolCallFilter::default())
        .await
        .into_iter()
        .find_map(|c| c.upstream_id)
        .unwrap();
    let through_upstream = ToolCallFilter {
        upstream_id: Some(by_upstream),
        ..Default::default()
    };
    assert_eq!(count(through_upstream).await, 500);
    let window = ToolCallFilter {
        since: Some(at(100_000_000)),
        until: Some(at(200_000_000)),
        ..Default::default()
    };
    assert_eq!(count(window).await, 100, "since included, until excluded");
}

backend_tests!(
    rollups_add_up_across_batches_and_hours,
    test_calls_are_listed_but_left_out_of_the_rollups,
    a_persons_calls_are_read_through_their_own_index,
    listings_filter_by_errors_upstream_and_time,
);
