use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::json;

use crate::api::helpers::{ApiApp, spawn_app};

fn post_raw(
    app: &ApiApp,
    key: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::RequestBuilder {
    let mut request = app.request(Method::POST, "/api/v1/servers", Some(key));
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    request.body(body)
}

async fn malformed_json_is_a_400_problem(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let reply = app
        .send(post_raw(
            &app,
            &acme.key,
            Some("application/json"),
            r#"{"name": "Acme", "slug": "#,
        ))
        .await;
    reply.problem(400);
}

async fn unknown_fields_are_refused_by_name(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let reply = app
        .post(
            &acme,
            "/api/v1/servers",
            json!({"name": "Acme", "slug": "acme", "colour": "red"}),
        )
        .await;
    reply.problem(422);
    assert_eq!(reply.error_fields(), ["colour"]);
    assert!(
        app.get(&acme, "/api/v1/servers").await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

async fn wrong_types_and_missing_fields_name_the_field(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let wrong = app
        .post(
            &acme,
            "/api/v1/servers",
            json!({"name": "Acme", "slug": "acme", "support_tool_enabled": "yes"}),
        )
        .await;
    wrong.problem(422);
    assert_eq!(wrong.error_fields(), ["support_tool_enabled"]);

    let missing = app
        .post(&acme, "/api/v1/servers", json!({"name": "Acme"}))
        .await;
    missing.problem(422);
    assert_eq!(missing.error_fields(), ["slug"]);

    let bad_enum = app
        .post(
            &acme,
            "/api/v1/servers",
            json!({"name": "Acme", "slug": "acme", "auth_mode": "magic"}),
        )
        .await;
    bad_enum.problem(422);
    assert_eq!(bad_enum.error_fields(), ["auth_mode"]);
}

async fn bodies_must_be_declared_json(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let body = r#"{"name": "Acme", "slug": "acme"}"#;
    app.send(post_raw(&app, &acme.key, None, body))
        .await
        .problem(415);
    app.send(post_raw(&app, &acme.key, Some("text/plain"), body))
        .await
        .problem(415);
}

async fn bodies_over_one_mebibyte_are_refused(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let huge = format!(
        r#"{{"name": "Acme", "slug": "acme", "instructions": "{}"}}"#,
        "x".repeat(guidepost_api::BODY_LIMIT)
    );
    app.send(post_raw(&app, &acme.key, Some("application/json"), huge))
        .await
        .problem(413);

    // Just under the limit is read, and then refused by the field's own limit.
    let under = format!(
        r#"{{"name": "Acme", "slug": "acme", "instructions": "{}"}}"#,
        "x".repeat(guidepost_api::BODY_LIMIT - 100)
    );
    let reply = app
        .send(post_raw(&app, &acme.key, Some("application/json"), under))
        .await;
    reply.problem(422);
    assert_eq!(reply.error_fields(), ["instructions"]);
}

async fn malformed_ids_in_paths_are_not_found(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let server = app.create_server(&acme, "acme").await;
    let server_id = server["id"].as_str().unwrap();

    for path in [
        "/api/v1/servers/not-an-id".to_owned(),
        "/api/v1/servers/MS_ABCDEFGHIJKL".to_owned(),
        // A well-formed id of another kind names no server.
        format!("/api/v1/support-requests/{server_id}"),
        format!("/api/v1/end-users/{server_id}"),
    ] {
        app.get(&acme, &path).await.problem(404);
    }
    app.patch(&acme, "/api/v1/servers/nope", json!({"name": "X"}))
        .await
        .problem(404);
    app.delete(&acme, "/api/v1/api-keys/nope")
        .await
        .problem(404);
}

async fn unknown_routes_and_methods_are_problems_too(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    app.get(&acme, "/api/v1/nothing-here").await.problem(404);
    app.call(Method::PUT, "/api/v1/servers", Some(&acme.key), None)
        .await
        .problem(405);
}

async fn bad_query_parameters_are_422_problems(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let bad_status = app
        .get(&acme, "/api/v1/support-requests?status=sleeping")
        .await;
    bad_status.problem(422);
    assert_eq!(bad_status.error_fields(), ["status"]);
    let bad_limit = app.get(&acme, "/api/v1/tool-calls?limit=many").await;
    bad_limit.problem(422);
    assert_eq!(bad_limit.error_fields(), ["limit"]);
    let unknown = app
        .get(&acme, "/api/v1/tool-calls?serverid=ms_abcdefghij")
        .await;
    unknown.problem(422);
    assert_eq!(unknown.error_fields(), ["serverid"]);
    let bad_id = app.get(&acme, "/api/v1/tool-calls?server_id=abc").await;
    bad_id.problem(422);
    assert_eq!(bad_id.error_fields(), ["server_id"]);
}

/// A mailer for a router that sends no mail.
struct Unsent;

#[async_trait::async_trait]
impl guidepost_core::mail::Mail for Unsent {
    async fn send(
        &self,
        _: &guidepost_domain::Email,
        _: &str,
        _: &str,
    ) -> Result<(), guidepost_core::mail::MailError> {
        Err(guidepost_core::mail::MailError::Refused)
    }
}

/// The binary merges this router with others and sets its own fallback: paths under
/// `/api/v1` must still answer with problems, and other paths with the binary's fallback.
async fn the_router_merges_with_other_routes_and_fallbacks(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let merged = axum::Router::new()
        .route("/mcp", axum::routing::get(|| async { "mcp" }))
        .merge(guidepost_api::router(
            app.platform().clone(),
            std::sync::Arc::new(Unsent),
        ))
        .fallback(|| async { (StatusCode::NOT_FOUND, "outer") });
    let send = |path: &str| {
        let request = Request::get(path).body(Body::empty()).unwrap();
        tower::ServiceExt::oneshot(merged.clone(), request)
    };

    assert_eq!(send("/mcp").await.unwrap().status(), StatusCode::OK);
    let elsewhere = send("/elsewhere").await.unwrap();
    let body = axum::body::to_bytes(elsewhere.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(&body[..], b"outer");
    let under_api = send("/api/v1/nothing-here").await.unwrap();
    assert_eq!(under_api.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        under_api.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let servers = send("/api/v1/servers").await.unwrap();
    assert_eq!(servers.status(), StatusCode::UNAUTHORIZED);
}

backend_tests!(
    malformed_json_is_a_400_problem,
    unknown_fields_are_refused_by_name,
    wrong_types_and_missing_fields_name_the_field,
    bodies_must_be_declared_json,
    bodies_over_one_mebibyte_are_refused,
    malformed_ids_in_paths_are_not_found,
    unknown_routes_and_methods_are_problems_too,
    bad_query_parameters_are_422_problems,
    the_router_merges_with_other_routes_and_fallbacks,
);
