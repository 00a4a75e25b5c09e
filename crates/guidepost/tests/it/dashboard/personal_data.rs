//! A person's data in the dashboard: the end-user page offers owners an export (a JSON
//! download) and an erasure (a form whose confirmation is checked on the server, so it
//! works without JavaScript); an editor sees neither and is refused both. An editor
//! resets one walkthrough's progress of a person (asked first); a viewer cannot.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{dashboard_app, member};
use crate::helpers::{RawMcp, SeededWalkthrough, personal_client};
use crate::oauth_helpers::OAuthApp;

/// Ada, known by her tracking id `ada-laptop`, on server `acme`'s two-step walkthrough.
struct Ada {
    server: String,
    walkthrough: SeededWalkthrough,
    client: RawMcp,
    /// Her end user's id.
    id: String,
}

/// Ada selects the walkthrough "Setup" and takes `steps` steps on.
async fn ada_on_setup(app: &OAuthApp, steps: i64) -> Ada {
    let server = app.app.create_server(&app.tenant, "acme", json!({})).await;
    let server = server["id"].as_str().unwrap().to_owned();
    let walkthrough = app
        .app
        .seed_walkthrough(&app.tenant, "Setup", 2, Some((&server, 1)))
        .await;
    let client = personal_client(&app.app, "acme", "ada-laptop");
    let select = json!({"walkthrough_id": walkthrough.id});
    client
        .call_tool(1, "select_walkthrough", select.clone())
        .await
        .structured();
    for step in 0..steps {
        client
            .call_tool(2 + step, "next_walkthrough_step", select.clone())
            .await
            .structured();
    }
    let id = app.app.end_user_id(&app.tenant, "ada-laptop").await;
    Ada {
        server,
        walkthrough,
        client,
        id,
    }
}

async fn owners_export_and_erase_a_person_editors_do_not(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let ada = ada_on_setup(&app, 0).await;
    let (walkthrough, id) = (&ada.walkthrough, &ada.id);
    app.app.wait_for_tool_calls(&app.tenant, 1).await;
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

async fn an_editor_resets_a_persons_progress_after_being_asked(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let ada = ada_on_setup(&app, 1).await;
    let (server, walkthrough, id) = (&ada.server, &ada.walkthrough, &ada.id);
    let (page, reset) = (
        format!("/app/end-users/{id}"),
        format!("/app/end-users/{id}/progress/reset"),
    );
    let fields = [
        ("server_id", server.as_str()),
        ("walkthrough_id", walkthrough.id.as_str()),
    ];

    let mut viewer = member(&app, &app.tenant, "vi@acme.example", Role::Viewer).await;
    let body = viewer.get(&page).await.ok().to_owned();
    assert!(
        body.contains("Step 2 of 2") && !body.contains(&reset),
        "{body}"
    );
    let refused = viewer.post(&reset, &fields).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

    let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
    let body = editor.get(&page).await.ok().to_owned();
    assert!(body.contains(&format!("action=\"{reset}\"")), "{body}");
    let asked = editor.post(&reset, &fields).await;
    let question = asked.ok().to_owned();
    assert!(
        question.contains("Reset this person&#39;s progress?"),
        "{question}"
    );
    assert!(
        question.contains("name=\"confirm\" value=\"yes\""),
        "{question}"
    );
    assert!(
        editor.get(&page).await.ok().contains("Step 2 of 2"),
        "not reset yet"
    );

    let confirmed = [fields[0], fields[1], ("confirm", "yes")];
    let done = editor.post(&reset, &confirmed).await;
    let after = format!("{page}?done=progress-reset");
    assert_eq!(done.redirected_to(&page), after);
    let body = editor.get(&after).await.ok().to_owned();
    assert!(body.contains("Reset: their progress"), "{body}");
    assert!(body.contains("No walkthrough started."), "{body}");
    let select = json!({"walkthrough_id": walkthrough.id});
    let again = ada.client.call_tool(3, "select_walkthrough", select).await;
    assert_eq!(again.structured()["step"]["position"], 1, "{}", again.body);
}

backend_tests!(
    owners_export_and_erase_a_person_editors_do_not,
    an_editor_resets_a_persons_progress_after_being_asked
);
