//! An editor connects the organization's account from the dashboard, in Chromium
//! (tests/e2e/connect_journey.mjs): the upstream's page, its Connect button, the
//! remote Guidepost's own sign-in (email, code, consent), and the page that says which
//! account is connected, axe-checked. Afterwards every person's call speaks as that
//! account.
//!
//! Chromium is installed by scripts/install-test-tools; without it this test fails and
//! says so (it never skips).

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::add_member;
use crate::connections_people::{call_support, remote_and_gateway};
use crate::gateway_fixture::wait_for;
use crate::helpers::json_report;
use crate::node;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Bounds a hung browser; a normal run takes seconds.
const LIMIT: Duration = Duration::from_secs(240);
const EDITOR: &str = "editor@gateway.example";
const AT_REMOTE: &str = "team-account@remote.example";

backend_tests! {
    async fn an_editor_connects_the_organizations_account_in_chromium(db: &TestDatabase) {
        assert!(Path::new(CHROMIUM).exists(), "Chromium is missing ({CHROMIUM}): run scripts/install-test-tools");
        node::package_file("axe-core/axe.min.js");
        let (remote, gateway) = remote_and_gateway(db).await;
        let (app, tenant) = (&gateway.app, &gateway.tenant);
        app.trust_new_tools(tenant).await;
        add_member(&gateway, tenant, EDITOR, Role::Editor).await;
        let body = json!({"catalog_entry_id": "remote", "sign_in": "organization"});
        let (status, installed) = app.api(Method::POST, "/upstreams", &tenant.key, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{installed}");
        let id = installed["id"].as_str().unwrap().to_owned();

        let shots = node::scratch_dir(&format!("connect-journey-{}", db.backend));
        let script = node::e2e_dir().join("connect_journey.mjs");
        let args: [&OsStr; 15] = [
            script.as_os_str(),
            "--base".as_ref(), app.url.as_ref(),
            "--outbox".as_ref(), gateway.outbox.as_os_str(),
            "--email".as_ref(), EDITOR.as_ref(),
            "--upstream".as_ref(), id.as_ref(),
            "--remote-outbox".as_ref(), remote.outbox.as_os_str(),
            "--remote-email".as_ref(), AT_REMOTE.as_ref(),
            "--screenshots".as_ref(), shots.as_os_str(),
        ];
        let (output, took) = node::run(&args, &[], LIMIT).await;
        let report = json_report(&output, "the browser script");
        assert_eq!(report["error"], Value::Null, "{report}");
        assert_eq!(report["violations"], json!([]), "axe: {report}");
        let connected = report["connected_text"].as_str().unwrap_or_default();
        assert!(connected.contains("Your account is connected to Remote"), "{report}");
        let titles = report["titles"].to_string();
        for step in ["Connect Remote", "Sign in · remote", "Allow access?", "Connected"] {
            assert!(titles.contains(step), "{step} in {titles}");
        }

        // Connected once, by the editor: the upstream runs, and a person's call (anyone's,
        // through the server attached below) arrives as the organization's account.
        wait_for(app, tenant, &id, |u| u["status"] == "ready").await;
        let (_, servers) = app.get("/servers", &tenant.key).await;
        let server = servers["items"].as_array().unwrap().iter()
            .find(|s| s["slug"] == "gateway").unwrap()["id"].as_str().unwrap().to_owned();
        let path = format!("/servers/{server}/upstreams/{id}");
        let (status, body) = app.api(Method::PUT, &path, &tenant.key, Some(json!({"prefix": "rm"}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for person in ["ada@people.example", "bob@people.example"] {
            let tokens = gateway.sign_in("gateway", person).await;
            let called = call_support(&gateway, &tokens.access, &format!("From {person}")).await;
            assert_ne!(called["result"]["isError"], true, "{called}");
        }
        let (_, requests) = remote.app.get("/support-requests", &remote.tenant.key).await;
        let emails: Vec<&str> = requests["items"].as_array().unwrap().iter().filter_map(|r| r["email"].as_str()).collect();
        assert_eq!(emails, [AT_REMOTE, AT_REMOTE], "both as the organization's account: {requests}");
        let (_, audit) = app.get("/audit-events", &tenant.key).await;
        let connected_by = audit["items"].as_array().unwrap().iter()
            .find(|e| e["action"] == "connection.connected").map(|e| e["actor"].clone());
        assert!(connected_by.as_ref().and_then(Value::as_str).is_some_and(|a| a.starts_with("member:")), "{audit}");
        node::summary(
            &format!("connect-journey-{}", db.backend),
            &[format!("Chromium connect journey [{}]: dashboard Connect, remote sign-in as {AT_REMOTE}, connected; axe clean; {:.1} s", db.backend, took.as_secs_f64())],
        );
    }
}
