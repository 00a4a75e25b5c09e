//! Connections whose tokens expire: with short-lived tokens at the remote and
//! its refresh grace at 0 (a refresh token presented twice revokes the whole family),
//! callers on three gateway nodes keep working through several expiries, because exactly
//! one node refreshes each time; a refresh the remote refuses marks the connection
//! `needs_reconnect` once, and calls say so instead of trying again in a loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::Method;
use serde_json::{Value, json};

use crate::connections::{
    as_the_linking_browser, connect_link, gateway_for, install, remote_count, sign_in_at_remote,
};
use crate::gateway_fixture::wait_for;
use crate::helpers::{RawMcp, STATELESS_ERA, TestApp};
use crate::oauth_helpers::{OAuthApp, oauth_app};

const ACCESS_SECONDS: u64 = 3;
/// Refreshes the load runs for: several expiries, whatever the machine's speed.
const REFRESHES: u64 = 3;
/// A guard against a hang, not a promise of speed.
const HANG_GUARD: Duration = Duration::from_secs(120);
const CALLERS: usize = 20;

/// Refresh-token grants the remote has answered (its `/metrics`; the gateway nodes in
/// this process issue none of their own).
async fn refreshes(remote: &OAuthApp) -> u64 {
    let series = "guidepost_oauth_tokens_issued_total{grant=\"refresh_token\"}";
    remote_count(remote, series).await
}

/// Three gateway nodes on one database, the remote connected for the organization
/// through the first: the nodes and the upstream's id.
async fn connected_nodes(
    db: &TestDatabase,
    remote: &OAuthApp,
    count: usize,
) -> (Vec<TestApp>, String, crate::helpers::Tenant) {
    let mut nodes = Vec::new();
    for _ in 0..count {
        nodes.push(gateway_for(db, remote, "").await);
    }
    let acme = nodes[0].create_tenant("Gateway Co").await;
    let id = install(&nodes[0], &acme).await;
    let link = connect_link(&nodes[0], &acme, &id).await;
    let callback = sign_in_at_remote(remote, &nodes[0], &link, "editor@gateway.example").await;
    let answer = as_the_linking_browser(nodes[0].http.get(&callback), &link)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::OK);
    wait_for(&nodes[0], &acme, &id, |u| u["status"] == "ready").await;
    (nodes, id, acme)
}

/// A call through the connection (the remote files a support request as the account).
async fn call(node: &TestApp) -> Value {
    let mcp = RawMcp::new(node.mcp_path_url("gateway"), STATELESS_ERA);
    let arguments = json!({"title": "Under load", "problem_description": "One of many."});
    mcp.call_tool(1, "rm__get_support", arguments).await.body
}

backend_tests! {
    async fn callers_on_three_nodes_work_through_expiries_with_one_refresh_each(db: &TestDatabase) {
        let remote = oauth_app(db, &["remote"], |settings| {
            settings.auth.access_token_ttl = Duration::from_secs(ACCESS_SECONDS);
            settings.auth.refresh_grace = Duration::ZERO;
            // Every call comes from one account and one address: no limits on either.
            settings.mcp.rate_limits.per_user_per_minute = 0;
            settings.mcp.rate_limits.per_ip_per_minute = 0;
        })
        .await;
        let (nodes, _, _) = connected_nodes(db, &remote, 3).await;
        let nodes = Arc::new(nodes);
        let before = refreshes(&remote).await;
        let (calls, failures) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let started = Instant::now();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let callers: Vec<_> = (0..CALLERS)
            .map(|caller| {
                let (nodes, calls, failures) = (nodes.clone(), calls.clone(), failures.clone());
                let done = done.clone();
                tokio::spawn(async move {
                    while !done.load(Ordering::Relaxed) {
                        let answer = call(&nodes[caller % nodes.len()]).await;
                        calls.fetch_add(1, Ordering::Relaxed);
                        if answer["result"]["isError"] == true || answer.get("error").is_some() {
                            failures.fetch_add(1, Ordering::Relaxed);
                            eprintln!("failed: {answer}");
                        }
                    }
                })
            })
            .collect();
        // The load runs until the remote has answered several refreshes.
        while refreshes(&remote).await - before < REFRESHES {
            assert!(started.elapsed() < HANG_GUARD, "no {REFRESHES} refreshes under load");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        done.store(true, Ordering::Relaxed);
        for caller in callers {
            caller.await.unwrap();
        }
        let lasted = started.elapsed();
        let (calls, failures) = (calls.load(Ordering::Relaxed), failures.load(Ordering::Relaxed));
        let refreshed = refreshes(&remote).await - before;
        eprintln!("{calls} calls on 3 nodes in {lasted:?}, {refreshed} refreshes");
        assert_eq!(failures, 0, "of {calls} calls");
        assert!(calls >= CALLERS, "{calls} calls");
        // A token lives 3 s and is refreshed in its last quarter, no sooner than every
        // 2.25 s: however long the load lasted, no more than one refresh per expiry (a
        // second one of the same refresh token would have revoked the family and failed
        // the calls).
        let most = (lasted.as_secs_f64() / (ACCESS_SECONDS as f64 * 0.75)).ceil() as u64 + 1;
        assert!((REFRESHES..=most).contains(&refreshed), "{refreshed} refreshes, at most {most}");
    }

    async fn a_connection_made_through_one_node_serves_calls_on_another(db: &TestDatabase) {
        let remote = oauth_app(db, &["remote"], |_| {}).await;
        let (first, second) = (gateway_for(db, &remote, "").await, gateway_for(db, &remote, "").await);
        let acme = first.create_tenant("Gateway Co").await;
        let id = install(&first, &acme).await;
        let connect = || async {
            let link = connect_link(&first, &acme, &id).await;
            let callback = sign_in_at_remote(&remote, &first, &link, "editor@gateway.example").await;
            as_the_linking_browser(first.http.get(&callback), &link).send().await.unwrap();
            wait_for(&first, &acme, &id, |u| u["status"] == "ready").await;
        };
        connect().await;
        // Disconnected: the second node's first call finds no account, and says so.
        let path = format!("/upstreams/{id}/connections/organization");
        first.api(Method::DELETE, &path, &acme.key, None).await;
        let early = call(&second).await;
        assert!(early.to_string().contains("needs an account connected first"), "{early}");
        // Connected again through the first node: the second looks again at its next call.
        connect().await;
        let called = call(&second).await;
        assert_ne!(called["result"]["isError"], true, "{called}");
    }

    async fn a_refused_refresh_marks_the_connection_once_and_calls_say_to_connect_again(db: &TestDatabase) {
        let remote = oauth_app(db, &["remote"], |settings| {
            settings.auth.access_token_ttl = Duration::from_secs(2);
            settings.auth.refresh_token_ttl = Duration::from_secs(1);
        })
        .await;
        let (nodes, id, acme) = connected_nodes(db, &remote, 1).await;
        let node = &nodes[0];
        let watching = webhook(node, &acme, "connection.needs_reconnect").await;
        let elsewhere = webhook(node, &acme, "upstream.failed").await;
        assert_ne!(call(node).await["result"]["isError"], true);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        for _ in 0..3 {
            let refused = call(node).await;
            assert_eq!(refused["result"]["isError"], true, "{refused}");
        }
        let (_, connections) = node.get(&format!("/upstreams/{id}/connections"), &acme.key).await;
        assert_eq!(connections["items"][0]["status"], "needs_reconnect", "{connections}");
        let (_, audit) = node.get("/audit-events", &acme.key).await;
        let marked: Vec<&Value> = audit["items"].as_array().unwrap().iter()
            .filter(|e| e["action"] == "connection.needs_reconnect").collect();
        assert_eq!(marked.len(), 1, "once, not per call: {audit}");
        // The remote's refusal, in its words, only to whoever may read the upstream's errors.
        assert!(marked[0]["detail"]["reason"].as_str().is_some_and(|r| !r.is_empty()), "{audit}");
        let reader = node.key_with(&acme.key, "reader", json!(["read"])).await;
        let (_, read) = node.get("/audit-events?type=connection", &reader).await;
        assert_eq!(read["items"][0]["action"], "connection.needs_reconnect", "{read}");
        assert_eq!(read["items"][0]["detail"].get("reason"), None, "{read}");
        assert_eq!(read["items"][0]["text"], marked[0]["text"], "{read}");
        // Announced once, to the webhook subscribed to it only.
        let announced = deliveries(node, &acme, &watching).await;
        assert_eq!(announced.len(), 1, "{announced:?}");
        assert_eq!(announced[0]["event"], "connection.needs_reconnect");
        assert_eq!(deliveries(node, &acme, &elsewhere).await, Vec::<Value>::new());
        // Connecting again mends it.
        let link = connect_link(node, &acme, &id).await;
        let callback = sign_in_at_remote(&remote, node, &link, "editor@gateway.example").await;
        as_the_linking_browser(node.http.get(&callback), &link).send().await.unwrap();
        let (_, connections) = node.api(Method::GET, &format!("/upstreams/{id}/connections"), &acme.key, None).await;
        assert_eq!(connections["items"][0]["status"], "active", "{connections}");
        wait_for(node, &acme, &id, |u| u["status"] == "ready").await;
        assert_ne!(call(node).await["result"]["isError"], true);
    }
}

/// A webhook subscribed to `event` alone (to an address nobody listens on: what matters
/// here is what is queued for it): its id.
async fn webhook(node: &TestApp, tenant: &crate::helpers::Tenant, event: &str) -> String {
    let body = json!({"url": "https://hooks.example.com/guidepost", "events": [event]});
    let (status, created) = node
        .api(Method::POST, "/webhooks", &tenant.key, Some(body))
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn deliveries(node: &TestApp, tenant: &crate::helpers::Tenant, webhook: &str) -> Vec<Value> {
    let (_, listed) = node
        .get(&format!("/webhooks/{webhook}/deliveries"), &tenant.key)
        .await;
    listed["items"].as_array().cloned().unwrap_or_default()
}
