//! What Guidepost observes of an upstream's failure itself reaches the diagnosis as a
//! value, not as words to parse: a program that does not exist is named as missing, the
//! status keeps its sentence, and the cause would stay right if that sentence changed.

use guidepost_core::upstreams::catalog::Catalog;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::gateway_fixture::wait_for;
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
}
