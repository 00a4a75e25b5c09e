//! The dashboard's catalog page with registry entries: the registries and how
//! their syncs went, the search box and filters as a GET form, each registry entry with
//! its registry, version and status, the ones that cannot be installed saying why, and
//! the install form asking for the settings and secrets a server.json declares.

use guidepost_core::secrets::MasterKey;
use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests, eventually};
use reqwest::StatusCode;
use serde_json::json;

use crate::dashboard::{dashboard_app_with, member};
use crate::registry_server::{TestRegistry, everything_server};

backend_tests! {
    async fn the_catalog_page_shows_registries_filters_and_the_settings_asked_at_install(db: &TestDatabase) {
        let registry = TestRegistry::start().await;
        let mut with_key = everything_server();
        with_key["name"] = json!("io.example/everything-with-key");
        with_key["packages"][0]["environmentVariables"] = json!([
            {"name": "EVERYTHING_API_KEY", "description": "The key.", "isRequired": true, "isSecret": true},
            {"name": "EVERYTHING_REGION", "description": "Where it runs.", "default": "eu-west"}]);
        registry.publish(with_key.clone(), "active", "2026-01-01T00:00:00Z");
        // A later version of it that takes one more setting.
        let mut later = with_key;
        later["version"] = json!("2026.9.1");
        later["packages"][0]["environmentVariables"].as_array_mut().unwrap()
            .push(json!({"name": "EVERYTHING_MODE", "description": "How it answers.", "default": "fast"}));
        registry.publish(later, "active", "2026-01-03T00:00:00Z");
        registry.publish(json!({"name": "io.example/legacy", "description": "Old.", "version": "0.9.0",
            "remotes": [{"type": "sse", "url": "https://legacy.example.com/sse"}]}), "deprecated", "2026-01-02T00:00:00Z");
        let url = registry.url.clone();
        let app = dashboard_app_with(db, move |settings| {
            settings.platform.registries = vec![url];
            settings.platform.master_key = Some(MasterKey::from_bytes([7; 32]));
            settings.registries.allow_private = true;
        })
        .await;
        eventually("the registry's entries are in the catalog", async || {
            let (_, catalog) = app.app.get("/catalog?source=registry", &app.tenant.key).await;
            catalog["items"].as_array().is_some_and(|items| items.len() == 2)
        })
        .await;
        let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;

        let page = editor.get("/app/gateway/catalog").await;
        let body = page.ok();
        assert!(body.contains("<h2>Registries</h2>") && body.contains(&registry.url), "{body}");
        assert!(body.contains("<select id=\"catalog-runtime\" name=\"runtime\">"), "{body}");
        assert!(body.contains("(version 2026.9.1, active; also 2026.8.31)"), "the latest: {body}");
        assert!(body.contains("/app/gateway/catalog/io.example%2Feverything-with-key/install"), "{body}");
        assert!(body.contains("/app/gateway/catalog/everything/install"), "built-in entries stay");
        assert!(body.contains("(version 0.9.0, deprecated)"), "{body}");
        assert!(body.contains("Cannot be installed: its remote uses the legacy SSE transport"), "{body}");
        assert!(!body.contains("io.example%2Flegacy/install"), "no install link where it cannot be");

        let filtered = editor.get("/app/gateway/catalog?q=everything&runtime=npm&source=registry").await;
        let body = filtered.ok();
        assert!(body.contains("io.example%2Feverything-with-key/install"), "{body}");
        assert!(!body.contains("/app/gateway/catalog/everything/install"), "only the registry's: {body}");
        assert!(body.contains("<option value=\"registry\" selected>"), "the filter is kept: {body}");
        assert!(editor.get("/app/gateway/catalog?q=no-such-thing").await.ok().contains("No entry matches."));

        let install = "/app/gateway/catalog/io.example%2Feverything-with-key/install";
        let form = editor.get(install).await;
        let body = form.ok();
        assert!(body.contains(r#"name="secret.EVERYTHING_API_KEY" type="password""#), "{body}");
        assert!(body.contains("name=\"config.everything_region\"") && body.contains("value=\"eu-west\""), "{body}");
        let refused = editor.post(install, &[("name", "With key")]).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        assert!(refused.body.contains("href=\"#secret-EVERYTHING_API_KEY\""), "{}", refused.body);
        let legacy = editor.get("/app/gateway/catalog/io.example%2Flegacy/install").await;
        assert_eq!(legacy.status, StatusCode::NOT_FOUND);

        // More than one version: the form asks which (a GET form, no script), and each
        // version's form has that version's settings; the one installed is the one shown.
        assert!(body.contains(r#"<option value="2026.9.1" selected>2026.9.1 (latest)</option>"#), "{body}");
        assert!(body.contains(r#"<option value="2026.8.31">2026.8.31</option>"#), "{body}");
        assert!(body.contains("name=\"config.everything_mode\""), "the latest's own setting: {body}");
        let older = editor.get(&format!("{install}?version=2026.8.31")).await;
        let body = older.ok();
        assert!(body.contains(r#"<option value="2026.8.31" selected>"#), "{body}");
        assert!(body.contains(r#"<input type="hidden" name="version" value="2026.8.31">"#), "{body}");
        assert!(!body.contains("config.everything_mode"), "not a setting of that version: {body}");
        assert_eq!(editor.get(&format!("{install}?version=9.9.9")).await.status, StatusCode::NOT_FOUND);
        let fields = [("name", "Older"), ("version", "2026.8.31"), ("secret.EVERYTHING_API_KEY", "k-123")];
        let location = editor.post(install, &fields).await.redirected_to("/app/gateway/upstreams/up_");
        assert!(location.ends_with("done=installed"), "{location}");
        let (_, upstreams) = app.app.get("/upstreams", &app.tenant.key).await;
        let installed = &upstreams["items"][0];
        assert_eq!((&installed["name"], &installed["catalog_entry_version"]), (&json!("Older"), &json!("2026.8.31")), "{upstreams}");
        assert_eq!(installed["latest_version"], "2026.9.1", "{installed}");
    }
}
