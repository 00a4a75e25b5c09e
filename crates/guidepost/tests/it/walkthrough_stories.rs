//! The ten user stories of seeds/002, one test each. Identity here is the tracking id of
//! a personal URL; stories 2, 9 and 10 are proven again with OAuth by the sign-in work.

use guidepost_core::walkthroughs::authoring::{self, CreateStep, UpdateStep};
use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::{Value, json};

use crate::helpers::{
    RawMcp, SESSION_ERA, STATELESS_ERA, Tenant, TestApp, personal_client, spawn_app,
};

async fn app_with_server(db: &TestDatabase, extra: Value) -> (TestApp, Tenant, String) {
    let app = spawn_app(db).await;
    let tenant = app.create_tenant("Acme").await;
    let server = app.create_server(&tenant, "acme", extra).await;
    let server_id = server["id"].as_str().unwrap().to_owned();
    (app, tenant, server_id)
}

fn client(app: &TestApp, slug: &str, tracking_id: &str) -> RawMcp {
    personal_client(app, slug, tracking_id)
}

backend_tests! {
    async fn story_01_list_shows_assigned_walkthroughs_by_display_order(db: &TestDatabase) {
        let (app, tenant, server) = app_with_server(db, json!({})).await;
        let second = app.seed_walkthrough(&tenant, "Zeta second", 2, Some((&server, 2))).await;
        let first = app.seed_walkthrough(&tenant, "Alpha first", 3, Some((&server, 1))).await;
        let tie = app.seed_walkthrough(&tenant, "Beta tie", 1, Some((&server, 2))).await;
        app.seed_walkthrough(&tenant, "Not assigned", 1, None).await;
        let disabled = app.seed_walkthrough(&tenant, "Disabled", 1, Some((&server, 0))).await;
        let org = tenant.org.clone();
        let disable = authoring::AssignWalkthrough { display_order: None, is_enabled: Some(false) };
        authoring::assign(&app.app.platform, &crate::helpers::operator(&org), &guidepost_domain::Id::parse(&server).unwrap(),
            &guidepost_domain::Id::parse(&disabled.id).unwrap(), disable).await.unwrap();

        let listed = client(&app, "acme", "dev-1").call_tool(1, "list_walkthroughs", json!({})).await;
        let items = listed.structured()["walkthroughs"].as_array().unwrap().clone();
        let ids: Vec<&str> = items.iter().map(|w| w["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [first.id.as_str(), tie.id.as_str(), second.id.as_str()], "display order, then title");
        assert_eq!(items[0]["title"], "Alpha first");
        assert_eq!(items[0]["description"], "About Alpha first");
        assert_eq!(items[0]["step_count"], 3);
        assert_eq!(items[0]["progress"], Value::Null);
    }

    async fn story_02_first_select_creates_progress_at_the_first_step(db: &TestDatabase) {
        let (app, tenant, server) = app_with_server(db, json!({})).await;
        let w = app.seed_walkthrough(&tenant, "Intro", 3, Some((&server, 0))).await;
        let answer = client(&app, "acme", "newcomer").call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id})).await;
        let result = answer.structured();
        assert_eq!(result["resumed"], false);
        assert_eq!(result["step"]["id"], w.step_ids[0]);
        assert_eq!(result["step"]["position"], 1);
        assert_eq!(result["progress"]["status"], "in_progress");
        assert_eq!(result["progress"]["completed_count"], 0);
        let text = answer.body["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("Step 1 of 3") && text.contains("Content of step 1 of Intro"), "{text}");
        assert!(text.contains(&format!("current_step_id=\"{}\"", w.step_ids[0])), "the text says how to continue: {text}");
        let (_, users) = app.get("/end-users?tracking_id=newcomer", &tenant.key).await;
        assert_eq!(users["items"].as_array().unwrap().len(), 1, "the end user is known by the tracking id");
    }

    async fn story_03_select_again_resumes_where_the_user_left_off(db: &TestDatabase) {
        let (app, tenant, server) = app_with_server(db, json!({})).await;
        let w = app.seed_walkthrough(&tenant, "Intro", 3, Some((&server, 0))).await;
        let mcp = client(&app, "acme", "returning");
        mcp.call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id})).await.structured();
        mcp.call_tool(2, "next_walkthrough_step", json!({"walkthrough_id": w.id, "current_step_id": w.step_ids[0]})).await.structured();
        let again = mcp.call_tool(3, "select_walkthrough", json!({"walkthrough_id": w.id})).await;
        let result = again.structured();
        assert_eq!(result["resumed"], true);
        assert_eq!(result["step"]["id"], w.step_ids[1]);
        assert_eq!(result["progress"]["completed_count"], 1);
    }

    async fn story_04_next_returns_the_next_step_and_records_progress(db: &TestDatabase) {
        let (app, tenant, server) = app_with_server(db, json!({})).await;
        let w = app.seed_walkthrough(&tenant, "Intro", 3, Some((&server, 0))).await;
        let mcp = client(&app, "acme", "stepper");
        mcp.call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id})).await.structured();
        let next = mcp.call_tool(2, "next_walkthrough_step", json!({"walkthrough_id": w.id, "current_step_id": w.step_ids[0]})).await;
        let result = next.structured();
        assert_eq!(result["step"]["id"], w.step_ids[1]);
        assert_eq!(result["step"]["position"], 2);
        assert_eq!(result["step"]["section_title"], "Part 1");
        assert_eq!(result["progress"]["completed_count"], 1);
        assert_eq!(result["progress"]["percent"], 33);
        assert_eq!(result["completed_now"], false);
        let status = mcp.call_tool(3, "get_walkthrough_status", json!({"walkthrough_id": w.id})).await;
        let states: Vec<&str> = status.structured()["steps"].as_array().unwrap().iter().map(|s| s["state"].as_str().unwrap()).collect();
        assert_eq!(states, ["done", "current", "todo"]);
    }

    async fn story_05_the_last_next_completes_the_walkthrough(db: &TestDatabase) {
        let (app, tenant, server) = app_with_server(db, json!({})).await;
        let w = app.seed_walkthrough(&tenant, "Intro", 2, Some((&server, 0))).await;
        let mcp = client(&app, "acme", "finisher");
        mcp.call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id})).await.structured();
        mcp.call_tool(2, "next_walkthrough_step", json!({"walkthrough_id": w.id})).await.structured();
        let last = mcp.call_tool(3, "next_walkthrough_step", json!({"walkthrough_id": w.id})).await;
        let result = last.structured();
        assert_eq!(result["completed_now"], true);
        assert_eq!(result["step"], Value::Null);
        assert_eq!(result["progress"]["status"], "completed");
        assert_eq!(result["progress"]["percent"], 100);
        assert!(last.body["result"]["content"][0]["text"].as_str().unwrap().contains("completed"));
        let again = mcp.call_tool(4, "next_walkthrough_step", json!({"walkthrough_id": w.id})).await;
        assert_eq!(again.structured()["already_completed"], true, "nothing more to advance");
    }

    async fn story_06_progress_survives_a_restart(db: &TestDatabase) {
        let (app, tenant, server) = app_with_server(db, json!({})).await;
        let w = app.seed_walkthrough(&tenant, "Intro", 3, Some((&server, 0))).await;
        let mut before = RawMcp::new(format!("{}?tracking_id=restarter", app.mcp_path_url("acme")), SESSION_ERA);
        before.initialize().await;
        before.call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id})).await.structured();
        before.call_tool(2, "next_walkthrough_step", json!({"walkthrough_id": w.id})).await.structured();
        app.app.shutdown().await.unwrap();

        // Days later: a new process, a new IDE session, the same personal URL.
        let app = spawn_app(db).await;
        let mut after = RawMcp::new(format!("{}?tracking_id=restarter", app.mcp_path_url("acme")), SESSION_ERA);
        after.initialize().await;
        assert_ne!(after.session, before.session);
        let resumed = after.call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id})).await;
        assert_eq!(resumed.structured()["resumed"], true);
        assert_eq!(resumed.structured()["step"]["id"], w.step_ids[1]);
    }

    async fn story_07_progress_is_independent_per_server(db: &TestDatabase) {
        let (app, tenant, server_a) = app_with_server(db, json!({})).await;
        let server_b = app.create_server(&tenant, "acme-two", json!({})).await["id"].as_str().unwrap().to_owned();
        let w = app.seed_walkthrough(&tenant, "Shared", 3, Some((&server_a, 0))).await;
        let org = tenant.org.clone();
        authoring::assign(&app.app.platform, &crate::helpers::operator(&org), &guidepost_domain::Id::parse(&server_b).unwrap(),
            &guidepost_domain::Id::parse(&w.id).unwrap(), Default::default()).await.unwrap();

        let on_a = client(&app, "acme", "same-person");
        on_a.call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id})).await.structured();
        on_a.call_tool(2, "next_walkthrough_step", json!({"walkthrough_id": w.id})).await.structured();
        let on_b = client(&app, "acme-two", "same-person");
        let listed = on_b.call_tool(3, "list_walkthroughs", json!({})).await;
        assert_eq!(listed.structured()["walkthroughs"][0]["progress"], Value::Null, "no progress on B yet");
        let started = on_b.call_tool(4, "select_walkthrough", json!({"walkthrough_id": w.id})).await;
        assert_eq!(started.structured()["step"]["id"], w.step_ids[0], "B starts at step 1");
        let a_status = on_a.call_tool(5, "get_walkthrough_status", json!({"walkthrough_id": w.id})).await;
        assert_eq!(a_status.structured()["progress"]["completed_count"], 1, "A is unchanged");
        let next_on_b = on_b.call_tool(6, "next_walkthrough_step", json!({})).await;
        assert_eq!(next_on_b.structured()["step"]["id"], w.step_ids[1], "the default walkthrough is B's own");
    }

    async fn story_08_people_mid_walkthrough_keep_their_version(db: &TestDatabase) {
        let (app, tenant, server) = app_with_server(db, json!({})).await;
        let w = app.seed_walkthrough(&tenant, "Evolving", 3, Some((&server, 0))).await;
        let mcp = client(&app, "acme", "pinned");
        mcp.call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id})).await.structured();

        // The author reorders, edits and deletes steps, then publishes version 2.
        let platform = &app.app.platform;
        let org = tenant.org.clone();
        let wid = guidepost_domain::Id::parse(&w.id).unwrap();
        let step = |i: usize| guidepost_domain::Id::parse(&w.step_ids[i]).unwrap();
        authoring::update_step(platform, &crate::helpers::operator(&org), &wid, &step(2), UpdateStep { after_step_id: Some(None), ..Default::default() }).await.unwrap();
        authoring::update_step(platform, &crate::helpers::operator(&org), &wid, &step(0), UpdateStep { content: Some("Rewritten".into()), ..Default::default() }).await.unwrap();
        authoring::delete_step(platform, &crate::helpers::operator(&org), &wid, &step(1)).await.unwrap();
        authoring::add_step(platform, &crate::helpers::operator(&org), &wid, CreateStep { title: "New".into(), content: "Brand new".into(), section_title: None, after_step_id: None }).await.unwrap();
        authoring::publish(platform, &crate::helpers::operator(&org), &wid).await.unwrap();

        let next = mcp.call_tool(2, "next_walkthrough_step", json!({"walkthrough_id": w.id, "current_step_id": w.step_ids[0]})).await;
        let result = next.structured();
        assert_eq!(result["walkthrough"]["version"], 1);
        assert_eq!(result["step"]["id"], w.step_ids[1], "version 1's second step, deleted from the draft, is still served");
        assert_eq!(result["progress"]["latest_version"], 2);
        let status = mcp.call_tool(3, "get_walkthrough_status", json!({"walkthrough_id": w.id})).await;
        assert_eq!(status.structured()["walkthrough"]["version"], 1);
        assert_eq!(status.structured()["walkthrough"]["latest_version"], 2);
        assert!(status.body["result"]["content"][0]["text"].as_str().unwrap().contains("version 2 is available"));

        let restarted = mcp.call_tool(4, "select_walkthrough", json!({"walkthrough_id": w.id, "resume_if_exists": false})).await;
        let result = restarted.structured();
        assert_eq!(result["walkthrough"]["version"], 2);
        assert_eq!(result["step"]["id"], w.step_ids[2], "the moved step is first in version 2");
        assert_eq!(result["step"]["content"], "Content of step 3 of Evolving.");
        assert_eq!(result["progress"]["completed_count"], 0);
    }

    async fn story_09_anonymous_callers_are_told_how_to_identify(db: &TestDatabase) {
        let (app, tenant, server) = app_with_server(db, json!({})).await;
        let w = app.seed_walkthrough(&tenant, "Intro", 2, Some((&server, 0))).await;
        let anonymous = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
        let listed = anonymous.call_tool(1, "list_walkthroughs", json!({})).await;
        assert_eq!(listed.structured()["walkthroughs"].as_array().unwrap().len(), 1, "browsing needs no identity");
        let refused = anonymous.call_tool(2, "select_walkthrough", json!({"walkthrough_id": w.id})).await;
        let text = refused.tool_error_text();
        // The advice names the address the caller used, with where the tracking id goes.
        assert!(text.contains("/s/acme/mcp?tracking_id=<your-id>"), "{text}");
        // Following the advice works, and the walkthrough starts.
        let identified = client(&app, "acme", "followed-advice");
        assert_eq!(identified.call_tool(3, "select_walkthrough", json!({"walkthrough_id": w.id})).await.structured()["step"]["position"], 1);
    }

    async fn story_10_the_email_is_linked_to_progress(db: &TestDatabase) {
        let (app, tenant, server) = app_with_server(db, json!({"auth_mode": "collect_email"})).await;
        let w = app.seed_walkthrough(&tenant, "Intro", 2, Some((&server, 0))).await;
        let mcp = client(&app, "acme", "emailer");
        let tools = mcp.call(1, "tools/list", json!({})).await;
        let select = tools.body["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "select_walkthrough").unwrap().clone();
        assert!(select["inputSchema"]["properties"]["email"].is_object(), "collect_email offers the email argument");
        mcp.call_tool(2, "select_walkthrough", json!({"walkthrough_id": w.id, "email": "Ada@Example.com"})).await.structured();
        let (_, users) = app.get("/end-users?tracking_id=emailer", &tenant.key).await;
        let user = &users["items"][0];
        assert_eq!(user["email"], "ada@example.com");
        assert_eq!(user["email_verified"], false);
        mcp.call_tool(3, "next_walkthrough_step", json!({"walkthrough_id": w.id})).await.structured();
        let calls = app.wait_for_tool_calls(&tenant, 2).await;
        assert!(calls.iter().all(|c| c["end_user_id"] == user["id"]), "the calls name the same end user");
    }
}
