//! Walkthrough operations. The funnel names who is stuck at a step (still there, inactive
//! for a chosen number of days, the longest inactive first). An older version published
//! again is what new starts get, while progress stays on its version. A member resets one person's
//! progress: the person's next start begins at step 1, everyone else stays where they
//! were, the reset is audited, and nobody outside the organization, nor a key that may
//! only read, can do it.

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, personal_client, spawn_app};

/// The person's progress rows, as the API shows them.
async fn progress_of(app: &TestApp, tenant: &Tenant, end_user: &str) -> Vec<Value> {
    let (_, person) = app
        .get(&format!("/end-users/{end_user}"), &tenant.key)
        .await;
    person["progress"]
        .as_array()
        .expect("a progress list")
        .clone()
}

backend_tests! {
    async fn a_reset_restarts_only_that_persons_progress_and_is_audited(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let acme = app.create_tenant("Acme").await;
        let server = app.create_server(&acme, "acme", json!({})).await["id"].as_str().unwrap().to_owned();
        let w = app.seed_walkthrough(&acme, "Intro", 3, Some((&server, 0))).await;
        for person in ["ada", "bob"] {
            let mcp = personal_client(&app, "acme", person);
            mcp.call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id})).await.structured();
            let next = mcp.call_tool(2, "next_walkthrough_step", json!({"walkthrough_id": w.id})).await;
            assert_eq!(next.structured()["step"]["position"], 2, "{}", next.body);
        }
        let ada = app.end_user_id(&acme, "ada").await;
        let bob = app.end_user_id(&acme, "bob").await;
        let path = format!("/end-users/{ada}/progress/{server}/{}", w.id);

        // Refused to a key that may only read, and to another organization.
        let reader = app.key_with(&acme.key, "reader", json!(["read"])).await;
        let (status, body) = app.api(Method::DELETE, &path, &reader, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let other = app.create_tenant("Other").await;
        let (status, body) = app.api(Method::DELETE, &path, &other.key, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(progress_of(&app, &acme, &ada).await.len(), 1, "nothing was reset yet");

        let (status, body) = app.api(Method::DELETE, &path, &acme.key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert!(progress_of(&app, &acme, &ada).await.is_empty());
        let kept = progress_of(&app, &acme, &bob).await;
        assert_eq!(kept[0]["current_step"]["position"], 2, "bob stays where he was: {kept:?}");
        let (status, _) = app.api(Method::DELETE, &path, &acme.key, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "nothing left to reset");

        // Ada starts again from the first step; bob resumes at his.
        let again = personal_client(&app, "acme", "ada")
            .call_tool(3, "select_walkthrough", json!({"walkthrough_id": w.id})).await;
        assert_eq!(again.structured()["resumed"], false, "{}", again.body);
        assert_eq!(again.structured()["step"]["id"], w.step_ids[0]);
        let resumed = personal_client(&app, "acme", "bob")
            .call_tool(3, "select_walkthrough", json!({"walkthrough_id": w.id})).await;
        assert_eq!(resumed.structured()["step"]["position"], 2, "{}", resumed.body);

        let (_, events) = app.get("/audit-events?limit=5", &acme.key).await;
        let reset = events["items"].as_array().unwrap().iter()
            .find(|e| e["action"] == "progress.reset")
            .unwrap_or_else(|| panic!("the reset is audited: {events}"));
        assert_eq!(reset["object_id"], w.id.as_str(), "{reset}");
        assert_eq!(reset["detail"]["end_user_id"], ada.as_str(), "{reset}");
        let text = reset["text"].as_str().unwrap_or_default();
        assert!(text.contains("reset the progress of the end user"), "{reset}");
    }

    async fn the_funnel_names_who_is_stuck_at_a_step(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let acme = app.create_tenant("Acme").await;
        let server = app.create_server(&acme, "acme", json!({})).await["id"].as_str().unwrap().to_owned();
        let w = app.seed_walkthrough(&acme, "Intro", 3, Some((&server, 0))).await;
        // Ada, then Bob, reach step 3; Cy stays at step 2; Dee completes.
        for (person, nexts) in [("ada", 2), ("bob", 2), ("cy", 1), ("dee", 3)] {
            let mcp = personal_client(&app, "acme", person);
            mcp.call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id})).await.structured();
            for n in 0..nexts {
                mcp.call_tool(2 + n, "next_walkthrough_step", json!({"walkthrough_id": w.id})).await.structured();
            }
        }
        let (ada, bob) = (app.end_user_id(&acme, "ada").await, app.end_user_id(&acme, "bob").await);
        let stuck = |step: &str, days: u32| format!("/walkthroughs/{}/funnel/stuck?step_id={step}&inactive_days={days}", w.id);

        let (status, at_three) = app.get(&stuck(&w.step_ids[2], 0), &acme.key).await;
        assert_eq!(status, StatusCode::OK, "{at_three}");
        assert_eq!(at_three["position"], 3, "{at_three}");
        assert_eq!(at_three["total"], 2, "{at_three}");
        let people: Vec<&str> = at_three["people"].as_array().unwrap().iter()
            .map(|p| p["end_user_id"].as_str().unwrap()).collect();
        assert_eq!(people, [ada.as_str(), bob.as_str()], "the longest inactive first");
        assert_eq!(at_three["people"][0]["tracking_id"], "ada", "an owner's key sees it");
        assert_eq!(at_three["people"][0]["server_id"], server.as_str());
        let (_, at_two) = app.get(&stuck(&w.step_ids[1], 0), &acme.key).await;
        assert_eq!(at_two["total"], 1, "{at_two}");
        // Everyone was active a moment ago: nobody has been stuck for a day.
        let (_, for_a_day) = app.get(&stuck(&w.step_ids[2], 1), &acme.key).await;
        assert_eq!(for_a_day["total"], 0, "{for_a_day}");
        assert_eq!(for_a_day["people"], json!([]), "{for_a_day}");

        // A key that may only read sees the people, not their tracking ids.
        let reader = app.key_with(&acme.key, "reader", json!(["read"])).await;
        let (status, read) = app.get(&stuck(&w.step_ids[2], 0), &reader).await;
        assert_eq!(status, StatusCode::OK, "{read}");
        assert_eq!(read["people"][0]["tracking_id"], "(hidden)", "{read}");
        // Another organization, a step that is not the walkthrough's, too many days.
        let other = app.create_tenant("Other").await;
        let (status, _) = app.get(&stuck(&w.step_ids[2], 0), &other.key).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app.get(&stuck("ws_00000000000000000000", 0), &acme.key).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = app.get(&stuck(&w.step_ids[2], 4000), &acme.key).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }

    async fn an_older_version_published_again_is_what_new_starts_get(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let acme = app.create_tenant("Acme").await;
        let server = app.create_server(&acme, "acme", json!({})).await["id"].as_str().unwrap().to_owned();
        let w = app.seed_walkthrough(&acme, "Intro", 2, Some((&server, 0))).await;
        let start = |person: &str| {
            let mcp = personal_client(&app, "acme", person);
            let id = w.id.clone();
            async move {
                let answer = mcp.call_tool(1, "select_walkthrough", json!({"walkthrough_id": id})).await;
                answer.body["result"]["content"][0]["text"].as_str().unwrap_or_default().to_owned()
            }
        };
        assert!(start("ada").await.contains("Step 1 of 2"), "ada starts on version 1");
        let step = json!({"title": "Step 3", "content": "A third step."});
        let (status, body) = app.api(Method::POST, &format!("/walkthroughs/{}/steps", w.id), &acme.key, Some(step)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, v2) = app.api(Method::POST, &format!("/walkthroughs/{}/publish", w.id), &acme.key, None).await;
        assert_eq!((status, v2["version"].clone()), (StatusCode::CREATED, json!(2)), "{v2}");
        assert!(start("bob").await.contains("Step 1 of 3"), "bob starts on version 2");

        let again = format!("/walkthroughs/{}/versions/1/republish", w.id);
        let reader = app.key_with(&acme.key, "reader", json!(["read"])).await;
        let (status, _) = app.api(Method::POST, &again, &reader, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let missing = format!("/walkthroughs/{}/versions/9/republish", w.id);
        let (status, _) = app.api(Method::POST, &missing, &acme.key, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, v3) = app.api(Method::POST, &again, &acme.key, None).await;
        assert_eq!(status, StatusCode::CREATED, "{v3}");
        assert_eq!(v3["version"], 3, "{v3}");
        assert!(start("cy").await.contains("Step 1 of 2"), "new starts get version 1's steps");

        // Progress stays on the version it started on; the draft keeps its third step.
        let pinned = |person: &'static str| {
            let (app, acme) = (&app, &acme);
            async move {
                let id = app.end_user_id(acme, person).await;
                progress_of(app, acme, &id).await[0]["version"].clone()
            }
        };
        assert_eq!(
            (pinned("ada").await, pinned("bob").await, pinned("cy").await),
            (json!(1), json!(2), json!(3))
        );
        let (_, draft) = app.get(&format!("/walkthroughs/{}", w.id), &acme.key).await;
        assert_eq!(draft["published_version"], 3, "{draft}");
        assert_eq!(draft["steps"].as_array().map(Vec::len), Some(3), "{draft}");
        let (_, events) = app.get("/audit-events?limit=1", &acme.key).await;
        assert_eq!(events["items"][0]["action"], "walkthrough.republished", "{events}");
        let text = events["items"][0]["text"].as_str().unwrap_or_default();
        assert!(text.contains("published version 1 of the walkthrough") && text.contains("again, as version 3"), "{text}");
    }
}
