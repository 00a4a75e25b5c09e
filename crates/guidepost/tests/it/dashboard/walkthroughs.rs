//! Walkthroughs in the dashboard, by form and without JavaScript: authored, reordered
//! (checked on the page and through the REST API), previewed before saving, saved
//! against a revision, reviewed and published, assigned to servers. Who may not do so is
//! in `access`.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Browser, dashboard_app, member, pairs, revision_field};
use crate::helpers::personal_client;
use crate::oauth_helpers::OAuthApp;

mod access;

/// Creates a walkthrough with these (title, content) steps through the forms; returns its
/// editor's path (`/app/walkthroughs/wt_…`).
async fn author(browser: &mut Browser, title: &str, steps: &[(&str, &str)]) -> String {
    browser.get("/app/walkthroughs").await.ok();
    let created = browser
        .post(
            "/app/walkthroughs",
            &[("title", title), ("description", "")],
        )
        .await
        .redirected_to("/app/walkthroughs/wt_");
    let editor = created.split('?').next().unwrap().to_owned();
    for (step_title, content) in steps {
        let added = browser
            .post(
                &format!("{editor}/steps"),
                &[
                    ("title", step_title),
                    ("section_title", ""),
                    ("content", content),
                ],
            )
            .await
            .redirected_to(&format!("{editor}?done=created&step=ws_"));
        assert!(added.contains("#step-ws_"), "{added}");
    }
    editor
}

fn id_of(editor: &str) -> String {
    editor.trim_start_matches("/app/walkthroughs/").to_owned()
}

/// The step ids of the editor page, in the order shown, checking their positions.
fn page_order(body: &str) -> Vec<String> {
    let ids: Vec<String> = body
        .split("<li id=\"step-")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect();
    for (n, id) in ids.iter().enumerate() {
        let item = format!("<li id=\"step-{id}\" data-step-position=\"{}\">", n + 1);
        assert!(body.contains(&item), "{item} is not on the page");
    }
    ids
}

/// The draft step ids in order, as the REST API gives them.
async fn api_order(app: &OAuthApp, id: &str) -> Vec<String> {
    let (status, walkthrough) = app
        .app
        .get(&format!("/walkthroughs/{id}"), &app.tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{walkthrough}");
    walkthrough["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn api_content(app: &OAuthApp, id: &str, step: &str) -> String {
    let (_, walkthrough) = app
        .app
        .get(&format!("/walkthroughs/{id}"), &app.tenant.key)
        .await;
    let steps = walkthrough["steps"].as_array().unwrap();
    let found = steps.iter().find(|s| s["id"] == step).unwrap();
    found["content"].as_str().unwrap().to_owned()
}

/// The part of a page between two markers.
fn between<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let from = body
        .find(start)
        .unwrap_or_else(|| panic!("{start} not found in {body}"));
    let rest = &body[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

/// Posts a move of `step` and checks the order after it, on the page and through the
/// API; the page it was sent back to.
async fn mv(
    app: &OAuthApp,
    browser: &mut Browser,
    editor: &str,
    step: &str,
    field: (&str, &str),
    expected: [&String; 3],
) -> String {
    let back = browser
        .post(&format!("{editor}/steps/{step}/move"), &[field])
        .await
        .redirected_to(&format!("{editor}?done=moved&step={step}#step-{step}"));
    let expected = expected.map(String::as_str);
    assert_eq!(page_order(browser.get(&back).await.ok()), expected);
    assert_eq!(api_order(app, &id_of(editor)).await, expected);
    back
}

/// Posts the step form of step "Install" (section "Setup") with `action`.
async fn step_form(
    browser: &mut Browser,
    path: &str,
    action: &str,
    content: &str,
    revision: &str,
) -> super::Page {
    let fields = [
        ("action", action),
        ("title", "Install"),
        ("section_title", "Setup"),
        ("content", content),
        ("revision", revision),
    ];
    browser.post(path, &fields).await
}

async fn an_editor_authors_reorders_previews_and_saves_steps(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut ed = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
    let steps = [
        ("Install", "Install the CLI."),
        ("Configure", "Configure it."),
        ("Run", "Run it."),
    ];
    let editor = author(&mut ed, "Getting started", &steps).await;
    let id = id_of(&editor);
    let body = ed.get(&editor).await.ok().to_owned();
    let order = page_order(&body);
    assert_eq!(order.len(), 3);
    assert_eq!(order, api_order(&app, &id).await);
    let (install, configure, run) = (order[0].clone(), order[1].clone(), order[2].clone());
    assert!(body.find(">1. Install<").unwrap() < body.find(">2. Configure<").unwrap());
    assert!(
        body.contains("class=\"move-to\""),
        "the position form app.js fills"
    );
    assert!(body.contains("class=\"drag-handle\" hidden"));

    // Move down, move up, move to a position: each a form, each announced, each seen
    // on the page and through the API.
    let down = [&configure, &install, &run];
    let back = mv(
        &app,
        &mut ed,
        &editor,
        &install,
        ("direction", "down"),
        down,
    )
    .await;
    let notice = "<p class=\"notice\" role=\"status\">Moved “Install” to position 2 of 3.</p>";
    assert!(ed.get(&back).await.ok().contains(notice));
    mv(
        &app,
        &mut ed,
        &editor,
        &run,
        ("direction", "up"),
        [&configure, &run, &install],
    )
    .await;
    mv(
        &app,
        &mut ed,
        &editor,
        &install,
        ("position", "1"),
        [&install, &configure, &run],
    )
    .await;
    // To a later position (the last), to its own position (nothing changes), and back.
    mv(
        &app,
        &mut ed,
        &editor,
        &install,
        ("position", "3"),
        [&configure, &run, &install],
    )
    .await;
    mv(
        &app,
        &mut ed,
        &editor,
        &run,
        ("position", "2"),
        [&configure, &run, &install],
    )
    .await;
    mv(
        &app,
        &mut ed,
        &editor,
        &install,
        ("position", "1"),
        [&install, &configure, &run],
    )
    .await;
    let outside = ed
        .post(
            &format!("{editor}/steps/{install}/move"),
            &[("position", "9")],
        )
        .await;
    assert_eq!(
        outside.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        outside.body
    );
    assert_eq!(
        api_order(&app, &id).await,
        [install.as_str(), configure.as_str(), run.as_str()]
    );

    // Preview of text that is not saved: the script is text, the invisible character a badge.
    let step_page = format!("{editor}/steps/{install}");
    let loaded = ed.get(&step_page).await.ok().to_owned();
    assert!(loaded.contains("Install the CLI."));
    let loaded_revision = revision_field(&loaded);
    let sneaky = "Hello <script>alert(1)</script>\n\nzero\u{200B}width [x](javascript:alert(1))";
    let preview = step_form(&mut ed, &step_page, "preview", sneaky, &loaded_revision).await;
    let body = preview.ok();
    assert!(body.contains("It is not saved yet"), "{body}");
    let rendered = between(body, "<div class=\"preview\">", "</section>");
    assert!(
        rendered.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{rendered}"
    );
    assert!(
        !rendered.contains("<script") && !rendered.contains("href"),
        "{rendered}"
    );
    assert!(
        !body.contains("<script>alert"),
        "never a tag anywhere on the page"
    );
    let agent = between(body, "<pre class=\"agent-view\">", "</pre>");
    assert!(
        agent.contains("zero<span class=\"invisible-char\">U+200B</span>width"),
        "{agent}"
    );
    assert!(agent.contains("Step 1 of 3 — Setup: Install"), "{agent}");
    assert!(agent.contains("current_step_id=") && agent.contains(&install));
    assert_eq!(
        revision_field(body),
        loaded_revision,
        "a preview keeps the loaded revision"
    );
    assert_eq!(
        api_content(&app, &id, &install).await,
        "Install the CLI.",
        "nothing saved"
    );

    // Saving from the preview; the saved text then previews on a plain GET.
    let new_text = "Install the *new* CLI.\r\nThen check it.";
    step_form(&mut ed, &step_page, "save", new_text, &loaded_revision)
        .await
        .redirected_to(&format!("{step_page}?done=saved"));
    assert_eq!(
        api_content(&app, &id, &install).await,
        "Install the *new* CLI.\nThen check it.",
        "line breaks are kept as LF"
    );
    let saved = ed.get(&step_page).await.ok().to_owned();
    assert!(saved.contains("Install the <em>new</em> CLI."), "{saved}");
    assert_ne!(revision_field(&saved), loaded_revision);

    // A save from the old page would overwrite that: refused with both texts.
    let stale = "Stale edit from another tab.";
    let conflict = step_form(&mut ed, &step_page, "save", stale, &loaded_revision).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.body);
    assert!(
        conflict
            .body
            .contains("Install the *new* CLI.\nThen check it."),
        "theirs"
    );
    assert!(
        conflict.body.contains("Stale edit from another tab."),
        "yours"
    );
    assert_eq!(
        revision_field(&conflict.body),
        revision_field(&saved),
        "yours may be saved over theirs"
    );
    assert_eq!(
        api_content(&app, &id, &install).await,
        "Install the *new* CLI.\nThen check it."
    );

    // Deleting a step.
    ed.get(&editor).await.ok();
    ed.post(
        &format!("{editor}/steps/{run}/delete"),
        &[("confirm", "yes")],
    )
    .await
    .redirected_to(&format!("{editor}?done=deleted"));
    assert_eq!(
        api_order(&app, &id).await,
        [install.as_str(), configure.as_str()]
    );
}

async fn publishing_shows_the_changes_and_who_stays_on_older_versions(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut ed = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
    let steps = [
        ("Install", "Install the CLI."),
        ("Configure", "Configure it.\nSet the key."),
        ("Run", "Run it."),
    ];
    let editor = author(&mut ed, "Getting started", &steps).await;
    let id = id_of(&editor);
    let review = format!("{editor}/publish");

    let body = ed.get(&review).await.ok().to_owned();
    assert_eq!(body.matches("\">added</span>").count(), 3, "{body}");
    for line in ["+ Install the CLI.", "+ Set the key.", "+ Run it."] {
        assert!(body.contains(&format!("{line}</span>")), "{line} in {body}");
    }
    assert!(body.contains("class=\"diff-added\""));
    assert!(body.contains("Publish version 1"));
    ed.post(&review, &[])
        .await
        .redirected_to(&format!("{editor}?done=published"));
    let page = ed
        .get(&format!("{editor}?done=published"))
        .await
        .ok()
        .to_owned();
    assert!(page.contains("Published: agents now get the new version."));
    assert!(page.contains("Agents get published version 1."));
    let list = ed.get("/app/walkthroughs").await.ok().to_owned();
    let row = between(&list, &format!("/app/walkthroughs/{id}\""), "</tr>");
    assert!(
        row.contains(">published</span>") && row.contains(">v1<") && row.contains(">3</td>"),
        "{row}"
    );
    assert!(ed.get(&review).await.ok().contains("No changes"));

    // Someone starts on version 1 through the MCP tools of a server it is assigned to.
    let server = app.app.create_server(&app.tenant, "docs", json!({})).await;
    let server_id = server["id"].as_str().unwrap();
    ed.get(&editor).await.ok();
    ed.post(
        &format!("{editor}/assignments/{server_id}"),
        &[("display_order", "1"), ("is_enabled", "on")],
    )
    .await
    .redirected_to(&format!("{editor}?done=assigned"));
    let person = personal_client(&app.app, "docs", "person-1");
    let started = person
        .call_tool(1, "select_walkthrough", json!({"walkthrough_id": id}))
        .await;
    assert_eq!(started.structured()["progress"]["status"], "in_progress");
    // Someone else finishes version 1: they are on no version any more.
    let finisher = personal_client(&app.app, "docs", "person-2");
    let select = json!({"walkthrough_id": id});
    finisher
        .call_tool(1, "select_walkthrough", select.clone())
        .await
        .structured();
    for call in 2..=4 {
        finisher
            .call_tool(call, "next_walkthrough_step", select.clone())
            .await
            .structured();
    }
    let finished = finisher
        .call_tool(5, "get_walkthrough_status", select.clone())
        .await;
    assert_eq!(finished.structured()["progress"]["status"], "completed");

    // A change to the draft is shown line by line, with the person still on version 1.
    let configure = page_order(ed.get(&editor).await.ok())[1].clone();
    let step_page = format!("{editor}/steps/{configure}");
    let loaded = ed.get(&step_page).await.ok().to_owned();
    let rev = revision_field(&loaded);
    let edit = [
        ("action", "save"),
        ("title", "Configure"),
        ("section_title", ""),
        ("content", "Configure it.\nSet the token."),
        ("revision", rev.as_str()),
    ];
    ed.post(&step_page, &edit).await.redirected_to(&step_page);
    let body = ed.get(&review).await.ok().to_owned();
    assert_eq!(body.matches("\">changed</span>").count(), 1, "{body}");
    assert_eq!(body.matches("\">added</span>").count(), 0);
    assert!(body.contains("<span class=\"diff-removed\"><span class=\"visually-hidden\">removed: </span>- Set the key.</span>"), "{body}");
    assert!(body.contains("<span class=\"diff-added\"><span class=\"visually-hidden\">added: </span>+ Set the token.</span>"));
    assert!(
        body.contains("  Configure it."),
        "the unchanged line is context"
    );
    assert!(
        body.contains("<strong>1</strong> people are on earlier versions"),
        "{body}"
    );
    assert!(body.contains("Publish version 2"));

    ed.post(&review, &[])
        .await
        .redirected_to(&format!("{editor}?done=published"));
    let history = ed.get(&format!("{editor}/versions")).await.ok().to_owned();
    let v2 = between(&history, "<tr><td>v2</td>", "</tr>");
    let v1 = between(&history, "<tr><td>v1</td>", "</tr>");
    assert!(
        v2.contains("<td class=\"num\">3</td><td class=\"num\">0</td><td>newest</td>"),
        "{v2}"
    );
    assert!(
        v1.contains("<td class=\"num\">3</td><td class=\"num\">1</td>"),
        "{v1}"
    );
    assert!(
        history.find("<td>v2</td>").unwrap() < history.find("<td>v1</td>").unwrap(),
        "newest first"
    );

    // Person 1 also starts on another server, on version 2: one person on two versions
    // is still one person on earlier versions when version 3 is reviewed.
    let other = app.app.create_server(&app.tenant, "other", json!({})).await;
    let other_id = other["id"].as_str().unwrap();
    ed.get(&editor).await.ok();
    ed.post(
        &format!("{editor}/assignments/{other_id}"),
        &[("display_order", "1"), ("is_enabled", "on")],
    )
    .await
    .redirected_to(&format!("{editor}?done=assigned"));
    let elsewhere = personal_client(&app.app, "other", "person-1");
    let started = elsewhere.call_tool(1, "select_walkthrough", select).await;
    assert_eq!(started.structured()["progress"]["status"], "in_progress");
    let history = ed.get(&format!("{editor}/versions")).await.ok().to_owned();
    for version in ["v2", "v1"] {
        let row = between(&history, &format!("<tr><td>{version}</td>"), "</tr>");
        assert!(
            row.contains("<td class=\"num\">3</td><td class=\"num\">1</td>"),
            "{row}"
        );
    }
    let body = ed.get(&review).await.ok().to_owned();
    assert!(
        body.contains("<strong>1</strong> people are on earlier versions"),
        "{body}"
    );
    let (_, walkthrough) = app
        .app
        .get(&format!("/walkthroughs/{id}"), &app.tenant.key)
        .await;
    assert_eq!(walkthrough["published_version"], 2);

    // Version 1 published again: a form on its row, none on the newest's.
    let again = format!("{editor}/versions/1/republish");
    let v1 = between(&history, "<tr><td>v1</td>", "</tr>");
    assert!(v1.contains(&format!("action=\"{again}\"")), "{v1}");
    assert!(
        !history.contains(&format!("{editor}/versions/2/republish")),
        "{history}"
    );
    ed.post(&again, &[])
        .await
        .redirected_to(&format!("{editor}/versions?done=published"));
    let (_, walkthrough) = app
        .app
        .get(&format!("/walkthroughs/{id}"), &app.tenant.key)
        .await;
    assert_eq!(walkthrough["published_version"], 3);
}

/// The assignments of a server, from the REST API: (walkthrough, display order, enabled).
async fn api_assignments(app: &OAuthApp, server: &str) -> Vec<(String, i64, bool)> {
    let (status, listed) = app
        .app
        .get(&format!("/servers/{server}/walkthroughs"), &app.tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a: &Value| {
            (
                a["walkthrough_id"].as_str().unwrap().to_owned(),
                a["display_order"].as_i64().unwrap(),
                a["is_enabled"].as_bool().unwrap(),
            )
        })
        .collect()
}

async fn assignments_set_the_order_and_the_offer_on_each_server(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut ed = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
    let editor = author(&mut ed, "Tour", &[("Look", "Look around.")]).await;
    let id = id_of(&editor);
    let docs = app.app.create_server(&app.tenant, "docs", json!({})).await;
    let docs = docs["id"].as_str().unwrap().to_owned();
    let other = app.app.create_server(&app.tenant, "other", json!({})).await;
    let other = other["id"].as_str().unwrap().to_owned();

    let page = ed.get(&editor).await.ok().to_owned();
    assert_eq!(
        page.matches(">not assigned</span>").count(),
        2,
        "both servers are listed"
    );
    let assign = format!("{editor}/assignments/{docs}");
    ed.post(&assign, &[("display_order", "5"), ("is_enabled", "on")])
        .await
        .redirected_to(&format!("{editor}?done=assigned"));
    assert_eq!(api_assignments(&app, &docs).await, [(id.clone(), 5, true)]);
    assert!(api_assignments(&app, &other).await.is_empty());
    assert!(
        ed.get(&editor)
            .await
            .ok()
            .contains(">assigned, enabled</span>")
    );

    // The box cleared: kept, with its new order, but not offered.
    ed.post(&assign, &[("display_order", "7")])
        .await
        .redirected_to(&format!("{editor}?done=assigned"));
    assert_eq!(api_assignments(&app, &docs).await, [(id.clone(), 7, false)]);
    let page = ed.get(&editor).await.ok().to_owned();
    assert!(page.contains(">assigned, disabled</span>"), "{page}");
    assert!(page.contains(&format!(
        "id=\"order-{docs}\" name=\"display_order\" type=\"number\" value=\"7\""
    )));
    let bad = ed.post(&assign, &[("display_order", "first")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    ed.post(&assign, &[("display_order", "2"), ("is_enabled", "on")])
        .await
        .redirected_to(&format!("{editor}?done=assigned"));
    assert_eq!(api_assignments(&app, &docs).await, [(id.clone(), 2, true)]);
    ed.post(&format!("{assign}/remove"), &[])
        .await
        .redirected_to(&format!("{editor}?done=unassigned"));
    assert!(api_assignments(&app, &docs).await.is_empty());
    // Unassigning what is not assigned finds nothing.
    let again = ed.post(&format!("{assign}/remove"), &[]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

/// A settings form opened before a publish does not write the draft status (and every
/// other field) back over it: the save is refused and says so; saved again from the page
/// it shows, it goes through.
async fn a_stale_settings_form_does_not_unpublish_a_walkthrough(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut ed = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
    let editor = author(&mut ed, "Setup", &[("Install", "Install it.")]).await;
    let id = id_of(&editor);
    let opened = revision_field(ed.get(&editor).await.ok());
    let publish = format!("/walkthroughs/{id}/publish");
    let (status, body) = app
        .app
        .api(
            reqwest::Method::POST,
            &publish,
            &app.tenant.key,
            Some(json!({})),
        )
        .await;
    assert!(status.is_success(), "{body}");

    let form = |status: &'static str, revision: &str| {
        [
            ("title", "Setup, renamed"),
            ("description", ""),
            ("status", status),
            ("tags", ""),
            ("estimated_duration_minutes", ""),
            ("revision", revision),
        ]
        .map(|(k, v)| (k, v.to_owned()))
    };
    let refused = ed.post(&editor, &pairs(&form("draft", &opened))).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("was changed since this page was opened"),
        "{}",
        refused.body
    );
    let (_, stored) = app
        .app
        .get(&format!("/walkthroughs/{id}"), &app.tenant.key)
        .await;
    assert_eq!(
        (stored["status"].as_str(), stored["title"].as_str()),
        (Some("published"), Some("Setup")),
        "nothing written over the publish: {stored}"
    );

    // The refusal's page is at the revision saved now: saving from it writes.
    let current = form("published", &revision_field(&refused.body));
    ed.post(&editor, &pairs(&current))
        .await
        .redirected_to(&editor);
    let (_, stored) = app
        .app
        .get(&format!("/walkthroughs/{id}"), &app.tenant.key)
        .await;
    assert_eq!(
        (stored["status"].as_str(), stored["title"].as_str()),
        (Some("published"), Some("Setup, renamed"))
    );
}

backend_tests!(
    a_stale_settings_form_does_not_unpublish_a_walkthrough,
    an_editor_authors_reorders_previews_and_saves_steps,
    publishing_shows_the_changes_and_who_stays_on_older_versions,
    assignments_set_the_order_and_the_offer_on_each_server,
);
