//! Events as webhooks: an upstream that crashes past its restart limit sends
//! one `upstream.failed`, a quarantined tool sends `tool.review_requested`, a completed
//! walkthrough sends `walkthrough.completed`, each to the webhooks subscribed to it; a
//! webhook subscribed to other types receives none of them.

use std::time::Duration;

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::{fixture_with, text_of, wait_for, wait_for_mark};
use crate::helpers::{Tenant, TestApp, personal_client, spawn_app_with};
use crate::webhooks::{Received, receiving, settings};

/// A receiver and a webhook to it subscribed to `events`.
async fn subscribed(app: &TestApp, tenant: &Tenant, events: &[&str]) -> Received {
    let (addr, received) = receiving(200).await;
    let body = json!({"url": format!("http://{addr}/hook"), "events": events});
    let (status, created) = app
        .api(Method::POST, "/webhooks", &tenant.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    received
}

/// The bodies a receiver got, once it has `count`, after a while for any more to arrive.
async fn bodies(received: &Received, count: usize) -> Vec<Value> {
    for _ in 0..300 {
        if received.lock().unwrap().len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Deliveries are sent twenty times a second here: anything more would have come.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got = received.lock().unwrap().clone();
    got.iter()
        .map(|(_, body)| serde_json::from_str(body).unwrap())
        .collect()
}

fn types(bodies: &[Value]) -> Vec<&str> {
    bodies.iter().filter_map(|b| b["type"].as_str()).collect()
}

fn quick_and_hooked(settings_of: &mut guidepost::config::Settings) {
    settings(50, 3)(settings_of);
    settings_of.gateway.supervision.backoff = Duration::from_millis(50);
    settings_of.gateway.supervision.max_restarts = 3;
}

backend_tests! {
    async fn an_upstream_failing_past_its_limit_sends_one_upstream_failed(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, &[("FIXTURE_CRASH_AT_START", "1")], quick_and_hooked).await;
        wait_for(&f.app, &f.acme, &f.upstream, |u| u["status"] == "failed").await;
        let watching = subscribed(&f.app, &f.acme, &["upstream.failed", "upstream.recovered", "tool.review_requested"]).await;
        let elsewhere = subscribed(&f.app, &f.acme, &["support_request.created", "walkthrough.completed"]).await;

        // Restarted on request, it crashes three times more and fails again: one event.
        let (status, _) = f.app.api(Method::POST, &format!("/upstreams/{}/restart", f.upstream), &f.acme.key, None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let failed = wait_for(&f.app, &f.acme, &f.upstream, |u| u["status"] == "failed").await;
        assert_eq!(wait_for_mark(&f.marks, "started").await.len(), 6, "three crashes per start");
        let got = bodies(&watching, 1).await;
        assert_eq!(types(&got), ["upstream.failed"], "exactly one: {got:?}");
        let data = &got[0]["data"];
        assert_eq!(data["upstream_id"], f.upstream.as_str(), "{data}");
        assert_eq!((data["status"].as_str(), data["restarts"].as_i64()), (Some("failed"), failed["restarts"].as_i64()), "{data}");
        assert!(data["last_error"].as_str().unwrap_or_default().contains("cannot open its database"), "{data}");
        assert!(got[0]["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(bodies(&elsewhere, 0).await, Vec::<Value>::new(), "not subscribed, nothing sent");

        // Its last error is the upstream's words: only a key that may read its logs
        // subscribes to the events that carry them.
        let writer = f.app.key_with(&f.acme.key, "writer", json!(["write"])).await;
        for events in [json!(["upstream.failed"]), json!(["support_request.created", "connection.needs_reconnect"])] {
            let body = json!({"url": "https://hooks.acme.example/gateway", "events": events});
            let (status, problem) = f.app.api(Method::POST, "/webhooks", &writer, Some(body)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{events}: {problem}");
            assert!(problem["detail"].as_str().unwrap_or_default().contains("gateway"), "{problem}");
        }
        let body = json!({"url": "https://hooks.acme.example/gateway", "events": ["upstream.recovered"]});
        let (status, created) = f.app.api(Method::POST, "/webhooks", &writer, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "no words in it: {created}");
    }

    async fn a_failed_upstream_running_again_sends_upstream_recovered(db: &TestDatabase) {
        let switch = std::env::temp_dir().join(format!("guidepost-broken-{}", guidepost_domain::random_token("").to_lowercase()));
        std::fs::write(&switch, "broken").unwrap();
        let env = [("FIXTURE_CRASH_WHILE", switch.to_str().unwrap())];
        let f = fixture_with(db, "acme", 60_000, &env, quick_and_hooked).await;
        wait_for(&f.app, &f.acme, &f.upstream, |u| u["status"] == "failed").await;
        let watching = subscribed(&f.app, &f.acme, &["upstream.failed", "upstream.recovered"]).await;
        let elsewhere = subscribed(&f.app, &f.acme, &["support_request.created"]).await;

        // Mended, and restarted on request: it runs, and that is announced once.
        std::fs::remove_file(&switch).unwrap();
        let (status, _) = f.app.api(Method::POST, &format!("/upstreams/{}/restart", f.upstream), &f.acme.key, None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        wait_for(&f.app, &f.acme, &f.upstream, |u| u["status"] == "ready").await;
        let got = bodies(&watching, 1).await;
        assert_eq!(types(&got), ["upstream.recovered"], "{got:?}");
        assert_eq!(got[0]["data"]["upstream_id"], f.upstream.as_str());
        assert_eq!(got[0]["data"]["status"], "ready");
        assert_eq!(bodies(&elsewhere, 0).await, Vec::<Value>::new(), "not subscribed, nothing sent");
    }

    async fn a_quarantined_tool_sends_tool_review_requested(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, &[], quick_and_hooked).await;
        let watching = subscribed(&f.app, &f.acme, &["tool.review_requested"]).await;
        let elsewhere = subscribed(&f.app, &f.acme, &["upstream.failed", "upstream.recovered", "support_request.created"]).await;

        // The upstream redefines echo after it was trusted: quarantined, and announced.
        let grown = f.mcp.call_tool(1, "fx__grow", json!({"name": "echo", "description": "Echoes, and more."})).await;
        assert_eq!(text_of(&grown.body), "grown");
        let got = bodies(&watching, 1).await;
        assert_eq!(types(&got), ["tool.review_requested"], "{got:?}");
        let data = &got[0]["data"];
        assert_eq!(data["upstream_id"], f.upstream.as_str(), "{data}");
        assert_eq!(data["count"], 1, "only the changed definition: {data}");
        assert_eq!(data["definitions"][0]["name"], "echo", "{data}");
        assert_eq!(data["definitions"][0]["state"], "quarantined", "{data}");
        assert_eq!(data["definitions"][0]["kind"], "tool", "{data}");
        let (_, tools) = f.app.get(&format!("/upstreams/{}/tools", f.upstream), &f.acme.key).await;
        let echo = tools["items"].as_array().or(tools.as_array()).unwrap().iter().find(|t| t["name"] == "echo").cloned().unwrap();
        assert_eq!(data["definitions"][0]["definition_hash"], echo["definition_hash"], "{echo}");
        assert_eq!(bodies(&elsewhere, 0).await, Vec::<Value>::new(), "not subscribed, nothing sent");
    }

    async fn a_completed_walkthrough_sends_walkthrough_completed_once(db: &TestDatabase) {
        let app = spawn_app_with(db, settings(50, 3)).await;
        let acme = app.create_tenant("Acme").await;
        let server = app.create_server(&acme, "acme", json!({})).await["id"].as_str().unwrap().to_owned();
        let walkthrough = app.seed_walkthrough(&acme, "Intro", 2, Some((&server, 1))).await;
        let watching = subscribed(&app, &acme, &["walkthrough.completed"]).await;
        let elsewhere = subscribed(&app, &acme, &["tool.review_requested", "upstream.failed"]).await;

        let ada = personal_client(&app, "acme", "ada");
        let id = json!({"walkthrough_id": walkthrough.id});
        ada.call_tool(1, "select_walkthrough", id.clone()).await.structured();
        ada.call_tool(2, "next_walkthrough_step", id.clone()).await.structured();
        assert!(bodies(&watching, 0).await.is_empty(), "not completed yet");
        ada.call_tool(3, "next_walkthrough_step", id.clone()).await.structured();
        ada.call_tool(4, "next_walkthrough_step", id.clone()).await;
        let got = bodies(&watching, 1).await;
        assert_eq!(types(&got), ["walkthrough.completed"], "once: {got:?}");
        let data = &got[0]["data"];
        let (_, people) = app.get("/end-users?tracking_id=ada", &acme.key).await;
        assert_eq!(data["end_user_id"], people["items"][0]["id"], "{data}");
        assert_eq!((data["walkthrough_id"].as_str(), data["server_id"].as_str()), (Some(walkthrough.id.as_str()), Some(server.as_str())));
        assert_eq!(data["version"], 1);
        assert!(data["completed_at"].is_string(), "{data}");
        assert_eq!(bodies(&elsewhere, 0).await, Vec::<Value>::new(), "not subscribed, nothing sent");
    }
}
