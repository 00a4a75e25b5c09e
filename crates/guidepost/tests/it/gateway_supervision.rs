//! The gateway's supervision and call relay, against a small upstream of the
//! tests' own (`upstream_fixture.py`, installed from an operator catalog entry): progress
//! reaches the caller under the caller's token, a call given up on is cancelled at the
//! upstream, `list_changed` reaches the servers that attach it, a crash is restarted,
//! stopping kills the whole process group, and a flood of stderr never blocks it.

use std::time::{Duration, Instant};

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::{
    fixture, fixture_catalog, is_gone, text_of, wait_for, wait_for_mark, wait_until_gone,
};
use crate::helpers::{RawMcp, SESSION_ERA};
use crate::walkthrough_runtime::{expect_chunk, open_get_stream, open_listen};

backend_tests! {
    async fn progress_reaches_the_caller_under_its_own_token(db: &TestDatabase) {
        let f = fixture(db, "acme", 60_000).await;
        let mut session = RawMcp::new(f.app.mcp_path_url(&f.slug), SESSION_ERA);
        session.initialize().await;
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
            "name": "fx__slow", "arguments": {"seconds": 0.6, "steps": 3},
            "_meta": {"progressToken": "caller-token-1"}}});
        let response = session.request(Method::POST).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.unwrap();
        let messages: Vec<Value> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str(d.trim()).ok())
            .collect();
        let progress: Vec<&Value> = messages.iter().filter(|m| m["method"] == "notifications/progress").collect();
        assert_eq!(progress.len(), 3, "{text}");
        for (n, update) in progress.iter().enumerate() {
            assert_eq!(update["params"]["progressToken"], "caller-token-1", "the caller's own token: {update}");
            assert_eq!(update["params"]["progress"].as_f64(), Some(n as f64 + 1.0));
            assert_eq!(update["params"]["total"].as_f64(), Some(3.0));
            assert_eq!(update["params"]["message"], format!("step {} of 3", n + 1));
        }
        let last = messages.last().unwrap();
        assert_eq!(last["id"], 7);
        assert_eq!(text_of(last), "done after 3 steps");
    }

    async fn a_call_given_up_on_is_cancelled_at_the_upstream(db: &TestDatabase) {
        // The attachment's timeout gives up after 300 ms; the upstream hears it.
        let f = fixture(db, "timeout", 300).await;
        let answer = f.mcp.call_tool(1, "fx__slow", json!({"seconds": 20, "steps": 40})).await;
        assert_eq!(answer.body["result"]["isError"], true, "{}", answer.body);
        assert!(answer.tool_error_text().contains("did not answer within"), "{}", answer.body);
        wait_for_mark(&f.marks, "cancelled").await;

        // The caller cancels one of two calls to two upstreams: only the owner of that
        // call hears it, for its own request.
        let f = fixture(db, "cancel", 60_000).await;
        let (_, other) = f.app.api(Method::POST, "/upstreams", &f.acme.key,
            Some(json!({"catalog_entry_id": "fixture", "name": "Other"}))).await;
        let other = other["id"].as_str().unwrap().to_owned();
        wait_for(&f.app, &f.acme, &other, |u| u["status"] == "ready").await;
        let path = format!("/servers/{}/upstreams/{other}", f.server);
        let (status, _) = f.app.api(Method::PUT, &path, &f.acme.key, Some(json!({"prefix": "fy"}))).await;
        assert_eq!(status, StatusCode::OK);
        let started = wait_for_mark(&f.marks, "started").await;
        assert_eq!(started.len(), 2, "{started:?}");
        let owner = started[0].split_whitespace().nth(1).unwrap().to_owned();
        let mut session = RawMcp::new(f.app.mcp_path_url(&f.slug), SESSION_ERA);
        session.initialize().await;
        let slow = |id: i64, tool: &str| json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": {"seconds": 20, "steps": 40}}});
        let pending = tokio::spawn(session.request(Method::POST).json(&slow(41, "fx__slow")).send());
        let bystander = tokio::spawn(session.request(Method::POST).json(&slow(42, "fy__slow")).send());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": 41, "reason": "changed my mind"}});
        let ack = session.send(session.request(Method::POST).json(&cancel)).await;
        assert_eq!(ack.status, StatusCode::ACCEPTED);
        let cancelled = wait_for_mark(&f.marks, "cancelled").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cancelled_now = wait_for_mark(&f.marks, "cancelled").await;
        assert_eq!(cancelled_now, cancelled, "one cancellation only: {cancelled_now:?}");
        assert_eq!(cancelled.len(), 1, "{cancelled:?}");
        assert!(cancelled[0].starts_with(&format!("cancelled {owner} ")), "the owner heard it: {cancelled:?} (owner {owner})");
        pending.abort();
        bystander.abort();
        let echo = f.mcp.call_tool(2, "fx__echo", json!({"message": "still here"})).await;
        assert_eq!(text_of(&echo.body), "still here", "the upstream serves on: {}", echo.body);
    }

    async fn an_upstreams_new_tools_reach_the_servers_that_attach_it(db: &TestDatabase) {
        let f = fixture(db, "acme", 60_000).await;
        let names = |answer: &Value| -> Vec<String> {
            answer["result"]["tools"].as_array().unwrap().iter()
                .map(|t| t["name"].as_str().unwrap().to_owned()).collect()
        };
        let before = names(&f.mcp.call(1, "tools/list", json!({})).await.body);
        assert!(before.contains(&"fx__echo".to_owned()) && !before.contains(&"fx__fresh".to_owned()), "{before:?}");
        let grown = f.mcp.call_tool(2, "fx__grow", json!({"name": "fresh"})).await;
        assert_eq!(text_of(&grown.body), "grown");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = names(&f.mcp.call(3, "tools/list", json!({})).await.body);
            if now.contains(&"fx__fresh".to_owned()) {
                break;
            }
            assert!(Instant::now() < deadline, "list_changed was not relayed: {now:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (_, tools) = f.app.get(&format!("/upstreams/{}/tools", f.upstream), &f.acme.key).await;
        assert!(tools["items"].as_array().unwrap().iter().any(|t| t["name"] == "fresh"), "{tools}");
    }

    async fn a_crashed_upstream_is_restarted_and_stopping_kills_its_process_group(db: &TestDatabase) {
        let f = fixture(db, "acme", 60_000).await;
        let crashed = f.mcp.call_tool(1, "fx__crash", json!({})).await;
        assert_eq!(crashed.body["result"]["isError"], true, "{}", crashed.body);
        let echo = f.mcp.call_tool(2, "fx__echo", json!({"message": "back"})).await;
        assert_eq!(text_of(&echo.body), "back", "restarted on the next call: {}", echo.body);
        let upstream = wait_for(&f.app, &f.acme, &f.upstream, |u| u["status"] == "ready").await;
        assert_eq!(upstream["restarts"], 1, "{upstream}");
        let started = wait_for_mark(&f.marks, "started").await;
        assert_eq!(started.len(), 2, "{started:?}");

        let child = f.mcp.call_tool(3, "fx__spawn_child", json!({})).await;
        let child: i64 = text_of(&child.body).parse().expect("a pid");
        let leader: i64 = started[1].split_whitespace().nth(1).unwrap().parse().unwrap();
        // Found in the host's /proc by their identities (a process is found once its
        // environment is readable there).
        for (what, pid) in [("child", child), ("leader", leader)] {
            let deadline = Instant::now() + Duration::from_secs(10);
            while is_gone(pid) {
                let (_, upstream) = f.app.get(&format!("/upstreams/{}", f.upstream), &f.acme.key).await;
                let marks = wait_for_mark(&f.marks, "started").await;
                assert!(Instant::now() < deadline, "the {what} {pid} is not running: {marks:?} {upstream}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let (status, _) = f.app.api(Method::DELETE, &format!("/upstreams/{}", f.upstream), &f.acme.key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        wait_until_gone(leader).await;
        wait_until_gone(child).await;
    }

    async fn a_flood_of_stderr_never_blocks_an_upstream_and_its_logs_stay_bounded(db: &TestDatabase) {
        let f = fixture(db, "acme", 60_000).await;
        // 20,000 lines of 200 bytes: 4 MB, sixty times what an undrained pipe holds.
        let noisy = f.mcp.call_tool(1, "fx__noisy", json!({"lines": 20000})).await;
        assert_eq!(text_of(&noisy.body), "wrote 20000 lines", "{}", noisy.body);
        let (status, logs) = f.app.get(&format!("/upstreams/{}/logs", f.upstream), &f.acme.key).await;
        assert_eq!(status, StatusCode::OK);
        let lines: Vec<&str> = logs["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        let bytes: usize = lines.iter().map(|l| l.len()).sum();
        assert!(bytes <= 1024 * 1024, "{bytes} bytes kept");
        assert!(lines.last().unwrap().starts_with("noise line 019999"), "the newest kept: {:?}", lines.last());
        assert!(!lines.iter().any(|l| l.starts_with("noise line 000000")), "the oldest dropped");
    }

    async fn an_endless_stderr_line_is_cut_without_holding_it_in_memory(db: &TestDatabase) {
        let f = fixture(db, "acme", 60_000).await;
        let before = peak_memory();
        // 300 MiB with no newline. The answer comes once the last write is in the pipe, so
        // all but a pipe's worth has been read by the time it is measured.
        let unbroken = 300 * 1024 * 1024;
        let noisy = f.mcp.call_tool(1, "fx__noisy", json!({"lines": 1, "unbroken": unbroken})).await;
        assert_eq!(text_of(&noisy.body), "wrote 1 lines", "{}", noisy.body);
        let grown = peak_memory() - before;
        assert!(grown < 100 * 1024 * 1024, "the peak grew by {grown} bytes for a 300 MiB line");
        let echo = f.mcp.call_tool(2, "fx__echo", json!({"message": "still here"})).await;
        assert_eq!(text_of(&echo.body), "still here", "the upstream serves on: {}", echo.body);
        let (status, logs) = f.app.get(&format!("/upstreams/{}/logs", f.upstream), &f.acme.key).await;
        assert_eq!(status, StatusCode::OK);
        let lines: Vec<&str> = logs["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        let cut = lines.iter().find(|l| l.starts_with("yyyy")).expect("the long line is kept, cut");
        assert!(cut.ends_with(" …") && cut.len() < 8 * 1024, "cut and marked: {} bytes", cut.len());
    }
}

/// This process's peak resident memory in bytes (`VmHWM`): the server runs in it.
fn peak_memory() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kib: i64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// The CLI installs from the operator's catalog (fetching and discovering before it
/// returns), attaches, reports, shows logs without restarting it, restarts it for every
/// node, and leaves no process behind.
#[tokio::test]
async fn the_cli_installs_attaches_and_uninstalls_an_upstream() {
    let db = guidepost_testkit::TestDatabase::create(guidepost_testkit::TestBackend::Sqlite).await;
    let dir = std::env::temp_dir().join(format!("guidepost-gateway-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marks = dir.join("marks");
    let catalog = dir.join("catalog.toml");
    std::fs::write(&catalog, fixture_catalog(&marks, &[])).unwrap();
    let cli = |args: &[&str]| {
        let shown = format!("{args:?}");
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"));
        command
            .args(["--json", "--database-url", &db.url])
            .args(args)
            .env("GUIDEPOST_CATALOG", &catalog);
        async move {
            let output = command.output().await.unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            assert!(output.status.success(), "{shown}: {stderr}");
            (
                serde_json::from_slice::<Value>(&output.stdout).unwrap(),
                stderr,
            )
        }
    };
    let (org, _) = cli(&["org", "create", "--name", "Acme"]).await;
    let org = org["organization"]["id"].as_str().unwrap().to_owned();
    let (server, _) = cli(&[
        "server", "create", "--org", &org, "--name", "Acme", "--slug", "acme",
    ])
    .await;
    let server = server["id"].as_str().unwrap().to_owned();
    let (catalog_list, _) = cli(&["upstream", "catalog"]).await;
    assert!(
        catalog_list
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == "fixture"),
        "{catalog_list}"
    );

    let (installed, progress) = cli(&["upstream", "install", "--org", &org, "fixture"]).await;
    assert_eq!(installed["upstream"]["status"], "ready", "{installed}");
    assert!(
        progress.contains("ready"),
        "status lines on stderr: {progress}"
    );
    let tools: Vec<&str> = installed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"echo"),
        "discovered before returning: {tools:?}"
    );
    let id = installed["upstream"]["id"].as_str().unwrap().to_owned();
    let leader: i64 = wait_for_mark(&marks, "started").await[0]
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    wait_until_gone(leader).await;

    let (attached, _) = cli(&[
        "upstream", "attach", "--org", &org, "--server", &server, &id, "--prefix", "fx",
    ])
    .await;
    assert_eq!(attached["prefix"], "fx");
    let (listed, _) = cli(&["upstream", "list", "--org", &org]).await;
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["restarted_at"], Value::Null, "{listed}");

    // `logs` tries it in the CLI's own process: it says how the serving nodes last found
    // it, and is no restart (which would start it afresh on every serving node).
    let (logs, said) = cli(&["upstream", "logs", "--org", &org, &id]).await;
    assert!(logs["lines"].is_array(), "{logs}");
    assert!(
        said.contains("As the serving nodes last found it: "),
        "{said}"
    );
    let (status, _) = cli(&["upstream", "status", "--org", &org, &id]).await;
    assert_eq!(status["upstream"]["restarted_at"], Value::Null, "{status}");
    let (restarted, _) = cli(&["upstream", "restart", "--org", &org, &id]).await;
    assert!(
        restarted["upstream"]["restarted_at"].is_string(),
        "every node sees it: {restarted}"
    );
    cli(&[
        "upstream", "detach", "--org", &org, "--server", &server, &id,
    ])
    .await;
    cli(&["upstream", "uninstall", "--org", &org, &id]).await;
    let (listed, _) = cli(&["upstream", "list", "--org", &org]).await;
    assert_eq!(listed, json!([]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `guidepost upstream install --spec FILE`: an upstream the file describes, without a
/// catalog entry, checked by the rules of `POST /api/v1/upstreams` without one.
#[tokio::test]
async fn the_cli_installs_an_upstream_a_file_describes() {
    let db = guidepost_testkit::TestDatabase::create(guidepost_testkit::TestBackend::Sqlite).await;
    let dir = std::env::temp_dir().join(format!("guidepost-gateway-spec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cli = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"));
        command
            .args(["--json", "--database-url", &db.url])
            .args(args);
        async move {
            let output = command.output().await.unwrap();
            let stdout = serde_json::from_slice::<Value>(&output.stdout).unwrap_or(Value::Null);
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            (output.status.success(), stdout, stderr)
        }
    };
    let (_, org, _) = cli(&["org", "create", "--name", "Acme"]).await;
    let org = org["organization"]["id"].as_str().unwrap().to_owned();
    let spec = dir.join("spec.json");
    let spec_path = spec.display().to_string();
    let install = [
        "upstream", "install", "--org", &org, "--spec", &spec_path, "--wait", "60",
    ];

    // Refused with the field and the rule, before anything is installed.
    for (file, named, says) in [
        (
            json!({"runtime": "http", "url": "http://mcp.example.com/mcp"}),
            vec!["--name", "Remote"],
            "https",
        ),
        (
            json!({"runtime": "command", "command": "/bin/sh"}),
            vec!["--name", "Remote"],
            "only the platform's operator",
        ),
        (
            json!({"runtime": "http", "url": "https://mcp.example.com/mcp", "name": "R"}),
            vec!["--name", "Remote"],
            "on the command line",
        ),
        (json!(["http"]), vec!["--name", "Remote"], "one JSON object"),
        (
            json!({"runtime": "http", "url": "https://mcp.example.com/mcp"}),
            vec![],
            "--name",
        ),
    ] {
        std::fs::write(&spec, file.to_string()).unwrap();
        let (ok, _, said) = cli(&[&install[..], &named].concat()).await;
        assert!(!ok && said.contains(says), "{file}: {said}");
    }
    let with_entry = [&install[..], &["--name", "Remote", "fixture"]].concat();
    let (ok, _, said) = cli(&with_entry).await;
    assert!(
        !ok && said.contains("cannot be used with"),
        "an entry or a file, not both: {said}"
    );
    let (_, listed, _) = cli(&["upstream", "list", "--org", &org]).await;
    assert_eq!(listed, json!([]), "nothing was installed");

    // Installed as described (it cannot be reached from here: it settles as failed).
    let remote = json!({"runtime": "http", "url": "https://mcp.guidepost-test.invalid/mcp"});
    std::fs::write(&spec, remote.to_string()).unwrap();
    let (_, shown, said) =
        cli(&[&install[..], &["--name", "Remote", "--start", "on_demand"]].concat()).await;
    assert!(said.contains("Installing Remote"), "{said}");
    assert_eq!(shown["upstream"]["name"], "Remote", "{shown} {said}");
    let (_, listed, _) = cli(&["upstream", "list", "--org", &org]).await;
    let upstream = &listed[0];
    assert_eq!(
        (
            &upstream["name"],
            &upstream["catalog_entry_id"],
            &upstream["start"]
        ),
        (&json!("Remote"), &Value::Null, &json!("on_demand")),
        "{listed}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

backend_tests! {
    /// Every command reads `serve`'s upstream settings from the environment and the
    /// config file, as `serve` does: what the defaults refuse passes where they allow it.
    async fn the_cli_reads_the_upstream_settings_serve_reads(db: &TestDatabase) {
        let dir = std::env::temp_dir().join(format!("guidepost-gateway-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let remote_node = crate::helpers::spawn_app(db).await;
        let remote = remote_node.create_tenant("Remote").await;
        remote_node.create_server(&remote, "remote", json!({})).await;
        let entry = format!("[[entry]]\nid = \"remote\"\nname = \"Remote\"\ndescription = \"Another Guidepost.\"\n\
            spec = {{ runtime = \"http\", url = {:?} }}\n", remote_node.mcp_path_url("remote"));
        std::fs::write(dir.join("catalog.toml"), entry).unwrap();
        std::fs::write(dir.join("settings.toml"), "container_images = [\"ghcr.io/example/boxed:1.0.0\"]\n").unwrap();
        let node = crate::node::node();
        let npm = node.with_file_name("npm");
        let cli = |args: &[&str], env: &[(&str, &str)]| {
            let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"));
            command.args(["--json", "--database-url", &db.url]).args(args)
                .env("GUIDEPOST_CATALOG", dir.join("catalog.toml"))
                .env("GUIDEPOST_UPSTREAM_CACHE", crate::gateway::shared_cache())
                .env("GUIDEPOST_UPSTREAM_DATA", dir.join("data"))
                .env("GUIDEPOST_NODE", &node).env("GUIDEPOST_NPM", &npm)
                .envs(env.iter().copied());
            async move {
                let output = command.output().await.unwrap();
                let stdout = serde_json::from_slice::<Value>(&output.stdout).unwrap_or(Value::Null);
                (output.status.success(), stdout, String::from_utf8_lossy(&output.stderr).into_owned())
            }
        };
        let (_, org, _) = cli(&["org", "create", "--name", "Acme"], &[]).await;
        let org = org["organization"]["id"].as_str().unwrap().to_owned();
        let spec = dir.join("spec.json");
        let spec_path = spec.display().to_string();
        let by_spec = ["upstream", "install", "--org", &org, "--spec", &spec_path, "--wait", "60"];

        // An npm package by --spec: GUIDEPOST_PRIVATE_PACKAGE_ENTRIES.
        let package = json!({"runtime": "npm", "package": "@modelcontextprotocol/server-everything",
            "version": "2026.8.31", "bin": "mcp-server-everything", "args": ["stdio"]});
        std::fs::write(&spec, package.to_string()).unwrap();
        let install = [&by_spec[..], &["--name", "Everything"]].concat();
        let (ok, _, said) = cli(&install, &[]).await;
        assert!(!ok && said.contains("--private-package-entries"), "refused by default: {said}");
        let (_, listed, _) = cli(&["upstream", "list", "--org", &org], &[]).await;
        assert_eq!(listed, json!([]), "nothing was installed");
        let (ok, shown, said) = cli(&install, &[("GUIDEPOST_PRIVATE_PACKAGE_ENTRIES", "true")]).await;
        assert!(ok, "{said}");
        assert_eq!(shown["upstream"]["status"], "ready", "{shown} {said}");

        // A container image: the config file's container_images (then the next rule: no
        // container engine here).
        let image = json!({"runtime": "container", "image": "ghcr.io/example/boxed:1.0.0"});
        std::fs::write(&spec, image.to_string()).unwrap();
        let install = [&by_spec[..], &["--name", "Boxed"]].concat();
        let (ok, _, said) = cli(&install, &[]).await;
        assert!(!ok && said.contains("--container-images"), "refused by default: {said}");
        let settings = dir.join("settings.toml").display().to_string();
        let (ok, _, said) = cli(&install, &[("GUIDEPOST_CONFIG", &settings)]).await;
        assert!(!ok && !said.contains("--container-images") && said.contains("--container-socket"), "{said}");

        // An HTTP upstream on a private address: GUIDEPOST_UPSTREAM_ALLOW_PRIVATE.
        let install = ["upstream", "install", "--org", &org, "remote", "--wait", "60"];
        let (_, shown, said) = cli(&install, &[]).await;
        assert_eq!(shown["upstream"]["status"], "failed", "{shown} {said}");
        assert!(shown["upstream"]["last_error"].as_str().unwrap_or_default().contains("https"), "{shown}");
        let install = [&install[..], &["--name", "Remote allowed"]].concat();
        let (_, shown, said) = cli(&install, &[("GUIDEPOST_UPSTREAM_ALLOW_PRIVATE", "true")]).await;
        assert_eq!(shown["upstream"]["status"], "ready", "{shown} {said}");

        // The base domain as serve reads it (lowercased): a custom domain under it is refused.
        let create = ["server", "create", "--org", &org, "--name", "Acme", "--slug", "acme",
            "--custom-domain", "acme.guidepost.example"];
        let (ok, _, said) = cli(&create, &[("GUIDEPOST_BASE_DOMAIN", "Guidepost.Example")]).await;
        assert!(!ok && said.contains("must not be under"), "{said}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// An upstream's `list_changed` reaches a session-era GET stream and a stateless
/// `subscriptions/listen` on another node (PostgreSQL LISTEN/NOTIFY).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstreams_list_changed_reaches_clients_of_another_node() {
    let Some(db) = TestDatabase::require_postgres().await else {
        return;
    };
    let f = fixture(&db, "acme", 60_000).await;
    let other_node = crate::helpers::spawn_app(&db).await;
    let (_session, mut session_chunks) = open_get_stream(&other_node).await;
    let mut listen_chunks = open_listen(&other_node).await;
    let grown = f
        .mcp
        .call_tool(1, "fx__grow", json!({"name": "fresh"}))
        .await;
    assert_eq!(text_of(&grown.body), "grown");
    expect_chunk(&mut session_chunks, "notifications/tools/list_changed").await;
    expect_chunk(&mut listen_chunks, "notifications/tools/list_changed").await;
    let there = RawMcp::new(
        other_node.mcp_path_url("acme"),
        crate::helpers::STATELESS_ERA,
    );
    let listed = there.call(2, "tools/list", json!({})).await;
    assert!(
        listed.body.to_string().contains("fx__fresh"),
        "{}",
        listed.body
    );
}

backend_tests! {
    async fn a_caller_that_goes_away_cancels_its_call_at_the_upstream(db: &TestDatabase) {
        let f = fixture(db, "gone", 60_000).await;
        // The stateless era: the call's answer is the HTTP response; the client gives up.
        let request = f.mcp.call_tool(1, "fx__slow", json!({"seconds": 20, "steps": 40}));
        let gave_up = tokio::time::timeout(Duration::from_millis(700), request).await;
        assert!(gave_up.is_err(), "the call was still running");
        let cancelled = wait_for_mark(&f.marks, "cancelled").await;
        assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    }

    async fn an_allowlist_offers_only_the_tools_it_names(db: &TestDatabase) {
        let f = fixture(db, "acme", 60_000).await;
        let path = format!("/servers/{}/upstreams/{}", f.server, f.upstream);
        let body = json!({"prefix": "fx", "allowed_tools": ["echo"]});
        let (status, attached) = f.app.api(Method::PUT, &path, &f.acme.key, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{attached}");
        let listed = f.mcp.call(1, "tools/list", json!({})).await;
        let names: Vec<&str> = listed.body["result"]["tools"].as_array().unwrap().iter()
            .filter_map(|t| t["name"].as_str()).filter(|n| n.starts_with("fx__")).collect();
        assert_eq!(names, ["fx__echo"]);
        let refused = f.mcp.call_tool(2, "fx__crash", json!({})).await;
        assert!(refused.body["error"].is_object(), "not offered, so unknown: {}", refused.body);
        assert_eq!(wait_for_mark(&f.marks, "started").await.len(), 1, "and never reached the upstream");
    }
}
