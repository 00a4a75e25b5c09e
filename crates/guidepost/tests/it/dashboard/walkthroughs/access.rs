//! Walkthroughs in the dashboard: viewers change nothing, and another organization's
//! walkthroughs, steps and servers are not found, on every route that takes an id.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{api_assignments, author, id_of, page_order};
use crate::dashboard::{Browser, dashboard_app, member};

/// A POST: its path and its form.
type Post = (String, Vec<(&'static str, String)>);

/// Every POST route of one walkthrough, with a form that would pass for an editor.
fn every_post(editor: &str, step: &str, server: &str) -> Vec<Post> {
    let step_form = |action: &str| {
        vec![
            ("action", action.to_owned()),
            ("title", "Hacked".to_owned()),
            ("section_title", String::new()),
            ("content", "Hacked".to_owned()),
            ("revision", "0".to_owned()),
        ]
    };
    vec![
        (
            editor.to_owned(),
            vec![("title", "Hacked".into()), ("status", "draft".into())],
        ),
        (
            format!("{editor}/steps"),
            vec![("title", "Hacked".into()), ("content", "Hacked".into())],
        ),
        (format!("{editor}/steps/{step}"), step_form("save")),
        (format!("{editor}/steps/{step}"), step_form("preview")),
        (
            format!("{editor}/steps/{step}/move"),
            vec![("position", "1".into())],
        ),
        (format!("{editor}/steps/{step}/delete"), vec![]),
        (format!("{editor}/publish"), vec![]),
        (
            format!("{editor}/assignments/{server}"),
            vec![("display_order", "1".into()), ("is_enabled", "on".into())],
        ),
        (format!("{editor}/assignments/{server}/remove"), vec![]),
        (format!("{editor}/delete"), vec![]),
    ]
}

async fn post_all(browser: &mut Browser, posts: &[Post], expected: StatusCode) {
    for (path, form) in posts {
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = browser.post(path, &pairs).await;
        assert_eq!(answer.status, expected, "POST {path}: {}", answer.body);
    }
}

async fn a_viewer_reads_walkthroughs_but_every_change_is_refused(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    let editor = author(&mut owner, "Tour", &[("Look", "Look around.")]).await;
    let id = id_of(&editor);
    let step = page_order(owner.get(&editor).await.ok())[0].clone();
    let server = app.app.create_server(&app.tenant, "docs", json!({})).await;
    let server = server["id"].as_str().unwrap().to_owned();
    owner.get(&editor).await.ok();
    owner
        .post(
            &format!("{editor}/assignments/{server}"),
            &[("display_order", "3"), ("is_enabled", "on")],
        )
        .await
        .redirected_to(&editor);

    let mut viewer = member(&app, &app.tenant, "view@acme.example", Role::Viewer).await;
    let page = viewer.get(&editor).await.ok().to_owned();
    assert!(page.contains("changing it takes the editor role"), "{page}");
    assert!(!page.contains("class=\"move-to\""), "no forms for a viewer");
    for path in [
        "/app/walkthroughs".to_owned(),
        format!("{editor}/steps/{step}"),
        format!("{editor}/publish"),
        format!("{editor}/versions"),
    ] {
        viewer.get(&path).await.ok();
    }
    let mut posts = every_post(&editor, &step, &server);
    posts.push(("/app/walkthroughs".into(), vec![("title", "Hacked".into())]));
    post_all(&mut viewer, &posts, StatusCode::FORBIDDEN).await;

    let (_, walkthrough) = app
        .app
        .get(&format!("/walkthroughs/{id}"), &app.tenant.key)
        .await;
    assert_eq!(walkthrough["title"], "Tour");
    assert_eq!(walkthrough["published_version"], Value::Null);
    assert_eq!(walkthrough["steps"][0]["content"], "Look around.");
    assert_eq!(walkthrough["steps"].as_array().unwrap().len(), 1);
    assert_eq!(api_assignments(&app, &server).await, [(id, 3, true)]);
    let (_, all) = app.app.get("/walkthroughs", &app.tenant.key).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
}

async fn another_organizations_walkthroughs_are_not_found(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let globex = app.app.create_tenant("Globex").await;
    let mut theirs = member(&app, &globex, "boss@globex.example", Role::Owner).await;
    let their_editor = author(&mut theirs, "Secret plan", &[("Step one", "Take over.")]).await;
    let their_step = page_order(theirs.get(&their_editor).await.ok())[0].clone();
    let their_server = app.app.create_server(&globex, "globex", json!({})).await;
    let their_server = their_server["id"].as_str().unwrap().to_owned();

    let mut ours = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    let our_editor = author(&mut ours, "Ours", &[("Mine", "Mine.")]).await;
    let our_step = page_order(ours.get(&our_editor).await.ok())[0].clone();
    let our_server = app.app.create_server(&app.tenant, "docs", json!({})).await;
    let our_server = our_server["id"].as_str().unwrap().to_owned();

    for path in [
        their_editor.clone(),
        format!("{their_editor}/steps/{their_step}"),
        format!("{their_editor}/publish"),
        format!("{their_editor}/versions"),
        // Our walkthrough with their step, and ids that are not ids at all.
        format!("{our_editor}/steps/{their_step}"),
        "/app/walkthroughs/not-an-id".to_owned(),
        format!("{our_editor}/steps/not-an-id"),
    ] {
        let page = ours.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "GET {path}");
    }
    ours.get("/app/walkthroughs").await.ok();
    post_all(
        &mut ours,
        &every_post(&their_editor, &their_step, &our_server),
        StatusCode::NOT_FOUND,
    )
    .await;
    // Our own walkthrough with their step or their server.
    let mixed: [Post; 4] = [
        (
            format!("{our_editor}/steps/{their_step}/move"),
            vec![("direction", "up".into())],
        ),
        (format!("{our_editor}/steps/{their_step}/delete"), vec![]),
        (
            format!("{our_editor}/assignments/{their_server}"),
            vec![("display_order", "1".into())],
        ),
        (
            format!("{our_editor}/assignments/{their_server}/remove"),
            vec![],
        ),
    ];
    post_all(&mut ours, &mixed, StatusCode::NOT_FOUND).await;
    assert!(
        !ours
            .get("/app/walkthroughs")
            .await
            .ok()
            .contains("Secret plan")
    );
    assert_eq!(
        page_order(ours.get(&our_editor).await.ok()),
        [our_step.as_str()]
    );

    // Theirs is untouched.
    let (_, walkthrough) = app
        .app
        .get(
            &format!("/walkthroughs/{}", id_of(&their_editor)),
            &globex.key,
        )
        .await;
    assert_eq!(walkthrough["title"], "Secret plan");
    assert_eq!(walkthrough["published_version"], Value::Null);
    assert_eq!(walkthrough["steps"][0]["content"], "Take over.");
    let (_, assigned) = app
        .app
        .get(
            &format!("/servers/{their_server}/walkthroughs"),
            &globex.key,
        )
        .await;
    assert!(assigned["items"].as_array().unwrap().is_empty());
}

backend_tests!(
    a_viewer_reads_walkthroughs_but_every_change_is_refused,
    another_organizations_walkthroughs_are_not_found,
);
