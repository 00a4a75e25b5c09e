//! The organization search: a few words find its servers, walkthroughs, upstreams,
//! tools and people (by email; by tracking id for owners only), each linked to its page,
//! and nothing of another organization.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::json;

use super::gateway::{gateway_app, installed_by_api};
use super::member;
use crate::helpers::personal_client;

async fn a_few_words_find_each_kind_of_object_and_nothing_of_others(db: &TestDatabase) {
    let (app, _dir) = gateway_app(db).await;
    let (upstream, server) = installed_by_api(&app.app, &app.tenant, "docs-portal").await;
    let walkthrough = app
        .app
        .seed_walkthrough(&app.tenant, "Deploy your first app", 2, None)
        .await;
    let ada = personal_client(&app.app, "docs-portal", "ada-laptop");
    let asked =
        json!({"title": "Stuck", "problem_description": "It fails", "email": "ada@example.com"});
    ada.call_tool(1, "get_support", asked).await.structured();
    let ada_id = app.app.end_user_id(&app.tenant, "ada-laptop").await;

    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    let found = |page: &str, list: &str, href: &str| {
        let at = page
            .find(&format!("id=\"{list}\""))
            .unwrap_or_else(|| panic!("no {list}: {page}"));
        page[at..].split("</ul>").next().unwrap().contains(href)
    };
    let page = owner.get("/app/search?q=DOCS").await.ok().to_owned();
    assert!(
        found(&page, "found-servers", &format!("/app/servers/{server}")),
        "{page}"
    );
    let page = owner.get("/app/search?q=first+app").await.ok().to_owned();
    assert!(
        found(
            &page,
            "found-walkthroughs",
            &format!("/app/walkthroughs/{}", walkthrough.id)
        ),
        "{page}"
    );
    let page = owner.get("/app/search?q=fixture").await.ok().to_owned();
    assert!(
        found(
            &page,
            "found-upstreams",
            &format!("/app/gateway/upstreams/{upstream}")
        ),
        "{page}"
    );
    let page = owner.get("/app/search?q=whereami").await.ok().to_owned();
    assert!(
        found(
            &page,
            "found-tools",
            &format!("/app/gateway/upstreams/{upstream}")
        ),
        "{page}"
    );
    assert!(
        !page.contains("id=\"found-servers\""),
        "only what matches: {page}"
    );
    for words in ["ada@example.com", "ada-laptop"] {
        let page = owner
            .get(&format!("/app/search?q={words}"))
            .await
            .ok()
            .to_owned();
        assert!(
            found(&page, "found-people", &format!("/app/end-users/{ada_id}")),
            "{words}: {page}"
        );
    }

    // A tracking id is a bearer of progress: it finds nobody for a viewer.
    let mut viewer = member(&app, &app.tenant, "vi@acme.example", Role::Viewer).await;
    let page = viewer.get("/app/search?q=ada-laptop").await.ok().to_owned();
    assert!(page.contains("id=\"nothing-found\""), "{page}");
    let page = viewer
        .get("/app/search?q=ada@example.com")
        .await
        .ok()
        .to_owned();
    assert!(
        found(&page, "found-people", &format!("/app/end-users/{ada_id}")),
        "{page}"
    );

    let other = app.app.create_tenant("Other").await;
    let mut stranger = member(&app, &other, "st@other.example", Role::Owner).await;
    for words in ["docs", "deploy", "fixture", "ada@example.com", "ada-laptop"] {
        let page = stranger
            .get(&format!("/app/search?q={words}"))
            .await
            .ok()
            .to_owned();
        assert!(page.contains("id=\"nothing-found\""), "{words}: {page}");
    }
    let long = "x".repeat(201);
    let refused = stranger.get(&format!("/app/search?q={long}")).await;
    assert_eq!(
        refused.status,
        reqwest::StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
}

backend_tests!(a_few_words_find_each_kind_of_object_and_nothing_of_others);
