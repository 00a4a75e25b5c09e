//! One organization's key never reaches another organization's objects: they are not
//! found, and they are left unchanged.

use axum::http::{Method, StatusCode};
use guidepost_domain::SupportStatus;
use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::json;

use crate::api::helpers::{spawn_app, tool_call};

async fn another_organizations_server_is_not_found(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let globex = app.tenant("Globex").await;
    let theirs = app.create_server(&globex, "globex").await;
    let path = format!("/api/v1/servers/{}", theirs["id"].as_str().unwrap());

    app.get(&acme, &path).await.problem(404);
    app.patch(&acme, &path, json!({"name": "Hijacked"}))
        .await
        .problem(404);
    app.delete(&acme, &path).await.problem(404);
    app.get(&acme, &format!("{path}/install"))
        .await
        .problem(404);
    assert!(
        app.get(&acme, "/api/v1/servers").await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let still = app.get(&globex, &path).await;
    assert_eq!(still.status, StatusCode::OK);
    assert_eq!(still.body["name"], "Server globex");
}

async fn another_organizations_support_request_is_not_found(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let globex = app.tenant("Globex").await;
    let server = app.create_server(&globex, "globex").await;
    let server = app.server_record(&globex, &server).await;
    let request = app.support_request(&globex, &server).await;
    let path = format!("/api/v1/support-requests/{}", request.id);

    app.patch(&acme, &path, json!({"status": "closed"}))
        .await
        .problem(404);
    app.get(&acme, &path).await.problem(404);
    assert!(
        app.get(&acme, "/api/v1/support-requests").await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let filtered = app
        .get(
            &acme,
            &format!("/api/v1/support-requests?server_id={}", server.id),
        )
        .await;
    assert!(filtered.body["items"].as_array().unwrap().is_empty());

    let unchanged = app
        .store()
        .get_support_request(&globex.org, &request.id)
        .await
        .unwrap();
    assert_eq!(unchanged.status, SupportStatus::Open);
}

async fn another_organizations_end_users_and_calls_are_invisible(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let globex = app.tenant("Globex").await;
    let server = app.create_server(&globex, "globex").await;
    let server = app.server_record(&globex, &server).await;
    let user = app.end_user(&globex, "globex-user").await;
    app.tool_calls(&[tool_call(&globex, &server, "search", false, 100, 10)])
        .await;

    app.get(&acme, &format!("/api/v1/end-users/{}", user.id))
        .await
        .problem(404);
    assert!(
        app.get(&acme, "/api/v1/end-users").await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        app.get(&acme, "/api/v1/end-users?tracking_id=globex-user")
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        app.get(&acme, "/api/v1/tool-calls").await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let report = app
        .get(
            &acme,
            &format!("/api/v1/analytics/tools?server_id={}", server.id),
        )
        .await;
    assert_eq!(report.status, StatusCode::OK);
    assert!(report.body["tools"].as_array().unwrap().is_empty());

    // The owner sees them, so the emptiness above is the tenancy rule, not missing data.
    assert_eq!(
        app.get(&globex, &format!("/api/v1/end-users/{}", user.id))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&globex, "/api/v1/tool-calls").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn another_organizations_key_cannot_be_revoked(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let globex = app.tenant("Globex").await;
    let their_keys = app.get(&globex, "/api/v1/api-keys").await;
    let their_key_id = their_keys.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    app.delete(&acme, &format!("/api/v1/api-keys/{their_key_id}"))
        .await
        .problem(404);
    let listed = app.get(&acme, "/api/v1/api-keys").await;
    assert!(
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["id"] != their_key_id.as_str())
    );
    assert_eq!(
        app.call(Method::GET, "/api/v1/servers", Some(&globex.key), None)
            .await
            .status,
        StatusCode::OK
    );
}

backend_tests!(
    another_organizations_server_is_not_found,
    another_organizations_support_request_is_not_found,
    another_organizations_end_users_and_calls_are_invisible,
    another_organizations_key_cannot_be_revoked,
);
