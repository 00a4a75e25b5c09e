//! Erasing a person who connected their own account at an upstream (its `person`
//! connections): the connection is gone and its tokens are revoked at the
//! upstream (here a remote Guidepost, whose own export shows them revoked). Their export
//! quotes the upstream's refusal of their refresh only to whoever may read its words.

use std::time::Duration;

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::connections_people::{
    call_support, connect, gateway_of, install_for_people, link_in, remote_and_gateway,
};
use crate::oauth_helpers::{OAuthApp, oauth_app};

const ADA: &str = "ada@people.example";
const ADA_REMOTE: &str = "ada@remote.example";

/// Whether every token of Ada's grants at the remote is revoked (or its grant is).
async fn revoked_at_remote(remote: &OAuthApp) -> (usize, bool) {
    let (_, found) = remote
        .app
        .get(
            &format!("/end-users?email={ADA_REMOTE}"),
            &remote.tenant.key,
        )
        .await;
    let id = found["items"][0]["id"]
        .as_str()
        .expect("Ada at the remote")
        .to_owned();
    let (status, export) = remote
        .app
        .get(&format!("/end-users/{id}/export"), &remote.tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let grants = export["tables"]["oauth_grants"].as_array().unwrap().clone();
    let tokens = export["tables"]["oauth_tokens"].as_array().unwrap().clone();
    let revoked = |token: &Value| {
        !token["revoked_at"].is_null()
            || grants
                .iter()
                .any(|g| g["id"] == token["grant_id"] && !g["revoked_at"].is_null())
    };
    (
        tokens.len(),
        !tokens.is_empty() && tokens.iter().all(revoked),
    )
}

backend_tests! {
    async fn an_erased_persons_connection_is_revoked_at_the_upstream(db: &TestDatabase) {
        let (remote, gateway) = remote_and_gateway(db).await;
        let upstream = install_for_people(&remote, &gateway).await;
        let ada = gateway.sign_in("gateway", ADA).await;
        let told = call_support(&gateway, &ada.access, "Before connecting").await;
        let (status, page) = connect(&remote, &gateway, &link_in(&told), ADA, ADA_REMOTE).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let called = call_support(&gateway, &ada.access, "Connected").await;
        assert_ne!(called["result"]["isError"], true, "{called}");
        let (tokens, revoked) = revoked_at_remote(&remote).await;
        assert!(tokens > 0 && !revoked, "live at the remote before: {tokens}");

        let (app, acme) = (&gateway.app, &gateway.tenant);
        let (_, found) = app.get(&format!("/end-users?email={ADA}"), &acme.key).await;
        let ada_id = found["items"][0]["id"].as_str().unwrap().to_owned();
        let path = format!("/upstreams/{upstream}/connections");
        let (_, connections) = app.get(&path, &acme.key).await;
        assert!(connections.to_string().contains(&ada_id), "{connections}");
        let (_, export) = app.get(&format!("/end-users/{ada_id}/export"), &acme.key).await;
        assert_eq!(export["tables"]["upstream_connections"].as_array().map(Vec::len), Some(1), "{export}");
        assert!(!export.to_string().contains("tokens_sealed"), "sealed tokens are left out");

        let (status, erased) = app.api(Method::DELETE, &format!("/end-users/{ada_id}"), &acme.key, None).await;
        assert_eq!(status, StatusCode::OK, "{erased}");
        let (_, connections) = app.get(&path, &acme.key).await;
        assert!(!connections.to_string().contains(&ada_id), "the connection is gone: {connections}");
        let (_, revoked) = revoked_at_remote(&remote).await;
        assert!(revoked, "her tokens are revoked at the remote");
        assert!(app.store.find_text_anywhere(ADA).await.unwrap().is_empty(), "her email is nowhere");
        let holding = app.store.find_text_anywhere(&ada_id).await.unwrap();
        assert!(holding.iter().all(|(table, _)| table == "audit_events"),
            "her id stays only in the audit log of the erasure: {holding:?}");
    }
    async fn a_persons_export_quotes_an_upstreams_refusal_only_to_whoever_may_read_it(db: &TestDatabase) {
        let remote = oauth_app(db, &["remote"], |settings| {
            settings.auth.access_token_ttl = Duration::from_secs(2);
            settings.auth.refresh_token_ttl = Duration::from_secs(1);
        })
        .await;
        let gateway = gateway_of(db, &remote, "").await;
        install_for_people(&remote, &gateway).await;
        let (app, acme) = (&gateway.app, &gateway.tenant);
        let body = json!({"url": "https://hooks.example.com/guidepost",
            "events": ["connection.needs_reconnect"]});
        let (status, created) = app.api(Method::POST, "/webhooks", &acme.key, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let ada = gateway.sign_in("gateway", ADA).await;
        let told = call_support(&gateway, &ada.access, "Before connecting").await;
        let (status, page) = connect(&remote, &gateway, &link_in(&told), ADA, ADA_REMOTE).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let refused = call_support(&gateway, &ada.access, "After both expired").await;
        assert_eq!(refused["result"]["isError"], true, "{refused}");

        let (_, found) = app.get(&format!("/end-users?email={ADA}"), &acme.key).await;
        let ada_id = found["items"][0]["id"].as_str().unwrap().to_owned();
        let export_as = |key: String| {
            let path = format!("/end-users/{ada_id}/export");
            async move { app.get(&path, &key).await }
        };
        let refusal = |export: &Value| -> (Value, Value) {
            let tables = &export["tables"];
            let event = tables["audit_events"].as_array().unwrap().iter()
                .find(|e| e["action"] == "connection.needs_reconnect")
                .unwrap_or_else(|| panic!("the refusal is hers: {export}"));
            let delivery = tables["webhook_deliveries"].as_array().unwrap().iter()
                .find(|d| d["event"] == "connection.needs_reconnect")
                .unwrap_or_else(|| panic!("its announcement is hers: {export}"));
            let parsed = |v: &Value| serde_json::from_str::<Value>(v.as_str().unwrap()).unwrap();
            (parsed(&event["detail"]), parsed(&delivery["payload"])["data"].clone())
        };
        // The owner's key may read the upstream's words: they are there.
        let (status, full) = export_as(acme.key.clone()).await;
        assert_eq!(status, StatusCode::OK, "{full}");
        let (detail, data) = refusal(&full);
        assert_eq!(detail["owner"], ada_id.as_str(), "{detail}");
        assert!(detail["reason"].as_str().is_some_and(|r| !r.is_empty()), "{detail}");
        assert!(data["reason"].as_str().is_some_and(|r| !r.is_empty()), "{data}");
        // An administrator's key without the gateway scope exports her, without them.
        let admin = app.key_with(&acme.key, "privacy desk", json!(["admin"])).await;
        let (status, kept) = export_as(admin).await;
        assert_eq!(status, StatusCode::OK, "{kept}");
        let (detail, data) = refusal(&kept);
        assert_eq!(detail["owner"], ada_id.as_str(), "{detail}");
        assert_eq!(detail.get("reason"), None, "{detail}");
        assert_eq!(data.get("reason"), None, "{data}");
        assert_eq!(data["owner"], ada_id.as_str(), "{data}");
    }
}
