//! An upstream's failure in words: the page after the install reloads itself
//! while the upstream installs or starts, and once it has failed says what went wrong,
//! quotes the log line that names the cause (here 60 lines above the last one), and what
//! to do; the API's upstream carries the same diagnosis. Viewers see no log line. An
//! upstream stopped for idleness is said to be, not shown as an error.

use std::time::{Duration, Instant};

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;

use super::{dashboard_app_with, member};
use crate::gateway_fixture::FixtureDir;

const CAUSE: &str = "ModuleNotFoundError: No module named &#39;acme_vendor&#39;";

backend_tests! {
    async fn a_failed_install_says_what_went_wrong_and_the_page_follows_it_until_then(db: &TestDatabase) {
        let dir = FixtureDir::new();
        let catalog = dir.catalog(&[("FIXTURE_CRASH_AT_START", "traceback")]);
        let app = dashboard_app_with(db, move |s| s.platform.catalog = catalog).await;
        let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
        editor.get("/app/gateway/catalog/fixture/install").await.ok();
        let installed = editor.post("/app/gateway/catalog/fixture/install", &[("name", "Vendor")]).await;
        let page = installed.redirected_to("/app/gateway/upstreams/up_");
        assert!(page.ends_with("?done=installed"), "{page}");
        let id = page.trim_start_matches("/app/gateway/upstreams/").split('?').next().unwrap().to_owned();

        // Followed until it fails: the page reloads itself while it installs or starts,
        // and not once it has failed.
        let deadline = Instant::now() + Duration::from_secs(60);
        let failed = loop {
            let answer = editor.get(&page).await;
            let reloads = answer.refresh.clone();
            let seen = answer.ok().to_owned();
            let starting = seen.contains(">installing</span>") || seen.contains(">starting</span>");
            let expected = starting.then(|| "3".to_owned());
            assert_eq!(reloads, expected, "reloads while it starts only: {seen}");
            assert_eq!(seen.contains("id=\"refreshing\""), starting, "and says so: {seen}");
            // Installed is not said while it is under way.
            assert_eq!(seen.contains(">Installing: Guidepost fetches"), starting, "{seen}");
            assert!(!(starting && seen.contains(">Installed.</p>")), "{seen}");
            if seen.contains("id=\"upstream-status\">failed</span>") {
                break seen;
            }
            assert!(Instant::now() < deadline, "not failed after 60 s: {seen}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(!failed.contains("id=\"refreshing\""), "{failed}");
        assert!(!failed.contains(">Installed.</p>"), "no success notice beside a failure: {failed}");
        assert!(failed.contains("<h2 id=\"diagnosis-title\">What went wrong</h2>"), "{failed}");
        assert!(failed.contains("It could not load the module acme_vendor"), "{failed}");
        assert!(failed.contains(&format!("<pre id=\"diagnosis-evidence\">{CAUSE}</pre>")), "{failed}");
        assert!(failed.contains("<strong>What to do:</strong> This version of the package is broken"), "{failed}");

        // The API says the same.
        let (status, upstream) = app.app.get(&format!("/upstreams/{id}"), &app.tenant.key).await;
        assert_eq!(status, StatusCode::OK, "{upstream}");
        assert_eq!(upstream["diagnosis"]["cause"], "missing_module", "{upstream}");
        assert_eq!(upstream["diagnosis"]["evidence"], "ModuleNotFoundError: No module named 'acme_vendor'", "{upstream}");
        let (_, listed) = app.app.get("/upstreams", &app.tenant.key).await;
        assert_eq!(listed["items"][0]["diagnosis"]["cause"], "missing_module", "{listed}");

        // A viewer, who reads no logs, gets no quoted line.
        let mut viewer = member(&app, &app.tenant, "vi@acme.example", Role::Viewer).await;
        let seen = viewer.get(&page).await.ok().to_owned();
        assert!(!seen.contains("acme_vendor") && !seen.contains("diagnosis-evidence"), "{seen}");
        // Nor does a key that may only read, through the API.
        let minted = serde_json::json!({"name": "reader", "scopes": ["read"]});
        let (_, reader) = app.app.api(reqwest::Method::POST, "/api-keys", &app.tenant.key, Some(minted)).await;
        let reader = reader["key"].as_str().unwrap();
        for path in [format!("/upstreams/{id}"), "/upstreams".to_owned()] {
            let (status, read) = app.app.get(&path, reader).await;
            assert_eq!(status, StatusCode::OK, "{read}");
            assert!(read.to_string().contains("\"status\":\"failed\""), "the failure itself is shown: {read}");
            assert!(!read.to_string().contains("acme_vendor"), "{path}: {read}");
        }
    }

    async fn an_idle_stop_is_said_in_words_and_not_as_an_error(db: &TestDatabase) {
        let dir = FixtureDir::new();
        let catalog = dir.catalog(&[]);
        let app = dashboard_app_with(db, move |s| {
            s.platform.catalog = catalog;
            s.gateway.supervision.idle_timeout = Some(Duration::from_secs(1));
        })
        .await;
        let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
        editor.get("/app/gateway/catalog/fixture/install").await.ok();
        let installed = editor.post("/app/gateway/catalog/fixture/install", &[("name", "Vendor")]).await;
        let page = installed.redirected_to("/app/gateway/upstreams/up_");
        let deadline = Instant::now() + Duration::from_secs(60);
        let stopped = loop {
            let seen = editor.get(&page).await.ok().to_owned();
            if seen.contains("id=\"upstream-status\">stopped</span>") {
                break seen;
            }
            assert!(Instant::now() < deadline, "not stopped after 60 s: {seen}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(!stopped.contains("Last error"), "{stopped}");
        assert!(!stopped.contains("id=\"diagnosis\""), "{stopped}");
        assert!(
            stopped.contains("<dt>Stopped because</dt><dd id=\"stopped-idle\">No call came within its idle timeout"),
            "{stopped}"
        );
    }
}
