//! Schemathesis against the API's own document: every operation of
//! `/api/v1/openapi.json` gets requests generated from its schema, with a valid key. No
//! answer may be a 5xx, and every answer's status, content type and body must be what
//! the document says. The seed is fixed, so a failure here reproduces; a longer random
//! run is `st run URL/api/v1/openapi.json -H 'Authorization: Bearer KEY' --max-examples 500`.

use std::path::PathBuf;

use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::json;

use crate::helpers::{spawn_app_with, workspace_root};

const EXAMPLES_PER_OPERATION: &str = "25";
const SEED: &str = "20261123";

/// Schemathesis's `st`, installed by scripts/install-test-tools.
fn schemathesis() -> PathBuf {
    let path = std::env::var("GUIDEPOST_TEST_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join(".tools/schemathesis/bin/st"));
    assert!(
        path.exists(),
        "Schemathesis is not installed at {}: run scripts/install-test-tools (scripts/test does it)",
        path.display()
    );
    path
}

backend_tests! {
    async fn every_generated_request_is_answered_as_the_document_says(db: &TestDatabase) {
        let app = spawn_app_with(db, |settings| {
            settings.platform.master_key = Some(guidepost_core::secrets::MasterKey::from_bytes([3; 32]));
        })
        .await;
        let tenant = app.create_tenant("Acme").await;
        let server = app.create_server(&tenant, "acme", json!({})).await;
        app.seed_walkthrough(&tenant, "Seeded", 3, Some((server["id"].as_str().unwrap(), 1))).await;

        let output = tokio::process::Command::new(schemathesis())
            .args(["run", &format!("{}/api/v1/openapi.json", app.url)])
            .args(["--header", &format!("Authorization: Bearer {}", tenant.key)])
            .args(["--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"])
            .args(["--max-examples", EXAMPLES_PER_OPERATION, "--seed", SEED, "--workers", "1", "--no-color"])
            .output()
            .await
            .expect("schemathesis runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let summary = stdout
            .lines()
            .find(|line| {
                let first = line.split_whitespace().next().unwrap_or_default();
                first.parse::<u64>().is_ok() && line.contains(" generated")
            })
            .unwrap_or("(no summary)")
            .trim()
            .to_owned();
        assert!(
            output.status.success(),
            "schemathesis found failures ({summary}):\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        println!("schemathesis [{}]: {summary}", db.backend);
    }
}
