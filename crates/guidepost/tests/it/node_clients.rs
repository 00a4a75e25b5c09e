//! Real Node MCP clients against a normal tenant server created through the API: the
//! MCP Inspector CLI (`@modelcontextprotocol/inspector`) and the TypeScript client
//! (`@modelcontextprotocol/client`, tests/e2e/ts_client.mjs) in both protocol eras. Each
//! lists the tools and opens a support request with `get_support`.

use std::ffi::OsStr;
use std::time::Duration;

use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, json_report, spawn_app};
use crate::node;

const INSPECTOR: &str = "@modelcontextprotocol/inspector/clients/launcher/build/index.js";
const LIMIT: Duration = Duration::from_secs(120);

/// An app with one standard server, `acme`, and the URL a tracked end user reaches it at.
async fn acme(db: &TestDatabase) -> (TestApp, Tenant, String) {
    let app = spawn_app(db).await;
    let tenant = app.create_tenant("Acme").await;
    let server = app
        .create_server(&tenant, "acme", json!({"product_name": "Acme Cloud"}))
        .await;
    assert_eq!(server["kind"], "standard");
    let url = format!("{}?tracking_id=dev-42", app.mcp_path_url("acme"));
    (app, tenant, url)
}

/// The support requests of the tenant, after the clients are done.
async fn support_requests(app: &TestApp, tenant: &Tenant) -> Vec<Value> {
    let (status, listed) = app.get("/support-requests", &tenant.key).await;
    assert_eq!(status, 200);
    listed["items"].as_array().cloned().unwrap_or_default()
}

/// Runs the Inspector CLI; returns its JSON output. Its catalog and settings go to a
/// scratch HOME, not the user's.
async fn inspector(home: &std::path::Path, url: &str, method_args: &[&str]) -> Value {
    let launcher = node::package_file(INSPECTOR);
    let mut args: Vec<&OsStr> = vec![launcher.as_os_str(), "--cli".as_ref(), url.as_ref()];
    args.extend(method_args.iter().map(OsStr::new));
    let catalog = home.join("mcp.json");
    let env: [(&str, &OsStr); 2] = [
        ("HOME", home.as_os_str()),
        ("MCP_CATALOG_PATH", catalog.as_os_str()),
    ];
    let (output, took) = node::run(&args, &env, LIMIT).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "inspector {method_args:?} failed ({:?}) after {took:?}:\n{stdout}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("inspector output is JSON ({e}):\n{stdout}"))
}

async fn inspector_cli_lists_and_calls_get_support(db: &TestDatabase) {
    let (app, tenant, url) = acme(db).await;
    let home = node::scratch_dir(&format!("inspector-home-{}", db.backend));

    let listed = inspector(&home, &url, &["--method", "tools/list"]).await;
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .expect("a tools array")
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    assert_eq!(names, ["get_support"], "{listed}");

    let called = inspector(
        &home,
        &url,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "get_support",
            "--tool-arg",
            "title=Cannot connect my account",
            "problem_description=The connect button spins forever.",
            "email=ada@example.com",
        ],
    )
    .await;
    assert_eq!(called["isError"], false, "{called}");
    assert_eq!(called["structuredContent"]["status"], "open", "{called}");
    let id = called["structuredContent"]["support_request_id"].clone();

    let requests = support_requests(&app, &tenant).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["id"], id);
    assert_eq!(requests[0]["email"], "ada@example.com");
    let calls = app.wait_for_tool_calls(&tenant, 1).await;
    assert_eq!(calls[0]["tool_name"], "get_support");
    node::summary(
        &format!("inspector-{}", db.backend),
        &[format!(
            "inspector CLI [{}]: tools/list {names:?}, tools/call get_support -> {}",
            db.backend, called["structuredContent"]
        )],
    );
    app.app.shutdown().await.unwrap();
}

/// Runs tests/e2e/ts_client.mjs; returns its JSON report (the last line of stdout).
async fn ts_client(url: &str, mode: &str) -> Value {
    let script = node::e2e_dir().join("ts_client.mjs");
    node::package_file("@modelcontextprotocol/client/package.json");
    let args: [&OsStr; 7] = [
        script.as_os_str(),
        "--url".as_ref(),
        url.as_ref(),
        "--mode".as_ref(),
        mode.as_ref(),
        "--call-support-email".as_ref(),
        "ada@example.com".as_ref(),
    ];
    let (output, _) = node::run(&args, &[], LIMIT).await;
    let report = json_report(&output, "the TypeScript client");
    assert_eq!(report["error"], Value::Null, "{mode}: {report}");
    assert!(output.status.success(), "{mode}: {report}");
    report
}

async fn typescript_client_lists_and_calls_get_support_in_both_eras(db: &TestDatabase) {
    let (app, tenant, url) = acme(db).await;
    let mut lines = Vec::new();
    for (mode, era) in [("auto", "2026-07-28"), ("legacy", "2025-11-25")] {
        let report = ts_client(&url, mode).await;
        assert_eq!(report["protocol_version"], era, "{mode}: {report}");
        assert_eq!(report["server_name"], "Acme Cloud", "{mode}");
        assert_eq!(report["tools"], json!(["get_support"]), "{mode}");
        assert_eq!(report["is_error"], false, "{mode}: {report}");
        assert_eq!(report["support"]["status"], "open", "{mode}: {report}");
        lines.push(format!(
            "TypeScript client [{}] mode {mode} -> {era}: tools {}, get_support -> {}",
            db.backend, report["tools"], report["support"]
        ));
    }
    let requests = support_requests(&app, &tenant).await;
    assert_eq!(requests.len(), 2, "one support request per era");
    let calls = app.wait_for_tool_calls(&tenant, 2).await;
    assert!(calls.iter().all(|call| call["tool_name"] == "get_support"));
    node::summary(&format!("typescript-client-{}", db.backend), &lines);
    app.app.shutdown().await.unwrap();
}

backend_tests! {
    async fn inspector_cli_lists_and_calls_get_support_on_a_tenant_server(db: &TestDatabase) {
        inspector_cli_lists_and_calls_get_support(db).await;
    }

    async fn typescript_client_lists_and_calls_get_support_in_both_eras_on_a_tenant_server(db: &TestDatabase) {
        typescript_client_lists_and_calls_get_support_in_both_eras(db).await;
    }
}
