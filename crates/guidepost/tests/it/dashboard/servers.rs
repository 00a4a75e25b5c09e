//! Servers in the dashboard: created and edited by form, installed from the snippets, and
//! the tools an agent sees shown exactly.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{dashboard_app, member, pairs, revision_field};
use crate::helpers::{RawMcp, STATELESS_ERA, tool_names};

async fn an_editor_creates_a_server_and_sees_what_agents_see(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
    editor.get("/app/servers/new").await.ok();

    // A bad slug is refused by name; nothing is created.
    let refused = editor
        .post(
            "/app/servers",
            &[
                ("name", "Docs"),
                ("slug", "Not A Slug"),
                ("auth_mode", "none"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("slug"), "{}", refused.body);
    assert!(!editor.get("/app/servers").await.ok().contains("Docs"));

    editor.get("/app/servers/new").await;
    let created = editor
        .post(
            "/app/servers",
            &[
                ("name", "Docs"),
                ("slug", "docs"),
                ("auth_mode", "none"),
                ("support_tool_enabled", "on"),
                ("product_name", "Acme Docs"),
            ],
        )
        .await
        .redirected_to("/app/servers/ms_");
    let page = editor.get(&created).await;
    let created = created.split('?').next().unwrap().to_owned();
    page.ok();
    let body = &page.text();
    assert!(body.contains("Created."), "the notice is shown");
    // Who may connect is said in words, as it is in the list and the form's choices (the
    // form posts the API's values).
    assert!(
        body.contains("<option value=\"none\" selected>Anyone, without signing in</option>"),
        "{body}"
    );
    let listed = editor.get("/app/servers").await;
    assert!(
        listed.ok().contains("<td>Anyone, without signing in</td>"),
        "{}",
        listed.body
    );
    assert!(!listed.body.contains(">none<"), "{}", listed.body);
    let mut viewer = member(&app, &app.tenant, "vi@acme.example", Role::Viewer).await;
    let read_only = viewer.get(created.split('?').next().unwrap()).await;
    let facts = "<dt>Who may connect</dt><dd>Anyone, without signing in</dd>";
    assert!(read_only.ok().contains(facts), "{}", read_only.body);
    // Install snippets for the three clients, with the server's real address.
    let url = "http://docs.localhost:";
    assert!(body.contains(url), "{body}");
    assert!(
        body.contains("claude mcp add --transport http docs"),
        "{body}"
    );
    assert!(body.contains("\"mcpServers\": {"), "the Cursor snippet");
    assert!(body.contains("\"servers\": {"), "the VS Code snippet");
    assert!(body.contains("cursor://anysphere.cursor-deeplink/mcp/install?name=docs"));

    // The tools shown are the ones a client lists, in the same order.
    let client = RawMcp::new(app.app.mcp_path_url("docs"), STATELESS_ERA);
    let listed = tool_names(&client.call(2, "tools/list", serde_json::json!({})).await);
    assert!(listed.contains(&"get_support".to_owned()), "{listed:?}");
    assert!(body.contains(&format!("{} tools", listed.len())), "{body}");
    let mut last = 0;
    for name in &listed {
        let at = body
            .find(&format!("\"name\": \"{name}\""))
            .unwrap_or_else(|| panic!("{name} is not shown"));
        assert!(at > last, "{name} is out of order");
        last = at;
    }

    // Editing: the support tool switched off is gone from the live list at once.
    editor
        .post(
            &created,
            &[("name", "Docs 2"), ("slug", "docs"), ("auth_mode", "none")],
        )
        .await
        .redirected_to(&created);
    let body = editor.get(&created).await.text();
    assert!(body.contains("Docs 2"));
    assert!(!body.contains("\"get_support\""), "{body}");
    let listed = tool_names(&client.call(3, "tools/list", serde_json::json!({})).await);
    assert!(!listed.contains(&"get_support".to_owned()), "{listed:?}");
}

/// A settings page opened before someone else's change does not write every field back
/// over it: the save is refused and says so; saved again from the page it shows, it goes
/// through.
async fn a_stale_settings_page_does_not_write_over_a_newer_change(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
    let server = app.app.create_server(&app.tenant, "docs", json!({})).await;
    let id = server["id"].as_str().unwrap();
    let page = format!("/app/servers/{id}");
    let opened = revision_field(&editor.get(&page).await.text());

    let api = format!("/servers/{id}");
    let change = json!({"instructions": "Read the docs first."});
    let (status, _) = app
        .app
        .api(Method::PATCH, &api, &app.tenant.key, Some(change))
        .await;
    assert_eq!(status, StatusCode::OK);
    let form = |revision: &str| {
        [
            ("name", "Docs 2"),
            ("slug", "docs"),
            ("auth_mode", "none"),
            ("revision", revision),
        ]
        .map(|(k, v)| (k, v.to_owned()))
    };
    let refused = editor.post(&page, &pairs(&form(&opened))).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("was changed since this page was opened"),
        "{}",
        refused.body
    );
    let (_, stored) = app.app.get(&api, &app.tenant.key).await;
    assert_eq!(
        (stored["name"].as_str(), stored["instructions"].as_str()),
        (Some("Server docs"), Some("Read the docs first.")),
        "nothing written over the change"
    );

    // The refusal's page is at the revision saved now: saving from it writes.
    let current = form(&revision_field(&refused.body));
    editor
        .post(&page, &pairs(&current))
        .await
        .redirected_to(&page);
    let (_, stored) = app.app.get(&api, &app.tenant.key).await;
    assert_eq!(stored["name"], "Docs 2");
}

backend_tests!(
    an_editor_creates_a_server_and_sees_what_agents_see,
    a_stale_settings_page_does_not_write_over_a_newer_change,
);
