//! The recorded calls' own SQLite file (`analytics_file`): the recorded calls
//! live beside the database in `<database>-analytics`, so that a batch of them being
//! written does not hold up the walkthrough progress writes, nor they it; an existing
//! database's recorded calls move there when it is migrated; and a file left beside a
//! database it does not belong to is refused, naming it.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use guidepost_domain::*;
use guidepost_store::{Store, ToolCallFilter, analytics_file};
use guidepost_testkit::{TestBackend, TestDatabase};
use sqlx::Connection;

use common::{
    all_tool_calls, at, new_org, new_server, open, people_at_a_published_walkthrough,
    record_calls_not_held_up, start_all_not_held_up, tool_call,
};

fn database_path(db: &TestDatabase) -> PathBuf {
    PathBuf::from(db.url.strip_prefix("sqlite:").expect("a SQLite URL"))
}

/// A connection of its own on the database with the recorded calls' file attached, as
/// another process (a CLI command, a second store) would have it.
async fn second_connection(db: &TestDatabase) -> sqlx::SqliteConnection {
    let mut connection = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    let analytics = analytics_file::beside(&database_path(db));
    analytics_file::attach(&mut connection, analytics.to_str().unwrap())
        .await
        .unwrap();
    connection
}

/// A store on `db` whose recorded calls hold one call; its organization.
async fn a_store_with_a_recorded_call(db: &TestDatabase) -> (Arc<dyn Store>, OrgId) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let server = new_server(&store, &org, "acme").await.id;
    store
        .insert_tool_calls(&[tool_call(&org, &server, "next_step", at(0))])
        .await
        .unwrap();
    (store, org)
}

#[tokio::test]
async fn a_batch_of_recorded_calls_and_the_progress_writes_do_not_wait_for_each_other() {
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    let store = open(&db).await;
    let (keys, version) = people_at_a_published_walkthrough(&store, &["a", "b"], 8).await;
    let (org, server) = (keys[0].org_id.clone(), keys[0].server_id.clone());

    // Another connection writes a recorded call and holds its transaction open: the lock
    // of the file the recorded calls live in.
    let mut other = second_connection(&db).await;
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query(
        "INSERT INTO tool_calls (id, org_id, server_id, tool_name, arguments, result_summary, \
         is_error, duration_us, created_at) VALUES ('held', $1, $2, 'held', '{}', '', FALSE, 1, 1)",
    )
    .bind(org.as_str())
    .bind(server.as_str())
    .execute(&mut other)
    .await
    .unwrap();
    // Meanwhile eight people start at once (the group commit writes them together) and
    // one moves on: every write is done.
    let held_up = "progress writes are not held up by a batch of recorded calls";
    let started = start_all_not_held_up(&store, &keys, &version, held_up).await;
    assert_eq!(started.len(), 8);
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();

    // The other way round: a progress write held open, and a batch of recorded calls.
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query("UPDATE walkthrough_progress SET last_activity_at = 1 WHERE id = $1")
        .bind(started[0].id.as_str())
        .execute(&mut other)
        .await
        .unwrap();
    let held_up = "a batch of recorded calls is not held up by a progress write";
    record_calls_not_held_up(&store, &org, &server, 50, held_up).await;
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    let recorded = all_tool_calls(&store, &org, &ToolCallFilter::default()).await;
    assert_eq!(recorded.len(), 50);
}

#[tokio::test]
async fn the_recorded_calls_live_in_their_own_file_beside_the_database() {
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    let _store = a_store_with_a_recorded_call(&db).await;
    let mut main_only = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    let in_main: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'tool_call%'")
            .fetch_one(&mut main_only)
            .await
            .unwrap();
    assert_eq!(
        in_main, 0,
        "no recorded-call table is left in the database's file"
    );
    let analytics = analytics_file::beside(&database_path(&db));
    let mut beside = sqlx::SqliteConnection::connect(&format!("sqlite:{}", analytics.display()))
        .await
        .unwrap();
    let recorded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tool_calls")
        .fetch_one(&mut beside)
        .await
        .unwrap();
    let rolled_up: i64 = sqlx::query_scalar("SELECT SUM(calls) FROM tool_call_daily_rollups")
        .fetch_one(&mut beside)
        .await
        .unwrap();
    assert_eq!((recorded, rolled_up), (1, 1));
}

/// A database migrated by the Guidepost before this one: its recorded calls and rollups
/// are in its own file, and move.
#[tokio::test]
async fn an_existing_databases_recorded_calls_move_to_their_file_when_it_is_migrated() {
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    let before = tempdir_of_migrations_before(30);
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(database_path(&db))
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::migrate::Migrator::new(before.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    for statement in [
        "INSERT INTO organizations (id, name, created_at) VALUES ('org_1', 'Acme', 0)",
        "INSERT INTO tool_calls (id, org_id, server_id, tool_name, arguments, result_summary, \
         is_error, duration_us, created_at) VALUES ('call_1', 'org_1', 'srv_1', 'next_step', \
         '{}', 'ok', FALSE, 120, 1750000000000000)",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let _ = std::fs::remove_dir_all(&before);

    let store = open(&db).await;
    let org: OrgId = Id::from_trusted("org_1".to_owned());
    let moved = all_tool_calls(&store, &org, &ToolCallFilter::default()).await;
    assert_eq!(
        moved.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["call_1"]
    );
    assert_eq!(moved[0].duration_us, 120);
}

/// The SQLite migrations numbered below `below`, copied to a directory of their own.
fn tempdir_of_migrations_before(below: u32) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("gp-migrations-{}", random_token("").to_lowercase()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let number: u32 = name[..4].parse().unwrap();
        if number < below {
            std::fs::copy(&path, dir.join(&name)).unwrap();
        }
    }
    dir
}

#[tokio::test]
async fn a_recorded_calls_file_left_by_another_database_is_refused_naming_it() {
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    drop(a_store_with_a_recorded_call(&db).await);
    // The database goes; its recorded calls' file stays behind.
    let path = database_path(&db);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let refused = guidepost_store::connect(&db.url)
        .await
        .err()
        .expect("refused");
    let analytics = analytics_file::beside(&path);
    let said = refused.to_string();
    assert!(
        said.contains(&analytics.display().to_string()) && said.contains("move"),
        "{said}"
    );
}
