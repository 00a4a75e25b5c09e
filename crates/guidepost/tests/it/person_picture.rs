//! A person's whole picture and a support request's context: after
//! walkthroughs and a support request, the API shows where the person is on every server,
//! with the step they are on, their recent calls and their requests; a support request
//! shows the same, limited to its server.

use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::{Value, json};

use crate::helpers::{RawMcp, STATELESS_ERA, personal_client, spawn_app};

fn tool_names(calls: &Value) -> Vec<&str> {
    calls
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tool_name"].as_str().unwrap())
        .collect()
}

backend_tests! {
    async fn the_api_shows_a_persons_progress_calls_and_requests(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let acme = app.create_tenant("Acme").await;
        let server = app.create_server(&acme, "acme", json!({})).await["id"].as_str().unwrap().to_owned();
        let beta = app.create_server(&acme, "beta", json!({})).await["id"].as_str().unwrap().to_owned();
        let intro = app.seed_walkthrough(&acme, "Intro", 3, Some((&server, 1))).await;
        let setup = app.seed_walkthrough(&acme, "Setup", 2, Some((&server, 2))).await;
        let tour = app.seed_walkthrough(&acme, "Tour", 2, Some((&beta, 1))).await;

        let ada = personal_client(&app, "acme", "ada");
        ada.call_tool(1, "select_walkthrough", json!({"walkthrough_id": intro.id})).await.structured();
        ada.call_tool(2, "next_walkthrough_step", json!({"walkthrough_id": intro.id})).await.structured();
        ada.call_tool(3, "select_walkthrough", json!({"walkthrough_id": setup.id})).await.structured();
        ada.call_tool(4, "next_walkthrough_step", json!({"walkthrough_id": setup.id})).await.structured();
        ada.call_tool(5, "next_walkthrough_step", json!({"walkthrough_id": setup.id})).await.structured();
        let asked = ada.call_tool(6, "get_support", json!({"title": "Step 2 fails",
            "problem_description": "The login step says 401.", "email": "ada@example.com"})).await;
        let request = asked.structured()["support_request_id"].as_str().unwrap().to_owned();
        personal_client(&app, "beta", "ada").call_tool(7, "select_walkthrough", json!({"walkthrough_id": tour.id})).await.structured();
        personal_client(&app, "acme", "bob").call_tool(8, "select_walkthrough", json!({"walkthrough_id": intro.id})).await.structured();
        app.wait_for_tool_calls(&acme, 8).await;

        let (_, found) = app.get("/end-users?tracking_id=ada", &acme.key).await;
        let ada_id = found["items"][0]["id"].as_str().unwrap().to_owned();
        let (status, picture) = app.get(&format!("/end-users/{ada_id}"), &acme.key).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{picture}");
        assert_eq!(picture["email"], "ada@example.com");

        // Progress on both servers, most recently active first, with the step she is on.
        let progress = picture["progress"].as_array().unwrap();
        let titles: Vec<&str> = progress.iter().map(|p| p["walkthrough_title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["Tour", "Setup", "Intro"], "{picture}");
        assert_eq!(progress[0]["server_id"], beta.as_str());
        let setup_progress = &progress[1];
        assert_eq!(setup_progress["status"], "completed");
        assert_eq!(setup_progress["current_step"], Value::Null);
        assert_eq!((setup_progress["completed_steps"].as_u64(), setup_progress["total_steps"].as_u64()), (Some(2), Some(2)));
        let intro_progress = &progress[2];
        assert_eq!(intro_progress["status"], "in_progress");
        assert_eq!(intro_progress["current_step"], json!({"id": intro.step_ids[1], "title": "Step 2", "position": 2}));
        assert_eq!((intro_progress["completed_steps"].as_u64(), intro_progress["total_steps"].as_u64()), (Some(1), Some(3)));
        assert_eq!(intro_progress["version"], 1);

        // Her calls, newest first, and not Bob's; her support request.
        assert_eq!(tool_names(&picture["recent_tool_calls"]), ["select_walkthrough", "get_support",
            "next_walkthrough_step", "next_walkthrough_step", "select_walkthrough", "next_walkthrough_step", "select_walkthrough"]);
        assert_eq!(picture["support_requests"].as_array().unwrap().len(), 1);
        assert_eq!(picture["support_requests"][0]["id"], request.as_str());

        // The request's detail: where she is on that server only, and her calls there.
        let (_, detail) = app.get(&format!("/support-requests/{request}"), &acme.key).await;
        assert_eq!(detail["title"], "Step 2 fails");
        let on_server: Vec<&str> = detail["progress"].as_array().unwrap().iter()
            .map(|p| p["walkthrough_title"].as_str().unwrap()).collect();
        assert_eq!(on_server, ["Setup", "Intro"], "{detail}");
        assert_eq!(detail["progress"][1]["current_step"]["position"], 2);
        assert_eq!(tool_names(&detail["recent_tool_calls"]), ["get_support", "next_walkthrough_step",
            "next_walkthrough_step", "select_walkthrough", "next_walkthrough_step", "select_walkthrough"]);

        // Requests filter by person, too.
        let (_, hers) = app.get(&format!("/support-requests?end_user_id={ada_id}"), &acme.key).await;
        assert_eq!(hers["items"].as_array().unwrap().len(), 1);
        let (_, bobs) = app.get("/end-users?tracking_id=bob", &acme.key).await;
        let bob_id = bobs["items"][0]["id"].as_str().unwrap();
        let (_, none) = app.get(&format!("/support-requests?end_user_id={bob_id}"), &acme.key).await;
        assert_eq!(none["items"], json!([]));

        // Another organization sees none of it.
        let other = app.create_tenant("Other").await;
        let (status, _) = app.get(&format!("/end-users/{ada_id}"), &other.key).await;
        assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
        let (status, _) = app.get(&format!("/support-requests/{request}"), &other.key).await;
        assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    }

    async fn a_request_nobody_can_be_traced_to_shows_an_empty_context(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let acme = app.create_tenant("Acme").await;
        app.create_server(&acme, "acme", json!({})).await;
        let anonymous = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
        let asked = anonymous.call_tool(1, "get_support", json!({"title": "Hello",
            "problem_description": "No tracking id.", "email": "someone@example.com"})).await;
        let request = asked.structured()["support_request_id"].as_str().unwrap().to_owned();
        let (_, detail) = app.get(&format!("/support-requests/{request}"), &acme.key).await;
        assert_eq!(detail["end_user_id"], Value::Null, "{detail}");
        assert_eq!((detail["progress"].clone(), detail["recent_tool_calls"].clone()), (json!([]), json!([])));
    }
}
