//! Reconfiguring an upstream in the dashboard without JavaScript: its page
//! shows its settings and which secrets are set (never their values); the form changes a
//! setting and a secret, the new launch takes over without a failed call, a refused value
//! re-renders the form with the error, the rollback form puts the earlier settings and
//! secret back, a viewer changes nothing, and only an owner lists the organization's
//! servers in the platform's registry.

use std::time::{Duration, Instant};

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::dashboard::gateway::{SECRET, gateway_app, installed_by_api};
use crate::dashboard::member;
use crate::gateway_fixture::text_of;
use crate::helpers::{RawMcp, STATELESS_ERA};

const NEW_SECRET: &str = "rotated-s3cret-5d21";

async fn whereami(mcp: &RawMcp) -> Value {
    let answer = mcp.call_tool(1, "fx__whereami", json!({})).await;
    serde_json::from_str(&text_of(&answer.body)).unwrap_or_else(|_| panic!("{}", answer.body))
}

/// Calls until the upstream answering greets with `greeting` (its switch is done).
async fn greeting_becomes(mcp: &RawMcp, greeting: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while whereami(mcp).await["greeting"] != greeting {
        assert!(Instant::now() < deadline, "never greeted with {greeting}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn secret_of(mcp: &RawMcp) -> String {
    text_of(&mcp.call_tool(2, "fx__secret", json!({})).await.body)
}

async fn a_setting_and_a_secret_change_by_form_and_roll_back(db: &TestDatabase) {
    let (app, dir) = gateway_app(db).await;
    let (upstream, _) = installed_by_api(&app.app, &app.tenant, "acme").await;
    let mcp = RawMcp::new(app.app.mcp_path_url("acme"), STATELESS_ERA);
    assert_eq!(whereami(&mcp).await["greeting"], "hi");
    assert_eq!(secret_of(&mcp).await, SECRET);
    let page_path = format!("/app/gateway/upstreams/{upstream}");
    let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
    let page = editor.get(&page_path).await;
    let body = page.ok();
    assert!(
        body.contains("id=\"setting-greeting\"") && body.contains("value=\"hi\""),
        "{body}"
    );
    assert!(body.contains("id=\"secret-FIXTURE_SECRET\"") && body.contains("type=\"password\""));
    assert!(!body.contains(SECRET), "a secret is never shown");
    assert!(!body.contains("/rollback"), "nothing to roll back yet");

    // A refused value: the form again, with the error linked to its input.
    let refused = editor
        .post(
            &format!("{page_path}/upgrade"),
            &[("config.greeting", "bad\u{1}value")],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("href=\"#setting-greeting\""),
        "{}",
        refused.body
    );

    let fields = [
        ("config.greeting", "hello"),
        ("secret.FIXTURE_SECRET", NEW_SECRET),
    ];
    let done = editor.post(&format!("{page_path}/upgrade"), &fields).await;
    assert!(done.redirected_to(&page_path).contains("done=upgrading"));
    greeting_becomes(&mcp, "hello").await;
    assert_eq!(secret_of(&mcp).await, NEW_SECRET);
    let page = editor.get(&page_path).await;
    let body = page.ok();
    assert!(
        body.contains("value=\"hello\"") && body.contains("/rollback"),
        "{body}"
    );
    assert!(!body.contains(NEW_SECRET) && !body.contains(SECRET));

    // A viewer changes nothing.
    let mut viewer = member(&app, &app.tenant, "vi@acme.example", Role::Viewer).await;
    let refused = viewer
        .post(&format!("{page_path}/upgrade"), &[("config.greeting", "x")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = viewer.post(&format!("{page_path}/rollback"), &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let done = editor.post(&format!("{page_path}/rollback"), &[]).await;
    assert!(done.redirected_to(&page_path).contains("done=rolled-back"));
    greeting_becomes(&mcp, "hi").await;
    assert_eq!(secret_of(&mcp).await, SECRET);
    let _ = std::fs::remove_dir_all(dir);
}

async fn only_an_owner_lists_the_servers_in_the_registry(db: &TestDatabase) {
    let (app, dir) = gateway_app(db).await;
    let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
    assert!(editor.get("/app/servers").await.ok().contains("Not listed"));
    let refused = editor
        .post("/app/registry-listing", &[("listed", "true")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    assert!(
        owner
            .get("/app/servers")
            .await
            .ok()
            .contains("List our servers in the registry")
    );
    let done = owner
        .post("/app/registry-listing", &[("listed", "true")])
        .await;
    assert!(done.redirected_to("/app/servers").contains("done=listed"));
    let (_, organization) = app.app.get("/organization", &app.tenant.key).await;
    assert_eq!(organization["registry_listed"], true);
    assert!(
        owner
            .get("/app/servers")
            .await
            .ok()
            .contains("Stop listing our servers")
    );
    let done = owner
        .post("/app/registry-listing", &[("listed", "false")])
        .await;
    assert!(done.redirected_to("/app/servers").contains("done=unlisted"));
    let (_, organization) = app.app.get("/organization", &app.tenant.key).await;
    assert_eq!(organization["registry_listed"], false);
    let _ = std::fs::remove_dir_all(dir);
}

backend_tests!(
    a_setting_and_a_secret_change_by_form_and_roll_back,
    only_an_owner_lists_the_servers_in_the_registry,
);
