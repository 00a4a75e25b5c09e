//! Stories 2, 9 and 10 of seeds/002 again, with OAuth (see walkthrough_stories.rs for the
//! tracking-id versions), and de-anonymization: progress made under a personal URL is
//! still there after signing in on that URL, and the email is recorded.

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::SeededWalkthrough;
use crate::oauth_helpers::{OAuthApp, oauth_app};

/// An organization whose server `acme` starts open (`auth_mode`), with a published
/// walkthrough of `steps` steps.
async fn open_server(
    db: &TestDatabase,
    auth_mode: &str,
    steps: usize,
) -> (OAuthApp, String, SeededWalkthrough) {
    let oauth = oauth_app(db, &[], |_| {}).await;
    let server = oauth
        .app
        .create_server(&oauth.tenant, "acme", json!({"auth_mode": auth_mode}))
        .await;
    let id = server["id"].as_str().unwrap().to_owned();
    let walkthrough = oauth
        .app
        .seed_walkthrough(&oauth.tenant, "Intro", steps, Some((&id, 0)))
        .await;
    (oauth, id, walkthrough)
}

/// The organization turns sign-in on.
async fn require_sign_in(oauth: &OAuthApp, server: &str) {
    let (status, body) = oauth
        .app
        .api(
            Method::PATCH,
            &format!("/servers/{server}"),
            &oauth.tenant.key,
            Some(json!({"auth_mode": "platform_oauth"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn end_user(oauth: &OAuthApp, query: &str) -> Value {
    let (_, users) = oauth
        .app
        .get(&format!("/end-users?{query}"), &oauth.tenant.key)
        .await;
    assert_eq!(
        users["items"].as_array().map(Vec::len),
        Some(1),
        "{query}: {users}"
    );
    users["items"][0].clone()
}

backend_tests! {
    async fn story_02_with_oauth_progress_started_on_a_personal_url_survives_sign_in(db: &TestDatabase) {
        let (oauth, server, w) = open_server(db, "none", 3).await;
        let before = oauth.mcp("acme", None, Some("newcomer"))
            .call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id})).await;
        assert_eq!(before.structured()["step"]["position"], 1);
        require_sign_in(&oauth, &server).await;
        let refused = oauth.mcp("acme", None, Some("newcomer")).call(2, "tools/list", json!({})).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "sign-in is now required");

        let tokens = oauth.sign_in("acme", "newcomer@example.com").await;
        let mcp = oauth.mcp("acme", Some(&tokens.access), Some("newcomer"));
        let after = mcp.call_tool(3, "select_walkthrough", json!({"walkthrough_id": w.id})).await;
        let result = after.structured();
        assert_eq!(result["resumed"], true, "the progress made before signing in is still there");
        assert_eq!(result["step"]["id"], w.step_ids[0]);
        assert_eq!(result["progress"]["status"], "in_progress");

        let person = end_user(&oauth, "email=newcomer@example.com").await;
        assert_eq!(person["email_verified"], true, "the verified email is recorded");
        let tracked = end_user(&oauth, "tracking_id=newcomer").await;
        assert_eq!(tracked["linked_end_user_id"], person["id"], "the link is recorded");
    }

    async fn story_09_with_oauth_anonymous_callers_are_told_to_sign_in(db: &TestDatabase) {
        let (oauth, _, w) = open_server(db, "platform_oauth", 2).await;
        let anonymous = oauth.mcp("acme", None, None).call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id})).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
        let www = anonymous.headers["www-authenticate"].to_str().unwrap().to_owned();
        assert!(www.starts_with("Bearer resource_metadata=") && www.contains("scope=\"mcp\""), "{www}");
        // Following the challenge: discovery, sign-in, then the walkthrough starts.
        let prm_url = www.split('"').nth(1).unwrap();
        let prm: Value = oauth.app.http.get(prm_url).send().await.unwrap().json().await.unwrap();
        assert_eq!(prm["resource"], oauth.resource("acme"));
        let tokens = oauth.sign_in("acme", "followed@example.com").await;
        let mcp = oauth.mcp("acme", Some(&tokens.access), None);
        let started = mcp.call_tool(2, "select_walkthrough", json!({"walkthrough_id": w.id})).await;
        assert_eq!(started.structured()["step"]["position"], 1);
        let status = mcp.call_tool(3, "get_walkthrough_status", json!({"walkthrough_id": w.id})).await;
        assert_eq!(status.structured()["steps"][0]["state"], "current", "progress is kept for the person");
        let person = end_user(&oauth, "email=followed@example.com").await;
        let calls = oauth.app.wait_for_tool_calls(&oauth.tenant, 2).await;
        assert!(calls.iter().all(|c| c["end_user_id"] == person["id"]), "the calls name the person");
    }

    async fn story_10_with_oauth_the_verified_email_is_linked_to_progress(db: &TestDatabase) {
        let (oauth, server, w) = open_server(db, "collect_email", 3).await;
        let open = oauth.mcp("acme", None, Some("emailer"));
        open.call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id, "email": "ada@example.com"})).await.structured();
        open.call_tool(2, "next_walkthrough_step", json!({"walkthrough_id": w.id})).await.structured();
        let claimed = end_user(&oauth, "tracking_id=emailer").await;
        assert_eq!((claimed["email"].as_str(), &claimed["email_verified"]), (Some("ada@example.com"), &json!(false)));

        require_sign_in(&oauth, &server).await;
        let tokens = oauth.sign_in("acme", "ada@example.com").await;
        let mcp = oauth.mcp("acme", Some(&tokens.access), Some("emailer"));
        let next = mcp.call_tool(3, "next_walkthrough_step", json!({"walkthrough_id": w.id})).await;
        let result = next.structured();
        assert_eq!(result["step"]["id"], w.step_ids[2], "continues where the personal URL left off");
        assert_eq!(result["progress"]["completed_count"], 2);

        let (_, users) = oauth.app.get("/end-users?email=ada@example.com", &oauth.tenant.key).await;
        let verified: Vec<&Value> = users["items"].as_array().unwrap().iter().filter(|u| u["email_verified"] == true).collect();
        assert_eq!(verified.len(), 1, "one verified person: {users}");
        let person = verified[0];
        let tracked = end_user(&oauth, "tracking_id=emailer").await;
        assert_eq!(tracked["linked_end_user_id"], person["id"]);
        // From now on the personal URL names the person, also where no token is needed.
        let calls = oauth.app.wait_for_tool_calls(&oauth.tenant, 3).await;
        let after_sign_in = calls.iter().find(|c| c["tool_name"] == "next_walkthrough_step" && c["end_user_id"] == person["id"]);
        assert!(after_sign_in.is_some(), "the signed-in call names the person: {calls:?}");
    }

    async fn signing_in_keeps_the_more_advanced_progress(db: &TestDatabase) {
        let (oauth, server, w) = open_server(db, "none", 4).await;
        // On the laptop, with a personal URL: one step done.
        let laptop = oauth.mcp("acme", None, Some("laptop"));
        laptop.call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id})).await.structured();
        laptop.call_tool(2, "next_walkthrough_step", json!({"walkthrough_id": w.id})).await.structured();
        require_sign_in(&oauth, &server).await;
        // On the desktop, signed in: three steps done.
        let tokens = oauth.sign_in("acme", "ada@example.com").await;
        let desktop = oauth.mcp("acme", Some(&tokens.access), None);
        desktop.call_tool(3, "select_walkthrough", json!({"walkthrough_id": w.id})).await.structured();
        for id in 4..7 {
            desktop.call_tool(id, "next_walkthrough_step", json!({"walkthrough_id": w.id})).await.structured();
        }
        // Back on the laptop, signed in on the personal URL: the desktop's progress wins.
        let laptop = oauth.mcp("acme", Some(&tokens.access), Some("laptop"));
        let status = laptop.call_tool(7, "get_walkthrough_status", json!({"walkthrough_id": w.id})).await;
        assert_eq!(status.structured()["progress"]["completed_count"], 3);
        let tracked = end_user(&oauth, "tracking_id=laptop").await;
        assert!(tracked["linked_end_user_id"].is_string());
    }
}
