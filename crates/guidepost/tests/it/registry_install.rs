//! Installing from a registry's server.json: the MCP reference server's npm
//! package becomes a process upstream that answers `echo` through a hosted server; a
//! required secret environment variable is refused when missing and reaches the process
//! when given, beside a declared setting's default; an OCI image installs only from the
//! operator's allowlist (`--container-images`), as an organization's own entry's does.

use guidepost::config::Settings;
use guidepost_core::secrets::MasterKey;
use guidepost_testkit::{TestDatabase, backend_tests, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway::{settled, shared_cache};
use crate::helpers::{RawMcp, STATELESS_ERA, Tenant, TestApp, spawn_app_with};
use crate::node;
use crate::registry_server::{TestRegistry, everything_server};

const WITH_KEY: &str = "io.example/everything-with-key";

/// The reference server again, declaring a required secret and an optional setting.
fn everything_with_key() -> Value {
    let mut server = everything_server();
    server["name"] = json!(WITH_KEY);
    server["packages"][0]["environmentVariables"] = json!([
        {"name": "EVERYTHING_API_KEY", "description": "The key of the service.", "isRequired": true, "isSecret": true},
        {"name": "EVERYTHING_REGION", "description": "Where it runs.", "default": "eu-west"}
    ]);
    server
}

/// A gateway app (the tests' node and npm, the shared package cache) syncing `registry`,
/// with a tenant that trusts new tools and a hosted server `acme`; once the registry's
/// entries are in its catalog.
async fn registry_gateway(db: &TestDatabase, registry: &TestRegistry) -> (TestApp, Tenant, String) {
    let app = registry_app(db, registry, |_| {}).await;
    let acme = app.create_tenant("Acme").await;
    app.trust_new_tools(&acme).await;
    let server = app.create_server(&acme, "acme", json!({})).await;
    eventually("the registry's entries are in the catalog", async || {
        let (_, catalog) = app.get("/catalog?source=registry", &acme.key).await;
        catalog["items"]
            .as_array()
            .is_some_and(|items| !items.is_empty())
    })
    .await;
    (app, acme, server["id"].as_str().unwrap().to_owned())
}

/// The app of `registry_gateway` alone, its settings then adjusted.
async fn registry_app(
    db: &TestDatabase,
    registry: &TestRegistry,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    let node = node::node();
    let npm = node.with_file_name("npm");
    let url = registry.url.clone();
    spawn_app_with(db, move |settings| {
        settings.gateway.toolchain = guidepost_gateway::Toolchain {
            cache_dir: shared_cache(),
            node,
            npm,
            python: crate::helpers::python(),
            data_dir: std::env::temp_dir().join("guidepost-test-upstream-data"),
            npm_registry: None,
            pypi_index_url: None,
        };
        settings.platform.registries = vec![url];
        settings.platform.master_key = Some(MasterKey::from_bytes([7; 32]));
        settings.registries.allow_private = true;
        adjust(settings);
    })
    .await
}

/// A server.json of an OCI image run over stdio, `ghcr.io/example/boxed:1.0.0` once read.
fn oci_server() -> Value {
    json!({"name": BOXED, "description": "A server in an image.", "version": "1.0.0",
           "packages": [{"registryType": "oci", "identifier": "ghcr.io/example/boxed",
                         "version": "1.0.0", "transport": {"type": "stdio"}}]})
}

const BOXED: &str = "io.example/boxed";

/// Installs `body`, waits until it is ready and attaches it as `ev`.
async fn install_and_attach(app: &TestApp, acme: &Tenant, server: &str, body: Value) -> RawMcp {
    let (status, installed) = app
        .api(Method::POST, "/upstreams", &acme.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    let id = installed["id"].as_str().unwrap().to_owned();
    let ready = settled(app, acme, &id).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    let path = format!("/servers/{server}/upstreams/{id}");
    let (status, attached) = app
        .api(Method::PUT, &path, &acme.key, Some(json!({"prefix": "ev"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{attached}");
    RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA)
}

fn text_of(answer: &Value) -> String {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

backend_tests! {
    async fn the_reference_server_installed_from_its_server_json_answers_echo(db: &TestDatabase) {
        let registry = TestRegistry::start().await;
        registry.publish(everything_server(), "active", "2026-01-01T00:00:00Z");
        let (app, acme, server) = registry_gateway(db, &registry).await;
        let body = json!({"catalog_entry_id": "io.github.modelcontextprotocol/everything"});
        let mcp = install_and_attach(&app, &acme, &server, body).await;
        let called = mcp.call_tool(1, "ev__echo", json!({"message": "from the registry"})).await;
        assert!(text_of(&called.body).contains("from the registry"), "{}", called.body);
        assert_ne!(called.body["result"]["isError"], true);
        let (_, upstreams) = app.get("/upstreams", &acme.key).await;
        assert_eq!(upstreams["items"][0]["catalog_entry_id"], "io.github.modelcontextprotocol/everything", "{upstreams}");
    }

    async fn a_required_secret_is_asked_for_at_install_and_reaches_the_process(db: &TestDatabase) {
        let registry = TestRegistry::start().await;
        registry.publish(everything_with_key(), "active", "2026-01-01T00:00:00Z");
        let (app, acme, server) = registry_gateway(db, &registry).await;
        let (_, catalog) = app.get("/catalog?source=registry", &acme.key).await;
        let listed = &catalog["items"][0];
        assert_eq!(listed["secrets"], json!([{"name": "EVERYTHING_API_KEY", "description": "The key of the service."}]), "{listed}");
        assert_eq!(listed["config"][0]["name"], "everything_region", "{listed}");
        assert_eq!(listed["config"][0]["default"], "eu-west", "{listed}");

        let (status, problem) = app
            .api(Method::POST, "/upstreams", &acme.key, Some(json!({"catalog_entry_id": WITH_KEY})))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem.to_string().contains("EVERYTHING_API_KEY"), "the missing secret is named: {problem}");
        let (_, upstreams) = app.get("/upstreams", &acme.key).await;
        assert_eq!(upstreams["items"], json!([]), "nothing was installed");

        let body = json!({"catalog_entry_id": WITH_KEY, "secrets": {"EVERYTHING_API_KEY": "sk-registry-test-42"}});
        let mcp = install_and_attach(&app, &acme, &server, body).await;
        let env = mcp.call_tool(1, "ev__get-env", json!({})).await;
        let text = text_of(&env.body);
        assert!(text.contains("sk-registry-test-42"), "the secret reaches the process: {}", env.body);
        assert!(text.contains("eu-west"), "the setting's default too: {}", env.body);
    }

    async fn a_registry_image_installs_only_from_the_operators_allowlist(db: &TestDatabase) {
        let registry = TestRegistry::start().await;
        registry.publish(oci_server(), "active", "2026-01-01T00:00:00Z");
        let (app, acme, _) = registry_gateway(db, &registry).await;
        // The catalog says so before anyone tries.
        let listed = |catalog: &Value| catalog["items"].as_array().unwrap().iter()
            .find(|e| e["id"] == BOXED).cloned().unwrap_or_else(|| panic!("{BOXED} listed: {catalog}"));
        let (_, catalog) = app.get("/catalog?source=registry", &acme.key).await;
        let refusal = listed(&catalog)["not_installable"].clone();
        assert!(refusal.as_str().is_some_and(|r| r.contains("--container-images")), "{catalog}");
        let body = json!({"catalog_entry_id": BOXED});
        let refused = app.client.call(Method::POST, "/api/v1/upstreams", Some(&acme.key), Some(body.clone())).await;
        let problem = refused.problem(422);
        assert!(problem.to_string().contains("--container-images"), "the flag is named: {problem}");
        assert_eq!(problem["errors"][0]["field"], "catalog_entry_id", "{problem}");
        let (_, upstreams) = app.get("/upstreams", &acme.key).await;
        assert_eq!(upstreams["items"], json!([]), "nothing was installed");

        // A node whose operator lists the image lets it past that rule (to the next one:
        // this node runs no container engine).
        let listing = registry_app(db, &registry, |settings| {
            settings.platform.container_images = vec!["ghcr.io/example/boxed:1.0.0".into()];
        })
        .await;
        let (_, catalog) = listing.get("/catalog?source=registry", &acme.key).await;
        assert!(listed(&catalog)["not_installable"].is_null(), "{catalog}");
        let (status, answer) = listing.api(Method::POST, "/upstreams", &acme.key, Some(body)).await;
        assert!(!answer.to_string().contains("--container-images"), "{status} {answer}");
        assert!(answer.to_string().contains("--container-socket"), "{status} {answer}");
    }
}
