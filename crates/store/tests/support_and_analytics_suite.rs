//! Support requests and recorded tool calls, on every backend: filters, status changes,
//! batched inserts, paging and the duration report.

mod common;

use guidepost_domain::*;
use guidepost_store::{ROLLUP_MICROS, SupportRequestFilter, ToolCallFilter, analytics_file};
use guidepost_testkit::{TestBackend, TestDatabase, backend_tests};

use common::{
    T0, all_pages, all_tool_calls, assert_not_found, at, ids, json, new_org, new_server,
    new_support_request, open, secs, tool_call,
};

async fn support_requests_filter_and_change_status(db: &TestDatabase) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let docs = new_server(&store, &org, "acme-docs").await;
    let help = new_server(&store, &org, "acme-help").await;
    let user = store
        .end_user_for_tracking_id(&org, "visitor", secs(0))
        .await
        .unwrap();

    let first = store
        .create_support_request(
            &new_support_request(&org, &docs.id, Some(&user.id), "Login"),
            secs(1),
        )
        .await
        .unwrap();
    assert_eq!(first.status, SupportStatus::Open);
    assert_eq!(
        (&first.org_id, &first.server_id, first.end_user_id.as_ref()),
        (&org, &docs.id, Some(&user.id))
    );
    assert_eq!(
        (first.email.as_str(), first.title.as_str()),
        ("ada@example.com", "Login")
    );
    assert_eq!(first.description, "Login: details");
    assert_eq!(first.context.as_deref(), Some("step 3 of onboarding"));
    assert_eq!((first.created_at, first.updated_at), (secs(1), secs(1)));
    let second = store
        .create_support_request(
            &new_support_request(&org, &help.id, None, "Billing"),
            secs(2),
        )
        .await
        .unwrap();
    let third = store
        .create_support_request(
            &new_support_request(&org, &docs.id, None, "Export"),
            secs(3),
        )
        .await
        .unwrap();
    assert_not_found(
        store
            .create_support_request(
                &new_support_request(&org, &ServerId::generate(), None, "x"),
                secs(4),
            )
            .await,
        "support request for an unknown server",
    );

    let list = async |server: Option<&ServerId>, status: Option<SupportStatus>| {
        let filter = SupportRequestFilter {
            server_id: server.cloned(),
            status,
            end_user_id: None,
        };
        let pages = all_pages(2, async |p| {
            store
                .list_support_requests(&org, &filter, &p)
                .await
                .unwrap()
        })
        .await;
        pages
            .concat()
            .iter()
            .map(|r| r.title.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        list(None, None).await,
        ["Export", "Billing", "Login"],
        "newest first, across pages"
    );
    assert_eq!(list(Some(&docs.id), None).await, ["Export", "Login"]);
    assert_eq!(
        list(None, Some(SupportStatus::Open)).await,
        ["Export", "Billing", "Login"]
    );

    let updated = store
        .update_support_request_status(&org, &first.id, SupportStatus::InProgress, secs(10))
        .await
        .unwrap();
    assert_eq!(
        (updated.id.clone(), updated.status),
        (first.id.clone(), SupportStatus::InProgress)
    );
    assert_eq!(
        (updated.created_at, updated.updated_at),
        (secs(1), secs(10))
    );
    assert_eq!(list(None, Some(SupportStatus::InProgress)).await, ["Login"]);
    assert_eq!(
        list(None, Some(SupportStatus::Open)).await,
        ["Export", "Billing"]
    );
    assert_eq!(
        list(Some(&docs.id), Some(SupportStatus::Open)).await,
        ["Export"]
    );
    assert!(
        list(Some(&help.id), Some(SupportStatus::Resolved))
            .await
            .is_empty()
    );
    store
        .update_support_request_status(&org, &second.id, SupportStatus::Resolved, secs(11))
        .await
        .unwrap();
    store
        .update_support_request_status(&org, &third.id, SupportStatus::Closed, secs(12))
        .await
        .unwrap();
    assert_eq!(list(None, Some(SupportStatus::Closed)).await, ["Export"]);
    assert_eq!(list(None, Some(SupportStatus::Resolved)).await, ["Billing"]);
    assert_not_found(
        store
            .update_support_request_status(
                &org,
                &SupportRequestId::generate(),
                SupportStatus::Closed,
                secs(13),
            )
            .await,
        "unknown support request",
    );
}

async fn tool_calls_batch_list_and_report(db: &TestDatabase) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let other_org = new_org(&store, "Beta").await;
    let docs = new_server(&store, &org, "acme-docs").await;
    let help = new_server(&store, &org, "acme-help").await;
    let other_server = new_server(&store, &other_org, "beta-srv").await;
    let users = [EndUserId::generate(), EndUserId::generate()];
    const TOOLS: [&str; 3] = ["list_walkthroughs", "next_step", "create_support_request"];

    // 1200 calls, four to each millisecond (ties that paging must break by id).
    let calls: Vec<ToolCall> = (0..1200i64)
        .map(|i| {
            let server = if i % 4 == 0 { &help } else { &docs };
            let mut call = tool_call(
                &org,
                &server.id,
                TOOLS[(i % 3) as usize],
                at((i / 4) * 1000),
            );
            call.session_id = (i % 2 == 0).then(SessionId::generate);
            call.end_user_id = (i % 5 != 0).then(|| users[(i % 2) as usize].clone());
            call.arguments = format!(r#"{{"i":{i}}}"#);
            call.result_summary = format!("result {i}");
            call.is_error = i % 10 == 0;
            call.error_code = call.is_error.then_some(-32602);
            call.duration_us = i * 7 + 1;
            call
        })
        .collect();
    store.insert_tool_calls(&calls).await.unwrap();
    store
        .insert_tool_calls(&[tool_call(
            &other_org,
            &other_server.id,
            "next_step",
            at(5_000),
        )])
        .await
        .unwrap();
    store.insert_tool_calls(&[]).await.unwrap();

    let mut newest_first = calls.clone();
    newest_first.sort_by(|a, b| (b.created_at, b.id.as_str()).cmp(&(a.created_at, a.id.as_str())));

    // Every row, once, newest first, across eight pages whose ends split groups of
    // calls with the same time; every field round-trips.
    let pages = all_pages(150, async |p| {
        store
            .list_tool_calls(&org, &ToolCallFilter::default(), &p)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [150; 8]);
    let listed = pages.concat();
    assert_eq!(json!(&listed), json!(&newest_first));

    // Filters, alone and combined.
    let expect = |keep: &dyn Fn(&ToolCall) -> bool| {
        ids(
            &newest_first
                .iter()
                .filter(|c| keep(c))
                .cloned()
                .collect::<Vec<_>>(),
            |c| &c.id,
        )
    };
    let by_server = ToolCallFilter {
        server_id: Some(help.id.clone()),
        ..Default::default()
    };
    let found = all_tool_calls(&store, &org, &by_server).await;
    assert_eq!(found.len(), 300);
    assert_eq!(ids(&found, |c| &c.id), expect(&|c| c.server_id == help.id));
    let by_user = ToolCallFilter {
        end_user_id: Some(users[1].clone()),
        ..Default::default()
    };
    assert_eq!(
        ids(&all_tool_calls(&store, &org, &by_user).await, |c| &c.id),
        expect(&|c| c.end_user_id.as_ref() == Some(&users[1]))
    );
    let combined = ToolCallFilter {
        server_id: Some(docs.id.clone()),
        end_user_id: Some(users[0].clone()),
        tool_name: Some("next_step".into()),
        ..Default::default()
    };
    let found = all_tool_calls(&store, &org, &combined).await;
    assert!(!found.is_empty());
    assert_eq!(
        ids(&found, |c| &c.id),
        expect(&|c| c.server_id == docs.id
            && c.end_user_id.as_ref() == Some(&users[0])
            && c.tool_name == "next_step")
    );
    let nothing = ToolCallFilter {
        tool_name: Some("no_such_tool".into()),
        ..Default::default()
    };
    assert!(all_tool_calls(&store, &org, &nothing).await.is_empty());

    // The rollups of the hour that holds them all (T0 is 400 s into its hour): per tool,
    // the calls, errors, slowest call and a histogram of every duration.
    let hour_start = Timestamp::from_micros(T0.div_euclid(ROLLUP_MICROS) * ROLLUP_MICROS);
    let next_hour = hour_start.plus_seconds(3_600);
    let rollups = store
        .tool_rollups(&org, None, hour_start, next_hour)
        .await
        .unwrap();
    assert_eq!(rollups.len(), TOOLS.len());
    for rollup in &rollups {
        let of_tool: Vec<&ToolCall> = calls
            .iter()
            .filter(|c| c.tool_name == rollup.tool_name)
            .collect();
        let mut histogram = LatencyHistogram::default();
        of_tool.iter().for_each(|c| histogram.record(c.duration_us));
        assert_eq!(rollup.calls, of_tool.len() as u64);
        assert_eq!(
            rollup.errors,
            of_tool.iter().filter(|c| c.is_error).count() as u64
        );
        assert_eq!(
            rollup.max_us,
            of_tool.iter().map(|c| c.duration_us).max().unwrap()
        );
        assert_eq!(rollup.latencies, histogram);
    }
    let on_help = store
        .tool_rollups(&org, Some(&help.id), hour_start, next_hour)
        .await
        .unwrap();
    assert_eq!(
        on_help.iter().map(|r| r.calls).sum::<u64>(),
        calls.iter().filter(|c| c.server_id == help.id).count() as u64
    );
    assert!(
        store
            .tool_rollups(&org, None, next_hour, next_hour.plus_seconds(3_600))
            .await
            .unwrap()
            .is_empty()
    );

    // A batch is one transaction: one bad row (a duplicate id) and none is written.
    let fresh = tool_call(&org, &docs.id, "fresh_tool", at(500_000));
    let duplicate = calls[0].clone();
    assert!(store.insert_tool_calls(&[fresh, duplicate]).await.is_err());
    let fresh_filter = ToolCallFilter {
        tool_name: Some("fresh_tool".into()),
        ..Default::default()
    };
    assert!(all_tool_calls(&store, &org, &fresh_filter).await.is_empty());
    assert_eq!(
        all_tool_calls(&store, &org, &ToolCallFilter::default())
            .await
            .len(),
        1200
    );
}

/// What a call recorded before 2026-11-27 held as its session: the transport's
/// Mcp-Session-Id, with which whoever read the call could go on with the session.
const TRANSPORT_ID: &str = "0f6c2bb4-5e0d-4c3e-9a53-7d1a2c9e1b11";

/// Calls recorded with the transport's id for their session forget it when the store
/// opens with the migration that reads them (0034, 0033 on SQLite); the calls stay, and a
/// session's own id (`mss_…`) is kept.
async fn calls_recorded_with_a_transport_id_forget_it(db: &TestDatabase) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let docs = new_server(&store, &org, "acme-docs").await;
    let session = SessionId::generate();
    let mut named = tool_call(&org, &docs.id, "next_step", secs(1));
    named.session_id = Some(session.clone());
    let old = tool_call(&org, &docs.id, "next_step", secs(2));
    store
        .insert_tool_calls(&[named.clone(), old.clone()])
        .await
        .unwrap();
    drop(store);
    // The older call as it was stored, and the migration not yet run: written by hand, as
    // no store method of today writes a transport id.
    let migration = match db.backend {
        TestBackend::Sqlite => 33,
        TestBackend::Postgres => 34,
    };
    by_hand(
        db,
        &[
            format!(
                "UPDATE tool_calls SET session_id = '{TRANSPORT_ID}' WHERE id = '{}'",
                old.id
            ),
            format!("DELETE FROM _sqlx_migrations WHERE version = {migration}"),
        ],
    )
    .await;

    let store = open(db).await;
    let calls = all_tool_calls(&store, &org, &ToolCallFilter::default()).await;
    assert_eq!(calls.len(), 2);
    let stored = by_hand(
        db,
        &["SELECT id, session_id FROM tool_calls ORDER BY created_at".into()],
    )
    .await;
    let expected = [
        (named.id.to_string(), Some(session.to_string())),
        (old.id.to_string(), None),
    ];
    assert_eq!(stored, expected);
}

/// Runs `statements` on `db` with a connection of its own, as another program would; the
/// rows the last one selects, as (id, session id).
async fn by_hand(db: &TestDatabase, statements: &[String]) -> Vec<(String, Option<String>)> {
    use sqlx::{Connection, Row};
    let (last, before) = statements.split_last().expect("a statement");
    macro_rules! run {
        ($connection:expr) => {{
            let mut connection = $connection;
            for statement in before {
                let statement = sqlx::AssertSqlSafe(statement.as_str());
                sqlx::query(statement)
                    .execute(&mut connection)
                    .await
                    .unwrap();
            }
            let last = sqlx::AssertSqlSafe(last.as_str());
            let rows = sqlx::query(last).fetch_all(&mut connection).await.unwrap();
            rows.iter().map(|row| (row.get(0), row.get(1))).collect()
        }};
    }
    match db.backend {
        TestBackend::Sqlite => {
            let mut connection = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            let database = db.url.strip_prefix("sqlite:").expect("a SQLite URL");
            let analytics = analytics_file::beside(std::path::Path::new(database));
            analytics_file::attach(&mut connection, analytics.to_str().unwrap())
                .await
                .unwrap();
            run!(connection)
        }
        TestBackend::Postgres => run!(sqlx::PgConnection::connect(&db.url).await.unwrap()),
    }
}

backend_tests!(
    support_requests_filter_and_change_status,
    tool_calls_batch_list_and_report,
    calls_recorded_with_a_transport_id_forget_it,
);
