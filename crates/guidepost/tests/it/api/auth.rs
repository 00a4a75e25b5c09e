use axum::http::{Method, StatusCode, header};
use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::json;

use crate::api::helpers::{Reply, spawn_app};

fn assert_unauthorized(reply: &Reply) {
    reply.problem(401);
    assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
}

async fn requests_without_a_valid_key_are_refused(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    app.create_server(&acme, "acme").await;

    assert_unauthorized(&app.call(Method::GET, "/api/v1/servers", None, None).await);
    assert_unauthorized(
        &app.call(
            Method::GET,
            "/api/v1/servers",
            Some("gp_not-a-real-key"),
            None,
        )
        .await,
    );
    assert_unauthorized(
        &app.call(Method::GET, "/api/v1/servers", Some(&acme.key[3..]), None)
            .await,
    );
    let basic = app
        .request(Method::GET, "/api/v1/servers", None)
        .header(header::AUTHORIZATION, format!("Basic {}", acme.key));
    assert_unauthorized(&app.send(basic).await);
    // Refused before the body is read: no server is created.
    let create = app
        .call(
            Method::POST,
            "/api/v1/servers",
            None,
            Some(json!({"name": "X", "slug": "xyz"})),
        )
        .await;
    assert_unauthorized(&create);
    assert_eq!(
        app.get(&acme, "/api/v1/servers").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn the_bearer_scheme_is_case_insensitive(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let request = app
        .request(Method::GET, "/api/v1/servers", None)
        .header(header::AUTHORIZATION, format!("bearer {}", acme.key));
    assert_eq!(app.send(request).await.status, StatusCode::OK);
}

async fn keys_are_created_listed_and_revoked(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;

    // With admin, as listing keys needs it.
    let created = app
        .post(
            &acme,
            "/api/v1/api-keys",
            json!({"name": "ci", "scopes": ["admin"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["scopes"], json!(["read", "admin"]));
    let new_key = created.body["key"].as_str().unwrap().to_owned();
    let new_id = created.body["id"].as_str().unwrap().to_owned();
    assert!(
        new_key.starts_with("gp_") && new_id.starts_with("key_"),
        "{}",
        created.body
    );
    assert_eq!(created.body["name"], "ci");
    assert!(new_key.starts_with(created.body["display_prefix"].as_str().unwrap()));

    // The new key works, for the same organization.
    let with_new = app
        .call(Method::GET, "/api/v1/api-keys", Some(&new_key), None)
        .await;
    assert_eq!(with_new.status, StatusCode::OK);
    let keys = with_new.body["items"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k["org_id"] == acme.org.as_str()));
    // The plaintext is shown once, never listed.
    assert!(!with_new.body.to_string().contains(&new_key));

    let revoked = app
        .delete(&acme, &format!("/api/v1/api-keys/{new_id}"))
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_unauthorized(
        &app.call(Method::GET, "/api/v1/servers", Some(&new_key), None)
            .await,
    );
    let listed = app.get(&acme, "/api/v1/api-keys").await;
    let entry = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == new_id.as_str())
        .unwrap()
        .clone();
    assert!(entry["revoked_at"].is_string(), "{entry}");
}

async fn a_key_may_revoke_itself(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let keys = app.get(&acme, "/api/v1/api-keys").await;
    let own_id = keys.body["items"][0]["id"].as_str().unwrap().to_owned();

    assert_eq!(
        app.delete(&acme, &format!("/api/v1/api-keys/{own_id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_unauthorized(&app.get(&acme, "/api/v1/api-keys").await);
}

async fn key_names_are_validated(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let blank = app
        .post(&acme, "/api/v1/api-keys", json!({"name": "  "}))
        .await;
    blank.problem(422);
    assert_eq!(blank.error_fields(), ["name"]);
    assert_eq!(
        app.get(&acme, "/api/v1/api-keys").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

backend_tests!(
    requests_without_a_valid_key_are_refused,
    the_bearer_scheme_is_case_insensitive,
    keys_are_created_listed_and_revoked,
    a_key_may_revoke_itself,
    key_names_are_validated,
);
