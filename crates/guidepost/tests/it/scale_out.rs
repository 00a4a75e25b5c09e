//! `guidepost serve` processes on one PostgreSQL: a session opened on one continues on
//! another; a whole walkthrough is walked one request per node in turn (three nodes), in
//! both eras; a tool-list change made through one node reaches the streams held on the
//! other two.

use guidepost_testkit::TestDatabase;
use serde_json::json;

use tokio::process::Child;

use crate::helpers::{
    ApiClient, RawMcp, SESSION_ERA, STATELESS_ERA, Seeded, SeededWalkthrough, seeded_and_stopped,
    serve_process, spawn_app,
};
use crate::walkthrough_runtime::{expect_chunk, open_get_stream_at, open_listen_at};

#[tokio::test]
async fn a_session_continues_on_another_node() {
    let Some(db) = TestDatabase::require_postgres().await else {
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

/// Three `guidepost serve` processes on one PostgreSQL, after a tenant, its server and a
/// walkthrough of `steps` steps assigned to it were created.
async fn three_nodes_with_a_walkthrough(
    db: &TestDatabase,
    steps: usize,
) -> ([(Child, String); 3], Seeded) {
    let seeded = seeded_and_stopped(db, steps).await;
    let nodes = [
        serve_process(&db.url).await,
        serve_process(&db.url).await,
        serve_process(&db.url).await,
    ];
    (nodes, seeded)
}

/// Walks the whole walkthrough, each request on the next node in turn; the step ids
/// seen, in order.
async fn walk_round_robin(
    mcp: &mut RawMcp,
    urls: &[String],
    walkthrough: &SeededWalkthrough,
) -> Vec<String> {
    let mut turn = 0;
    let mut next_node = |mcp: &mut RawMcp| {
        mcp.url = urls[turn % urls.len()].clone();
        turn += 1;
    };
    next_node(mcp);
    let selected = mcp
        .call_tool(
            1,
            "select_walkthrough",
            json!({"walkthrough_id": walkthrough.id}),
        )
        .await;
    assert_eq!(selected.status, 200, "{}", selected.body);
    let mut step = selected.structured()["step"].clone();
    let mut seen = Vec::new();
    for id in 2.. {
        if step.is_null() {
            break;
        }
        let current = step["id"].as_str().unwrap().to_owned();
        seen.push(current.clone());
        next_node(mcp);
        let advanced = mcp
            .call_tool(
                id,
                "next_walkthrough_step",
                json!({"walkthrough_id": walkthrough.id, "current_step_id": current}),
            )
            .await;
        assert_eq!(
            advanced.status, 200,
            "step {id} on {}: {}",
            mcp.url, advanced.body
        );
        assert_ne!(
            advanced.body["result"]["isError"], true,
            "step {id} on {}: {}",
            mcp.url, advanced.body
        );
        step = advanced.structured()["step"].clone();
    }
    next_node(mcp);
    let status = mcp
        .call_tool(
            99,
            "get_walkthrough_status",
            json!({"walkthrough_id": walkthrough.id}),
        )
        .await;
    assert_eq!(
        status.structured()["progress"]["status"],
        "completed",
        "{}",
        status.body
    );
    seen
}

#[tokio::test]
async fn a_walkthrough_is_walked_one_request_per_node_in_turn_in_both_eras() {
    let Some(db) = TestDatabase::require_postgres().await else {
        return;
    };
    let (nodes, Seeded { walkthrough, .. }) = three_nodes_with_a_walkthrough(&db, 20).await;
    for (person, era) in [
        ("session-roamer", SESSION_ERA),
        ("stateless-roamer", STATELESS_ERA),
    ] {
        let urls: Vec<String> = nodes
            .iter()
            .map(|(_, url)| format!("{url}/s/acme/mcp?tracking_id={person}"))
            .collect();
        let mut mcp = RawMcp::new(urls[0].clone(), era);
        if era == SESSION_ERA {
            mcp.initialize().await;
        }
        let seen = walk_round_robin(&mut mcp, &urls, &walkthrough).await;
        assert_eq!(
            seen, walkthrough.step_ids,
            "{era}: every step once, in order, across three nodes"
        );
    }
}

#[tokio::test]
async fn a_tool_list_change_through_one_node_reaches_streams_held_on_the_other_two() {
    let Some(db) = TestDatabase::require_postgres().await else {
        return;
    };
    let (nodes, Seeded { tenant, server, .. }) = three_nodes_with_a_walkthrough(&db, 1).await;
    let mut held = Vec::new();
    for (_, url) in &nodes[1..] {
        let mcp = format!("{url}/s/acme/mcp");
        let (session, stream) = open_get_stream_at(mcp.clone()).await;
        held.push((session, stream, open_listen_at(mcp).await));
    }
    let status = ApiClient::new(format!("{}/api/v1", nodes[0].1))
        .call(
            reqwest::Method::PATCH,
            &format!("/servers/{server}"),
            Some(&tenant.key),
            Some(json!({"support_tool_enabled": false})),
        )
        .await
        .status;
    assert_eq!(status, 200);
    for (n, (_session, stream, listen)) in held.iter_mut().enumerate() {
        expect_chunk(stream, "notifications/tools/list_changed").await;
        expect_chunk(listen, "notifications/tools/list_changed").await;
        println!(
            "node {}: GET stream and subscriptions/listen heard the change",
            n + 2
        );
    }
}
