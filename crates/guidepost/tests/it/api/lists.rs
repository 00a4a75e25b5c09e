//! Every list of the management API is cursor-paginated, also those short
//! enough to be read whole: API keys (stored pages), webhooks and upstreams (cut from
//! a capped list), each oldest first, each with its own organization's items only.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use guidepost_core::secrets::MasterKey;
use guidepost_domain::{LaunchSpec, NewUpstream, PackageSpec, StartMode};
use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::{Value, json};

use crate::api::helpers::{ApiApp, Tenant, spawn_app};

/// Walks `path` two at a time and returns each page's values of `field`, checking that
/// the last page has no cursor and that a bad cursor or limit is a 422 naming it.
async fn pages_of(app: &ApiApp, tenant: &Tenant, path: &str, field: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let at = match &cursor {
            Some(c) => format!("{path}?limit=2&cursor={c}"),
            None => format!("{path}?limit=2"),
        };
        let page = app.get(tenant, &at).await;
        assert_eq!(page.status, StatusCode::OK, "{at}: {}", page.body);
        let values = page.body["items"].as_array().unwrap().iter();
        pages.push(
            values
                .map(|i| i[field].as_str().unwrap().to_owned())
                .collect(),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages.len() < 10, "{path}: the pages never end");
    }
    for (query, field) in [("cursor=not-a-cursor", "cursor"), ("limit=0", "limit")] {
        let refused = app.get(tenant, &format!("{path}?{query}")).await;
        refused.problem(422);
        assert_eq!(refused.error_fields(), [field], "{path}?{query}");
    }
    pages
}

/// Distinct creation times, so that the order does not fall back to the random ids.
async fn tick() {
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
}

async fn api_keys_are_paged_oldest_first(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let globex = app.tenant("Globex").await;
    for name in ["ci", "deploy", "backup"] {
        tick().await;
        let made = app
            .post(&acme, "/api/v1/api-keys", json!({"name": name}))
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    }
    app.post(&globex, "/api/v1/api-keys", json!({"name": "theirs"}))
        .await;

    let pages = pages_of(&app, &acme, "/api/v1/api-keys", "name").await;
    assert_eq!(pages, [vec!["test", "ci"], vec!["deploy", "backup"]]);
    let theirs = pages_of(&app, &globex, "/api/v1/api-keys", "name").await;
    assert_eq!(theirs, [vec!["test", "theirs"]]);
}

async fn webhooks_are_paged_oldest_first(db: &TestDatabase) {
    // A webhook's signing secret is kept sealed with the master key.
    let app = ApiApp {
        app: crate::helpers::spawn_app_with(db, |settings| {
            settings.platform.master_key = Some(MasterKey::from_bytes([4; 32]));
        })
        .await,
    };
    let acme = app.tenant("Acme").await;
    for n in 1..=3 {
        tick().await;
        let url = format!("https://hooks.example.com/{n}");
        let body = json!({"url": url, "events": ["support_request.created"]});
        let made = app.post(&acme, "/api/v1/webhooks", body).await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    }
    let pages = pages_of(&app, &acme, "/api/v1/webhooks", "url").await;
    let url = |n: u8| format!("https://hooks.example.com/{n}");
    assert_eq!(pages, [vec![url(1), url(2)], vec![url(3)]]);
}

async fn upstreams_are_paged_oldest_first(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let globex = app.tenant("Globex").await;
    for (tenant, name) in [
        (&acme, "one"),
        (&acme, "two"),
        (&globex, "theirs"),
        (&acme, "three"),
    ] {
        tick().await;
        app.store()
            .create_upstream(&tenant.org, &on_demand(name))
            .await
            .unwrap();
    }
    let pages = pages_of(&app, &acme, "/api/v1/upstreams", "name").await;
    assert_eq!(pages, [vec!["one", "two"], vec!["three"]]);
    // Three on a page of three: no cursor to a page with nothing on it.
    let whole: Value = app.get(&acme, "/api/v1/upstreams?limit=3").await.body;
    assert_eq!(whole["items"].as_array().unwrap().len(), 3, "{whole}");
    assert!(whole["next_cursor"].is_null(), "{whole}");
}

fn on_demand(name: &str) -> NewUpstream {
    NewUpstream {
        name: name.into(),
        start: StartMode::OnDemand,
        replicas: 1,
        catalog_entry_id: None,
        catalog_entry_version: None,
        spec: LaunchSpec::Npm(PackageSpec {
            package: format!("@example/{name}"),
            version: "1.0.0".into(),
            bin: None,
            args: vec![],
            env: BTreeMap::new(),
            network: guidepost_domain::Network::None,
            limits: Default::default(),
        }),
        secrets_sealed: BTreeMap::new(),
        config: BTreeMap::new(),
    }
}

backend_tests!(
    api_keys_are_paged_oldest_first,
    webhooks_are_paged_oldest_first,
    upstreams_are_paged_oldest_first,
);
