//! What Guidepost observes of an upstream's failure itself reaches the diagnosis as a
//! value, not as words to parse: a program that does not exist is named as missing, a
//! process killed from outside is told by its signal, an idle stop is no failure; the
//! status keeps its sentence, and the cause would stay right if that sentence changed.

use std::time::Duration;

use guidepost_core::upstreams::catalog::Catalog;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::{fixture_with, host_pid, wait_for, wait_for_mark, wait_until_gone};
use crate::helpers::spawn_app_with;

const MISSING: &str = "/opt/guidepost-tests/no-such-program";

fn catalog() -> Catalog {
    let entry = format!(
        "[[entry]]\nid = \"absent\"\nname = \"Absent\"\ndescription = \"A program that is not \
         there.\"\nspec = {{ runtime = \"command\", command = {MISSING:?}, args = [] }}\n"
    );
    Catalog::with_operator_entries(&entry).unwrap()
}

backend_tests! {
    async fn a_program_that_does_not_exist_is_diagnosed_as_missing_from_the_fault(db: &TestDatabase) {
        let app = spawn_app_with(db, |settings| {
            settings.platform.catalog = std::sync::Arc::new(catalog());
        })
        .await;
        let acme = app.create_tenant("Acme").await;
        let body = json!({"catalog_entry_id": "absent"});
        let (status, installed) = app.api(Method::POST, "/upstreams", &acme.key, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{installed}");
        let id = installed["id"].as_str().unwrap().to_owned();

        let failed = wait_for(&app, &acme, &id, |u| u["diagnosis"].is_object()).await;
        let error = failed["last_error"].as_str().unwrap_or_default();
        assert!(error.starts_with(&format!("cannot start {MISSING} (confined): ")), "{failed}");
        let diagnosis = &failed["diagnosis"];
        assert_eq!(diagnosis["cause"], "missing_program", "{failed}");
        assert!(diagnosis["summary"].as_str().unwrap().contains(MISSING), "{failed}");
    }

    async fn a_process_killed_from_outside_is_told_by_its_signal(db: &TestDatabase) {
        // One exit is the last: the status stays as the kill left it.
        let f = fixture_with(db, "acme", 60_000, &[], |settings| {
            settings.gateway.supervision.max_restarts = 1;
        })
        .await;
        let mark = wait_for_mark(&f.marks, "started").await;
        let pid: i64 = mark[0].split_whitespace().nth(1).unwrap().parse().unwrap();
        let host = host_pid(pid).expect("the process runs");
        let killed = std::process::Command::new("kill").args(["-KILL", &host.to_string()]).status().unwrap();
        assert!(killed.success());
        let failed = wait_for(&f.app, &f.acme, &f.upstream, |u| u["status"] == "failed").await;
        let error = failed["last_error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with("the upstream process exited (it was killed by signal 9)"),
            "{failed}"
        );
        let diagnosis = &failed["diagnosis"];
        assert_eq!(diagnosis["cause"], "exited", "{failed}");
        assert!(diagnosis["summary"].as_str().unwrap().contains("signal 9"), "{failed}");
        wait_until_gone(pid).await;
    }

    async fn an_idle_stop_is_said_and_not_diagnosed(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, &[], |settings| {
            settings.gateway.supervision.idle_timeout = Some(Duration::from_secs(1));
        })
        .await;
        let stopped = wait_for(&f.app, &f.acme, &f.upstream, |u| u["status"] == "stopped").await;
        assert_eq!(
            stopped["last_error"],
            "stopped on this node after its idle timeout; the next call starts it",
            "{stopped}"
        );
        assert_eq!(stopped["diagnosis"], Value::Null, "an idle stop is no failure: {stopped}");
    }
}
