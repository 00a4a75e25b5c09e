//! Erasing a person who connected their own account at an upstream (issue 29 with issue
//! 32's `person` connections): the connection is gone and its tokens are revoked at the
//! upstream (here a remote Guidepost, whose own export shows them revoked).

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::connections_people::{
    call_support, connect, install_for_people, link_in, remote_and_gateway,
};
use crate::oauth_helpers::OAuthApp;

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
}
