//! The gateway: an upstream MCP server installed from the catalog (its npm
//! package fetched at install time), attached to a hosted server under a prefix, its
//! tools listed and called beside the built-in ones, and kept to its organization.

use std::time::{Duration, Instant};

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{RawMcp, STATELESS_ERA, Tenant, TestApp, python_smoke, spawn_app_with};
use crate::node;

/// Packages fetched by one test are reused by the next (the cache is content-addressed).
pub fn shared_cache() -> std::path::PathBuf {
    node::node()
        .parent()
        .expect("node's directory")
        .join("../../../upstream-cache")
}

pub async fn gateway_app(db: &TestDatabase) -> TestApp {
    gateway_app_with(db, |_| {}).await
}

/// [`gateway_app`] with settings of the test's own.
pub async fn gateway_app_with(
    db: &TestDatabase,
    adjust: impl FnOnce(&mut guidepost::config::Settings) + Send + 'static,
) -> TestApp {
    let node = node::node();
    let npm = node.with_file_name("npm");
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
        settings.platform.private_package_entries = true;
        adjust(settings);
    })
    .await
}

/// Polls the upstream until it leaves `installing`/`starting`; returns it.
pub async fn settled(app: &TestApp, tenant: &Tenant, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (status, upstream) = app.get(&format!("/upstreams/{id}"), &tenant.key).await;
        assert_eq!(status, StatusCode::OK, "{upstream}");
        let state = upstream["status"].as_str().unwrap_or_default().to_owned();
        if !matches!(state.as_str(), "installing" | "starting") {
            return upstream;
        }
        assert!(
            Instant::now() < deadline,
            "still {state} after 180 s: {upstream}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tool_names(answer: &Value) -> Vec<String> {
    answer["result"]["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The official Python client in both eras, and the TypeScript client once: `ev__echo`
/// beside `get_support`, and the long-running tool's progress under their own tokens.
async fn official_clients_call_it_with_progress(app: &TestApp) {
    let url = app.mcp_path_url("acme");
    let long = json!({"duration": 1.5, "steps": 3}).to_string();
    for mode in ["legacy", "2026-07-28"] {
        let echo = python_smoke(&[
            "--url",
            &url,
            "--mode",
            mode,
            "--call-tool",
            "ev__echo",
            "--arguments",
            r#"{"message": "from python"}"#,
        ])
        .await;
        assert_eq!(echo["error"], Value::Null, "{mode}: {echo}");
        let tools = echo["tools"].as_array().unwrap();
        assert!(
            tools.contains(&json!("get_support")) && tools.contains(&json!("ev__echo")),
            "{mode}: {tools:?}"
        );
        assert!(
            echo["call"]["text"]
                .as_str()
                .unwrap()
                .contains("from python"),
            "{mode}: {echo}"
        );
        let slow = python_smoke(&[
            "--url",
            &url,
            "--mode",
            mode,
            "--call-tool",
            "ev__trigger-long-running-operation",
            "--arguments",
            &long,
            "--progress",
        ])
        .await;
        assert_eq!(slow["error"], Value::Null, "{mode}: {slow}");
        let progress = slow["call"]["progress"].as_array().unwrap();
        // The last update races the answer at the upstream itself; the first two cannot.
        assert!(progress.len() >= 2, "{mode}: {slow}");
        assert_eq!(
            progress[0]["progress"].as_f64(),
            Some(1.0),
            "{mode}: {slow}"
        );
        assert_eq!(progress[0]["total"].as_f64(), Some(3.0), "{mode}: {slow}");
        assert!(
            slow["call"]["text"].as_str().unwrap().contains("completed"),
            "{mode}: {slow}"
        );
    }
    let script = node::e2e_dir().join("ts_client.mjs");
    let args: [&std::ffi::OsStr; 10] = [
        script.as_os_str(),
        "--url".as_ref(),
        url.as_ref(),
        "--mode".as_ref(),
        "auto".as_ref(),
        "--call-tool".as_ref(),
        "ev__trigger-long-running-operation".as_ref(),
        "--arguments".as_ref(),
        long.as_ref(),
        "--progress".as_ref(),
    ];
    let (output, _) = node::run(&args, &[], Duration::from_secs(60)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| {
            panic!(
                "no report: {stdout} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert_eq!(report["error"], Value::Null, "{report}");
    assert!(
        report["tools"]
            .as_array()
            .unwrap()
            .contains(&json!("ev__echo")),
        "{report}"
    );
    assert!(
        report["call"]["progress"].as_array().unwrap().len() >= 2,
        "{report}"
    );
}

backend_tests! {
    async fn an_installed_upstream_serves_its_tools_beside_the_built_in_ones(db: &TestDatabase) {
        let app = gateway_app(db).await;
        let acme = app.create_tenant("Acme").await;
        app.trust_new_tools(&acme).await;
        let server = app.create_server(&acme, "acme", json!({})).await;
        let server_id = server["id"].as_str().unwrap();
        let (status, catalog) = app.get("/catalog", &acme.key).await;
        assert_eq!(status, StatusCode::OK);
        assert!(catalog["items"].as_array().unwrap().iter().any(|e| e["id"] == "everything"), "{catalog}");

        let started = Instant::now();
        let (status, installed) = app
            .api(Method::POST, "/upstreams", &acme.key, Some(json!({"catalog_entry_id": "everything"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{installed}");
        assert_eq!(installed["status"], "installing", "install returns at once");
        let id = installed["id"].as_str().unwrap().to_owned();
        let ready = settled(&app, &acme, &id).await;
        assert_eq!(ready["status"], "ready", "{ready}");
        eprintln!("[gateway] install → ready in {:.1} s", started.elapsed().as_secs_f64());

        let attached_at = Instant::now();
        let path = format!("/servers/{server_id}/upstreams/{id}");
        let (status, attachment) = app.api(Method::PUT, &path, &acme.key, Some(json!({"prefix": "ev"}))).await;
        assert_eq!(status, StatusCode::OK, "{attachment}");
        let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
        let listed = mcp.call(1, "tools/list", json!({})).await;
        eprintln!("[gateway] attach → tools listed in {} ms", attached_at.elapsed().as_millis());
        let names = tool_names(&listed.body);
        assert!(names.contains(&"get_support".to_owned()), "{names:?}");
        assert!(names.contains(&"ev__echo".to_owned()), "{names:?}");
        let first_upstream = names.iter().position(|n| n.starts_with("ev__")).unwrap();
        assert!(names[..first_upstream].contains(&"get_support".to_owned()), "built-in tools first: {names:?}");

        let called = mcp.call_tool(2, "ev__echo", json!({"message": "hello through the gateway"})).await;
        let text = called.body["result"]["content"][0]["text"].as_str().unwrap_or_default();
        assert!(text.contains("hello through the gateway"), "{}", called.body);
        assert_ne!(called.body["result"]["isError"], true);

        let recorded = app.wait_for_tool_calls(&acme, 1).await;
        assert_eq!(recorded[0]["tool_name"], "ev__echo", "{recorded:?}");
        assert_eq!(recorded[0]["upstream_id"], id.as_str(), "analytics name the upstream: {recorded:?}");

        official_clients_call_it_with_progress(&app).await;

        // Uninstalled: its tools leave the server.
        let (status, _) = app.api(Method::DELETE, &format!("/upstreams/{id}"), &acme.key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let names = tool_names(&mcp.call(3, "tools/list", json!({})).await.body);
        assert!(!names.iter().any(|n| n.starts_with("ev__")), "{names:?}");
        let gone = mcp.call_tool(4, "ev__echo", json!({"message": "x"})).await;
        assert!(gone.body.to_string().contains("ev__echo"), "an unknown tool now: {}", gone.body);
    }

    async fn another_organization_cannot_see_attach_or_read_an_upstream(db: &TestDatabase) {
        let app = gateway_app(db).await;
        let acme = app.create_tenant("Acme").await;
        let other = app.create_tenant("Other").await;
        let (_, installed) = app
            .api(Method::POST, "/upstreams", &acme.key, Some(json!({"catalog_entry_id": "everything"})))
            .await;
        let id = installed["id"].as_str().unwrap().to_owned();
        let theirs = app.create_server(&other, "other", json!({})).await;
        let their_server = theirs["id"].as_str().unwrap();
        for path in [format!("/upstreams/{id}"), format!("/upstreams/{id}/tools"), format!("/upstreams/{id}/logs")] {
            let (status, _) = app.get(&path, &other.key).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        let (_, listed) = app.get("/upstreams", &other.key).await;
        assert_eq!(listed["items"], json!([]));
        let attach = format!("/servers/{their_server}/upstreams/{id}");
        let (status, _) = app.api(Method::PUT, &attach, &other.key, Some(json!({"prefix": "ev"}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "cannot attach another organization's upstream");
        let (status, _) = app.api(Method::DELETE, &format!("/upstreams/{id}"), &other.key, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Bad input is refused clearly.
        let (status, problem) = app
            .api(Method::POST, "/upstreams", &acme.key, Some(json!({"catalog_entry_id": "nope"})))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        let acme_server = app.create_server(&acme, "acme", json!({})).await;
        let path = format!("/servers/{}/upstreams/{id}", acme_server["id"].as_str().unwrap());
        let (status, _) = app.api(Method::PUT, &path, &acme.key, Some(json!({"prefix": "a_b"}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "prefixes cannot contain _");
        settled(&app, &acme, &id).await;
    }
}

backend_tests! {
    async fn an_organization_adds_private_entries_only_it_sees_and_installs(db: &TestDatabase) {
        let app = gateway_app(db).await;
        let acme = app.create_tenant("Acme").await;
        let other = app.create_tenant("Other").await;
        let entry = json!({"id": "my-everything", "name": "My Everything", "description": "Pinned by Acme.",
            "spec": {"runtime": "npm", "package": "@modelcontextprotocol/server-everything",
                     "version": "2026.8.31", "bin": "mcp-server-everything", "args": ["stdio"]}});
        let add = |body: Value| app.api(Method::POST, "/catalog", &acme.key, Some(body));
        let (status, added) = add(entry.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{added}");
        let (_, catalog) = app.get("/catalog", &acme.key).await;
        let mine = catalog["items"].as_array().unwrap().iter().find(|e| e["id"] == "my-everything").cloned();
        assert_eq!(mine.unwrap()["source"], "organization", "{catalog}");
        let (_, theirs) = app.get("/catalog", &other.key).await;
        assert!(!theirs.to_string().contains("my-everything"), "private: {theirs}");

        let install = json!({"catalog_entry_id": "my-everything"});
        let (status, _) = app.api(Method::POST, "/upstreams", &other.key, Some(install.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "another organization cannot install it");
        let (status, installed) = app.api(Method::POST, "/upstreams", &acme.key, Some(install)).await;
        assert_eq!(status, StatusCode::CREATED, "{installed}");
        let ready = settled(&app, &acme, installed["id"].as_str().unwrap()).await;
        assert_eq!(ready["status"], "ready", "{ready}");

        let (status, _) = add(entry.clone()).await;
        assert_eq!(status, StatusCode::CONFLICT, "the id is taken");
        let mut builtin = entry.clone();
        builtin["id"] = json!("everything");
        assert_eq!(add(builtin).await.0, StatusCode::CONFLICT, "the platform's id");
        let refused = [
            json!({"runtime": "command", "command": "/bin/sh", "args": ["-c", "id"]}),
            json!({"runtime": "npm", "package": "left-pad", "version": "^1.3.0"}),
            json!({"runtime": "npm", "package": "left-pad", "version": "1.3.0", "env": {"NODE_OPTIONS": "--require /tmp/x.js"}}),
            json!({"runtime": "npm", "package": "../../etc", "version": "1.0.0"}),
            json!({"runtime": "npm", "package": "-g", "version": "1.0.0"}),
            json!({"runtime": "npm", "package": "left-pad", "version": "1.x"}),
            json!({"runtime": "http", "url": "http://mcp.example.com/mcp"}),
        ];
        for (n, spec) in refused.into_iter().enumerate() {
            let body = json!({"id": format!("bad-{n}"), "name": "Bad", "description": "", "spec": spec});
            let (status, problem) = add(body).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{spec}: {problem}");
        }
        // Each variable that steers how programs load is refused by name.
        for (n, variable) in ["PATH", "NODE_OPTIONS", "NODE_PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT"].into_iter().enumerate() {
            let spec = json!({"runtime": "npm", "package": "left-pad", "version": "1.3.0", "env": {variable: "/tmp/x"}});
            let body = json!({"id": format!("loader-{n}"), "name": "Bad", "description": "", "spec": spec});
            let (status, problem) = add(body).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{variable}: {problem}");
            assert!(problem.to_string().contains(&format!("\\\"{variable}\\\" cannot be set")), "{variable}: {problem}");
        }

        // Without the operator's opt-in, an organization's own package runs in a container,
        // of an image the operator allows.
        let strict = spawn_app_with(db, |settings| {
            settings.platform.container_images = vec!["registry.example.com/team/server:1.2".into()];
        })
        .await;
        let (status, problem) = strict.api(Method::POST, "/catalog", &acme.key,
            Some(json!({"id": "npm-here", "name": "N", "description": "", "spec": entry["spec"]}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem.to_string().contains("--private-package-entries"), "{problem}");
        let boxed = json!({"id": "boxed", "name": "Boxed", "description": "",
            "spec": {"runtime": "container", "image": "registry.example.com/team/server:1.2"}});
        let (status, added) = strict.api(Method::POST, "/catalog", &acme.key, Some(boxed)).await;
        assert_eq!(status, StatusCode::CREATED, "{added}");
        assert_eq!(added["spec"]["limits"]["memory_mb"], 256, "default limits: {added}");
    }
}

backend_tests! {
    async fn a_pypi_package_is_fetched_at_install_and_its_console_script_runs(db: &TestDatabase) {
        let app = gateway_app(db).await;
        let acme = app.create_tenant("Acme").await;
        app.trust_new_tools(&acme).await;
        let server = app.create_server(&acme, "acme", json!({})).await;
        let started = Instant::now();
        let (status, installed) = app
            .api(Method::POST, "/upstreams", &acme.key, Some(json!({"catalog_entry_id": "time"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{installed}");
        let id = installed["id"].as_str().unwrap().to_owned();
        let ready = settled(&app, &acme, &id).await;
        assert_eq!(ready["status"], "ready", "{ready}");
        eprintln!("[gateway] PyPI install → ready in {:.1} s", started.elapsed().as_secs_f64());
        let path = format!("/servers/{}/upstreams/{id}", server["id"].as_str().unwrap());
        let (status, _) = app.api(Method::PUT, &path, &acme.key, Some(json!({"prefix": "tm"}))).await;
        assert_eq!(status, StatusCode::OK);
        let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
        let called = mcp.call_tool(1, "tm__get_current_time", json!({"timezone": "Europe/Paris"})).await;
        let text = called.body["result"]["content"][0]["text"].as_str().unwrap_or_default();
        assert!(text.contains("Europe/Paris"), "{}", called.body);
    }
}

/// Installs a built-in entry, waits until it is ready and attaches it under `prefix`.
async fn installed(
    app: &TestApp,
    tenant: &Tenant,
    server: &str,
    entry: &str,
    prefix: &str,
) -> String {
    let body = json!({"catalog_entry_id": entry});
    let (status, installed) = app
        .api(Method::POST, "/upstreams", &tenant.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    let id = installed["id"].as_str().unwrap().to_owned();
    let ready = settled(app, tenant, &id).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert!(
        ready["confinement"]
            .as_str()
            .unwrap()
            .starts_with("strict:"),
        "{ready}"
    );
    let path = format!("/servers/{server}/upstreams/{id}");
    let (status, _) = app
        .api(
            Method::PUT,
            &path,
            &tenant.key,
            Some(json!({"prefix": prefix})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    id
}

backend_tests! {
    /// `memory` and `filesystem` from the built-in catalog answer with confinement on;
    /// `filesystem` reaches its own directory and neither `/` nor its neighbour's.
    async fn built_in_memory_and_filesystem_answer_confined_to_their_own_directories(db: &TestDatabase) {
        let app = gateway_app(db).await;
        let acme = app.create_tenant("Acme").await;
        app.trust_new_tools(&acme).await;
        let server = app.create_server(&acme, "acme", json!({})).await;
        let server = server["id"].as_str().unwrap().to_owned();
        let (_, catalog) = app.get("/catalog", &acme.key).await;
        for entry in catalog["items"].as_array().unwrap() {
            if matches!(entry["spec"]["runtime"].as_str(), Some("npm" | "pypi")) {
                assert_eq!(entry["spec"]["network"], false, "declared before install: {entry}");
            }
        }
        installed(&app, &acme, &server, "memory", "mem").await;
        let fs = installed(&app, &acme, &server, "filesystem", "fs").await;
        let neighbour = installed(&app, &acme, &server, "filesystem", "fn").await;
        let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
        let text = |answer: &Value| answer["result"]["content"][0]["text"].as_str().unwrap_or_default().to_owned();

        let entities = json!({"entities": [{"name": "Guidepost", "entityType": "project", "observations": ["confined"]}]});
        let created = mcp.call_tool(1, "mem__create_entities", entities).await;
        assert_ne!(created.body["result"]["isError"], true, "{}", created.body);
        let graph = mcp.call_tool(2, "mem__read_graph", json!({})).await;
        assert!(text(&graph.body).contains("confined"), "{}", graph.body);

        let allowed = mcp.call_tool(3, "fs__list_allowed_directories", json!({})).await;
        assert!(text(&allowed.body).contains(&fs), "its own directory: {}", allowed.body);
        let own = text(&allowed.body).lines().find(|l| l.contains(&fs)).unwrap().trim().to_owned();
        let written = mcp.call_tool(4, "fs__write_file", json!({"path": format!("{own}/note.txt"), "content": "mine"})).await;
        assert_ne!(written.body["result"]["isError"], true, "{}", written.body);
        let root = mcp.call_tool(5, "fs__list_directory", json!({"path": "/"})).await;
        assert_eq!(root.body["result"]["isError"], true, "not /: {}", root.body);
        let theirs = own.replace(&fs, &neighbour);
        let other = mcp.call_tool(6, "fs__list_directory", json!({"path": theirs})).await;
        assert_eq!(other.body["result"]["isError"], true, "not its neighbour's: {}", other.body);
        let read_back = mcp.call_tool(7, "fn__read_text_file", json!({"path": format!("{own}/note.txt")})).await;
        assert_eq!(read_back.body["result"]["isError"], true, "the neighbour cannot read it: {}", read_back.body);
    }
}
