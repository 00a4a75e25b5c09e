//! The writes of every tool call leave their organization's row alone (under load,
//! PostgreSQL, migration 0031): a foreign key to `organizations` made each of them lock
//! that one row, which every call of the organization shares. Shown by holding the row
//! locked from another connection: a write that still checked such a key would wait for it.

mod common;

use guidepost_testkit::TestDatabase;
use sqlx::Connection;

use common::{
    open, people_at_a_published_walkthrough, record_calls_not_held_up, start_all_not_held_up,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_calls_rollups_and_starts_do_not_lock_the_organizations_row() {
    let Some(db) = TestDatabase::require_postgres().await else {
        return;
    };
    let store = open(&db).await;
    let (keys, version) = people_at_a_published_walkthrough(&store, &["a", "b"], 4).await;
    let (org, server) = (keys[0].org_id.clone(), keys[0].server_id.clone());

    // Another connection holds the organization's row as a deletion would.
    let mut other = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query("SELECT id FROM organizations WHERE id = $1 FOR UPDATE")
        .bind(org.as_str())
        .execute(&mut other)
        .await
        .unwrap();

    let held_up = "starting a walkthrough does not wait for the organization's row";
    let started = start_all_not_held_up(&store, &keys, &version, held_up).await;
    assert_eq!(started.len(), 4);
    // A batch of recorded calls, which also adds to the hourly and daily rollups.
    let held_up = "recording calls does not wait for the organization's row";
    record_calls_not_held_up(&store, &org, &server, 20, held_up).await;
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();

    let rolled_up: i64 = sqlx::query_scalar(
        "SELECT SUM(calls)::BIGINT FROM tool_call_daily_rollups WHERE org_id = $1",
    )
    .bind(org.as_str())
    .fetch_one(&mut other)
    .await
    .unwrap();
    assert_eq!(rolled_up, 20, "every recorded call reached the rollups");
}
