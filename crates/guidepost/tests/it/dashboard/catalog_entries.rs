//! The form on the catalog page that adds one of the organization's own entries: a
//! refusal comes back beside its field under its human name with what was typed
//! kept; an accepted entry is listed as the organization's; a viewer gets no form.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;

use super::{dashboard_app, dashboard_app_with, member};

const CATALOG: &str = "/app/gateway/catalog";

backend_tests! {
    async fn the_catalog_form_adds_an_own_entry_and_says_why_in_place(db: &TestDatabase) {
        let app = dashboard_app(db).await;
        let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
        let page = editor.get(CATALOG).await.ok().to_owned();
        assert!(page.contains("id=\"own-entry-form\""), "{page}");

        // A URL that is not https: beside the URL, the rest kept.
        let mut fields = vec![
            ("id", "acme-remote"),
            ("name", "Acme remote"),
            ("description", "Our own tools"),
            ("runtime", "http"),
            ("url", "http://mcp.acme.example/mcp"),
        ];
        let refused = editor.post(CATALOG, &fields).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        let text = refused.text();
        assert!(text.contains("<nav class=\"main\""), "in the frame: {text}");
        assert!(text.contains("id=\"entry-url-error\">Server URL: "), "beside the URL: {text}");
        assert!(text.contains("<a href=\"#entry-url\">Server URL: "), "in the summary: {text}");
        assert!(text.contains("value=\"Acme remote\"") && text.contains("value=\"http://mcp.acme.example/mcp\""), "{text}");
        assert!(!text.contains("spec.url"), "no raw key: {text}");

        // An id that is not one: beside the id.
        fields[0] = ("id", "Not An Id!");
        fields[4] = ("url", "https://mcp.acme.example/mcp");
        let refused = editor.post(CATALOG, &fields).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        assert!(refused.text().contains("id=\"entry-id-error\">Entry id: "), "{}", refused.body);
        assert!(refused.text().contains("value=\"Not An Id!\""));

        // Accepted: listed as the organization's own, and installable.
        fields[0] = ("id", "acme-remote");
        editor.post(CATALOG, &fields).await.redirected_to(&format!("{CATALOG}?done=created"));
        let page = editor.get(&format!("{CATALOG}?source=organization")).await.ok().to_owned();
        assert!(page.contains("Acme remote <span class=\"hint\">(acme-remote)</span>"), "{page}");
        assert!(page.contains("/app/gateway/catalog/acme-remote/install"), "{page}");
        let (status, listed) = app.app.get("/catalog?source=organization", &app.tenant.key).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(listed["items"][0]["id"], "acme-remote", "{listed}");
        // Audited in words, under its own type.
        let (status, events) = app.app.get("/audit-events?type=catalog_entry", &app.tenant.key).await;
        assert_eq!(status, StatusCode::OK, "{events}");
        let texts: Vec<&str> = events["items"].as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["ed@acme.example added the entry “Acme remote” to the catalog."], "{events}");
        let log = editor.get("/app/gateway/audit?type=catalog_entry").await.ok().to_owned();
        assert!(log.contains("added the entry “Acme remote” to the catalog") && log.contains("Catalog entries"), "{log}");

        // The same id again: a conflict, said beside the id.
        let taken = editor.post(CATALOG, &fields).await;
        assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
        assert!(taken.text().contains("id=\"entry-id-error\">Entry id: "), "{}", taken.body);

        // A viewer gets no form, and is refused one.
        let mut viewer = member(&app, &app.tenant, "view@acme.example", Role::Viewer).await;
        let page = viewer.get(CATALOG).await.ok().to_owned();
        assert!(!page.contains("own-entry-form") && !page.contains("method=\"post\" action=\"/app/gateway/catalog\""), "{page}");
        fields[0] = ("id", "viewer-entry");
        let refused = viewer.post(CATALOG, &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    }

    async fn the_catalog_form_limits_a_packages_network_to_named_hosts(db: &TestDatabase) {
        let app = dashboard_app_with(db, |settings| settings.platform.private_package_entries = true).await;
        let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
        editor.get(CATALOG).await.ok();
        let mut fields = vec![
            ("id", "acme-github"), ("name", "Acme GitHub"), ("description", "Issues"),
            ("runtime", "npm"), ("package", "@acme/github-mcp"), ("version", "1.2.3"),
            ("network", "on"), ("network_hosts", "api.github.com\n10.0.0.1"),
        ];
        let refused = editor.post(CATALOG, &fields).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        let text = refused.text();
        assert!(text.contains("id=\"entry-network-hosts-error\">Only these hosts: ") && text.contains("10.0.0.1"), "{text}");
        fields.retain(|(name, _)| *name != "network_hosts");
        fields.push(("network_hosts", "API.github.com"));
        editor.post(CATALOG, &fields).await.redirected_to(&format!("{CATALOG}?done=created"));
        let (_, listed) = app.app.get("/catalog?source=organization", &app.tenant.key).await;
        let entry = listed["items"].as_array().unwrap().iter().find(|e| e["id"] == "acme-github").cloned();
        let entry = entry.unwrap_or_else(|| panic!("{listed}"));
        assert_eq!(entry["spec"]["network"], serde_json::json!({"allow": ["api.github.com"]}), "{entry}");
    }
}
