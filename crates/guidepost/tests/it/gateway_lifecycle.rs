//! An upstream's life on a node: killed from outside it comes back by itself;
//! one that always crashes ends `failed` with its last words in the logs; an idle one is
//! stopped and the next call starts it (one with a subscriber is not idle); an oversized
//! answer is refused without losing the connection; and after 100 install/call/uninstall
//! cycles and a SIGKILL of Guidepost, a restarted Guidepost leaves no process of ours behind.

use std::time::{Duration, Instant};

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::{
    FixtureDir, ProcessTenant, fixture_catalog, fixture_with, text_of, wait_for, wait_for_mark,
    wait_until_gone,
};
use crate::helpers::serve_process_with;
use crate::walkthrough_runtime::{expect_chunk, open_get_stream_at};

/// Fast supervision, so that backoffs and idle stops take moments.
fn quick(settings: &mut guidepost::config::Settings) {
    settings.gateway.supervision.backoff = Duration::from_millis(50);
    settings.gateway.supervision.max_restarts = 3;
}

fn kill(pid: i64) {
    let pid = crate::gateway_fixture::host_pid(pid).expect("the process runs");
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {pid}");
}

fn pid_of(mark: &str) -> i64 {
    mark.split_whitespace().nth(1).unwrap().parse().unwrap()
}

backend_tests! {
    async fn an_upstream_killed_from_outside_comes_back_by_itself(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, &[], quick).await;
        let first = pid_of(&wait_for_mark(&f.marks, "started").await[0]);
        kill(first);
        // No call needed: the watcher sees the exit and restarts it after its backoff.
        let back = wait_for(&f.app, &f.acme, &f.upstream, |u| u["status"] == "ready" && u["restarts"] == 1).await;
        assert_eq!(back["last_error"], Value::Null, "{back}");
        let started = wait_for_mark(&f.marks, "started").await;
        assert_eq!(started.len(), 2, "{started:?}");
        wait_until_gone(first).await;
        let echo = f.mcp.call_tool(1, "fx__echo", json!({"message": "back again"})).await;
        assert_eq!(text_of(&echo.body), "back again");
    }

    async fn an_upstream_that_stops_answering_pings_is_restarted(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 500, &[], |settings| {
            quick(settings);
            settings.gateway.supervision.ping_interval = Duration::from_millis(200);
            settings.gateway.supervision.ping_timeout = Duration::from_millis(300);
        })
        .await;
        let hung = f.mcp.call_tool(1, "fx__hang", json!({})).await;
        assert_eq!(hung.body["result"]["isError"], true, "{}", hung.body);
        let back = wait_for(&f.app, &f.acme, &f.upstream, |u| u["status"] == "ready" && u["restarts"] == 1).await;
        assert_eq!(back["restarts"], 1, "{back}");
        let started = wait_for_mark(&f.marks, "started").await;
        assert_eq!(started.len(), 2, "a fresh process: {started:?}");
        wait_until_gone(pid_of(&started[0])).await;
        let echo = f.mcp.call_tool(2, "fx__echo", json!({"message": "answering again"})).await;
        assert_eq!(text_of(&echo.body), "answering again");
    }

    async fn an_upstream_that_always_crashes_ends_failed_with_its_last_words(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, &[("FIXTURE_CRASH_AT_START", "1")], quick).await;
        let failed = wait_for(&f.app, &f.acme, &f.upstream, |u| u["status"] == "failed").await;
        assert_eq!(failed["restarts"], 3, "the limit: {failed}");
        let error = failed["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("cannot open its database"), "{failed}");
        let started = wait_for_mark(&f.marks, "started").await;
        assert_eq!(started.len(), 3, "tried three times, then no more: {started:?}");
        let (_, logs) = f.app.get(&format!("/upstreams/{}/logs", f.upstream), &f.acme.key).await;
        let lines = logs["lines"].as_array().unwrap();
        assert!(lines.iter().any(|l| l.as_str().unwrap().contains("cannot open its database")), "{logs}");
        // Restarting it (say, once fixed) clears the count and tries again.
        let (status, restarted) = f.app.api(Method::POST, &format!("/upstreams/{}/restart", f.upstream), &f.acme.key, None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{restarted}");
        wait_for(&f.app, &f.acme, &f.upstream, |u| u["status"] == "failed").await;
        assert_eq!(wait_for_mark(&f.marks, "started").await.len(), 6);
    }

    async fn a_call_to_an_upstream_that_failed_says_so_at_once_and_starts_nothing(db: &TestDatabase) {
        let dir = FixtureDir::new();
        let broken = dir.0.join("broken");
        let env = [("FIXTURE_CRASH_WHILE", broken.display().to_string())];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let f = fixture_with(db, "acme", 60_000, &env, quick).await;
        let first = pid_of(&wait_for_mark(&f.marks, "started").await[0]);
        std::fs::write(&broken, "").unwrap();
        kill(first);
        wait_for(&f.app, &f.acme, &f.upstream, |u| u["status"] == "failed").await;
        let launches = wait_for_mark(&f.marks, "started").await.len();

        // Its tools stay listed; a call is a tool error that says what happened and who
        // mends it, and launches nothing (the limit holds until someone restarts it). Its
        // last words are not the caller's, nor, through the recorded call, a read key's.
        let refused = f.mcp.call_tool(1, "fx__echo", json!({"message": "anyone?"})).await;
        assert_eq!(refused.body["result"]["isError"], true, "{}", refused.body);
        let said = text_of(&refused.body);
        assert!(said.contains("failed") && said.contains("gateway page says why"), "{said}");
        assert!(!said.contains("cannot open its database"), "not its last words: {said}");
        f.app.wait_for_tool_calls(&f.acme, 1).await;
        let reader = f.app.key_with(&f.acme.key, "reader", json!(["read"])).await;
        let (_, calls) = f.app.get("/tool-calls", &reader).await;
        assert_eq!(calls["items"][0]["result_summary"].as_str(), Some(said.as_str()), "{calls}");
        assert_eq!(wait_for_mark(&f.marks, "started").await.len(), launches, "not started by a call");

        // Fixed and restarted, it serves again.
        std::fs::remove_file(&broken).unwrap();
        let restart = format!("/upstreams/{}/restart", f.upstream);
        let (status, _) = f.app.api(Method::POST, &restart, &f.acme.key, None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        wait_for(&f.app, &f.acme, &f.upstream, |u| u["status"] == "ready").await;
        let echo = f.mcp.call_tool(2, "fx__echo", json!({"message": "fixed"})).await;
        assert_eq!(text_of(&echo.body), "fixed", "{}", echo.body);
    }

    async fn a_call_waits_for_a_slow_start_no_longer_than_its_timeout(db: &TestDatabase) {
        let dir = FixtureDir::new();
        let slow = dir.0.join("slow");
        let env = [("FIXTURE_SLOW_WHILE", slow.display().to_string())];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let f = fixture_with(db, "acme", 2_000, &env, quick).await;
        let first = pid_of(&wait_for_mark(&f.marks, "started").await[0]);
        std::fs::write(&slow, "").unwrap();
        kill(first);
        // The watcher relaunches it, and this start lasts until the test ends it.
        wait_for_mark(&f.marks, "starting slowly").await;

        // The call is answered while the start still waits on the file: after its own
        // 2 s timeout, not after the start.
        let early = f.mcp.call_tool(1, "fx__echo", json!({"message": "anyone?"})).await;
        assert_eq!(early.body["result"]["isError"], true, "{}", early.body);
        let said = text_of(&early.body);
        assert!(said.contains("still starting") && said.contains("try again"), "{said}");
        let (_, upstream) = f.app.get(&format!("/upstreams/{}", f.upstream), &f.acme.key).await;
        assert_ne!(upstream["status"], "ready", "the start had not ended: {upstream}");

        // The start went on by itself: once up, calls are answered, by that launch.
        std::fs::remove_file(&slow).unwrap();
        wait_for(&f.app, &f.acme, &f.upstream, |u| u["status"] == "ready" && u["restarts"] == 1).await;
        let echo = f.mcp.call_tool(2, "fx__echo", json!({"message": "up now"})).await;
        assert_eq!(text_of(&echo.body), "up now", "{}", echo.body);
        assert_eq!(wait_for_mark(&f.marks, "started").await.len(), 2, "one relaunch, not one per call");
    }

    async fn an_eager_upstream_starts_with_every_node(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, &[], quick).await;
        // On demand (the default): another node starting does not start it.
        let _quiet_node = crate::helpers::spawn_app(db).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(wait_for_mark(&f.marks, "started").await.len(), 1);

        let path = format!("/upstreams/{}", f.upstream);
        let body = json!({"start": "eager", "name": "Always on"});
        let (status, updated) = f.app.api(Method::PATCH, &path, &f.acme.key, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!((updated["start"].as_str(), updated["name"].as_str()), (Some("eager"), Some("Always on")));
        let bad = json!({"start": "sometimes"});
        let (status, _) = f.app.api(Method::PATCH, &path, &f.acme.key, Some(bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        let _eager_node = crate::helpers::spawn_app(db).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while wait_for_mark(&f.marks, "started").await.len() < 2 {
            assert!(Instant::now() < deadline, "the new node did not start it");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Two PATCHes of different fields at once: each is merged over the record as stored
    /// and written only over the revision it read, so neither writes the other's field
    /// back (nor an upgrade's launch, which is written the same way).
    async fn upstream_patches_of_different_fields_at_once_both_hold(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, &[], quick).await;
        let path = format!("/upstreams/{}", f.upstream);
        for round in 1..=8 {
            let name = format!("Fixture {round}");
            let start = if round % 2 == 0 { "on_demand" } else { "eager" };
            let (renamed, started) = tokio::join!(
                f.app.api(Method::PATCH, &path, &f.acme.key, Some(json!({"name": name}))),
                f.app.api(Method::PATCH, &path, &f.acme.key, Some(json!({"start": start}))),
            );
            assert_eq!(renamed.0, StatusCode::OK, "{}", renamed.1);
            assert_eq!(started.0, StatusCode::OK, "{}", started.1);
            let (_, stored) = f.app.get(&path, &f.acme.key).await;
            assert_eq!((stored["name"].as_str(), stored["start"].as_str()), (Some(name.as_str()), Some(start)),
                "round {round}: one edit undid the other");
        }
    }

    async fn an_oversized_answer_is_refused_and_the_upstream_serves_on(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 2_000, &[], quick).await;
        let huge = f.mcp.call_tool(1, "fx__huge", json!({})).await;
        assert_eq!(huge.body["result"]["isError"], true, "{}", huge.body);
        let echo = f.mcp.call_tool(2, "fx__echo", json!({"message": "still connected"})).await;
        assert_eq!(text_of(&echo.body), "still connected", "{}", echo.body);
        let (_, upstream) = f.app.get(&format!("/upstreams/{}", f.upstream), &f.acme.key).await;
        assert_eq!(upstream["restarts"], 0, "the session was kept: {upstream}");
        assert_eq!(wait_for_mark(&f.marks, "started").await.len(), 1);
    }

    async fn an_idle_upstream_is_stopped_and_the_next_call_starts_it(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, &[], |settings| {
            settings.gateway.supervision.idle_timeout = Some(Duration::from_secs(1));
        }).await;
        let first = pid_of(&wait_for_mark(&f.marks, "started").await[0]);
        let stopped = wait_for(&f.app, &f.acme, &f.upstream, |u| u["status"] == "stopped").await;
        assert_eq!(stopped["restarts"], 0, "an idle stop is no crash: {stopped}");
        wait_until_gone(first).await;
        let (_, tools) = f.app.get(&format!("/upstreams/{}/tools", f.upstream), &f.acme.key).await;
        assert!(!tools["items"].as_array().unwrap().is_empty(), "its tools stay listed");
        let started = Instant::now();
        let echo = f.mcp.call_tool(1, "fx__echo", json!({"message": "wake up"})).await;
        eprintln!("[gateway] first call to an idle-stopped upstream: {} ms", started.elapsed().as_millis());
        assert_eq!(text_of(&echo.body), "wake up");
        assert_eq!(wait_for_mark(&f.marks, "started").await.len(), 2);
    }

    async fn a_subscription_keeps_an_idle_upstream_up_until_it_ends(db: &TestDatabase) {
        let dir = FixtureDir::new();
        let features = dir.0.join("features.json");
        let readme = json!({"uri": "notes://readme", "name": "readme", "description": "The README."});
        std::fs::write(&features, json!({"resources": [readme]}).to_string()).unwrap();
        let features = features.display().to_string();
        let f = fixture_with(db, "acme", 60_000, &[("FIXTURE_FEATURES", &features)], |settings| {
            settings.gateway.supervision.idle_timeout = Some(Duration::from_secs(1));
        }).await;
        let (session, mut heard) = open_get_stream_at(f.app.mcp_path_url("acme")).await;
        let uri = json!({"uri": "fx+notes://readme"});
        let subscribed = session.call(1, "resources/subscribe", uri.clone()).await;
        assert_eq!(subscribed.body["error"], Value::Null, "{}", subscribed.body);
        expect_chunk(&mut heard, "notifications/resources/updated").await;
        let launches = wait_for_mark(&f.marks, "started").await.len();

        // Three idle timeouts later it still runs: its updates come only while it does.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (_, upstream) = f.app.get(&format!("/upstreams/{}", f.upstream), &f.acme.key).await;
        assert_eq!(upstream["status"], "ready", "a subscriber keeps it up: {upstream}");
        assert_eq!(wait_for_mark(&f.marks, "started").await.len(), launches, "never stopped meanwhile");

        // Nobody subscribed any more: idle again, and stopped.
        let unsubscribed = session.call(2, "resources/unsubscribe", uri).await;
        assert_eq!(unsubscribed.body["error"], Value::Null, "{}", unsubscribed.body);
        wait_for_mark(&f.marks, "unsubscribed notes://readme").await;
        wait_for(&f.app, &f.acme, &f.upstream, |u| u["status"] == "stopped").await;
    }
}

/// The processes carrying the owner marker of the node with `pid`, and whether each is
/// a zombie.
fn processes_of(pid: u32) -> Vec<(u32, bool)> {
    let marker = format!("GUIDEPOST_UPSTREAM_OWNER={pid}.");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let environ = std::fs::read(format!("/proc/{child}/environ")).unwrap_or_default();
        let marked = environ
            .split(|b| *b == 0)
            .any(|e| e.starts_with(marker.as_bytes()));
        if marked {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit(')')
                .next()
                .unwrap_or_default()
                .trim_start()
                .starts_with('Z');
            found.push((child, zombie));
        }
    }
    found
}

/// Zombies whose parent is `pid`.
fn zombies_of(pid: u32) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        if fields.first() == Some(&"Z") && fields.get(1) == Some(&pid.to_string().as_str()) {
            count += 1;
        }
    }
    count
}

/// 100 install → attach → call → uninstall cycles on a `guidepost serve` process leave
/// nothing running; then a child of an upstream outlives a SIGKILL of Guidepost, and
/// the next Guidepost to start reaps it.
#[tokio::test]
async fn no_process_outlives_its_upstream_nor_a_killed_node() {
    let db = TestDatabase::create(guidepost_testkit::TestBackend::Sqlite).await;
    let dir = std::env::temp_dir().join(format!("guidepost-gateway-leaks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marks = dir.join("marks");
    let catalog = dir.join("catalog.toml");
    std::fs::write(&catalog, fixture_catalog(&marks, &[])).unwrap();
    let catalog = catalog.display().to_string();
    let env = [("GUIDEPOST_CATALOG", catalog.as_str())];
    let (mut node, base) = serve_process_with(&db.url, &env).await;
    let node_pid = node.id().unwrap();

    let acme = ProcessTenant::create(&db.url, &base).await;
    let (api, key) = (&acme.api, Some(acme.key.as_str()));
    let mcp = acme.mcp();
    let install = || acme.install_and_attach("fixture", "fx");
    for cycle in 0..100 {
        let id = install().await;
        let echo = mcp
            .call_tool(
                cycle,
                "fx__echo",
                json!({"message": format!("cycle {cycle}")}),
            )
            .await;
        assert_eq!(
            text_of(&echo.body),
            format!("cycle {cycle}"),
            "{}",
            echo.body
        );
        let removed = api
            .call(Method::DELETE, &format!("/upstreams/{id}"), key, None)
            .await;
        assert_eq!(removed.status, StatusCode::NO_CONTENT);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while !processes_of(node_pid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left running after 100 cycles: {:?}",
            processes_of(node_pid)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(zombies_of(node_pid), 0, "every exited upstream was reaped");

    // A child of an upstream, then Guidepost is killed where it stands. The child dies
    // with its upstream's PID namespace once the upstream sees its stdin close; what a
    // tree that ignored that left, the next node reaps (by its cgroup).
    install().await;
    let child = mcp.call_tool(1000, "fx__spawn_child", json!({})).await;
    let child = crate::gateway_fixture::host_pid(text_of(&child.body).parse().expect("a pid"))
        .expect("the child runs");
    node.start_kill().unwrap();
    node.wait().await.unwrap();

    let (mut next, _) = serve_process_with(&db.url, &env).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while processes_of(node_pid).iter().any(|(_, zombie)| !zombie) {
        assert!(
            Instant::now() < deadline,
            "orphans not reaped: {:?}",
            processes_of(node_pid)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    crate::gateway_fixture::wait_until_gone(child).await;
    assert_eq!(zombies_of(next.id().unwrap()), 0);
    next.start_kill().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
