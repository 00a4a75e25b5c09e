//! An installation's secrets: required by the entry, sealed with the master
//! key, never shown by the API nor stored in plain text, and given to the upstream by
//! its environment, never on its command line.

use std::sync::Arc;

use guidepost_core::secrets::MasterKey;
use guidepost_core::upstreams::catalog::Catalog;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::gateway_fixture::{fixture_catalog_with, text_of, wait_for, wait_for_mark};
use crate::helpers::{RawMcp, STATELESS_ERA, TestApp, spawn_app_with};

const SECRET: &str = "s3cret-value-7f2c";

async fn app_with_secret_slot(
    db: &TestDatabase,
    marks: &std::path::Path,
    master_key: bool,
) -> TestApp {
    app_with_secret_slot_and(db, marks, master_key, &[]).await
}

/// The fixture with a secret slot, more environment (`FIXTURE_*` switches), and quick to
/// give up on a crashing upstream.
async fn app_with_secret_slot_and(
    db: &TestDatabase,
    marks: &std::path::Path,
    master_key: bool,
    env: &[(&str, &str)],
) -> TestApp {
    let slot =
        r#"secrets = [{ name = "FIXTURE_SECRET", description = "The key the fixture needs." }]"#;
    let catalog = Catalog::with_operator_entries(&fixture_catalog_with(marks, env, slot)).unwrap();
    spawn_app_with(db, move |settings| {
        settings.platform.catalog = Arc::new(catalog);
        if master_key {
            settings.platform.master_key = Some(MasterKey::from_bytes([7; 32]));
        }
        settings.gateway.supervision.backoff = std::time::Duration::from_millis(50);
        settings.gateway.supervision.max_restarts = 3;
    })
    .await
}

fn temp_marks(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("guidepost-secrets-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("marks")
}

backend_tests! {
    async fn secrets_reach_the_upstream_by_its_environment_and_nowhere_else(db: &TestDatabase) {
        let marks = temp_marks(&format!("{:?}", db.backend));
        let app = app_with_secret_slot(db, &marks, true).await;
        let acme = app.create_tenant("Acme").await;
        app.trust_new_tools(&acme).await;
        let server = app.create_server(&acme, "acme", json!({})).await;
        let install = |body| app.api(Method::POST, "/upstreams", &acme.key, Some(body));

        let (status, problem) = install(json!({"catalog_entry_id": "fixture"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem.to_string().contains("FIXTURE_SECRET"), "says which: {problem}");
        let unknown = json!({"catalog_entry_id": "fixture", "secrets": {"FIXTURE_SECRET": "x", "OTHER": "y"}});
        let (status, problem) = install(unknown).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

        let body = json!({"catalog_entry_id": "fixture", "secrets": {"FIXTURE_SECRET": SECRET}});
        let (status, installed) = install(body).await;
        assert_eq!(status, StatusCode::CREATED, "{installed}");
        assert_eq!(installed["secret_names"], json!(["FIXTURE_SECRET"]));
        assert!(!installed.to_string().contains(SECRET), "never shown: {installed}");
        let id = installed["id"].as_str().unwrap().to_owned();
        wait_for(&app, &acme, &id, |u| u["status"] == "ready").await;
        let (_, listed) = app.get("/upstreams", &acme.key).await;
        assert!(!listed.to_string().contains(SECRET));

        let stored = app.store.get_upstream(&acme.org, &guidepost_domain::Id::parse(&id).unwrap()).await.unwrap();
        let sealed = &stored.secrets_sealed["FIXTURE_SECRET"];
        assert!(!sealed.contains(SECRET), "stored sealed: {sealed}");

        let path = format!("/servers/{}/upstreams/{id}", server["id"].as_str().unwrap());
        app.api(Method::PUT, &path, &acme.key, Some(json!({"prefix": "fx"}))).await;
        let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
        let answer = mcp.call_tool(1, "fx__secret", json!({})).await;
        assert_eq!(text_of(&answer.body), SECRET, "the upstream has it: {}", answer.body);

        let leader = wait_for_mark(&marks, "started").await[0].split_whitespace().nth(1).unwrap().to_owned();
        let leader = crate::gateway_fixture::host_pid(leader.parse().unwrap()).expect("it runs");
        let cmdline = std::fs::read(format!("/proc/{leader}/cmdline")).unwrap();
        assert!(!String::from_utf8_lossy(&cmdline).contains(SECRET), "not on its command line");
        let _ = std::fs::remove_dir_all(marks.parent().unwrap());
    }

    async fn secrets_are_refused_without_a_master_key(db: &TestDatabase) {
        let marks = temp_marks(&format!("nokey-{:?}", db.backend));
        let app = app_with_secret_slot(db, &marks, false).await;
        let acme = app.create_tenant("Acme").await;
        let body = json!({"catalog_entry_id": "fixture", "secrets": {"FIXTURE_SECRET": SECRET}});
        let (status, problem) = app.api(Method::POST, "/upstreams", &acme.key, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem.to_string().contains("master key"), "{problem}");
        let _ = std::fs::remove_dir_all(marks.parent().unwrap());
    }

    async fn an_upstreams_last_stderr_line_is_shown_redacted_printable_and_bounded(db: &TestDatabase) {
        let marks = temp_marks(&format!("loud-{:?}", db.backend));
        let app = app_with_secret_slot_and(db, &marks, true, &[("FIXTURE_CRASH_AT_START", "loud")]).await;
        let acme = app.create_tenant("Acme").await;
        let body = json!({"catalog_entry_id": "fixture", "secrets": {"FIXTURE_SECRET": SECRET}});
        let (status, installed) = app.api(Method::POST, "/upstreams", &acme.key, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{installed}");
        let id = installed["id"].as_str().unwrap().to_owned();

        let failed = wait_for(&app, &acme, &id, |u| u["status"] == "failed").await;
        let error = failed["last_error"].as_str().unwrap_or_default();
        let (_, line) = error.split_once("its last stderr line: ").unwrap_or_else(|| panic!("{failed}"));
        assert!(line.starts_with("fixture: the key [redacted] was refused ]0;owned31m [redacted] yyy"), "{error:?}");
        assert!(!error.contains(&SECRET[..4]), "no part of the secret: {error:?}");
        assert!(!error.chars().any(char::is_control), "no control characters: {error:?}");
        assert!(line.chars().count() <= 510, "bounded: {} characters", line.chars().count());

        // Its logs keep the line (escapes and all, for the JSON to carry) but not the secret.
        let (_, logs) = app.get(&format!("/upstreams/{id}/logs"), &acme.key).await;
        assert!(logs.to_string().contains("the key [redacted] was refused"), "{logs}");
        assert!(!logs.to_string().contains(SECRET), "{logs}");
        let _ = std::fs::remove_dir_all(marks.parent().unwrap());
    }
}
