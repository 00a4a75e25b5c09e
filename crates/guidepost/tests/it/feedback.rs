//! `send_feedback`: offered only where a server turns it on; sent from both protocol eras
//! by the official Python client, it is kept per person and session, counted per day,
//! announced as a signed `feedback.created` webhook, kept to its organization, and moved
//! to the anonymous tombstone when the person is erased.

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    RawMcp, STATELESS_ERA, Tenant, TestApp, python_smoke, spawn_app_with, tool_names,
};
use crate::webhooks::{Received, receiving, settings, verify};

/// A webhook to a fresh receiver, subscribed to `feedback.created`; returns its secret.
async fn feedback_hook(app: &TestApp, tenant: &Tenant) -> (Received, String) {
    let (addr, received) = receiving(204).await;
    let body = json!({"url": format!("http://{addr}/hook"), "events": ["feedback.created"]});
    let (status, created) = app
        .api(Method::POST, "/webhooks", &tenant.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (received, created["secret"].as_str().unwrap().to_owned())
}

/// Calls `send_feedback` with the official Python client in `mode`; returns its answer.
async fn send_with_python(url: &str, mode: &str, rating: i64, text: &str) -> Value {
    let arguments = json!({"rating": rating, "text": text}).to_string();
    let report = python_smoke(&[
        "--url",
        url,
        "--mode",
        mode,
        "--call-tool",
        "send_feedback",
        "--arguments",
        &arguments,
    ])
    .await;
    assert!(
        report["tools"]
            .as_array()
            .unwrap()
            .contains(&json!("send_feedback")),
        "{report}"
    );
    report["call"].clone()
}

/// The webhook bodies received, once there are `count` (a minute at most).
async fn received_bodies(received: &Received, count: usize) -> Vec<(String, String)> {
    for _ in 0..1200 {
        if received.lock().unwrap().len() >= count {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    received.lock().unwrap().clone()
}

backend_tests! {
    async fn feedback_from_both_eras_is_kept_counted_and_delivered_signed(db: &TestDatabase) {
        let app = spawn_app_with(db, settings(50, 3)).await;
        let acme = app.create_tenant("Acme").await;
        let server = app.create_server(&acme, "acme", json!({"feedback_tool_enabled": true})).await;
        assert_eq!(server["feedback_tool_enabled"], true, "{server}");
        let server_id = server["id"].as_str().unwrap().to_owned();
        let (received, secret) = feedback_hook(&app, &acme).await;

        // Ada, by her personal URL, in the session era; then somebody in the stateless one.
        let personal = format!("{}?tracking_id=ada-laptop", app.mcp_path_url("acme"));
        let sent = send_with_python(&personal, "legacy", 5, "The setup walkthrough was clear.").await;
        assert_eq!(sent["is_error"], false, "{sent}");
        assert_eq!(sent["structured"]["rating"], 5, "{sent}");
        let first_id = sent["structured"]["feedback_id"].as_str().unwrap().to_owned();
        assert!(first_id.starts_with("fb_"), "{sent}");
        let sent = send_with_python(&app.mcp_path_url("acme"), "2026-07-28", 2, "Step 3 lost me.").await;
        assert_eq!(sent["is_error"], false, "{sent}");

        // A rating out of range is a tool error the agent can act on; nothing is kept.
        let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
        let refused = mcp.call_tool(3, "send_feedback", json!({"rating": 9, "text": "Great"})).await;
        assert_eq!(refused.body["result"]["isError"], true, "{}", refused.body);
        assert!(refused.body.to_string().contains("from 1 to 5"), "{}", refused.body);

        let (status, listed) = app.get("/feedback", &acme.key).await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        let items = listed["items"].as_array().unwrap();
        let ratings: Vec<&Value> = items.iter().map(|f| &f["rating"]).collect();
        assert_eq!(ratings, [&json!(2), &json!(5)], "newest first: {listed}");
        let ada = app.end_user_id(&acme, "ada-laptop").await;
        assert_eq!(items[1]["id"], first_id.as_str());
        assert_eq!(items[1]["end_user_id"], ada.as_str(), "{listed}");
        assert!(items[1]["session_id"].as_str().unwrap_or_default().starts_with("mss_"), "the session era's session: {listed}");
        assert_eq!(items[0]["session_id"], Value::Null, "no session in the stateless era: {listed}");
        assert_eq!(items[0]["server_id"], server_id.as_str());

        let (status, daily) = app.get(&format!("/feedback/daily?days=7&server_id={server_id}"), &acme.key).await;
        assert_eq!(status, StatusCode::OK, "{daily}");
        let today = &guidepost_domain::Timestamp::now().to_rfc3339()[..10];
        assert_eq!(daily["days"], json!([{"day": today, "count": 2, "average_rating": 3.5}]), "{daily}");
        let (status, problem) = app.get("/feedback/daily?days=400", &acme.key).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

        // Each one is announced once, signed with the webhook's secret.
        let got = received_bodies(&received, 2).await;
        assert_eq!(got.len(), 2, "{got:?}");
        for (signature, body) in &got {
            let delivery: Value = serde_json::from_str(body).unwrap();
            assert_eq!(delivery["type"], "feedback.created", "{delivery}");
            assert!(delivery["data"]["id"].as_str().unwrap().starts_with("fb_"), "{delivery}");
            let (valid, said) = verify(&secret, signature, body).await;
            assert!(valid, "{said}");
        }
        let texts: Vec<Value> = got.iter().map(|(_, body)| serde_json::from_str::<Value>(body).unwrap()["data"]["text"].clone()).collect();
        assert!(texts.contains(&json!("Step 3 lost me.")), "{texts:?}");

        // Another organization sees none of it.
        let other = app.create_tenant("Other").await;
        let (_, theirs) = app.get("/feedback", &other.key).await;
        assert_eq!(theirs["items"], json!([]), "{theirs}");
        let (_, theirs) = app.get("/feedback/daily", &other.key).await;
        assert_eq!(theirs["days"], json!([]), "{theirs}");
        let (status, _) = app.get(&format!("/feedback?server_id={server_id}"), &other.key).await;
        assert_eq!(status, StatusCode::OK);

        // Erased, Ada's feedback stays counted but is no longer hers.
        let (status, erased) = app.api(Method::DELETE, &format!("/end-users/{ada}"), &acme.key, None).await;
        assert_eq!(status, StatusCode::OK, "{erased}");
        assert_eq!(erased["feedback_kept_anonymous"], 1, "{erased}");
        let (_, hers) = app.get(&format!("/feedback?end_user_id={ada}"), &acme.key).await;
        assert_eq!(hers["items"], json!([]), "{hers}");
        let (_, all) = app.get("/feedback", &acme.key).await;
        assert_eq!(all["items"].as_array().unwrap().len(), 2, "{all}");
    }

    async fn only_a_server_that_turns_it_on_offers_send_feedback(db: &TestDatabase) {
        let app = spawn_app_with(db, settings(50, 3)).await;
        let acme = app.create_tenant("Acme").await;
        let server = app.create_server(&acme, "acme", json!({})).await;
        assert_eq!(server["feedback_tool_enabled"], false, "off by default: {server}");
        let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
        let listed = tool_names(&mcp.call(2, "tools/list", json!({})).await);
        assert!(!listed.contains(&"send_feedback".to_owned()), "{listed:?}");
        let refused = mcp.call_tool(1, "send_feedback", json!({"rating": 4, "text": "Nice"})).await;
        assert!(refused.body.to_string().contains("send_feedback"), "an unknown tool: {}", refused.body);
        let (_, kept) = app.get("/feedback", &acme.key).await;
        assert_eq!(kept["items"], json!([]), "{kept}");

        let id = server["id"].as_str().unwrap();
        let (status, changed) = app.api(Method::PATCH, &format!("/servers/{id}"), &acme.key, Some(json!({"feedback_tool_enabled": true}))).await;
        assert_eq!(status, StatusCode::OK, "{changed}");
        let listed = tool_names(&mcp.call(2, "tools/list", json!({})).await);
        assert!(listed.contains(&"send_feedback".to_owned()), "{listed:?}");
    }
}
