//! What one node does to an upstream reaches the other nodes that run it (each node runs
//! its own processes of an upstream, from one shared store): a restart on
//! request starts it afresh there too (at their next call, or within a ping interval
//! when nobody calls), and an uninstall stops it there, so that no process of an
//! uninstalled upstream, with its secrets, lives on elsewhere.

use std::time::Duration;

use guidepost_testkit::{TestBackend, TestDatabase, backend_tests, eventually};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::gateway_fixture::{Fixture, fixture_with, is_gone, text_of};
use crate::helpers::{RawMcp, STATELESS_ERA, TestApp, spawn_app_with};

/// The pids of the fixture's processes, in the order they started.
fn started(f: &Fixture) -> Vec<i64> {
    std::fs::read_to_string(&f.marks)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("started"))
        .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect()
}

/// A second node on the fixture's database, which calls the fixture's tool once (its own
/// process starts). On SQLite, where nodes share no change feed, it forgets what it
/// caches quickly.
async fn second_node(
    db: &TestDatabase,
    f: &Fixture,
    ping_interval: Duration,
) -> (TestApp, RawMcp, i64) {
    let sqlite = db.backend == TestBackend::Sqlite;
    let node = spawn_app_with(db, move |settings| {
        settings.gateway.supervision.ping_interval = ping_interval;
        if sqlite {
            settings.platform.server_cache_expiry = Duration::from_millis(100);
        }
    })
    .await;
    let there = RawMcp::new(node.mcp_path_url(&f.slug), STATELESS_ERA);
    let echo = there
        .call_tool(1, "fx__echo", json!({"message": "there"}))
        .await;
    assert_eq!(text_of(&echo.body), "there", "{}", echo.body);
    let pids = started(f);
    assert_eq!(pids.len(), 2, "one process on each node: {pids:?}");
    (node, there, pids[1])
}

async fn restart_through_first_node(f: &Fixture) {
    let path = format!("/upstreams/{}/restart", f.upstream);
    let (status, body) = f.app.api(Method::POST, &path, &f.acme.key, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

backend_tests! {
    async fn a_restart_through_one_node_restarts_the_upstream_at_the_next_call_on_another(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, &[], |_| {}).await;
        // Pings every 30 s (the default): only the next call can show the restart there.
        let (_node, there, its_process) = second_node(db, &f, Duration::from_secs(30)).await;
        restart_through_first_node(&f).await;
        eventually("the first node starts a fresh process", async || started(&f).len() == 3).await;
        if db.backend == TestBackend::Sqlite {
            // No change feed between nodes there: the second node reads the record again
            // once what it cached expires.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let echo = there.call_tool(2, "fx__echo", json!({"message": "afresh"})).await;
        assert_eq!(text_of(&echo.body), "afresh", "{}", echo.body);
        assert_eq!(started(&f).len(), 4, "the call on the second node started it afresh there");
        eventually("and stopped the one it had", async || is_gone(its_process)).await;
    }

    async fn a_restart_or_an_uninstall_through_one_node_reaches_an_idle_one(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, &[], |_| {}).await;
        let (_node, _there, its_process) = second_node(db, &f, Duration::from_millis(300)).await;
        // Nobody calls the second node: it sees the restart within its ping interval.
        restart_through_first_node(&f).await;
        eventually("both nodes start a fresh process", async || started(&f).len() == 4).await;
        eventually("the second node stopped the one it had", async || is_gone(its_process)).await;
        let fresh = started(&f);
        let (status, _) = f.app.api(Method::DELETE, &format!("/upstreams/{}", f.upstream), &f.acme.key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        for pid in fresh.iter().skip(2) {
            eventually("no node keeps a process of an uninstalled upstream", async || is_gone(*pid)).await;
        }
    }
}
