//! Sign-in in a real browser: Debian's Chromium, driven by `playwright-core`
//! (tests/e2e/browser_sign_in.mjs), through the real authorization, email, code and consent
//! pages of a `platform_oauth` server, with a screenshot of each page under the target
//! directory. The code the browser brings back is then exchanged and the token used.
//!
//! Chromium is installed by scripts/install-test-tools; without it this test fails and
//! says so (it never skips).

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::json_report;
use crate::node;
use crate::oauth_helpers::{Callback, Pkce, REDIRECT_URI, oauth_app};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Bounds a hung browser; a normal run takes a few seconds.
const LIMIT: Duration = Duration::from_secs(240);

async fn a_person_signs_in_with_chromium(db: &TestDatabase) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "Chromium is missing ({CHROMIUM}): run scripts/install-test-tools (scripts/test does it)"
    );
    node::package_file("playwright-core/package.json");
    let oauth = oauth_app(db, &["acme"], |_| {}).await;
    let client = oauth
        .register("acme", json!({"client_name": "Browser test"}))
        .await;
    let pkce = Pkce::new();
    let authorize = oauth.authorize_url("acme", &client, &pkce, &[]);
    let shots = node::scratch_dir(&format!("browser-sign-in-{}", db.backend));
    let script = node::e2e_dir().join("browser_sign_in.mjs");
    let args: [&OsStr; 11] = [
        script.as_os_str(),
        "--authorize-url".as_ref(),
        authorize.as_ref(),
        "--outbox".as_ref(),
        oauth.outbox.as_os_str(),
        "--email".as_ref(),
        "grace@example.com".as_ref(),
        "--redirect-uri".as_ref(),
        REDIRECT_URI.as_ref(),
        "--screenshots".as_ref(),
        shots.as_os_str(),
    ];
    let (output, took) = node::run(&args, &[], LIMIT).await;
    let report = json_report(&output, "the browser script");
    assert_eq!(report["error"], Value::Null, "{report}");
    assert!(output.status.success(), "{report}");

    // Every page was a real page with its title, and each one was photographed.
    let titles: Vec<&str> = report["titles"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(titles[0].starts_with("Sign in"), "{titles:?}");
    assert!(titles[1].starts_with("Enter your code"), "{titles:?}");
    assert!(titles[2].starts_with("Allow access?"), "{titles:?}");
    let screenshots = report["screenshots"].as_array().unwrap();
    assert_eq!(screenshots.len(), 4, "{report}");
    for shot in screenshots {
        let size = std::fs::metadata(shot.as_str().unwrap())
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 1000, "a real PNG at {shot}");
    }

    // What the browser brought back works like any client's callback.
    let callback = Callback::parse(report["callback"].as_str().expect("a callback URL"));
    assert_eq!(callback.state.as_deref(), Some("st-123"));
    assert_eq!(callback.iss, Some(oauth.issuer("acme")));
    let (status, tokens) = oauth
        .exchange("acme", &client, &callback.code, &pkce.verifier)
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let listed = oauth
        .mcp("acme", Some(access), None)
        .call(1, "tools/list", json!({}))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let (_, users) = oauth
        .app
        .get("/end-users?email=grace@example.com", &oauth.tenant.key)
        .await;
    assert_eq!(users["items"][0]["email_verified"], true, "{users}");

    node::summary(
        &format!("browser-{}", db.backend),
        &[format!(
            "Chromium sign-in [{}]: {} pages, screenshots in {}, {:.1} s",
            db.backend,
            screenshots.len(),
            shots.display(),
            took.as_secs_f64()
        )],
    );
}

backend_tests! {
    async fn a_person_signs_in_through_the_real_pages_in_chromium(db: &TestDatabase) {
        a_person_signs_in_with_chromium(db).await;
    }
}
