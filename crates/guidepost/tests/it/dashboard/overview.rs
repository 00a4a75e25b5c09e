//! The overview's tiles: open support requests, tools waiting for review,
//! failed or degraded upstreams and failing webhook deliveries (given up on or retrying),
//! each counted right and linking to its list (the store suite checks they take one
//! statement).

use guidepost_domain::*;
use guidepost_store::NewWebhook;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::Method;
use serde_json::{Value, json};

use super::{dashboard_app_with, member};
use crate::gateway_fixture::{FixtureDir, wait_for};

/// The figure shown before the tile's link to `href` with `label`.
fn tile(page: &str, href: &str, label: &str) -> u64 {
    let link = format!("<a href=\"{href}\">{label}");
    let at = page
        .find(&link)
        .unwrap_or_else(|| panic!("no tile {link}: {page}"));
    let before = &page[..at];
    let figure = before.rsplit("<div class=\"figure\">").next().unwrap();
    figure
        .split('<')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{figure}"))
}

fn tiles(page: &str) -> [u64; 4] {
    [
        tile(page, "/app/support", "open support requests"),
        tile(page, "/app/gateway/review", "tools waiting for review"),
        tile(page, "/app/gateway", "upstreams failed or degraded"),
        tile(page, "/app/support/webhooks", "webhook deliveries failing"),
    ]
}

backend_tests! {
    async fn the_overview_counts_what_needs_attention_and_links_to_it(db: &TestDatabase) {
        let dir = FixtureDir::new();
        let catalog = dir.catalog(&[]);
        let app = dashboard_app_with(db, move |s| s.platform.catalog = catalog).await;
        let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
        assert_eq!(tiles(owner.get("/app/").await.ok()), [0, 0, 0, 0]);

        let store = &app.app.store;
        let org = &app.tenant.org;
        let server = app.app.create_server(&app.tenant, "docs", json!({})).await;
        let server = ServerId::parse(server["id"].as_str().unwrap()).unwrap();
        let mut requests = Vec::new();
        for title in ["Stuck", "Broken", "Done"] {
            let new = NewSupportRequest {
                org_id: org.clone(),
                server_id: server.clone(),
                end_user_id: None,
                email: Email::parse("ada@example.com").unwrap(),
                title: title.into(),
                description: "…".into(),
                context: None,
            };
            requests.push(store.create_support_request(&new, Timestamp::now()).await.unwrap());
        }
        let now = Timestamp::now();
        store.update_support_request_status(org, &requests[1].id, SupportStatus::InProgress, now).await.unwrap();
        store.update_support_request_status(org, &requests[2].id, SupportStatus::Resolved, now).await.unwrap();

        let key = &app.tenant.key;
        app.app.api(Method::PATCH, "/organization", key, Some(json!({"tool_approval": "manual"}))).await;
        let install = json!({"catalog_entry_id": "fixture", "name": "Helper"});
        let (_, upstream) = app.app.api(Method::POST, "/upstreams", key, Some(install)).await;
        let upstream_id = upstream["id"].as_str().unwrap().to_owned();
        wait_for(&app.app, &app.tenant, &upstream_id, |u| u["status"] == "ready").await;
        let (_, tools) = app.app.get(&format!("/upstreams/{upstream_id}/tools"), key).await;
        let pending = tools.as_array().unwrap_or_else(|| tools["items"].as_array().unwrap())
            .iter().filter(|t: &&Value| t["state"] == "pending").count() as u64;
        assert!(pending > 1, "{tools}");
        app.app.api(Method::POST, &format!("/upstreams/{upstream_id}/tools/echo/approve"), key, None).await;
        let upstream = UpstreamId::parse(&upstream_id).unwrap();
        store.set_upstream_status(org, &upstream, UpstreamStatus::Failed, Some("gone"), None, 3).await.unwrap();

        let hook = NewWebhook {
            id: WebhookId::generate(),
            org_id: org.clone(),
            url: "https://hooks.example/guidepost".into(),
            events: vec![WebhookEvent::SupportRequestCreated],
            secret_sealed: "sealed".into(),
        };
        let hook = store.create_webhook(&hook, now).await.unwrap();
        // Due in an hour, so that the delivery worker leaves it to this test.
        let later = now.plus_seconds(3600);
        for _ in 0..2 {
            let delivery = store.enqueue_webhook_event(org, &hook.id, WebhookEvent::SupportRequestCreated, &json!({}), later).await.unwrap();
            let gave_up = AttemptOutcome::Failed { status_code: Some(500), error: "refused".into(), retry_at: None };
            store.finish_webhook_delivery(&delivery.id, &gave_up, now).await.unwrap();
        }
        // One failed once and waits to be tried again: failing too. One not tried yet and
        // one delivered are not.
        let retried = store.enqueue_webhook_event(org, &hook.id, WebhookEvent::SupportRequestCreated, &json!({}), later).await.unwrap();
        let again = AttemptOutcome::Failed { status_code: Some(503), error: "busy".into(), retry_at: Some(later) };
        store.finish_webhook_delivery(&retried.id, &again, now).await.unwrap();
        store.enqueue_webhook_event(org, &hook.id, WebhookEvent::SupportRequestCreated, &json!({}), later).await.unwrap();
        let delivered = store.enqueue_webhook_event(org, &hook.id, WebhookEvent::SupportRequestCreated, &json!({}), later).await.unwrap();
        store.finish_webhook_delivery(&delivered.id, &AttemptOutcome::Delivered { status_code: 200 }, now).await.unwrap();

        assert_eq!(tiles(owner.get("/app/").await.ok()), [2, pending - 1, 1, 3]);

        // Another organization's overview counts none of it.
        let other = app.app.create_tenant("Other").await;
        let mut stranger = member(&app, &other, "someone@other.example", Role::Owner).await;
        assert_eq!(tiles(stranger.get("/app/").await.ok()), [0, 0, 0, 0]);
    }
}
