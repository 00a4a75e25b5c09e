//! Operations: health, readiness, metrics, graceful shutdown, and the demo.

use std::process::Stdio;
use std::time::Duration;

use guidepost_testkit::{TestBackend, TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{ApiClient, RawMcp, SESSION_ERA, STATELESS_ERA, python_smoke, spawn_app};

backend_tests! {
    async fn health_readiness_and_metrics_answer(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server(&tenant, "acme", json!({})).await;
        RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA).call(1, "tools/list", json!({})).await;
        for path in ["/healthz", "/readyz"] {
            let response = app.http.get(format!("{}{path}", app.url)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
        }
        let metrics = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("guidepost_mcp_requests_total"), "{metrics}");
        assert!(metrics.contains("method=\"tools/list\""));
        assert!(metrics.contains("guidepost_store_pool_connections{state=\"open\"}"), "{metrics}");
        // SQLite's hot writers take turns, and /metrics tells how long each waited and
        // held it; PostgreSQL's writers take none, and it has nothing to tell.
        for writer in ["progress", "analytics"] {
            let held = format!("guidepost_store_write_turn_held_seconds{{writer=\"{writer}\"}}");
            assert_eq!(metrics.contains(&held), db.backend == TestBackend::Sqlite, "{held} in {metrics}");
        }
    }

    async fn metrics_count_each_tool_call_by_its_labels(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server(&tenant, "acme", json!({})).await;
        let mcp = RawMcp::new(format!("{}?tracking_id=t", app.mcp_path_url("acme")), STATELESS_ERA);
        let calls = r#"guidepost_tool_calls_total{tool="get_support",outcome="ok"}"#;
        let requests = r#"guidepost_mcp_requests_total{method="tools/call",status="200"}"#;
        let durations = r#"guidepost_tool_call_duration_seconds_count{tool="get_support"}"#;
        // The same calls under OpenTelemetry's MCP conventions, and the listing too.
        let operations = r#"mcp_server_operation_duration_seconds_count{mcp_method_name="tools/call",gen_ai_tool_name="get_support"}"#;
        let listings = r#"mcp_server_operation_duration_seconds_count{mcp_method_name="tools/list"}"#;
        let before = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
        for id in 0..3 {
            let support = json!({"title": "t", "problem_description": "d", "email": "a@b.co"});
            mcp.call_tool(id, "get_support", support).await.structured();
            mcp.call(10 + id, "tools/list", json!({})).await;
        }
        let after = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
        // At least this test's three calls (other tests in the process may add theirs).
        for series in [calls, requests, durations, operations, listings] {
            let added = sample(&after, series) - sample(&before, series);
            assert!(added >= 3.0, "{series}: {added} added in\n{after}");
        }
    }

    async fn a_session_that_ends_is_measured_as_the_mcp_conventions_name_it(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server(&tenant, "acme", json!({})).await;
        let series = "mcp_server_session_duration_seconds_count";
        let metrics = async || app.http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
        let before = metrics().await;
        let mut mcp = RawMcp::new(app.mcp_path_url("acme"), SESSION_ERA);
        mcp.initialize().await;
        let closed = mcp.send(mcp.request(reqwest::Method::DELETE)).await;
        assert!(closed.status.is_success(), "DELETE: {}", closed.status);
        let after = metrics().await;
        // At least this session (other tests in the process may end theirs).
        let added = sample(&after, series) - sample(&before, series);
        assert!(added >= 1.0, "{series}: {added} added in\n{after}");
        assert!(after.contains("mcp_server_session_duration_seconds_bucket{le=\"86400\"}"), "a day's bucket: {after}");
    }

    async fn shutdown_flushes_recorded_tool_calls(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server(&tenant, "acme", json!({})).await;
        let mcp = RawMcp::new(format!("{}?tracking_id=t", app.mcp_path_url("acme")), STATELESS_ERA);
        for id in 0..5 {
            mcp.call_tool(id, "get_support", json!({"title": "t", "problem_description": "d", "email": "a@b.co"})).await;
        }
        let store = app.store.clone();
        let org = tenant.org.clone();
        app.app.shutdown().await.unwrap();
        let page = store
            .list_tool_calls(&org, &Default::default(), &guidepost_domain::PageRequest::default())
            .await
            .unwrap();
        assert_eq!(page.items.len(), 5, "every call was written before the process stopped");
    }
}

/// `guidepost serve --demo` on a fresh directory prints an MCP URL and an API key that
/// work: the Python client calls get_support, and the key lists the server.
#[tokio::test]
async fn demo_prints_a_working_mcp_url_and_api_key() {
    let dir = TestDatabase::create(TestBackend::Sqlite).await;
    let workdir = std::env::temp_dir().join(format!("gp-demo-{}", std::process::id()));
    std::fs::create_dir_all(&workdir).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"))
        .args([
            "serve",
            "--demo",
            "--json",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &dir.url,
        ])
        .current_dir(&workdir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("guidepost starts");
    let seeded = read_demo_output(child.stdout.take().unwrap()).await;
    let path_url = seeded["path_mcp_url"].as_str().unwrap();
    assert!(
        path_url.contains("tracking_id="),
        "the URL carries a tracking id: {path_url}"
    );
    assert!(
        seeded["mcp_url"]
            .as_str()
            .unwrap()
            .starts_with("http://demo.localhost:")
    );

    let report = python_smoke(&[
        "--url",
        path_url,
        "--mode",
        "legacy",
        "--call-support-email",
        "demo@example.com",
    ])
    .await;
    assert_eq!(report["is_error"], false, "{report}");

    let key = seeded["api_key"].as_str().unwrap();
    let api = seeded["api_url"]
        .as_str()
        .unwrap()
        .replace("localhost", "127.0.0.1");
    let servers = ApiClient::new(api)
        .call(reqwest::Method::GET, "/servers", Some(key), None)
        .await;
    assert!(servers.is_json(), "{}", servers.text);
    let servers = servers.body;
    assert_eq!(servers["items"][0]["slug"], "demo");
    // The printed dashboard link opens the sign-in page with the demo owner filled in.
    let dashboard = seeded["dashboard_url"].as_str().unwrap();
    assert!(
        dashboard.ends_with("/app/sign-in?email=owner%40demo.example"),
        "{dashboard}"
    );
    let page = reqwest::get(dashboard.replace("localhost", "127.0.0.1"))
        .await
        .unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("value=\"owner@demo.example\"")
    );
    child.kill().await.ok();
    std::fs::remove_dir_all(&workdir).ok();
}

pub(crate) async fn read_demo_output(stdout: tokio::process::ChildStdout) -> Value {
    let mut lines = BufReader::new(stdout).lines();
    let mut text = String::new();
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            text.push_str(&line);
            if let Ok(value) = serde_json::from_str::<Value>(&text) {
                return value;
            }
        }
        panic!("the demo printed no JSON: {text}");
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the demo starts within 30 s")
}

/// SIGTERM stops a `guidepost serve` process gracefully: it exits successfully and every
/// tool call it answered is in the database.
#[tokio::test]
async fn sigterm_flushes_analytics_and_exits_cleanly() {
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    let setup = spawn_app(&db).await;
    let tenant = setup.create_tenant("Acme").await;
    setup.create_server(&tenant, "acme", json!({})).await;
    setup.app.shutdown().await.unwrap();

    let (mut child, url) = crate::helpers::serve_process(&db.url).await;
    let mcp = RawMcp::new(format!("{url}/s/acme/mcp?tracking_id=t"), STATELESS_ERA);
    for id in 0..3 {
        let answer = mcp
            .call_tool(
                id,
                "get_support",
                json!({"title": "t", "problem_description": "d", "email": "a@b.co"}),
            )
            .await;
        assert_eq!(answer.body["result"]["isError"], false);
    }
    let pid = child.id().expect("the process runs").to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("it stops")
        .unwrap();
    assert!(status.success(), "a graceful stop exits 0: {status:?}");

    let store = guidepost_store::connect(&db.url).await.unwrap();
    let org = tenant.org.clone();
    let page = store
        .list_tool_calls(
            &org,
            &Default::default(),
            &guidepost_domain::PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        page.items.len(),
        3,
        "every answered call was recorded before exit"
    );
}

/// `guidepost bench` drives every walkthrough tool in both eras without errors, and
/// reports statements per call; with `--policies`, every call is decided by them.
#[tokio::test]
async fn bench_runs_the_walkthrough_tools_in_both_eras() {
    for era in ["stateless", "session"] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"))
            .args([
                "bench",
                "--json",
                "--users",
                "2",
                "--steps",
                "3",
                "--duration",
                "1",
                "--era",
                era,
            ])
            // The session era's run is decided by 20 call-time policies that refuse none.
            .args(["--policies", if era == "session" { "20" } else { "0" }])
            .output()
            .await
            .expect("bench runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
        let tools: Vec<&str> = report["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["tool"].as_str().unwrap())
            .collect();
        assert_eq!(
            tools,
            [
                "get_walkthrough_status",
                "list_walkthroughs",
                "next_walkthrough_step",
                "reset_walkthrough_progress",
                "select_walkthrough"
            ],
            "{era}"
        );
        assert_eq!(report["total_errors"], 0, "{era}: {report}");
        assert_eq!(
            report["policies"],
            if era == "session" { 20 } else { 0 },
            "{report}"
        );
        assert!(report["total_calls"].as_u64().unwrap() >= 5, "{era}");
        assert!(
            report["statements_per_call"]
                .as_f64()
                .is_some_and(|n| n > 0.0),
            "{era}: {report}"
        );
        assert!(
            report["cpu_us_per_call"].as_f64().is_some_and(|n| n > 0.0),
            "{era}: the process's CPU per call, Guidepost running in it: {report}"
        );
        // On its SQLite file every step is a progress write, each group of them a turn.
        let progress = &report["write_turn"]["progress"];
        assert!(
            progress["turns"].as_u64().is_some_and(|n| n > 0),
            "{era}: {report}"
        );
        assert!(
            progress["held_share"]
                .as_f64()
                .is_some_and(|s| s > 0.0 && s < 1.0),
            "{era}: {report}"
        );
    }
}

/// `guidepost server create --kind conformance_fixture` is refused unless fixtures are
/// enabled, and then creates one.
#[tokio::test]
async fn cli_creates_fixture_servers_only_when_fixtures_are_enabled() {
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    let cli = |args: &[&str], fixtures: bool| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"));
        command
            .args(["--json", "--database-url", &db.url])
            .args(args);
        command.env(
            "GUIDEPOST_ENABLE_FIXTURES",
            if fixtures { "true" } else { "false" },
        );
        command.output()
    };
    let org: Value = serde_json::from_slice(
        &cli(&["org", "create", "--name", "Conf"], false)
            .await
            .unwrap()
            .stdout,
    )
    .unwrap();
    let org_id = org["organization"]["id"].as_str().unwrap();
    let create = [
        "server",
        "create",
        "--org",
        org_id,
        "--name",
        "Fixture",
        "--slug",
        "fixture",
        "--kind",
        "conformance_fixture",
    ];
    let refused = cli(&create, false).await.unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--enable-fixtures"));
    let created = cli(&create, true).await.unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let server: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(server["kind"], "conformance_fixture");
}

/// The value of one series in a Prometheus text exposition, 0 when it is not there yet.
fn sample(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}
