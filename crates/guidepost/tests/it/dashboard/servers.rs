//! Servers in the dashboard: created and edited by form, installed from the snippets, and
//! the tools an agent sees shown exactly.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;

use super::{dashboard_app, member};
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

backend_tests!(an_editor_creates_a_server_and_sees_what_agents_see);
