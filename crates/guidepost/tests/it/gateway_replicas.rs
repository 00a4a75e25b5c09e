//! Upstream process pools: an installation of a stateless entry runs
//! `replicas` processes on a node and tool calls go to the least busy one; each call's
//! progress comes from, and reaches, its own caller and process; a crashed replica is
//! restarted while the others serve; an entry that keeps state refuses more than one.
//! The fixture's `pid` tool says which process answered.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::{Fixture, fixture_installed, text_of, wait_for_mark};
use crate::helpers::{RawMcp, SESSION_ERA};

/// The fixture with its `pid` tool.
const PIDS: &[(&str, &str)] = &[("FIXTURE_PIDS", "1")];

/// The fixture, marked stateless in its entry, installed with `replicas` processes.
async fn pooled(db: &TestDatabase, slug: &str, replicas: u32) -> Fixture {
    let install = json!({"catalog_entry_id": "fixture", "replicas": replicas});
    fixture_installed(db, slug, 60_000, PIDS, "stateless = true", install, |_| {}).await
}

/// The pids of the `started` marks, once there are at least `count`.
async fn started_pids(f: &Fixture, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pids: Vec<String> = wait_for_mark(&f.marks, "started")
            .await
            .iter()
            .filter_map(|line| line.split_whitespace().nth(1).map(str::to_owned))
            .collect();
        if pids.len() >= count {
            return pids;
        }
        assert!(
            Instant::now() < deadline,
            "{count} starts not seen in 30 s: {pids:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `calls` concurrent stateless calls of `fx__pid` (each taking `seconds`): the pids
/// that answered, each call checked to have succeeded.
async fn concurrent_pids(f: &Fixture, calls: i64, seconds: f64) -> Vec<String> {
    let answers = futures::future::join_all((0..calls).map(|n| {
        f.mcp
            .call_tool(100 + n, "fx__pid", json!({"seconds": seconds}))
    }))
    .await;
    answers
        .iter()
        .map(|answer| {
            assert_eq!(answer.status, StatusCode::OK);
            assert_ne!(answer.body["result"]["isError"], true, "{}", answer.body);
            text_of(&answer.body)
        })
        .collect()
}

/// Concurrent rounds of calls until both processes have answered (a replica starts a
/// moment after the primary); the pids seen.
async fn until_both_answer(f: &Fixture) -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen: BTreeSet<String> = concurrent_pids(f, 6, 0.3).await.into_iter().collect();
        if seen.len() >= 2 || Instant::now() >= deadline {
            return seen;
        }
    }
}

backend_tests! {
    async fn replicas_run_their_processes_and_share_concurrent_calls(db: &TestDatabase) {
        let f = pooled(db, "pool", 2).await;
        let (_, upstream) = f.app.get(&format!("/upstreams/{}", f.upstream), &f.acme.key).await;
        assert_eq!(upstream["replicas"], 2, "{upstream}");
        assert_eq!(upstream["status"], "ready", "{upstream}");

        let started: BTreeSet<String> = started_pids(&f, 2).await.into_iter().collect();
        assert_eq!(started.len(), 2, "two processes, two pids: {started:?}");
        let answered = until_both_answer(&f).await;
        assert_eq!(answered, started, "concurrent calls went to both processes");

        // Calls one at a time still succeed, whichever process takes them.
        for n in 0..4 {
            let answer = f.mcp.call_tool(n, "fx__pid", json!({})).await;
            assert!(started.contains(&text_of(&answer.body)), "{}", answer.body);
        }
        // Listed once: the replica discovers nothing of its own.
        let (_, tools) = f.app.get(&format!("/upstreams/{}/tools", f.upstream), &f.acme.key).await;
        let named_pid = tools["items"].as_array().map_or(0, |items| {
            items.iter().filter(|t| t["name"] == "pid").count()
        });
        assert_eq!(named_pid, 1, "{tools}");
    }

    async fn progress_of_a_pooled_call_comes_from_the_process_that_answers_it(db: &TestDatabase) {
        let f = pooled(db, "progress", 2).await;
        started_pids(&f, 2).await;
        until_both_answer(&f).await;
        let mut session = RawMcp::new(f.app.mcp_path_url(&f.slug), SESSION_ERA);
        session.initialize().await;
        let calls = (0..4).map(|n| {
            let body = json!({"jsonrpc": "2.0", "id": 10 + n, "method": "tools/call", "params": {
                "name": "fx__pid", "arguments": {"seconds": 0.6, "steps": 3},
                "_meta": {"progressToken": format!("token-{n}")}}});
            let request = session.request(Method::POST).json(&body);
            async move { request.send().await.unwrap().text().await.unwrap() }
        });
        let mut answered = BTreeSet::new();
        for (n, text) in futures::future::join_all(calls).await.into_iter().enumerate() {
            let messages: Vec<Value> = text
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str(d.trim()).ok())
                .collect();
            let last = messages.last().unwrap_or_else(|| panic!("no answer: {text}"));
            let pid = text_of(last);
            let progress: Vec<&Value> =
                messages.iter().filter(|m| m["method"] == "notifications/progress").collect();
            assert_eq!(progress.len(), 3, "{text}");
            for update in progress {
                assert_eq!(update["params"]["progressToken"], format!("token-{n}"), "its own token: {text}");
                assert_eq!(update["params"]["message"], format!("pid {pid}"), "from its own process: {text}");
            }
            answered.insert(pid);
        }
        assert_eq!(answered.len(), 2, "four concurrent calls on two processes: {answered:?}");
    }

    async fn a_crashed_replica_is_restarted_while_the_others_serve(db: &TestDatabase) {
        let f = pooled(db, "crash", 2).await;
        let started = started_pids(&f, 2).await;
        until_both_answer(&f).await;
        // The replica started second; the primary (the upstream's status) first.
        let (primary, replica) = (started[0].clone(), started[1].clone());
        let host_pid = crate::gateway_fixture::host_pid(replica.parse().unwrap()).expect("it runs");
        let killed = std::process::Command::new("kill").args(["-9", &host_pid.to_string()]).status().unwrap();
        assert!(killed.success());
        crate::gateway_fixture::wait_until_gone(replica.parse().unwrap()).await;
        // Its exit is seen at once; every call meanwhile goes to the primary and succeeds.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        let restarted = loop {
            for pid in concurrent_pids(&f, 3, 0.05).await {
                assert_ne!(pid, replica, "no call reaches the dead process");
            }
            let pids = started_pids(&f, 2).await;
            if pids.len() >= 3 {
                break pids[2].clone();
            }
            assert!(Instant::now() < deadline, "the replica was not restarted: {pids:?}");
        };
        let (_, upstream) = f.app.get(&format!("/upstreams/{}", f.upstream), &f.acme.key).await;
        assert_eq!(upstream["status"], "ready", "a replica's crash does not degrade the upstream: {upstream}");
        assert_eq!(upstream["restarts"], 0, "{upstream}");
        let answered = until_both_answer(&f).await;
        assert_eq!(answered, BTreeSet::from([primary, restarted]), "the restarted replica serves again");
    }

    async fn an_entry_that_keeps_state_refuses_replicas_with_a_clear_error(db: &TestDatabase) {
        let install = json!({"catalog_entry_id": "fixture"});
        let f = fixture_installed(db, "state", 60_000, PIDS, "stateless = true", install, |s| {
            s.platform.max_replicas = 3;
        })
        .await;
        let install = |body: Value| {
            let (app, key) = (&f.app, &f.acme.key);
            async move { app.api(Method::POST, "/upstreams", key, Some(body)).await }
        };
        // The built-in memory server keeps its graph in its process.
        let (status, refused) = install(json!({"catalog_entry_id": "memory", "replicas": 2})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        let text = refused.to_string();
        assert!(text.contains("replicas") && text.contains("Memory") && text.contains("stateless")
            && text.contains("replicas must be 1"), "{refused}");
        let (status, refused) = install(json!({"catalog_entry_id": "fixture", "replicas": 4})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert!(refused.to_string().contains("at most 3"), "the operator's maximum: {refused}");
        let (status, refused) = install(json!({"catalog_entry_id": "fixture", "replicas": 0})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        // Within the maximum, a stateless entry installs with its processes.
        let (status, installed) = install(json!({"catalog_entry_id": "fixture", "name": "Three", "replicas": 3})).await;
        assert_eq!(status, StatusCode::CREATED, "{installed}");
        assert_eq!(installed["replicas"], 3, "{installed}");
        let (_, first) = f.app.get(&format!("/upstreams/{}", f.upstream), &f.acme.key).await;
        assert_eq!(first["replicas"], 1, "one process unless asked: {first}");
    }

    async fn a_patch_changes_the_processes_within_the_maximum(db: &TestDatabase) {
        let install = json!({"catalog_entry_id": "fixture"});
        let f = fixture_installed(db, "grow", 60_000, PIDS, "stateless = true", install, |s| {
            s.platform.max_replicas = 3;
        })
        .await;
        let path = format!("/upstreams/{}", f.upstream);
        let patch = |body: Value| {
            let (app, key, path) = (&f.app, &f.acme.key, &path);
            async move { app.api(Method::PATCH, path, key, Some(body)).await }
        };
        let one: BTreeSet<String> = concurrent_pids(&f, 4, 0.2).await.into_iter().collect();
        assert_eq!(one.len(), 1, "one process before the change: {one:?}");

        let (status, refused) = patch(json!({"replicas": 4})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert!(refused.to_string().contains("at most 3"), "the operator's maximum: {refused}");
        let (status, refused) = patch(json!({"replicas": 0})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");

        let (status, updated) = patch(json!({"replicas": 2})).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["replicas"], 2, "{updated}");
        // The pool follows the record at the next call (the node's cached view of the
        // server's tools was dropped by the change's announcement).
        let answered = until_both_answer(&f).await;
        assert_eq!(answered.len(), 2, "two processes answer after the change: {answered:?}");
        let (_, events) = f.app.get("/audit-events?limit=20", &f.acme.key).await;
        assert!(events.to_string().contains("upstream.replicas_changed"), "{events}");

        let (status, updated) = patch(json!({"replicas": 1})).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["replicas"], 1, "{updated}");
        let (_, read) = f.app.get(&path, &f.acme.key).await;
        assert_eq!(read["replicas"], 1, "{read}");
    }
}
