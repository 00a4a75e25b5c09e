//! Each node caches servers, what they offer and end users by tracking id. A
//! change made through one node reaches the others' caches through the change feed
//! (PostgreSQL NOTIFY); the caches never serve it stale for long. How long each change
//! took to reach each node is printed (`[node_cache] …`), not asserted: on a shared
//! machine a test can promise that it happens, not how fast.

use std::time::{Duration, Instant};

use guidepost_testkit::{TestDatabase, eventually};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{RawMcp, Tenant, TestApp, personal_client, spawn_app_with, tool_names};

/// Waits until `node` sees the change made at `since` (`check` holds), and prints how
/// long after the change that was.
async fn seen(what: &str, node: &str, since: Instant, check: impl AsyncFnMut() -> bool) {
    eventually(what, check).await;
    eprintln!(
        "[node_cache] {what} seen on node {node} {} ms after the change",
        since.elapsed().as_millis()
    );
}

fn client(app: &TestApp, slug: &str) -> RawMcp {
    personal_client(app, slug, "roamer")
}

/// Three nodes on one PostgreSQL, a tenant, and its server `acme`. The nodes keep what
/// they cache for an hour, far beyond any wait here, so that only the announcements can
/// make them forget in time: what the tests show is that announcements arrive, never how
/// fast.
async fn three_nodes(db: &TestDatabase) -> ([TestApp; 3], Tenant, String) {
    let node = || {
        spawn_app_with(db, |settings| {
            settings.platform.server_cache_expiry = Duration::from_secs(3600)
        })
    };
    let nodes = [node().await, node().await, node().await];
    let tenant = nodes[0].create_tenant("Acme").await;
    let server = nodes[0].create_server(&tenant, "acme", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (nodes, tenant, server)
}

async fn listed(app: &TestApp, slug: &str) -> Vec<String> {
    let answer = client(app, slug)
        .call_tool(1, "list_walkthroughs", json!({}))
        .await;
    answer.structured()["walkthroughs"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|w| w["title"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_change_through_one_node_reaches_the_others_caches() {
    let Some(db) = TestDatabase::require_postgres().await else {
        return;
    };
    let ([a, b, c], tenant, server) = three_nodes(&db).await;
    let intro = a
        .seed_walkthrough(&tenant, "Intro", 2, Some((&server, 1)))
        .await;
    a.seed_walkthrough(&tenant, "Setup", 2, Some((&server, 2)))
        .await;
    // The other nodes warm their caches: the server, its offer, the end user.
    for node in [&b, &c] {
        assert_eq!(listed(node, "acme").await, ["Intro", "Setup"]);
    }

    // A walkthrough archived on one node leaves every node's list.
    let since = Instant::now();
    let path = format!("/walkthroughs/{}", intro.id);
    let (status, _) = a
        .api(
            Method::PATCH,
            &path,
            &tenant.key,
            Some(json!({"status": "archived"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for (name, node) in [("b", &b), ("c", &c)] {
        seen("the archived walkthrough", name, since, async || {
            listed(node, "acme").await == ["Setup"]
        })
        .await;
    }

    // A renamed and published version is what the others offer next.
    let since = Instant::now();
    let (status, _) = a
        .api(
            Method::PATCH,
            &path,
            &tenant.key,
            Some(json!({"status": "published", "title": "Intro, again"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for (name, node) in [("b", &b), ("c", &c)] {
        seen("the renamed walkthrough", name, since, async || {
            listed(node, "acme").await == ["Intro, again", "Setup"]
        })
        .await;
    }

    // A server's flags and slug: the others follow, and the old slug stops answering.
    let since = Instant::now();
    let server_path = format!("/servers/{server}");
    let change = json!({"support_tool_enabled": false, "slug": "acme-two"});
    let (status, body) = a
        .api(Method::PATCH, &server_path, &tenant.key, Some(change))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (name, node) in [("b", &b), ("c", &c)] {
        seen("the old slug gone", name, since, async || {
            client(node, "acme")
                .call(2, "tools/list", json!({}))
                .await
                .status
                == StatusCode::NOT_FOUND
        })
        .await;
        seen("the new slug's tools", name, since, async || {
            let names = tool_names(
                &client(node, "acme-two")
                    .call(3, "tools/list", json!({}))
                    .await,
            );
            names.contains(&"list_walkthroughs".to_owned())
                && !names.contains(&"get_support".to_owned())
        })
        .await;
    }

    // A deleted server stops answering everywhere.
    let since = Instant::now();
    let (status, _) = a.api(Method::DELETE, &server_path, &tenant.key, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (name, node) in [("b", &b), ("c", &c)] {
        seen("the deleted server", name, since, async || {
            client(node, "acme-two")
                .call(4, "tools/list", json!({}))
                .await
                .status
                == StatusCode::NOT_FOUND
        })
        .await;
    }
}

/// Each node remembers the progress it last wrote and writes on its revision: progress
/// moved on elsewhere is read again, never lost, skipped or refused.
#[tokio::test]
async fn progress_moved_on_by_another_node_is_never_lost_or_refused() {
    let Some(db) = TestDatabase::require_postgres().await else {
        return;
    };
    let ([a, b, c], tenant, server) = three_nodes(&db).await;
    let w = a
        .seed_walkthrough(&tenant, "Four", 4, Some((&server, 1)))
        .await;
    let next = |node: &TestApp, claimed: Option<&str>| {
        let mut arguments = json!({"walkthrough_id": w.id});
        if let Some(step) = claimed {
            arguments["current_step_id"] = json!(step);
        }
        let mcp = client(node, "acme");
        async move { mcp.call_tool(9, "next_walkthrough_step", arguments).await }
    };
    let position =
        |answer: &crate::helpers::Answer| answer.structured()["step"]["position"].clone();

    client(&b, "acme")
        .call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id}))
        .await
        .structured();
    assert_eq!(position(&next(&b, None).await), 2, "b remembers step 2");
    assert_eq!(position(&next(&c, None).await), 3, "c moved on to step 3");
    // b's memory says step 2, the store says 3: the claim of step 3 is right.
    assert_eq!(position(&next(&b, Some(&w.step_ids[2])).await), 4);
    // c's memory says step 3: its write on that revision fails, and it decides again.
    let last = next(&c, None).await;
    assert_eq!(last.structured()["completed_now"], true, "{}", last.body);
    let status = client(&a, "acme")
        .call_tool(2, "get_walkthrough_status", json!({"walkthrough_id": w.id}))
        .await;
    let progress = &status.structured()["progress"];
    assert_eq!(
        (
            progress["status"].as_str(),
            progress["completed_count"].as_u64()
        ),
        (Some("completed"), Some(4))
    );
    // And a stale "already completed" is checked too: reset elsewhere, then next here.
    client(&a, "acme")
        .call_tool(
            3,
            "reset_walkthrough_progress",
            json!({"walkthrough_id": w.id, "confirm": true}),
        )
        .await
        .structured();
    let refused = next(&c, None).await;
    assert!(
        refused
            .tool_error_text()
            .contains("You have not started walkthrough"),
        "{}",
        refused.body
    );
}
