use axum::http::StatusCode;
use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::json;

use crate::api::helpers::{spawn_app, tool_call};

async fn support_requests_are_listed_filtered_read_and_updated(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let first = app.create_server(&acme, "first").await;
    let first = app.server_record(&acme, &first).await;
    let second = app.create_server(&acme, "second").await;
    let second = app.server_record(&acme, &second).await;
    let on_first = app.support_request(&acme, &first).await;
    let on_second = app.support_request(&acme, &second).await;

    let all = app.get(&acme, "/api/v1/support-requests").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);

    let by_server = app
        .get(
            &acme,
            &format!("/api/v1/support-requests?server_id={}", first.id),
        )
        .await;
    let items = by_server.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], on_first.id.as_str());
    assert_eq!(items[0]["email"], "ada@example.com");

    let path = format!("/api/v1/support-requests/{}", on_second.id);
    let read = app.get(&acme, &path).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["title"], "It broke");
    assert_eq!(read.body["status"], "open");

    let updated = app
        .patch(&acme, &path, json!({"status": "in_progress"}))
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["status"], "in_progress");

    let open = app.get(&acme, "/api/v1/support-requests?status=open").await;
    let open_ids: Vec<&str> = open.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(open_ids, [on_first.id.as_str()]);
    let in_progress = app
        .get(&acme, "/api/v1/support-requests?status=in_progress")
        .await;
    assert_eq!(in_progress.body["items"][0]["id"], on_second.id.as_str());

    let bad = app
        .patch(&acme, &path, json!({"status": "forgotten"}))
        .await;
    bad.problem(422);
    assert_eq!(bad.error_fields(), ["status"]);
    app.patch(&acme, &path, json!({})).await.problem(422);
}

async fn end_users_are_listed_with_their_counts_filtered_and_read_with_their_sessions(
    db: &TestDatabase,
) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let server = app.create_server(&acme, "acme").await;
    let server = app.server_record(&acme, &server).await;
    let ada = app.end_user(&acme, "ada-tracking").await;
    let email = guidepost_domain::Email::parse("ada@example.com").unwrap();
    app.store()
        .set_end_user_email(&acme.org, &ada.id, &email, false)
        .await
        .unwrap();
    let bob = app.end_user(&acme, "bob-tracking").await;
    app.session(&acme, &server, &ada, "transport-secret-1")
        .await;

    let by = |person: &guidepost_domain::EndUser| {
        let mut call = tool_call(&acme, &server, "search", false, 100, 5);
        call.end_user_id = Some(person.id.clone());
        call
    };
    let anonymous = tool_call(&acme, &server, "search", false, 100, 5);
    app.tool_calls(&[by(&ada), by(&ada), by(&bob), by(&ada), anonymous])
        .await;

    let all = app.get(&acme, "/api/v1/end-users").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let counts: Vec<(&str, i64, i64)> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let count = |field: &str| u[field].as_i64().unwrap();
            let id = u["id"].as_str().unwrap();
            (id, count("session_count"), count("tool_call_count"))
        })
        .collect();
    // Newest first: Bob, then Ada, each with their own sessions and calls.
    assert_eq!(
        counts,
        [(bob.id.as_str(), 0, 1), (ada.id.as_str(), 1, 3)],
        "{}",
        all.body
    );

    let by_tracking = app
        .get(&acme, "/api/v1/end-users?tracking_id=bob-tracking")
        .await;
    assert_eq!(by_tracking.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(by_tracking.body["items"][0]["id"], bob.id.as_str());

    // Emails are compared in their normal, lowercase form.
    let by_email = app
        .get(&acme, "/api/v1/end-users?email=Ada@Example.com")
        .await;
    assert_eq!(by_email.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(by_email.body["items"][0]["id"], ada.id.as_str());
    app.get(&acme, "/api/v1/end-users?email=not-an-email")
        .await
        .problem(422);

    let detail = app
        .get(&acme, &format!("/api/v1/end-users/{}", ada.id))
        .await;
    assert_eq!(detail.status, StatusCode::OK);
    assert_eq!(detail.body["tracking_id"], "ada-tracking");
    let sessions = detail.body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["server_id"], server.id.as_str());
    assert_eq!(sessions[0]["client_name"], "cursor");
    assert!(
        !detail.body.to_string().contains("transport-secret-1"),
        "the transport id lets its holder resume the session"
    );

    let bob_detail = app
        .get(&acme, &format!("/api/v1/end-users/{}", bob.id))
        .await;
    assert!(bob_detail.body["sessions"].as_array().unwrap().is_empty());
}

backend_tests!(
    support_requests_are_listed_filtered_read_and_updated,
    end_users_are_listed_with_their_counts_filtered_and_read_with_their_sessions,
);
