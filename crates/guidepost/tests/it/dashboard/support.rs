//! The support inbox and webhooks in the dashboard: a request opened by the `get_support`
//! tool is found, filtered, read with the person's progress and calls, and answered by
//! form; webhooks are created (secret shown once), pinged and deleted by form. Viewers
//! change nothing and another organization's ids are not found.

use guidepost_core::secrets::MasterKey;
use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::analytics::{id_after, table_rows};
use super::{dashboard_app, dashboard_app_with, member};
use crate::helpers::{RawMcp, STATELESS_ERA, SeededWalkthrough, Tenant, TestApp, personal_client};
use crate::oauth_helpers::OAuthApp;

/// An app whose platform has a master key, so that webhooks can be created.
async fn app_with_master_key(db: &TestDatabase) -> OAuthApp {
    dashboard_app_with(db, |settings| {
        settings.platform.master_key = Some(MasterKey::from_bytes([7; 32]));
    })
    .await
}

/// Opens a support request through `get_support` on `mcp`; returns its id.
pub(crate) async fn ask(mcp: &RawMcp, title: &str, email: &str) -> String {
    let arguments =
        json!({"title": title, "problem_description": "The CLI says 401.", "email": email});
    let answer = mcp.call_tool(9, "get_support", arguments).await;
    answer.structured()["support_request_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Server `help` with a three-step walkthrough. Ada, at step 2, asks "Login fails"; an
/// anonymous person asks "Billing question". Returns (server, walkthrough, Ada's request,
/// the other request) once the four calls are recorded.
async fn two_requests(
    app: &TestApp,
    tenant: &Tenant,
    slug: &str,
) -> (String, SeededWalkthrough, String, String) {
    let server = app.create_server(tenant, slug, json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let walkthrough = app
        .seed_walkthrough(tenant, "Setup", 3, Some((&server, 1)))
        .await;
    let ada = personal_client(app, slug, "ada-laptop");
    let select = json!({"walkthrough_id": walkthrough.id});
    ada.call_tool(1, "select_walkthrough", select.clone())
        .await
        .structured();
    ada.call_tool(2, "next_walkthrough_step", select)
        .await
        .structured();
    let login = ask(&ada, "Login fails", "ada@example.com").await;
    let anonymous = RawMcp::new(app.mcp_path_url(slug), STATELESS_ERA);
    let billing = ask(&anonymous, "Billing question", "bob@example.com").await;
    app.wait_for_tool_calls(tenant, 4).await;
    (server, walkthrough, login, billing)
}

fn titles(body: &str) -> Vec<String> {
    table_rows(body, "requests")
        .into_iter()
        .map(|row| row[0].clone())
        .collect()
}

async fn a_support_request_is_found_read_and_answered_by_form(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let (server, walkthrough, login, billing) = two_requests(&app.app, &app.tenant, "help").await;
    let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;

    let inbox = editor.get("/app/support").await.ok().to_owned();
    assert_eq!(
        titles(&inbox),
        ["Billing question", "Login fails"],
        "newest first"
    );
    assert!(
        inbox.contains(&format!("href=\"/app/support/{login}\"")),
        "{inbox}"
    );
    assert!(inbox.contains("<label for=\"status\">") && inbox.contains("<label for=\"server\">"));

    let detail = format!("/app/support/{login}");
    let body = editor.get(&detail).await.ok().to_owned();
    assert!(
        body.contains("The CLI says 401.") && body.contains("ada@example.com"),
        "{body}"
    );
    assert!(
        body.contains("Step 2 of 3: Step 2"),
        "the person's progress: {body}"
    );
    let step = format!(
        "/app/walkthroughs/{}/steps/{}",
        walkthrough.id, walkthrough.step_ids[1]
    );
    assert!(body.contains(&step), "{body}");
    for tool in ["select_walkthrough", "next_walkthrough_step", "get_support"] {
        assert!(
            body.contains(&format!("<code>{tool}</code>")),
            "{tool} in {body}"
        );
    }
    let ada = id_after(&body, "href=\"/app/end-users/", "msu_");
    // The anonymous request has no person to trace.
    let other = editor
        .get(&format!("/app/support/{billing}"))
        .await
        .ok()
        .to_owned();
    assert!(other.contains("cannot be traced to a person"), "{other}");

    // The status form; the API sees the change.
    editor.get(&detail).await;
    let done = editor
        .post(&format!("{detail}/status"), &[("status", "resolved")])
        .await;
    assert_eq!(done.redirected_to(&detail), format!("{detail}?done=status"));
    let body = editor
        .get(&format!("{detail}?done=status"))
        .await
        .ok()
        .to_owned();
    assert!(
        body.contains("Status changed.") && body.contains("id=\"status-now\">resolved<"),
        "{body}"
    );
    let (status, request) = app
        .app
        .get(&format!("/support-requests/{login}"), &app.tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(request["status"], "resolved", "{request}");
    editor.get(&detail).await;
    let bad = editor
        .post(&format!("{detail}/status"), &[("status", "deleted")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Filters: by status, by server, by person; all of them URLs.
    let resolved = editor
        .get("/app/support?status=resolved")
        .await
        .ok()
        .to_owned();
    assert_eq!(titles(&resolved), ["Login fails"]);
    assert!(
        resolved.contains("<option value=\"resolved\" selected>"),
        "{resolved}"
    );
    let open = editor.get("/app/support?status=open").await.ok().to_owned();
    assert_eq!(titles(&open), ["Billing question"]);
    let closed = editor
        .get("/app/support?status=closed")
        .await
        .ok()
        .to_owned();
    assert!(closed.contains("No support requests match."));
    let by_server = editor
        .get(&format!("/app/support?status=&server={server}"))
        .await
        .ok()
        .to_owned();
    assert_eq!(titles(&by_server).len(), 2);
    let by_person = editor
        .get(&format!("/app/support?end_user={ada}"))
        .await
        .ok()
        .to_owned();
    assert_eq!(titles(&by_person), ["Login fails"]);
    assert_eq!(
        editor.get("/app/support?status=lost").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // The person's page links to their request.
    let person = editor
        .get(&format!("/app/end-users/{ada}"))
        .await
        .ok()
        .to_owned();
    assert!(
        person.contains(&format!("href=\"/app/support/{login}\"")),
        "{person}"
    );
    // Found by her email in any letter case, as the API finds her.
    let found = editor
        .get("/app/end-users?email=ADA%40Example.com")
        .await
        .ok()
        .to_owned();
    assert!(found.contains(&format!("/app/end-users/{ada}")), "{found}");
}

async fn webhooks_are_created_pinged_and_deleted_by_form(db: &TestDatabase) {
    let app = app_with_master_key(db).await;
    let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
    let url = "https://hooks.example.com/guidepost";
    assert!(
        editor
            .get("/app/support/webhooks")
            .await
            .ok()
            .contains("No webhooks yet.")
    );

    // A URL core refuses is named on the form, which keeps what was typed.
    let refused = editor
        .post(
            "/app/support/webhooks",
            &[("url", "ftp://hooks.example.com"), ("event_created", "on")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("must be an https://"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"ftp://hooks.example.com\""));

    let created = editor
        .post(
            "/app/support/webhooks",
            &[
                ("url", url),
                ("event_created", "on"),
                ("event_updated", "on"),
                ("event_upstream_failed", "on"),
                ("event_walkthrough_completed", "on"),
                ("event_needs_reconnect", "on"),
            ],
        )
        .await;
    let body = created.ok().to_owned();
    let secret = id_after(&body, "<pre id=\"new-secret\">", "whsec_");
    assert!(secret.len() > 20, "{body}");
    let hook = id_after(&body, "href=\"/app/support/webhooks/", "wh_");
    let (status, listed) = app
        .app
        .get(&format!("/webhooks/{hook}"), &app.tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["url"], url);
    assert_eq!(
        listed["events"],
        json!([
            "support_request.created",
            "support_request.updated",
            "upstream.failed",
            "walkthrough.completed",
            "connection.needs_reconnect"
        ])
    );
    let list = editor.get("/app/support/webhooks").await.ok().to_owned();
    assert!(
        list.contains(url) && !list.contains("whsec_"),
        "the secret is shown once"
    );

    // A ping is queued and listed with the webhook's deliveries.
    let page = format!("/app/support/webhooks/{hook}");
    assert!(editor.get(&page).await.ok().contains("Nothing sent yet."));
    let done = editor.post(&format!("{page}/test"), &[]).await;
    assert_eq!(done.redirected_to(&page), format!("{page}?done=ping"));
    let body = editor
        .get(&format!("{page}?done=ping"))
        .await
        .ok()
        .to_owned();
    assert!(body.contains("A ping is queued"), "{body}");
    let deliveries = table_rows(&body, "deliveries-table");
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0][0], "ping");

    let deleted = editor
        .post(&format!("{page}/delete"), &[("confirm", "yes")])
        .await;
    assert_eq!(
        deleted.redirected_to("/app/support/webhooks"),
        "/app/support/webhooks?done=deleted"
    );
    assert!(!editor.get("/app/support/webhooks").await.ok().contains(url));
    let (status, _) = app
        .app
        .get(&format!("/webhooks/{hook}"), &app.tenant.key)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn without_a_master_key_the_page_says_why_no_webhook_is_created(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    owner.get("/app/support/webhooks").await.ok();
    let refused = owner
        .post(
            "/app/support/webhooks",
            &[
                ("url", "https://hooks.example.com/x"),
                ("event_created", "on"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("master key"), "{}", refused.body);
    let (_, hooks) = app.app.get("/webhooks", &app.tenant.key).await;
    assert_eq!(hooks["items"], json!([]), "{hooks}");
}

/// A webhook of `tenant` created through the API; its id.
async fn api_webhook(app: &TestApp, tenant: &Tenant) -> String {
    let body =
        json!({"url": "https://hooks.example.com/api", "events": ["support_request.created"]});
    let (status, created) = app
        .api(Method::POST, "/webhooks", &tenant.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn request_status(app: &TestApp, tenant: &Tenant, id: &str) -> Value {
    let (status, request) = app
        .get(&format!("/support-requests/{id}"), &tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{request}");
    request["status"].clone()
}

async fn viewers_change_nothing(db: &TestDatabase) {
    let app = app_with_master_key(db).await;
    let (_, _, login, _) = two_requests(&app.app, &app.tenant, "help").await;
    let hook = api_webhook(&app.app, &app.tenant).await;
    let mut viewer = member(&app, &app.tenant, "view@acme.example", Role::Viewer).await;

    let body = viewer
        .get(&format!("/app/support/{login}"))
        .await
        .ok()
        .to_owned();
    assert!(
        body.contains("takes the editor role"),
        "no status form: {body}"
    );
    let hooks = viewer.get("/app/support/webhooks").await.ok().to_owned();
    assert!(!hooks.contains("Create webhook"), "{hooks}");
    let attempts: [(String, Vec<(&str, &str)>); 4] = [
        (
            format!("/app/support/{login}/status"),
            vec![("status", "closed")],
        ),
        (
            "/app/support/webhooks".into(),
            vec![
                ("url", "https://evil.example.com/"),
                ("event_created", "on"),
            ],
        ),
        (format!("/app/support/webhooks/{hook}/test"), vec![]),
        (format!("/app/support/webhooks/{hook}/delete"), vec![]),
    ];
    for (path, fields) in &attempts {
        let page = viewer.post(path, fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}: {}", page.body);
    }
    assert_eq!(request_status(&app.app, &app.tenant, &login).await, "open");
    let (_, hooks) = app.app.get("/webhooks", &app.tenant.key).await;
    assert_eq!(hooks["items"].as_array().unwrap().len(), 1, "{hooks}");
    let (_, deliveries) = app
        .app
        .get(&format!("/webhooks/{hook}/deliveries"), &app.tenant.key)
        .await;
    let pings = deliveries["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["event"] == "ping")
        .count();
    assert_eq!(pings, 0, "{deliveries}");
}

async fn another_organizations_support_is_not_found(db: &TestDatabase) {
    let app = app_with_master_key(db).await;
    let other = app.app.create_tenant("Globex").await;
    let (_, _, theirs, _) = two_requests(&app.app, &other, "globex").await;
    let their_hook = api_webhook(&app.app, &other).await;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;

    for path in [
        format!("/app/support/{theirs}"),
        format!("/app/support/webhooks/{their_hook}"),
        "/app/support/sr_nonsense".to_owned(),
        "/app/support/webhooks/not-an-id".to_owned(),
    ] {
        let page = owner.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.body);
    }
    owner.get("/app/support").await.ok();
    for (path, fields) in [
        (
            format!("/app/support/{theirs}/status"),
            vec![("status", "closed")],
        ),
        (format!("/app/support/webhooks/{their_hook}/test"), vec![]),
        (format!("/app/support/webhooks/{their_hook}/delete"), vec![]),
    ] {
        let page = owner.post(&path, &fields).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.body);
    }
    assert_eq!(request_status(&app.app, &other, &theirs).await, "open");
    let (status, _) = app
        .app
        .get(&format!("/webhooks/{their_hook}"), &other.key)
        .await;
    assert_eq!(status, StatusCode::OK, "their webhook is still there");
    assert!(
        titles_or_empty(&owner.get("/app/support").await.body).is_empty(),
        "theirs are not listed"
    );
}

fn titles_or_empty(body: &str) -> Vec<String> {
    if body.contains("No support requests match.") {
        Vec::new()
    } else {
        titles(body)
    }
}

backend_tests!(
    a_support_request_is_found_read_and_answered_by_form,
    webhooks_are_created_pinged_and_deleted_by_form,
    without_a_master_key_the_page_says_why_no_webhook_is_created,
    viewers_change_nothing,
    another_organizations_support_is_not_found,
);
