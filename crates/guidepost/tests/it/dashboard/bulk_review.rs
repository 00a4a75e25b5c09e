//! Approving the clean tools of an upstream at once: the review queue offers an editor one
//! form per upstream, which approves every new tool without a finding and leaves the
//! others (here one already rejected) as they were; each approval is audited; viewers and
//! keys that may only read cannot do it.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{dashboard_app_with, member};
use crate::gateway_fixture::{FixtureDir, wait_for};

/// The upstream's definitions as (name, state, number of findings).
async fn states(
    app: &crate::helpers::TestApp,
    key: &str,
    upstream: &str,
) -> Vec<(String, String, usize)> {
    let (_, tools) = app.get(&format!("/upstreams/{upstream}/tools"), key).await;
    tools["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t: &Value| {
            let findings = t["findings"].as_array().map_or(0, Vec::len);
            (
                t["name"].as_str().unwrap().to_owned(),
                t["state"].as_str().unwrap().to_owned(),
                findings,
            )
        })
        .collect()
}

backend_tests! {
    async fn the_clean_tools_of_an_upstream_are_approved_at_once(db: &TestDatabase) {
        let dir = FixtureDir::new();
        let catalog = dir.catalog(&[]);
        let app = dashboard_app_with(db, move |s| s.platform.catalog = catalog).await;
        let key = app.tenant.key.clone();
        app.app.api(Method::PATCH, "/organization", &key, Some(json!({"tool_approval": "manual"}))).await;
        let install = json!({"catalog_entry_id": "fixture", "name": "Helper"});
        let (_, upstream) = app.app.api(Method::POST, "/upstreams", &key, Some(install)).await;
        let upstream = upstream["id"].as_str().unwrap().to_owned();
        wait_for(&app.app, &app.tenant, &upstream, |u| u["status"] == "ready").await;
        let reject = format!("/upstreams/{upstream}/tools/echo/reject");
        let (status, _) = app.app.api(Method::POST, &reject, &key, None).await;
        assert_eq!(status, StatusCode::OK);
        let before = states(&app.app, &key, &upstream).await;
        let clean: Vec<&str> = before.iter()
            .filter(|(_, state, findings)| state == "pending" && *findings == 0)
            .map(|(name, ..)| name.as_str()).collect();
        assert!(clean.len() > 1, "{before:?}");
        let form = format!("/app/gateway/upstreams/{upstream}/approve-clean");

        let mut viewer = member(&app, &app.tenant, "vi@acme.example", Role::Viewer).await;
        let seen = viewer.get("/app/gateway/review").await.ok().to_owned();
        assert!(!seen.contains(&form), "{seen}");
        let reader = app.app.key_with(&key, "reader", json!(["read"])).await;
        let api = format!("/upstreams/{upstream}/tools/approve-clean");
        let (status, _) = app.app.api(Method::POST, &api, &reader, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
        let queue = editor.get("/app/gateway/review").await.ok().to_owned();
        assert!(queue.contains(&format!("action=\"{form}\"")), "{queue}");
        let button = format!("Approve {} clean tools of Helper", clean.len());
        assert!(queue.contains(&button), "{button} in {queue}");
        editor.post(&form, &[]).await.redirected_to("/app/gateway/review?done=approved");

        let after = states(&app.app, &key, &upstream).await;
        for (name, state, _) in &after {
            let expected = if clean.contains(&name.as_str()) { "approved" } else if name == "echo" { "rejected" } else { state.as_str() };
            assert_eq!(state, expected, "{name}: {after:?}");
        }
        let (_, log) = app.app.get("/audit-events?limit=200", &key).await;
        let bulk = log["items"].as_array().unwrap().iter()
            .filter(|e| e["action"] == "tool.approved" && e["detail"]["bulk"] == true).count();
        assert_eq!(bulk, clean.len(), "{log}");
        // Nothing clean is left: the form is gone and the API approves nothing.
        assert!(!editor.get("/app/gateway/review").await.ok().contains(&form));
        let (status, again) = app.app.api(Method::POST, &api, &key, None).await;
        assert_eq!((status, again), (StatusCode::OK, json!({"approved": []})));
    }
}
