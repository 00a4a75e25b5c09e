//! Two writes to one thing at the same moment: neither undoes the other. A step's PATCH
//! writes only the fields it names; a server's or a walkthrough's PATCH is merged over the
//! row as stored and written only over the revision it read, else merged again.

use axum::http::StatusCode;
use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::json;

use crate::api::helpers::spawn_app;
use crate::api::walkthroughs::{add_step, create_walkthrough};

async fn patches_of_different_fields_at_once_both_hold(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let walkthrough = create_walkthrough(&app, &acme, "Setup").await;
    let step = add_step(&app, &acme, &walkthrough, "Install", None).await;
    let path = format!("/api/v1/walkthroughs/{walkthrough}/steps/{step}");
    for round in 1..=8 {
        let (title, content) = (format!("Title {round}"), format!("Content {round}"));
        let (renamed, rewritten) = tokio::join!(
            app.patch(&acme, &path, json!({"title": title})),
            app.patch(&acme, &path, json!({"content": content})),
        );
        assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
        assert_eq!(rewritten.status, StatusCode::OK, "{}", rewritten.body);
        let read = app
            .get(&acme, &format!("/api/v1/walkthroughs/{walkthrough}"))
            .await;
        let stored = &read.body["steps"][0];
        assert_eq!(
            (&stored["title"], &stored["content"]),
            (&json!(title), &json!(content)),
            "round {round}: one edit undid the other"
        );
    }
}

async fn server_patches_of_different_fields_at_once_both_hold(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let server = app.create_server(&acme, "acme").await;
    let path = format!("/api/v1/servers/{}", server["id"].as_str().unwrap());
    for round in 1..=8 {
        let (name, instructions) = (format!("Acme {round}"), format!("Read the docs {round}"));
        let (renamed, instructed) = tokio::join!(
            app.patch(&acme, &path, json!({"name": name})),
            app.patch(&acme, &path, json!({"instructions": instructions})),
        );
        assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
        assert_eq!(instructed.status, StatusCode::OK, "{}", instructed.body);
        let stored = app.get(&acme, &path).await.body;
        assert_eq!(
            (&stored["name"], &stored["instructions"]),
            (&json!(name), &json!(instructions)),
            "round {round}: one edit undid the other"
        );
    }
}

/// A PATCH that read the walkthrough before a publish never writes its old status back:
/// the walkthrough would stay published in its versions yet vanish from its servers.
async fn a_walkthrough_patch_beside_a_publish_keeps_it_published(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    for round in 1..=8 {
        let walkthrough = create_walkthrough(&app, &acme, &format!("Setup {round}")).await;
        add_step(&app, &acme, &walkthrough, "Install", None).await;
        let path = format!("/api/v1/walkthroughs/{walkthrough}");
        let description = format!("How to set up, take {round}");
        let publish = format!("{path}/publish");
        let (published, described) = tokio::join!(
            app.post(&acme, &publish, json!({})),
            app.patch(&acme, &path, json!({"description": description})),
        );
        assert!(published.status.is_success(), "{}", published.body);
        assert_eq!(described.status, StatusCode::OK, "{}", described.body);
        let stored = app.get(&acme, &path).await.body;
        assert_eq!(stored["status"], "published", "round {round}: {stored}");
        assert_eq!(stored["description"], json!(description), "round {round}");
    }
}

backend_tests!(
    patches_of_different_fields_at_once_both_hold,
    server_patches_of_different_fields_at_once_both_hold,
    a_walkthrough_patch_beside_a_publish_keeps_it_published,
);
