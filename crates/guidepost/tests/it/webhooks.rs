//! Webhooks: a receiver on loopback gets signed support events from the
//! store's outbox, retried with backoff while it is down, across a restart of Guidepost,
//! and verifiable with the recipe of docs/user/webhooks.md (`scripts/verify-webhook`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use guidepost::config::Settings;
use guidepost_core::secrets::MasterKey;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{RawMcp, STATELESS_ERA, Tenant, TestApp, spawn_app_with, workspace_root};

/// What a receiver got: the signature header and the body, as sent.
pub(crate) type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A webhook receiver on loopback that answers `status` to every delivery.
async fn receiver(listener: tokio::net::TcpListener, status: u16) -> Received {
    let received: Received = Arc::default();
    let app =
        axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(
                    |State((got, status)): State<(Received, u16)>,
                     headers: HeaderMap,
                     body: String| async move {
                        let signature = headers
                            .get("guidepost-signature")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        got.lock().unwrap().push((signature, body));
                        AxumStatus::from_u16(status).unwrap()
                    },
                ),
            )
            .with_state((received.clone(), status));
    tokio::spawn(async move { axum::serve(listener, app).await });
    received
}

/// A receiver answering `status` on a fresh loopback port; returns where it listens.
pub(crate) async fn receiving(status: u16) -> (std::net::SocketAddr, Received) {
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    (addr, receiver(listener, status).await)
}

async fn loopback() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()
}

pub(crate) fn settings(backoff_ms: u64, max_attempts: u32) -> impl FnOnce(&mut Settings) {
    move |settings: &mut Settings| {
        settings.platform.master_key = Some(MasterKey::from_bytes([9; 32]));
        settings.webhooks.allow_private = true;
        settings.webhooks.backoff = Duration::from_millis(backoff_ms);
        settings.webhooks.max_attempts = max_attempts;
        settings.webhooks.poll = Duration::from_millis(50);
    }
}

async fn create_webhook(app: &TestApp, tenant: &Tenant, url: &str) -> (String, String) {
    let body =
        json!({"url": url, "events": ["support_request.created", "support_request.updated"]});
    let (status, created) = app
        .api(Method::POST, "/webhooks", &tenant.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    (created["id"].as_str().unwrap().to_owned(), secret)
}

/// Opens a support request through the `get_support` tool; returns its id.
async fn ask_for_support(app: &TestApp, slug: &str, title: &str) -> String {
    let mcp = RawMcp::new(app.mcp_path_url(slug), STATELESS_ERA);
    let arguments = json!({"title": title, "problem_description": "The CLI says 401.", "email": "ada@example.com"});
    let answer = mcp.call_tool(1, "get_support", arguments).await;
    let id = &answer.body["result"]["structuredContent"]["support_request_id"];
    id.as_str()
        .unwrap_or_else(|| panic!("{}", answer.body))
        .to_owned()
}

async fn wait_until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..300 {
        if let Some(found) = check().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The webhook's newest delivery, once `holds` is true of it.
async fn newest_delivery_when(
    app: &TestApp,
    tenant: &Tenant,
    hook: &str,
    what: &str,
    holds: impl Fn(&Value) -> bool,
) -> Value {
    wait_until(what, async || {
        let all = deliveries(app, tenant, hook).await;
        all.first().filter(|d| holds(d)).cloned()
    })
    .await
}

async fn deliveries(app: &TestApp, tenant: &Tenant, hook: &str) -> Vec<Value> {
    let (status, page) = app
        .get(&format!("/webhooks/{hook}/deliveries"), &tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

/// Runs the verification recipe of docs/user/webhooks.md on a delivery; returns its exit code and output.
pub(crate) async fn verify(secret: &str, signature: &str, body: &str) -> (bool, String) {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("python3")
        .arg(workspace_root().join("scripts/verify-webhook"))
        .args([secret, signature])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the recipe");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .await
        .unwrap();
    let output = child.wait_with_output().await.unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    )
}

backend_tests! {
    async fn a_support_request_reaches_the_receiver_signed_and_a_tampered_body_fails(db: &TestDatabase) {
        let (addr, received) = receiving(204).await;
        let url = format!("http://{addr}/hook");
        let app = spawn_app_with(db, settings(100, 5)).await;
        let acme = app.create_tenant("Acme").await;
        app.create_server(&acme, "acme", json!({})).await;
        let (hook, secret) = create_webhook(&app, &acme, &url).await;
        let (_, listed) = app.get("/webhooks", &acme.key).await;
        assert_eq!(listed["items"][0]["id"], hook.as_str());
        assert!(!listed.to_string().contains(&secret), "the secret is shown once: {listed}");

        let request = ask_for_support(&app, "acme", "Cannot deploy").await;
        let (signature, body) = wait_until("the created event", async || received.lock().unwrap().first().cloned()).await;
        let event: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(event["type"], "support_request.created");
        assert_eq!(event["data"]["id"], request.as_str());
        assert_eq!(event["data"]["title"], "Cannot deploy");
        assert!(event["id"].as_str().unwrap().starts_with("evt_"), "{event}");
        assert_eq!(verify(&secret, &signature, &body).await, (true, "valid".into()));
        let tampered = body.replace("Cannot deploy", "Send me the keys");
        let (valid, why) = verify(&secret, &signature, &tampered).await;
        assert!(!valid && why.contains("does not match"), "{why}");
        let (valid, _) = verify("whsec_not_this_one", &signature, &body).await;
        assert!(!valid);

        let path = format!("/support-requests/{request}");
        let (status, _) = app.api(Method::PATCH, &path, &acme.key, Some(json!({"status": "in_progress"}))).await;
        assert_eq!(status, StatusCode::OK);
        let (_, body) = wait_until("the updated event", async || received.lock().unwrap().get(1).cloned()).await;
        let event: Value = serde_json::from_str(&body).unwrap();
        assert_eq!((event["type"].as_str(), event["data"]["status"].as_str()), (Some("support_request.updated"), Some("in_progress")));

        let sent = wait_until("both deliveries recorded", async || {
            let all = deliveries(&app, &acme, &hook).await;
            all.iter().all(|d| d["status"] == "delivered").then_some(all)
        }).await;
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0]["event"], "support_request.updated", "newest first");
        assert!(sent.iter().all(|d| d["attempts"] == 1 && d["last_status_code"] == 204), "{sent:?}");

        // Another organization sees none of it.
        let other = app.create_tenant("Other").await;
        for (method, path) in [(Method::GET, format!("/webhooks/{hook}")), (Method::GET, format!("/webhooks/{hook}/deliveries")),
                               (Method::POST, format!("/webhooks/{hook}/test")), (Method::DELETE, format!("/webhooks/{hook}"))] {
            let (status, _) = app.api(method.clone(), &path, &other.key, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        }
        let (_, theirs) = app.get("/webhooks", &other.key).await;
        assert_eq!(theirs["items"], json!([]));
    }

    async fn a_delivery_is_retried_while_the_receiver_is_down_and_survives_a_restart(db: &TestDatabase) {
        // A port with nothing listening yet: connections are refused.
        let port = loopback().await.local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/hook");
        let first = spawn_app_with(db, settings(150, 30)).await;
        let acme = first.create_tenant("Acme").await;
        first.create_server(&acme, "acme", json!({})).await;
        let (hook, secret) = create_webhook(&first, &acme, &url).await;
        let request = ask_for_support(&first, "acme", "Down receiver").await;

        let retried = newest_delivery_when(&first, &acme, &hook, "two failed attempts", |d| d["attempts"].as_u64() >= Some(2)).await;
        assert_eq!(retried["status"], "pending", "{retried}");
        assert!(retried["last_status_code"].is_null(), "{retried}");
        assert!(!retried["last_error"].as_str().unwrap_or_default().is_empty(), "{retried}");
        assert!(retried["next_attempt_at"].is_string(), "{retried}");
        first.app.shutdown().await.unwrap();

        // Guidepost restarts, then the receiver comes back: the outbox still holds it.
        let second = spawn_app_with(db, settings(150, 30)).await;
        let received = receiver(tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap(), 200).await;
        let (signature, body) = wait_until("the delivery after the restart", async || received.lock().unwrap().first().cloned()).await;
        let event: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(event["data"]["id"], request.as_str());
        assert!(verify(&secret, &signature, &body).await.0);
        let done = newest_delivery_when(&second, &acme, &hook, "the delivery recorded", |d| d["status"] == "delivered").await;
        assert!(done["attempts"].as_u64() >= Some(3), "{done}");
        assert_eq!(done["last_status_code"], 200);
        assert_eq!(done["event_id"], event["id"], "{done}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(received.lock().unwrap().len(), 1, "delivered once");
    }

    async fn a_receiver_that_keeps_failing_is_given_up_on_and_a_ping_tries_it(db: &TestDatabase) {
        let (addr, received) = receiving(503).await;
        let url = format!("http://{addr}/hook");
        let app = spawn_app_with(db, settings(20, 3)).await;
        let acme = app.create_tenant("Acme").await;
        let (hook, _) = create_webhook(&app, &acme, &url).await;
        let (status, queued) = app.api(Method::POST, &format!("/webhooks/{hook}/test"), &acme.key, None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        assert_eq!((queued["event"].as_str(), queued["status"].as_str()), (Some("ping"), Some("pending")));
        let failed = newest_delivery_when(&app, &acme, &hook, "the ping given up on", |d| d["status"] == "failed").await;
        assert_eq!((failed["attempts"].as_u64(), failed["last_status_code"].as_u64()), (Some(3), Some(503)), "{failed}");
        assert!(failed["next_attempt_at"].is_null(), "{failed}");
        assert_eq!(received.lock().unwrap().len(), 3);

        // Deleting the webhook deletes its deliveries.
        let (status, _) = app.api(Method::DELETE, &format!("/webhooks/{hook}"), &acme.key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = app.get(&format!("/webhooks/{hook}/deliveries"), &acme.key).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    async fn webhooks_are_refused_with_a_reason(db: &TestDatabase) {
        let keyless = spawn_app_with(db, |_| {}).await;
        let acme = keyless.create_tenant("Acme").await;
        let body = json!({"url": "https://hooks.example.com/x", "events": ["support_request.created"]});
        let (status, problem) = keyless.api(Method::POST, "/webhooks", &acme.key, Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem.to_string().contains("master key"), "{problem}");

        let app = spawn_app_with(db, settings(100, 3)).await;
        for (bad, says) in [
            (json!({"url": "ftp://example.com/x", "events": ["support_request.created"]}), "https://"),
            (json!({"url": format!("https://example.com/{}", "a".repeat(2048)), "events": ["support_request.created"]}), "2048"),
            (json!({"url": "https://example.com/x", "events": []}), "at least one"),
            (json!({"url": "https://example.com/x", "events": ["ping"]}), "cannot be subscribed"),
            (json!({"url": "https://example.com/x", "events": ["support_request.deleted"]}), "events"),
        ] {
            let (status, problem) = app.api(Method::POST, "/webhooks", &acme.key, Some(bad.clone())).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
            assert!(problem.to_string().contains(says), "{bad}: {problem}");
        }
        for _ in 0..10 {
            let (status, _) = app.api(Method::POST, "/webhooks", &acme.key, Some(body.clone())).await;
            assert_eq!(status, StatusCode::CREATED);
        }
        let (status, problem) = app.api(Method::POST, "/webhooks", &acme.key, Some(body)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");
        assert!(problem.to_string().contains("at most 10"), "{problem}");
    }

    /// The secret is stored sealed with the master key: a node with another key cannot
    /// open it, so it signs nothing and sends nothing (a secret stored in the clear, or
    /// under a key of its own, would be sent).
    async fn a_webhook_secret_is_stored_sealed_with_the_master_key(db: &TestDatabase) {
        let (addr, received) = receiving(204).await;
        let sealing = spawn_app_with(db, settings(20, 1)).await;
        let acme = sealing.create_tenant("Acme").await;
        let (hook, _) = create_webhook(&sealing, &acme, &format!("http://{addr}/hook")).await;
        sealing.app.shutdown().await.unwrap();

        let other_key = spawn_app_with(db, |s| {
            settings(20, 1)(s);
            s.platform.master_key = Some(MasterKey::from_bytes([7; 32]));
        })
        .await;
        let (status, _) = other_key.api(Method::POST, &format!("/webhooks/{hook}/test"), &acme.key, None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let failed = newest_delivery_when(&other_key, &acme, &hook, "the ping", |d| d["status"] == "failed").await;
        let error = failed["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("secret cannot be opened") && error.contains("sealed with"), "{failed}");
        assert!(received.lock().unwrap().is_empty(), "nothing was sent");
    }

    async fn a_webhook_no_delivery_could_reach_is_refused_when_it_is_created(db: &TestDatabase) {
        let app = spawn_app_with(db, |s| {
            settings(20, 2)(s);
            s.webhooks.allow_private = false;
        }).await;
        let acme = app.create_tenant("Acme").await;
        for (url, why) in [
            ("https://127.0.0.1:8443/hook", "127.0.0.1, which is not a public address"),
            ("https://[fd00::1]/hook", "fd00::1, which is not a public address"),
            ("https://localhost/hook", "localhost, a local host"),
            ("http://hooks.acme.example/hook", "not sent over plain http"),
        ] {
            let body = json!({"url": url, "events": ["support_request.created"]});
            let (status, refused) = app.api(Method::POST, "/webhooks", &acme.key, Some(body)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {refused}");
            let text = refused.to_string();
            assert!(text.contains(why) && text.contains("--webhook-allow-private"), "{url}: {refused}");
        }
        let (_, listed) = app.get("/webhooks", &acme.key).await;
        assert_eq!(listed["items"], json!([]), "{listed}");
    }

    async fn the_outbound_fence_keeps_deliveries_off_private_addresses(db: &TestDatabase) {
        let (addr, received) = receiving(200).await;
        let port = addr.port();
        // Made while private addresses were allowed; the operator has turned that off since.
        let allowed = spawn_app_with(db, settings(20, 2)).await;
        let acme = allowed.create_tenant("Acme").await;
        let (hook, _) = create_webhook(&allowed, &acme, &format!("https://127.0.0.1:{port}/hook")).await;
        allowed.app.shutdown().await.unwrap();
        let app = spawn_app_with(db, |s| {
            settings(20, 2)(s);
            s.webhooks.allow_private = false;
        }).await;
        app.api(Method::POST, &format!("/webhooks/{hook}/test"), &acme.key, None).await;
        let failed = newest_delivery_when(&app, &acme, &hook, "the refused ping", |d| d["status"] == "failed").await;
        let error = failed["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("127.0.0.1 is not on a public address"), "{failed}");
        assert!(received.lock().unwrap().is_empty());
    }
}
