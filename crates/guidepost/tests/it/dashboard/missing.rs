//! The missing-capabilities page: a member sees the unknown names called on a server,
//! grouped with their counts and linked to their calls, and the tools nobody called.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::json;

use super::analytics::table_rows;
use super::{dashboard_app, member};
use crate::helpers::{RawMcp, STATELESS_ERA};

async fn unknown_names_are_grouped_and_lead_to_their_calls(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let server = app.app.create_server(&app.tenant, "docs", json!({})).await;
    let server = server["id"].as_str().unwrap().to_owned();
    let mcp = RawMcp::new(app.app.mcp_path_url("docs"), STATELESS_ERA);
    for (id, name) in ["search_docs", "search_docs", "open_ticket"]
        .iter()
        .enumerate()
    {
        mcp.call_tool(id as i64, name, json!({})).await;
    }
    app.app.wait_for_tool_calls(&app.tenant, 3).await;

    let mut viewer = member(&app, &app.tenant, "vi@acme.example", Role::Viewer).await;
    let page = viewer.get("/app/analytics/missing").await.ok().to_owned();
    let unknown = table_rows(&page, "unknown-tools");
    let shown: Vec<(&str, &str)> = unknown
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(
        shown,
        [("search_docs", "2"), ("open_ticket", "1")],
        "{page}"
    );
    let log = format!("href=\"/app/tool-calls?server={server}&#38;tool=search_docs\"");
    assert!(page.contains(&log), "{page}");
    let idle = table_rows(&page, "never-called");
    assert!(idle.iter().any(|row| row[0] == "get_support"), "{page}");
    let calls = viewer
        .get(&format!("/app/tool-calls?server={server}&tool=search_docs"))
        .await;
    assert!(calls.ok().contains("search_docs"), "{}", calls.body);

    let week = viewer
        .get(&format!("/app/analytics/missing?server={server}&days=1"))
        .await;
    assert!(
        week.ok().contains("aria-current=\"page\">1 day<"),
        "{}",
        week.body
    );
}

backend_tests!(unknown_names_are_grouped_and_lead_to_their_calls);
