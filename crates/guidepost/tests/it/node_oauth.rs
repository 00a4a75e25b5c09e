//! The official TypeScript client (`@modelcontextprotocol/client`, tests/e2e/ts_oauth_flow.mjs)
//! through the whole authorization flow against a `platform_oauth` server, headless: 401 →
//! discovery → registration → sign-in (the script plays the person, the code read from the
//! outbox) → consent → token, then tools as the verified email in both protocol eras.

use std::ffi::OsStr;
use std::time::Duration;

use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::{Value, json};

use crate::helpers::json_report;
use crate::node;
use crate::oauth_helpers::oauth_app;

const LIMIT: Duration = Duration::from_secs(180);

async fn typescript_client_signs_in(db: &TestDatabase) {
    node::package_file("@modelcontextprotocol/client/package.json");
    let oauth = oauth_app(db, &["acme"], |_| {}).await;
    let app = &oauth.app;
    let key = &oauth.tenant.key;
    let server = app.get("/servers", key).await.1["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let walkthrough = app
        .seed_walkthrough(&oauth.tenant, "Intro", 2, Some((&server, 0)))
        .await;
    let url = app.mcp_path_url("acme");
    let script = node::e2e_dir().join("ts_oauth_flow.mjs");
    let args: [&OsStr; 11] = [
        script.as_os_str(),
        "--url".as_ref(),
        url.as_ref(),
        "--outbox".as_ref(),
        oauth.outbox.as_os_str(),
        "--email".as_ref(),
        "Grace@Example.com".as_ref(),
        "--modes".as_ref(),
        "auto,legacy".as_ref(),
        "--walkthrough-id".as_ref(),
        walkthrough.id.as_ref(),
    ];
    let (output, took) = node::run(&args, &[], LIMIT).await;
    let report = json_report(&output, "the TypeScript client");
    assert_eq!(
        report["error"],
        Value::Null,
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    assert_eq!(
        report["authorizations"], 1,
        "one sign-in serves both connections: {report}"
    );
    assert_eq!(report["registered"], true, "dynamic registration: {report}");
    assert_eq!(
        report["callback"]["iss"],
        oauth.issuer("acme"),
        "RFC 9207 iss"
    );
    for (mode, era) in [("auto", "2026-07-28"), ("legacy", "2025-11-25")] {
        let run = &report["modes"][mode];
        assert_eq!(run["protocol_version"], era, "{mode}: {report}");
        assert!(
            run["tools"]
                .as_array()
                .unwrap()
                .contains(&json!("select_walkthrough")),
            "{run}"
        );
        assert_eq!(run["support"]["is_error"], false, "{mode}: {run}");
        assert_eq!(run["walkthrough"]["is_error"], false, "{mode}: {run}");
    }
    assert_eq!(
        report["modes"]["legacy"]["walkthrough"]["structured"]["resumed"], true,
        "the second era resumes the first era's progress: the same person"
    );

    // Every call was made as the verified email.
    let (_, requests) = app.get("/support-requests", key).await;
    let items = requests["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{requests}");
    assert!(
        items.iter().all(|r| r["email"] == "grace@example.com"),
        "{requests}"
    );
    let (_, users) = app.get("/end-users?email=grace@example.com", key).await;
    let person = &users["items"][0];
    assert_eq!(person["email_verified"], true, "{users}");
    let calls = app.wait_for_tool_calls(&oauth.tenant, 4).await;
    assert!(
        calls.iter().all(|c| c["end_user_id"] == person["id"]),
        "every call names the person"
    );
    node::summary(
        &format!("typescript-oauth-{}", db.backend),
        &[format!(
            "TypeScript client OAuth [{}]: 401 → discovery → registration → sign-in → consent → token; \
             eras {} and {} as {}, {:.1} s",
            db.backend,
            report["modes"]["auto"]["protocol_version"]
                .as_str()
                .unwrap_or("?"),
            report["modes"]["legacy"]["protocol_version"]
                .as_str()
                .unwrap_or("?"),
            person["email"].as_str().unwrap_or("?"),
            took.as_secs_f64()
        )],
    );
}

backend_tests! {
    async fn typescript_client_signs_in_and_calls_tools_in_both_eras(db: &TestDatabase) {
        typescript_client_signs_in(db).await;
    }
}
