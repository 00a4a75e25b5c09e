//! Two `guidepost serve` processes on one PostgreSQL: a session opened on the first
//! continues on the second.

use guidepost_testkit::{TestBackend, TestDatabase};
use serde_json::json;

use crate::helpers::{RawMcp, SESSION_ERA, serve_process, spawn_app};

#[tokio::test]
async fn a_session_continues_on_another_node() {
    let Some(db) = TestDatabase::create_if_available(TestBackend::Postgres).await else {
        println!("skipped: GUIDEPOST_TEST_POSTGRES_URL not set");
        return;
    };
    // Create the tenant with an in-process app, then stop it: the nodes are processes.
    let setup = spawn_app(&db).await;
    let tenant = setup.create_tenant("Acme").await;
    setup.create_server(&tenant, "acme", json!({})).await;
    setup.app.shutdown().await.unwrap();

    let (_first, first_url) = serve_process(&db.url).await;
    let (_second, second_url) = serve_process(&db.url).await;

    let mut on_first = RawMcp::new(
        format!("{first_url}/s/acme/mcp?tracking_id=roamer"),
        SESSION_ERA,
    );
    on_first.initialize().await;
    let session = on_first.session.clone().unwrap();

    let mut on_second = RawMcp::new(
        format!("{second_url}/s/acme/mcp?tracking_id=roamer"),
        SESSION_ERA,
    );
    on_second.session = Some(session.clone());
    let tools = on_second.call(2, "tools/list", json!({})).await;
    assert_eq!(tools.status, 200, "{}", tools.body);
    assert_eq!(tools.body["result"]["tools"][0]["name"], "get_support");
    let call = on_second
        .call_tool(
            3,
            "get_support",
            json!({"title": "t", "problem_description": "d", "email": "r@example.com"}),
        )
        .await;
    assert_eq!(call.body["result"]["isError"], false, "{}", call.body);
    assert!(call.body["result"]["structuredContent"]["support_request_id"].is_string());

    // Back on the first node, the same session still works.
    let again = on_first.call(4, "tools/list", json!({})).await;
    assert_eq!(again.status, 200);
    assert_eq!(on_first.session.as_deref(), Some(session.as_str()));
}
