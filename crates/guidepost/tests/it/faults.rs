//! Faults under load, on `guidepost serve` processes: a node killed with SIGKILL while
//! clients advance walkthroughs loses no step it acknowledged, and another node starts on
//! the same database with no repair step; SIGTERM under load lets the calls in flight
//! finish, and the analytics hold exactly the calls the clients saw answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use guidepost_testkit::{TestBackend, TestDatabase};
use serde_json::json;

use crate::helpers::{RawMcp, STATELESS_ERA, seeded_and_stopped, serve_process_with};

/// Waits until `count` has passed `at_least`: the load is on before the fault, whatever
/// the machine's speed. The minute is a guard against a hang.
async fn until_past(count: &AtomicUsize, at_least: usize) {
    for _ in 0..1200 {
        if count.load(Ordering::SeqCst) > at_least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the clients were answered {} times in a minute",
        count.load(Ordering::SeqCst)
    );
}

/// Every call is served: these tests count calls, not limits.
const NO_RATE_LIMITS: &[(&str, &str)] = &[
    ("GUIDEPOST_RATE_LIMIT_PER_USER", "0"),
    ("GUIDEPOST_RATE_LIMIT_PER_IP", "0"),
];

const CLIENTS: usize = 8;

fn signal(pid: u32, name: &str) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{name} {pid}");
}

/// One client walking its own walkthrough until the node stops answering; the steps
/// it saw acknowledged (also counted into `progress`, shared by the clients).
async fn advance_until_refused(
    url: String,
    walkthrough: String,
    progress: Arc<AtomicUsize>,
) -> usize {
    let mcp = RawMcp::new(url, STATELESS_ERA);
    let selected = mcp
        .call_tool(
            1,
            "select_walkthrough",
            json!({"walkthrough_id": walkthrough}),
        )
        .await;
    let mut step = selected.body["result"]["structuredContent"]["step"]["id"].clone();
    let mut acknowledged = 0;
    for id in 2.. {
        let Some(current) = step.as_str() else { break };
        let arguments = json!({"walkthrough_id": walkthrough, "current_step_id": current});
        let call = mcp.try_call_tool(id, "next_walkthrough_step", arguments);
        let Ok(Some(answer)) = tokio::time::timeout(Duration::from_secs(10), call).await else {
            break;
        };
        assert_ne!(answer.body["result"]["isError"], true, "{}", answer.body);
        assert!(answer.body["result"].is_object(), "{}", answer.body);
        acknowledged += 1;
        progress.fetch_add(1, Ordering::SeqCst);
        step = answer.body["result"]["structuredContent"]["step"]["id"].clone();
    }
    acknowledged
}

#[tokio::test]
async fn a_node_killed_mid_walkthrough_loses_no_acknowledged_step() {
    let Some(db) = TestDatabase::require_postgres().await else {
        return;
    };
    let walkthrough = seeded_and_stopped(&db, 1000).await.walkthrough;

    let (mut node, url) = serve_process_with(&db.url, NO_RATE_LIMITS).await;
    let progress = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let url = format!("{url}/s/acme/mcp?tracking_id=walker-{n}");
            tokio::spawn(advance_until_refused(
                url,
                walkthrough.id.clone(),
                progress.clone(),
            ))
        })
        .collect();
    until_past(&progress, 4 * CLIENTS).await;
    signal(node.id().expect("the node runs"), "KILL");
    node.wait().await.unwrap();
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.push(client.await.unwrap());
    }
    assert!(
        acknowledged.iter().sum::<usize>() > CLIENTS,
        "the clients made progress: {acknowledged:?}"
    );

    // Another node on the same database, as it is: no repair step.
    let (_again, url) = serve_process_with(&db.url, NO_RATE_LIMITS).await;
    for (n, saw) in acknowledged.iter().enumerate() {
        let mcp = RawMcp::new(
            format!("{url}/s/acme/mcp?tracking_id=walker-{n}"),
            STATELESS_ERA,
        );
        let status = mcp
            .call_tool(
                1,
                "get_walkthrough_status",
                json!({"walkthrough_id": walkthrough.id}),
            )
            .await;
        let stored = status.structured()["progress"]["completed_count"]
            .as_u64()
            .unwrap() as usize;
        // A step whose write committed as the node died is stored without its answer.
        assert!(
            stored == *saw || stored == saw + 1,
            "walker {n}: saw {saw} steps acknowledged, {stored} are stored"
        );
    }
    println!("killed mid-walk: {acknowledged:?} steps acknowledged per client, all stored");
}

#[tokio::test]
async fn sigterm_under_load_finishes_calls_in_flight_and_records_each_answered_one() {
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    let tenant = seeded_and_stopped(&db, 3).await.tenant;

    let (mut node, url) = serve_process_with(&db.url, NO_RATE_LIMITS).await;
    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let mcp = RawMcp::new(
                format!("{url}/s/acme/mcp?tracking_id=caller-{n}"),
                STATELESS_ERA,
            );
            let answered = answered.clone();
            tokio::spawn(async move {
                for id in 0.. {
                    let call = mcp.try_call_tool(id, "list_walkthroughs", json!({}));
                    let Ok(Some(answer)) =
                        tokio::time::timeout(Duration::from_secs(10), call).await
                    else {
                        break;
                    };
                    assert!(
                        answer.body["result"].is_object(),
                        "caller {n}: {}",
                        answer.body
                    );
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    until_past(&answered, 4 * CLIENTS).await;
    signal(node.id().expect("the node runs"), "TERM");
    let exited = tokio::time::timeout(Duration::from_secs(20), node.wait())
        .await
        .expect("it stops")
        .unwrap();
    assert!(exited.success(), "a graceful stop exits 0: {exited:?}");
    for client in clients {
        client.await.unwrap();
    }
    let answered = answered.load(Ordering::SeqCst);
    assert!(
        answered > CLIENTS,
        "the clients were answered before the stop: {answered}"
    );

    let store = guidepost_store::connect(&db.url).await.unwrap();
    let org = tenant.org.clone();
    let filter = Default::default();
    let mut page = guidepost_domain::PageRequest::first(500);
    let mut recorded = 0;
    loop {
        let found = store.list_tool_calls(&org, &filter, &page).await.unwrap();
        recorded += found.items.len();
        match found.next_cursor {
            Some(cursor) => page.after = guidepost_domain::Cursor::decode(&cursor),
            None => break,
        }
    }
    // A call the node answered as it stopped may have lost its answer on the way (its
    // client gave up): it is recorded all the same, one at most per client.
    assert!(
        (answered..=answered + CLIENTS).contains(&recorded),
        "every answered call is recorded, and nothing else: {answered} answered, {recorded} recorded"
    );
    println!("SIGTERM under load: {answered} calls answered, {recorded} recorded");
}
