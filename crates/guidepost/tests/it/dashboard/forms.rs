//! Forms over plain HTTP, as a browser without JavaScript sends them: a refused form comes
//! back in the normal frame with what was typed and the message beside its field;
//! destructive actions ask first on the server; a new key is shown once after a
//! redirect; and a viewer's pages hold no form that answers 403.

use std::collections::{BTreeSet, VecDeque};

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::json;

use super::gateway::{gateway_app, installed_by_api};
use super::members::create_key;
use super::{Page, add_member, dashboard_app, member};

/// Asserts a refusal shown in place: its status, the page frame (the main navigation),
/// the message beside a field under the field's human name, and no raw field key.
fn refused_in_place(page: &Page, status: StatusCode, label: &str, raw_key: &str) -> String {
    assert_eq!(page.status, status, "{}", page.body);
    let text = page.text();
    assert!(text.contains("<nav class=\"main\""), "in the frame: {text}");
    assert!(
        text.contains("class=\"field-error\""),
        "beside a field: {text}"
    );
    assert!(text.contains("aria-invalid=\"true\""), "{text}");
    assert!(
        text.contains(&format!("{label}: ")),
        "named {label}: {text}"
    );
    for raw in [format!(">{raw_key}:"), format!("{raw_key}</strong>")] {
        assert!(!text.contains(&raw), "no raw key: {text}");
    }
    text
}

async fn refused_forms_keep_their_values_and_say_why_beside_the_field(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let server = app.app.create_server(&app.tenant, "taken", json!({})).await;
    let server_id = server["id"].as_str().unwrap();
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    owner.get("/app/servers/new").await.ok();

    // A taken slug, then one that is not a slug: the form again, with the name kept.
    let mut fields = vec![
        ("name", "Kept name"),
        ("slug", "taken"),
        ("auth_mode", "none"),
        ("product_name", "Kept product"),
    ];
    let taken = owner.post("/app/servers", &fields).await;
    let text = refused_in_place(&taken, StatusCode::CONFLICT, "Slug", "slug");
    assert!(text.contains("value=\"Kept name\"") && text.contains("value=\"Kept product\""));
    fields[1] = ("slug", "Not A Slug!");
    let invalid = owner.post("/app/servers", &fields).await;
    let text = refused_in_place(&invalid, StatusCode::UNPROCESSABLE_ENTITY, "Slug", "slug");
    assert!(text.contains("value=\"Not A Slug!\""), "{text}");

    // A custom domain that is not one, on the server's settings.
    let path = format!("/app/servers/{server_id}");
    owner.get(&path).await.ok();
    let settings = [
        ("name", "Renamed"),
        ("slug", "taken"),
        ("auth_mode", "none"),
        ("custom_domain", "not a domain"),
    ];
    let bad_domain = owner.post(&path, &settings).await;
    let text = refused_in_place(
        &bad_domain,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Custom domain",
        "custom_domain",
    );
    assert!(text.contains("value=\"Renamed\"") && text.contains("value=\"not a domain\""));
    // A DNS check that finds no record: said beside the check's button.
    let settings = [
        ("name", "Renamed"),
        ("slug", "taken"),
        ("auth_mode", "none"),
        ("custom_domain", "docs.acme.example"),
    ];
    owner.post(&path, &settings).await.redirected_to(&path);
    owner.get(&path).await.ok();
    let unverified = owner.post(&format!("{path}/verify-domain"), &[]).await;
    let text = refused_in_place(
        &unverified,
        StatusCode::UNPROCESSABLE_ENTITY,
        "DNS check",
        "custom_domain",
    );
    assert!(text.contains("id=\"domain_check-error\""), "{text}");

    // Members: the last owner stays an owner (said in their row), an invitation kept.
    let page = owner.get("/app/members").await;
    let own_id = super::members::member_id(&page.body, "own@acme.example");
    let demoted = owner
        .post(
            &format!("/app/members/{own_id}/role"),
            &[("role", "viewer")],
        )
        .await;
    let text = refused_in_place(
        &demoted,
        StatusCode::CONFLICT,
        "The role of own@acme.example",
        "member",
    );
    assert!(text.contains(&format!("href=\"#role-{own_id}\"")), "{text}");
    owner.get("/app/members").await.ok();
    let invite = owner
        .post(
            "/app/members",
            &[("email", "not an address"), ("role", "owner")],
        )
        .await;
    let text = refused_in_place(
        &invite,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Email address",
        "email",
    );
    assert!(text.contains("value=\"not an address\""), "{text}");
    assert!(text.contains("<option value=\"owner\" selected>"), "{text}");

    // Keys, walkthroughs and steps.
    owner.get("/app/api-keys").await.ok();
    let key = owner
        .post("/app/api-keys", &[("name", "   "), ("scope_gateway", "on")])
        .await;
    let text = refused_in_place(&key, StatusCode::UNPROCESSABLE_ENTITY, "Name", "name");
    assert!(text.contains("id=\"key-name-error\""), "{text}");
    assert!(
        text.contains("name=\"scope_gateway\" value=\"on\" checked"),
        "{text}"
    );
    owner.get("/app/walkthroughs").await.ok();
    let long_title = "t".repeat(300);
    let walkthrough = owner
        .post(
            "/app/walkthroughs",
            &[("title", &long_title), ("description", "Kept description")],
        )
        .await;
    let text = refused_in_place(
        &walkthrough,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Title",
        "title",
    );
    assert!(text.contains(">Kept description</textarea>"), "{text}");
    let seeded = app
        .app
        .seed_walkthrough(&app.tenant, "Guide", 1, None)
        .await;
    let editor = format!("/app/walkthroughs/{}", seeded.id);
    owner.get(&editor).await.ok();
    let step = owner
        .post(
            &format!("{editor}/steps"),
            &[("title", &long_title), ("content", "Kept content")],
        )
        .await;
    let text = refused_in_place(&step, StatusCode::UNPROCESSABLE_ENTITY, "Title", "title");
    assert!(text.contains("id=\"add-title-error\""), "{text}");
    assert!(text.contains(">Kept content</textarea>"), "{text}");
}

async fn a_refused_attach_keeps_its_server_and_prefix(db: &TestDatabase) {
    let (app, _dir) = gateway_app(db).await;
    let (upstream, server) = installed_by_api(&app.app, &app.tenant, "docs").await;
    let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
    let page = format!("/app/gateway/upstreams/{upstream}");
    assert!(
        editor
            .get(&page)
            .await
            .ok()
            .contains("pattern=\"[A-Za-z0-9\\-]{1,24}\"")
    );
    let refused = editor
        .post(
            &format!("{page}/attach"),
            &[("server_id", &server), ("prefix", "no spaces")],
        )
        .await;
    let text = refused_in_place(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Tool name prefix",
        "prefix",
    );
    assert!(text.contains("value=\"no spaces\""), "{text}");
    assert!(
        text.contains(&format!("<option value=\"{server}\" selected>")),
        "{text}"
    );
}

async fn a_draft_with_unpublished_edits_says_so(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let seeded = app
        .app
        .seed_walkthrough(&app.tenant, "Guide", 1, None)
        .await;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    let editor = format!("/app/walkthroughs/{}", seeded.id);
    let published = owner.get(&editor).await.ok().to_owned();
    assert!(!published.contains("Unpublished edits"), "{published}");
    assert!(
        !owner
            .get("/app/walkthroughs")
            .await
            .ok()
            .contains("unpublished edits")
    );
    owner
        .post(
            &format!("{editor}/steps"),
            &[("title", "New step"), ("content", "Text.")],
        )
        .await
        .redirected_to(&editor);
    let edited = owner.get(&editor).await.text();
    assert!(
        edited.contains("Unpublished edits: 1 change in the draft"),
        "{edited}"
    );
    let list = owner.get("/app/walkthroughs").await.text();
    assert!(list.contains(">unpublished edits<"), "{list}");
    // Published again, the draft matches what agents get.
    owner.get(&format!("{editor}/publish")).await.ok();
    owner
        .post(&format!("{editor}/publish"), &[])
        .await
        .redirected_to(&editor);
    assert!(
        !owner
            .get(&editor)
            .await
            .text()
            .contains("Unpublished edits")
    );
}

async fn destructive_actions_ask_first_on_the_server(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let server = app
        .app
        .create_server(&app.tenant, "doomed", json!({}))
        .await;
    let server_id = server["id"].as_str().unwrap();
    let seeded = app
        .app
        .seed_walkthrough(&app.tenant, "Guide", 1, None)
        .await;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    add_member(&app, &app.tenant, "leaving@acme.example", Role::Editor).await;
    let key = create_key(&mut owner, &[("name", "deploys")]).await;
    let keys = owner.get("/app/api-keys").await;
    let key_id = keys
        .body
        .split("<tr>")
        .find(|row| row.contains("deploys"))
        .and_then(|row| row.split("/app/api-keys/").nth(1))
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let members = owner.get("/app/members").await;
    let leaving = super::members::member_id(&members.body, "leaving@acme.example");

    let actions = [
        (format!("/app/api-keys/{key_id}/revoke"), "Revoke key"),
        (format!("/app/members/{leaving}/remove"), "Remove member"),
        (
            format!("/app/walkthroughs/{}/delete", seeded.id),
            "Delete walkthrough",
        ),
        (format!("/app/servers/{server_id}/delete"), "Delete server"),
    ];
    for (action, button) in &actions {
        let asked = owner.post(action, &[]).await;
        let text = asked.ok().to_owned();
        assert!(text.contains("<nav class=\"main\""), "{text}");
        assert!(text.contains(&format!("action=\"{action}\"")), "{text}");
        assert!(text.contains("name=\"confirm\" value=\"yes\""), "{text}");
        assert!(text.contains(&format!(">{button}</button>")), "{text}");
        assert!(text.contains(">Cancel</a>"), "{text}");
    }
    assert!(
        owner
            .get(&format!("/app/walkthroughs/{}/delete", seeded.id))
            .await
            .status
            != StatusCode::OK,
        "only a post acts"
    );
    // Nothing happened yet: the key works, the member, walkthrough and server are there.
    let (status, _) = app.app.get("/servers", &key).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        owner
            .get("/app/members")
            .await
            .text()
            .contains("leaving@acme.example")
    );
    let (status, _) = app
        .app
        .get(&format!("/walkthroughs/{}", seeded.id), &app.tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK);
    let walkthrough_question = owner
        .post(&format!("/app/walkthroughs/{}/delete", seeded.id), &[])
        .await;
    assert!(
        walkthrough_question
            .text()
            .contains("Nobody has started it yet."),
        "says whose progress goes: {}",
        walkthrough_question.body
    );
    // Confirmed, each one happens.
    for (action, _) in &actions {
        let done = owner.post(action, &[("confirm", "yes")]).await;
        assert_eq!(
            done.status,
            StatusCode::SEE_OTHER,
            "{action}: {}",
            done.body
        );
    }
    let (status, _) = app.app.get("/servers", &key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked");
    let (status, _) = app
        .app
        .get(&format!("/servers/{server_id}"), &app.tenant.key)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted");
}

async fn reloading_after_creating_a_key_makes_no_second_key(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    owner.get("/app/api-keys").await.ok();
    let made = owner.post("/app/api-keys", &[("name", "once")]).await;
    let shown_at = made.redirected_to("/app/api-keys");
    let first = owner.get(&shown_at).await;
    assert!(
        first.ok().contains("<pre id=\"new-key\">gp_"),
        "{}",
        first.body
    );
    // The reload is a GET of the same page: the key is gone from it, none is made.
    let reload = owner.get(&shown_at).await;
    assert!(!reload.ok().contains("id=\"new-key\""), "{}", reload.body);
    let (_, keys) = app.app.get("/api-keys", &app.tenant.key).await;
    let named: Vec<_> = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["name"] == "once")
        .collect();
    assert_eq!(named.len(), 1, "{keys}");
}

/// The post forms of a page: (action, hidden fields).
fn post_forms(body: &str) -> Vec<(String, Vec<(String, String)>)> {
    body.split("<form")
        .skip(1)
        .filter_map(|rest| {
            let form = rest.split("</form>").next()?;
            let tag = form.split('>').next()?;
            if !tag.contains("method=\"post\"") {
                return None;
            }
            let action = attribute(tag, "action")?;
            let hidden = form
                .split("<input")
                .skip(1)
                .filter(|input| input.contains("type=\"hidden\""))
                .filter_map(|input| {
                    let tag = input.split('>').next()?;
                    Some((attribute(tag, "name")?, attribute(tag, "value")?))
                })
                .collect();
            Some((action, hidden))
        })
        .collect()
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let marker = format!("{name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].replace("&amp;", "&"))
}

/// The dashboard pages a page links to.
fn page_links(body: &str) -> Vec<String> {
    body.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| href.starts_with("/app/") && !href.starts_with("/app/assets/"))
        .map(|href| href.split('#').next().unwrap_or(href).replace("&amp;", "&"))
        .collect()
}

async fn a_viewers_pages_hold_no_form_that_answers_403(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let server = app.app.create_server(&app.tenant, "docs", json!({})).await;
    let server_id = server["id"].as_str().unwrap();
    app.app
        .seed_walkthrough(&app.tenant, "Guide", 2, Some((server_id, 1)))
        .await;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    create_key(&mut owner, &[("name", "deploys")]).await;
    let mut viewer = member(&app, &app.tenant, "view@acme.example", Role::Viewer).await;

    // Every page reachable from the overview by links, each read once.
    let mut seen = BTreeSet::new();
    // Pages typed in count too (a bookmark of the new-server page).
    let mut queue = VecDeque::from([
        "/app/".to_owned(),
        "/app/servers/new".to_owned(),
        "/app/gateway/catalog/everything/install".to_owned(),
    ]);
    let mut forms = Vec::new();
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) || seen.len() > 80 {
            continue;
        }
        let page = viewer.get(&path).await;
        assert_ne!(
            page.status,
            StatusCode::FORBIDDEN,
            "{path} is linked for a viewer"
        );
        if page.status != StatusCode::OK {
            continue;
        }
        forms.extend(
            post_forms(&page.body)
                .into_iter()
                .map(|(action, hidden)| (path.clone(), action, hidden)),
        );
        queue.extend(page_links(&page.body));
    }
    for section in [
        "/app/servers",
        "/app/walkthroughs",
        "/app/members",
        "/app/gateway",
    ] {
        assert!(seen.contains(section), "walked {section}: {seen:?}");
    }
    assert!(
        seen.iter().any(|p| p.starts_with("/app/walkthroughs/wt_")),
        "{seen:?}"
    );
    for (page, action, hidden) in forms {
        if action == "/app/sign-out" {
            continue;
        }
        let fields: Vec<(&str, &str)> = hidden
            .iter()
            .filter(|(name, _)| name != "csrf_token")
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let answer = viewer.post(&action, &fields).await;
        assert_ne!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{page} offers a viewer {action}, which refuses them: {}",
            answer.body
        );
    }
}

backend_tests! {
    async fn refused_dashboard_forms_keep_their_values_and_say_why_beside_the_field(db: &TestDatabase) {
        refused_forms_keep_their_values_and_say_why_beside_the_field(db).await;
    }
    async fn destructive_dashboard_actions_ask_first_on_the_server(db: &TestDatabase) {
        destructive_actions_ask_first_on_the_server(db).await;
    }
    async fn a_refused_dashboard_attach_keeps_its_server_and_prefix(db: &TestDatabase) {
        a_refused_attach_keeps_its_server_and_prefix(db).await;
    }
    async fn a_dashboard_draft_with_unpublished_edits_says_so(db: &TestDatabase) {
        a_draft_with_unpublished_edits_says_so(db).await;
    }
    async fn reloading_the_dashboard_after_creating_a_key_makes_no_second_key(db: &TestDatabase) {
        reloading_after_creating_a_key_makes_no_second_key(db).await;
    }
    async fn a_viewers_dashboard_pages_hold_no_form_that_answers_403(db: &TestDatabase) {
        a_viewers_pages_hold_no_form_that_answers_403(db).await;
    }
}
