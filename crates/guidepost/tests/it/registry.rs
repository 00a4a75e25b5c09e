//! Registry sources: the catalog holds a registry's server.json entries after
//! a sync, beside the built-in entries; the next sync asks only for what changed
//! (`updated_since`) and pages; a deleted entry shows as deleted and cannot be installed,
//! nor can one whose only transport is legacy SSE; imported entries are searched (names,
//! descriptions, tool names), paged and filtered.

use guidepost_testkit::{TestDatabase, backend_tests, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::registry_server::{TestRegistry, everything_server, npm_server};

/// What one run of the binary printed (`--json`), with the registry in its environment.
async fn cli(db: &TestDatabase, registry: Option<&str>, args: &[&str]) -> Value {
    cli_with_env(db, registry, &[], args).await
}

async fn cli_with_env(
    db: &TestDatabase,
    registry: Option<&str>,
    env: &[(&str, &str)],
    args: &[&str],
) -> Value {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"));
    command
        .args(["--json", "--database-url", &db.url])
        .envs(env.iter().copied())
        .args(args);
    if let Some(url) = registry {
        command
            .env("GUIDEPOST_REGISTRY_URL", url)
            .env("GUIDEPOST_REGISTRY_ALLOW_PRIVATE", "true");
    }
    let output = command.output().await.expect("the binary runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a JSON report")
}

async fn registry_app(db: &TestDatabase, registry: &TestRegistry) -> TestApp {
    let url = registry.url.clone();
    spawn_app_with(db, move |settings| {
        settings.platform.registries = vec![url];
        settings.registries.allow_private = true;
    })
    .await
}

fn entry<'a>(catalog: &'a Value, id: &str) -> &'a Value {
    catalog["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no {id}: {catalog}"))
}

fn sse_server() -> Value {
    json!({"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": "io.example/legacy", "description": "Reached over the old SSE transport.", "version": "1.0.0",
        "remotes": [{"type": "sse", "url": "https://legacy.example.com/sse"}]})
}

/// A server.json holding a value nested `depth` arrays deep, past serde_json's limit (128).
fn deep_server(depth: usize) -> Value {
    let mut nested = json!("bottom");
    for _ in 0..depth {
        nested = json!([nested]);
    }
    let mut server = npm_server(
        "io.example/deep",
        "Nested too deep.",
        "1.0.0",
        "deep-mcp",
        "1.0.0",
    );
    server["_meta"] = json!({"io.example/nested": nested});
    server
}

/// A second past now, as a registry would date a change made after a sync.
fn just_after_now() -> String {
    guidepost_domain::Timestamp::now()
        .plus_seconds(1)
        .to_rfc3339()
}

backend_tests! {
    async fn an_entry_nested_too_deep_or_dated_9999_leaves_the_others_and_later_takedowns(db: &TestDatabase) {
        let registry = TestRegistry::start().await;
        let everything = "io.github.modelcontextprotocol/everything";
        registry.publish(everything_server(), "active", "2026-01-01T00:00:00Z");
        registry.publish(deep_server(200), "active", "2026-01-02T00:00:00Z");
        let future = npm_server("io.example/future", "Dated in year 9999.", "1.0.0", "future-mcp", "1.0.0");
        registry.publish(future, "active", "9999-12-31T00:00:00Z");
        let memory = npm_server("io.github.modelcontextprotocol/memory", "A knowledge graph.", "1.0.0",
            "@modelcontextprotocol/server-memory", "2026.8.31");
        registry.publish(memory, "active", "2026-01-03T00:00:00Z");
        let app = registry_app(db, &registry).await;
        let acme = app.create_tenant("Acme").await;

        let mut catalog = Value::Null;
        eventually("the sync at start has ended", async || {
            catalog = app.get("/catalog?source=registry", &acme.key).await.1;
            !catalog["sources"][0]["last_finished_at"].is_null()
        }).await;
        let source = &catalog["sources"][0];
        assert_eq!(source["last_error"], Value::Null, "one bad entry fails nothing: {source}");
        assert_eq!((source["last_received"].as_i64(), source["last_skipped"].as_i64()), (Some(4), Some(1)), "{source}");
        let mut ids: Vec<&str> = catalog["items"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["io.example/future", everything, "io.github.modelcontextprotocol/memory"], "all but the deep one");
        let mark = source["updated_since"].as_str().unwrap();
        assert!(!mark.starts_with("9999"), "a date far ahead does not carry the mark: {mark}");

        // A takedown made after the sync arrives with the next.
        registry.publish(everything_server(), "deleted", &just_after_now());
        let report = cli(db, Some(&registry.url), &["catalog", "sync"]).await;
        assert_eq!(report[0]["error"], Value::Null, "{report}");
        let since = registry.seen().last().unwrap().updated_since.clone().expect("an incremental sync");
        assert!(!since.starts_with("9999"), "{since}");
        let (_, catalog) = app.get("/catalog?source=registry", &acme.key).await;
        assert_eq!(entry(&catalog, everything)["status"], "deleted", "{catalog}");
    }

    async fn past_the_cap_new_names_are_skipped_and_kept_ones_still_take_takedowns(db: &TestDatabase) {
        let registry = TestRegistry::start().await;
        for n in 0..3 {
            let name = format!("io.example/tool-{n}");
            registry.publish(npm_server(&name, "A tool.", "1.0.0", "left-pad", "1.3.0"), "active", "2026-01-01T00:00:00Z");
        }
        let url = registry.url.clone();
        let app = spawn_app_with(db, move |settings| {
            settings.platform.registries = vec![url];
            settings.platform.registry_max_entries = 2;
            settings.registries.allow_private = true;
        })
        .await;
        let acme = app.create_tenant("Acme").await;
        let mut catalog = Value::Null;
        eventually("the sync at start has ended", async || {
            catalog = app.get("/catalog?source=registry", &acme.key).await.1;
            !catalog["sources"][0]["last_finished_at"].is_null()
        }).await;
        let source = &catalog["sources"][0];
        assert_eq!(source["last_error"], Value::Null, "the cap is not fatal: {source}");
        assert_eq!((source["entries"].as_i64(), source["last_skipped"].as_i64()), (Some(2), Some(1)), "{source}");

        // At the cap, a kept name's new version and takedown still arrive.
        registry.publish(npm_server("io.example/tool-0", "A tool.", "1.1.0", "left-pad", "1.3.0"), "active", &just_after_now());
        registry.publish(npm_server("io.example/tool-1", "A tool.", "1.0.0", "left-pad", "1.3.0"), "deleted", &just_after_now());
        registry.publish(npm_server("io.example/tool-9", "A tool.", "1.0.0", "left-pad", "1.3.0"), "active", &just_after_now());
        let cap = [("GUIDEPOST_REGISTRY_MAX_ENTRIES", "2")];
        let report = cli_with_env(db, Some(&registry.url), &cap, &["catalog", "sync"]).await;
        assert_eq!((report[0]["received"].as_i64(), report[0]["skipped"].as_i64()), (Some(3), Some(1)), "{report}");
        let (_, catalog) = app.get("/catalog?source=registry", &acme.key).await;
        assert_eq!(entry(&catalog, "io.example/tool-0")["version"], "1.1.0", "{catalog}");
        assert_eq!(entry(&catalog, "io.example/tool-1")["status"], "deleted", "{catalog}");
        assert_eq!(catalog["items"].as_array().unwrap().len(), 2, "{catalog}");
    }

    async fn a_sync_fills_the_catalog_and_the_next_fetches_only_what_changed(db: &TestDatabase) {
        let registry = TestRegistry::start().await;
        let everything = "io.github.modelcontextprotocol/everything";
        registry.publish(everything_server(), "active", "2026-01-01T00:00:00Z");
        let memory = npm_server("io.github.modelcontextprotocol/memory", "A knowledge graph.", "1.0.0",
            "@modelcontextprotocol/server-memory", "2026.8.31");
        registry.publish(memory.clone(), "active", "2026-01-02T00:00:00Z");
        registry.publish(sse_server(), "active", "2026-01-03T00:00:00Z");
        let app = registry_app(db, &registry).await;
        let acme = app.create_tenant("Acme").await;

        // The sync at start, through the fence (allowed to loopback for the test).
        // The entries show before the sync has recorded its end: wait for both.
        eventually("the registry's entries are in the catalog", async || {
            let (_, catalog) = app.get("/catalog?source=registry", &acme.key).await;
            catalog["items"].as_array().is_some_and(|items| items.len() == 3)
                && !catalog["sources"][0]["last_finished_at"].is_null()
        }).await;
        let first = registry.seen();
        assert_eq!(first.len(), 2, "three servers, two a page: {first:?}");
        assert!(first.iter().all(|s| s.updated_since.is_none()), "a first sync takes everything: {first:?}");
        let after = format!("{everything}:2026.8.31");
        assert_eq!(first[1].cursor.as_deref(), Some(after.as_str()), "by name and version, after the page's last: {first:?}");

        let (status, catalog) = app.get("/catalog", &acme.key).await;
        assert_eq!(status, StatusCode::OK, "{catalog}");
        assert_eq!(entry(&catalog, "everything")["source"], "platform", "built-in entries stay");
        let listed = entry(&catalog, everything);
        assert_eq!(listed["source"], "registry");
        assert_eq!(listed["registry"], registry.url.as_str());
        assert_eq!(listed["status"], "active");
        assert_eq!(listed["version"], "2026.8.31");
        assert_eq!(listed["spec"]["runtime"], "npm");
        assert_eq!(listed["spec"]["package"], "@modelcontextprotocol/server-everything");
        assert_eq!(listed["spec"]["args"], json!(["stdio"]));
        let legacy = entry(&catalog, "io.example/legacy");
        assert!(legacy["spec"].is_null(), "{legacy}");
        assert!(legacy["not_installable"].as_str().unwrap().contains("SSE"), "{legacy}");
        let source = &catalog["sources"][0];
        assert_eq!(source["source"], registry.url.as_str(), "{catalog}");
        assert_eq!((source["entries"].as_i64(), source["last_requests"].as_i64()), (Some(3), Some(2)), "{source}");
        assert_eq!(source["last_error"], Value::Null);

        // Two change: memory gets a new version, everything is deleted.
        let mut memory_two = memory;
        memory_two["version"] = json!("1.1.0");
        registry.publish(memory_two, "active", "2026-02-01T00:00:00Z");
        registry.publish(everything_server(), "deleted", "2026-02-02T00:00:00Z");
        let report = cli(db, Some(&registry.url), &["catalog", "sync"]).await;
        assert_eq!(report[0]["received"], 2, "{report}");
        let second = registry.seen()[first.len()..].to_vec();
        assert_eq!(second.len(), 1, "only what changed, in one page: {second:?}");
        let since = second[0].updated_since.as_deref().expect("an incremental sync");
        assert!(since.starts_with("2026-01-03T00:00:00"), "the newest updatedAt seen: {since}");
        assert_eq!(second[0].returned, 2);

        let (_, catalog) = app.get("/catalog?source=registry", &acme.key).await;
        let memory = entry(&catalog, "io.github.modelcontextprotocol/memory");
        assert_eq!(memory["version"], "1.1.0", "the latest: {memory}");
        assert_eq!(memory["versions"], json!(["1.1.0", "1.0.0"]), "the earlier version is kept: {memory}");
        let deleted = entry(&catalog, everything);
        assert_eq!(deleted["status"], "deleted", "{deleted}");
        assert!(deleted["not_installable"].as_str().unwrap().contains("deleted"), "{deleted}");
        for (id, why) in [(everything, "deleted"), ("io.example/legacy", "SSE")] {
            let install = json!({"catalog_entry_id": id});
            let (status, problem) = app.api(Method::POST, "/upstreams", &acme.key, Some(install)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
            assert!(problem.to_string().contains(why), "{id}: {problem}");
        }
        let (_, upstreams) = app.get("/upstreams", &acme.key).await;
        assert_eq!(upstreams["items"], json!([]), "nothing was installed");
    }

    async fn imported_entries_are_searched_paged_and_filtered(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let acme = app.create_tenant("Acme").await;
        let mut servers: Vec<Value> = (0..24)
            .map(|n| npm_server(&format!("io.example/tool-{n:02}"), &format!("Tool number {n}."), "1.0.0", "left-pad", "1.3.0"))
            .collect();
        let mut pdf = npm_server("io.example/papers", "Reads papers.", "2.0.0", "papers-mcp", "2.0.0");
        pdf["packages"][0]["registryType"] = json!("pypi");
        pdf["_meta"] = json!({"io.modelcontextprotocol.registry/publisher-provided": {"tools": [{"name": "summarize_pdf"}]}});
        servers.push(pdf);
        let file = std::env::temp_dir().join(format!("registry-import-{}.json", std::process::id()));
        std::fs::write(&file, serde_json::to_string(&servers).unwrap()).unwrap();
        let report = cli(db, None, &["catalog", "import", file.to_str().unwrap()]).await;
        std::fs::remove_file(&file).ok();
        assert_eq!((report["read"].as_u64(), report["written"].as_u64()), (Some(25), Some(25)), "{report}");

        let (_, found) = app.get("/catalog?q=SUMMARIZE_pdf", &acme.key).await;
        let ids: Vec<&str> = found["items"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["io.example/papers"], "a tool name is searched: {found}");
        assert_eq!(found["items"][0]["registry"], "import");
        let (_, pypi) = app.get("/catalog?runtime=pypi", &acme.key).await;
        assert_eq!(pypi["items"].as_array().unwrap().len(), 2, "the built-in time server and papers: {pypi}");
        let (_, words) = app.get("/catalog?q=number%2017%20tool", &acme.key).await;
        assert_eq!(words["items"].as_array().unwrap().len(), 1, "every word must match: {words}");
        let (_, platform) = app.get("/catalog?source=platform", &acme.key).await;
        assert!(platform["items"].as_array().unwrap().iter().all(|e| e["source"] == "platform"), "{platform}");

        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, page) = app.get(&format!("/catalog?source=registry&limit=10&cursor={cursor}"), &acme.key).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 10);
            seen.extend(items.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen.len(), 25, "every entry once, in pages: {seen:?}");
        let mut unique = seen.clone();
        unique.dedup();
        assert_eq!(unique, seen);

        for bad in ["runtime=cobol", "source=elsewhere", "cursor=abc"] {
            let (status, problem) = app.get(&format!("/catalog?{bad}"), &acme.key).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
        }
    }

    async fn a_registry_on_a_private_address_is_refused_by_the_fence_unless_allowed(db: &TestDatabase) {
        let registry = TestRegistry::start().await;
        registry.publish(everything_server(), "active", "2026-01-01T00:00:00Z");
        let url = registry.url.clone();
        let app = spawn_app_with(db, move |settings| settings.platform.registries = vec![url]).await;
        let acme = app.create_tenant("Acme").await;
        let mut catalog = Value::Null;
        eventually("the sync at start has ended", async || {
            catalog = app.get("/catalog", &acme.key).await.1;
            !catalog["sources"][0]["last_finished_at"].is_null()
        }).await;
        let error = catalog["sources"][0]["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("--registry-allow-private"), "{catalog}");
        assert!(registry.seen().is_empty(), "the registry was never reached");
        assert!(!catalog["items"].as_array().unwrap().iter().any(|e| e["source"] == "registry"));
    }
}
