//! Values that act as credentials are shown only to who may hold them: an operator's
//! catalog entry keeps its environment values to itself (every organization reads the
//! platform's catalog), and an end user's tracking id, a bearer of their progress, shows
//! to administrators only (owners, keys with the `admin` scope), in the API and the
//! dashboard alike.

use guidepost_domain::{HIDDEN, Role};
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::dashboard::{dashboard_app, member};
use crate::gateway_fixture::FixtureDir;
use crate::helpers::{TestApp, personal_client, spawn_app_with};

/// A value of the operator's entry that no organization may read.
const OPERATOR_SECRET: &str = "operator-secret-5f3a91";

/// The tracking id of the person the tests look at.
const TRACKING: &str = "trk-7c1d9e2a4b";

/// Makes a key with `scopes` as the tenant's first key; the key's plaintext.
async fn key_with(app: &TestApp, owner: &str, scopes: Value) -> String {
    let body = json!({"name": "scoped", "scopes": scopes});
    let (status, created) = app.api(Method::POST, "/api-keys", owner, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["key"].as_str().unwrap().to_owned()
}

backend_tests! {
    async fn the_catalog_shows_no_organization_an_operator_entrys_environment_values(db: &TestDatabase) {
        let dir = FixtureDir::new();
        let catalog = dir.catalog(&[("FIXTURE_TOKEN", OPERATOR_SECRET)]);
        let app = spawn_app_with(db, move |settings| settings.platform.catalog = catalog).await;
        let globex = app.create_tenant("Globex").await;
        let (status, listed) = app.get("/catalog", &globex.key).await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        let fixture = listed["items"].as_array().unwrap().iter()
            .find(|entry| entry["id"] == "fixture").expect("the operator's entry");
        assert_eq!(fixture["spec"]["env"]["FIXTURE_TOKEN"], HIDDEN, "named, not shown: {fixture}");
        assert!(!listed.to_string().contains(OPERATOR_SECRET), "{listed}");
    }

    async fn tracking_ids_show_to_owners_and_admin_keys_only(db: &TestDatabase) {
        let app = dashboard_app(db).await;
        let (api, acme) = (&app.app, &app.tenant);
        api.create_server(acme, "acme", json!({})).await;
        let asked = personal_client(api, "acme", TRACKING).call_tool(1, "get_support", json!({
            "title": "Stuck", "problem_description": "It hangs.", "email": "ada@acme.example"})).await;
        asked.structured();
        let (_, found) = api.get("/end-users", &acme.key).await;
        let person = found["items"][0]["id"].as_str().expect("the end user").to_owned();
        let picture = format!("/end-users/{person}");

        // The API: keys with admin see it, the others read "(hidden)".
        let mut keys = vec![("every scope", acme.key.clone(), true)];
        keys.push(("admin", key_with(api, &acme.key, json!(["admin"])).await, true));
        for scopes in [json!(["read"]), json!(["read", "write", "gateway"])] {
            keys.push(("no admin", key_with(api, &acme.key, scopes).await, false));
        }
        for (who, key, sees) in &keys {
            let expected = if *sees { TRACKING } else { HIDDEN };
            let (_, listed) = api.get("/end-users", key).await;
            assert_eq!(listed["items"][0]["tracking_id"], expected, "{who}: {listed}");
            let (status, shown) = api.get(&picture, key).await;
            assert_eq!((status, shown["tracking_id"].as_str()), (StatusCode::OK, Some(expected)), "{who}: {shown}");
        }

        // The dashboard: owners see it, editors and viewers do not.
        let members = [("own@acme.example", Role::Owner), ("ed@acme.example", Role::Editor),
            ("view@acme.example", Role::Viewer)];
        for (email, role) in members {
            let mut browser = member(&app, acme, email, role).await;
            for page in ["/app/end-users".to_owned(), format!("/app{picture}")] {
                let body = browser.get(&page).await.ok().to_owned();
                let sees = role == Role::Owner;
                assert_eq!(body.contains(TRACKING), sees, "{role:?} on {page}: {body}");
                assert_eq!(body.contains(HIDDEN), !sees, "{role:?} on {page}");
            }
        }
    }
}
