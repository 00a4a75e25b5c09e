//! A person's data in the dashboard: the end-user page offers owners an export (a JSON
//! download) and an erasure (a form whose confirmation is checked on the server, so it
//! works without JavaScript); an editor sees neither and is refused both.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{dashboard_app, member};
use crate::helpers::personal_client;

async fn owners_export_and_erase_a_person_editors_do_not(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let server = app.app.create_server(&app.tenant, "acme", json!({})).await;
    let server = server["id"].as_str().unwrap().to_owned();
    let walkthrough = app
        .app
        .seed_walkthrough(&app.tenant, "Setup", 2, Some((&server, 1)))
        .await;
    let ada = personal_client(&app.app, "acme", "ada-laptop");
    ada.call_tool(
        1,
        "select_walkthrough",
        json!({"walkthrough_id": walkthrough.id}),
    )
    .await
    .structured();
    app.app.wait_for_tool_calls(&app.tenant, 1).await;
    let (_, people) = app
        .app
        .get("/end-users?tracking_id=ada-laptop", &app.tenant.key)
        .await;
    let id = people["items"][0]["id"].as_str().unwrap().to_owned();
    let (page, export, erase) = (
        format!("/app/end-users/{id}"),
        format!("/app/end-users/{id}/export"),
        format!("/app/end-users/{id}/erase"),
    );

    let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
    let body = editor.get(&page).await.ok().to_owned();
    assert!(!body.contains(&export) && !body.contains(&erase), "{body}");
    assert_eq!(editor.get(&export).await.status, StatusCode::FORBIDDEN);
    let refused = editor.post(&erase, &[("confirm", "erase")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    let body = owner.get(&page).await.ok().to_owned();
    assert!(body.contains(&format!("href=\"{export}\"")), "{body}");
    assert!(body.contains(&format!("action=\"{erase}\"")), "{body}");
    says_progress_is_kept(&body);
    let download = owner.get(&export).await;
    let data: Value = serde_json::from_str(download.ok()).expect("JSON");
    assert_eq!(
        data["tables"]["tool_calls"].as_array().map(Vec::len),
        Some(1),
        "{data}"
    );
    assert_eq!(data["tables"]["end_users"][0]["tracking_id"], "ada-laptop");

    // Posted without `confirm=yes`, it asks on the server and erases nothing; the
    // question's form posts the same action with it.
    for confirm in [None, Some("erase")] {
        let fields: Vec<(&str, &str)> = confirm.map(|c| ("confirm", c)).into_iter().collect();
        let asked = owner.post(&erase, &fields).await;
        let body = asked.ok().to_owned();
        assert!(body.contains("Erase this person?"), "{body}");
        says_progress_is_kept(&body);
        assert!(
            body.contains(&format!("action=\"{erase}\""))
                && body.contains("name=\"confirm\" value=\"yes\""),
            "{body}"
        );
        assert_eq!(owner.get(&page).await.status, StatusCode::OK, "not erased");
    }

    let done = owner.post(&erase, &[("confirm", "yes")]).await;
    assert_eq!(
        done.redirected_to("/app/end-users"),
        "/app/end-users?done=erased"
    );
    assert!(
        owner
            .get("/app/end-users?done=erased")
            .await
            .ok()
            .contains("Erased")
    );
    assert_eq!(owner.get(&page).await.status, StatusCode::NOT_FOUND);
    // As the pages said: the progress is kept, anonymous, and the funnel still counts it.
    let funnel = format!("/walkthroughs/{}/funnel", walkthrough.id);
    let (_, report) = app.app.get(&funnel, &app.tenant.key).await;
    assert_eq!(report["totals"]["started"], 1, "{report}");
    assert!(
        app.app
            .store
            .find_text_anywhere("ada-laptop")
            .await
            .unwrap()
            .is_empty()
    );
}

/// The erasure's wording, on the page and on the question asked without JavaScript,
/// matches what it does: the walkthrough progress is kept (anonymous), not deleted.
fn says_progress_is_kept(body: &str) {
    assert!(!body.contains("sessions, progress"), "{body}");
    assert!(
        body.contains("support requests and walkthrough progress stay as anonymous records"),
        "{body}"
    );
}

backend_tests!(owners_export_and_erase_a_person_editors_do_not);
