//! The tasks extension on hosted servers (SEP-2663): an upstream call that outlives a
//! second runs on as a task, and the store answers for it on any node; cancelling it
//! stops the call at the upstream; a task is known only to its own server and caller;
//! one client cannot take a server's tasks from everybody else.

use std::time::{Duration, Instant};

use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::{Value, json};

use crate::gateway_fixture::{fixture, fixture_with, text_of, wait_for_mark};
use crate::helpers::{Answer, RawMcp, STATELESS_ERA, python_script, spawn_app};

/// The client capabilities of a client that accepts tasks.
pub(crate) fn accepts_tasks() -> Value {
    json!({"extensions": {"io.modelcontextprotocol/tasks": {}}})
}

fn client(url: String) -> RawMcp {
    RawMcp::new(url, STATELESS_ERA)
}

async fn call_accepting_tasks(mcp: &RawMcp, tool: &str, arguments: Value) -> Answer {
    let params = json!({"name": tool, "arguments": arguments});
    mcp.call_declaring(1, "tools/call", params, accepts_tasks())
        .await
}

async fn task_request(mcp: &RawMcp, method: &str, task: &str) -> Answer {
    mcp.call_declaring(2, method, json!({"taskId": task}), accepts_tasks())
        .await
}

/// Polls `tasks/get` until the task has ended; its last answer.
async fn ended(mcp: &RawMcp, task: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = task_request(mcp, "tasks/get", task).await;
        let result = answer.body["result"].clone();
        let status = result["status"].as_str().unwrap_or_default().to_owned();
        assert!(!status.is_empty(), "tasks/get answered: {}", answer.body);
        if ["completed", "failed", "cancelled"].contains(&status.as_str()) {
            return result;
        }
        assert!(Instant::now() < deadline, "the task did not end: {result}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn started_task(answer: &Answer) -> String {
    let result = &answer.body["result"];
    assert_eq!(result["resultType"], "task", "{}", answer.body);
    assert_eq!(result["status"], "working", "{result}");
    assert_eq!(result["ttlMs"], 3_600_000, "{result}");
    assert_eq!(result["pollIntervalMs"], 500, "{result}");
    assert!(result.get("content").is_none(), "no result yet: {result}");
    result["taskId"].as_str().expect("a task id").to_owned()
}

fn unknown_task(answer: &Answer) {
    assert_eq!(answer.body["error"]["code"], -32602, "{}", answer.body);
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("Unknown task"), "{message}");
}

backend_tests! {
    async fn a_long_upstream_call_runs_on_as_a_task_and_a_short_one_answers_at_once(db: &TestDatabase) {
        let f = fixture(db, "acme", 60_000).await;
        let quick = call_accepting_tasks(&f.mcp, "fx__echo", json!({"message": "at once"})).await;
        assert_eq!(quick.body["result"]["resultType"], "complete", "{}", quick.body);
        assert_eq!(text_of(&quick.body), "at once");

        // A call far longer than any wait here: the task is still working when asked,
        // which shows the request did not wait for the call (how long it took is printed).
        let started = Instant::now();
        let answer = call_accepting_tasks(&f.mcp, "fx__slow", json!({"seconds": 12, "steps": 1})).await;
        let task = started_task(&answer);
        eprintln!("[tasks] a 12 s call answered as a task after {} ms", started.elapsed().as_millis());
        let now = task_request(&f.mcp, "tasks/get", &task).await;
        assert_eq!(now.body["result"]["status"], "working", "{}", now.body);
        assert_eq!(now.body["result"]["resultType"], "complete");

        let done = ended(&f.mcp, &task).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["result"]["content"][0]["text"], "done after 1 steps", "{done}");
        assert_ne!(done["result"]["isError"], true, "{done}");
        // The call is recorded once it ended, as answered by the upstream.
        let calls = f.app.wait_for_tool_calls(&f.acme, 2).await;
        let slow = calls.iter().find(|c| c["tool_name"] == "fx__slow").expect("the task's call is recorded");
        assert_eq!(slow["is_error"], false, "{slow}");
        assert_eq!(slow["upstream_id"], f.upstream.as_str(), "{slow}");
        assert!(slow["duration_us"].as_i64().unwrap() >= 12_000_000, "{slow}");

        // A client that does not accept tasks gets its answer within the request.
        let waited = f.mcp.call_tool(3, "fx__slow", json!({"seconds": 1.3, "steps": 1})).await;
        assert_eq!(waited.body["result"]["resultType"], "complete", "{}", waited.body);
        assert_eq!(text_of(&waited.body), "done after 1 steps");
    }

    async fn cancelling_a_task_stops_its_call_at_the_upstream(db: &TestDatabase) {
        let f = fixture(db, "cancel", 60_000).await;
        let answer = call_accepting_tasks(&f.mcp, "fx__slow", json!({"seconds": 30, "steps": 60})).await;
        let task = started_task(&answer);
        let ack = task_request(&f.mcp, "tasks/cancel", &task).await;
        assert_eq!(ack.body["result"], json!({"resultType": "complete"}), "{}", ack.body);
        let now = task_request(&f.mcp, "tasks/get", &task).await;
        assert_eq!(now.body["result"]["status"], "cancelled", "{}", now.body);
        assert!(now.body["result"].get("result").is_none(), "{}", now.body);
        wait_for_mark(&f.marks, "cancelled").await;
        // Cancelling a finished task changes nothing and says so the same way.
        let again = task_request(&f.mcp, "tasks/cancel", &task).await;
        assert_eq!(again.body["result"], json!({"resultType": "complete"}), "{}", again.body);
        let calls = f.app.wait_for_tool_calls(&f.acme, 1).await;
        let slow = calls.iter().find(|c| c["tool_name"] == "fx__slow").expect("a cancelled call is recorded");
        assert_eq!(slow["is_error"], true, "{slow}");
    }

    async fn a_task_is_known_only_to_its_server_and_its_caller(db: &TestDatabase) {
        let f = fixture(db, "acme", 60_000).await;
        let base = f.app.mcp_path_url("acme");
        let ada = client(format!("{base}?tracking_id=ada"));
        let answer = call_accepting_tasks(&ada, "fx__slow", json!({"seconds": 2, "steps": 1})).await;
        let task = started_task(&answer);
        let mine = task_request(&ada, "tasks/get", &task).await;
        assert_eq!(mine.body["result"]["taskId"], task.as_str(), "{}", mine.body);

        let bob = client(format!("{base}?tracking_id=bob"));
        for method in ["tasks/get", "tasks/cancel"] {
            unknown_task(&task_request(&bob, method, &task).await);
        }
        let anonymous = client(base.clone());
        unknown_task(&task_request(&anonymous, "tasks/get", &task).await);
        f.app.create_server(&f.acme, "other", json!({})).await;
        let other_server = client(format!("{}?tracking_id=ada", f.app.mcp_path_url("other")));
        unknown_task(&task_request(&other_server, "tasks/get", &task).await);
        let globex = f.app.create_tenant("Globex").await;
        f.app.create_server(&globex, "globex", json!({})).await;
        let other_org = client(format!("{}?tracking_id=ada", f.app.mcp_path_url("globex")));
        unknown_task(&task_request(&other_org, "tasks/get", &task).await);
        unknown_task(&task_request(&ada, "tasks/get", "task_doesnotexist0000000").await);
        // Params that do not parse are invalid params, not an unknown method.
        let malformed = ada
            .call_declaring(4, "tasks/get", json!({"taskId": 7}), accepts_tasks())
            .await;
        assert_eq!(malformed.body["error"]["code"], -32602, "{}", malformed.body);

        // Without the extension declared, the task methods are refused as the spec says.
        let undeclared = ada.call(3, "tasks/get", json!({"taskId": task})).await;
        assert_eq!(undeclared.body["error"]["code"], -32021, "{}", undeclared.body);
        assert!(
            undeclared.body["error"]["data"]["requiredCapabilities"]["extensions"]
                .get("io.modelcontextprotocol/tasks")
                .is_some(),
            "{}",
            undeclared.body
        );
        // Nothing of that touched the task.
        let done = ended(&ada, &task).await;
        assert_eq!(done["status"], "completed", "{done}");
    }
}

/// With the official Python client: a long upstream call started through one node is
/// followed through another (tasks/get there) until its result; a cancellation sent to
/// the other node stops the call on the first.
#[tokio::test]
async fn the_python_client_follows_a_task_on_another_node_until_its_result() {
    let Some(db) = TestDatabase::require_postgres().await else {
        return;
    };
    let f = fixture(&db, "acme", 60_000).await;
    let other_node = spawn_app(&db).await;
    let start = format!("{}?tracking_id=roamer", f.app.mcp_path_url("acme"));
    let poll = format!("{}?tracking_id=roamer", other_node.mcp_path_url("acme"));
    let arguments = json!({"seconds": 3, "steps": 1}).to_string();
    let report = python_script(
        "task_across_nodes.py",
        &[
            "--start",
            &start,
            "--poll",
            &poll,
            "--tool",
            "fx__slow",
            "--arguments",
            &arguments,
        ],
    )
    .await;
    assert_eq!(report["error"], Value::Null, "{report}");
    assert_eq!(report["created_status"], "working", "{report}");
    let polled: Vec<&str> = report["polled"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        polled.first(),
        Some(&"working"),
        "the other node saw it running: {report}"
    );
    assert_eq!(polled.last(), Some(&"completed"), "{report}");
    assert_eq!(
        report["result"]["content"][0]["text"], "done after 1 steps",
        "{report}"
    );

    // A cancellation that reaches the other node stops the call where it runs.
    let on_first = client(start);
    let on_second = client(poll);
    let answer =
        call_accepting_tasks(&on_first, "fx__slow", json!({"seconds": 30, "steps": 60})).await;
    let task = started_task(&answer);
    let ack = task_request(&on_second, "tasks/cancel", &task).await;
    assert_eq!(
        ack.body["result"],
        json!({"resultType": "complete"}),
        "{}",
        ack.body
    );
    wait_for_mark(&f.marks, "cancelled").await;
    let now = task_request(&on_first, "tasks/get", &task).await;
    assert_eq!(now.body["result"]["status"], "cancelled", "{}", now.body);
}

/// Sends `count` task-capable calls of `tool` at once, as `client` would (its URL and
/// forwarded address); the answers that come until none came for two seconds, and how
/// many calls still wait for theirs.
async fn at_once(client: &RawMcp, count: usize, tool: &str) -> (Vec<Value>, usize) {
    let (sent, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for id in 0..count {
        let mut mcp = RawMcp::new(client.url.clone(), STATELESS_ERA);
        mcp.http = client.http.clone();
        mcp.forwarded_for = client.forwarded_for.clone();
        let (sent, tool) = (sent.clone(), tool.to_owned());
        tokio::spawn(async move {
            let params = json!({"name": tool, "arguments": {}});
            let answer = mcp
                .call_declaring(id as i64, "tools/call", params, accepts_tasks())
                .await;
            let _ = sent.send(answer.body);
        });
    }
    drop(sent);
    let mut answered = Vec::new();
    // The first answers come after the second a call is awaited before it is a task.
    let mut wait = Duration::from_secs(20);
    while let Ok(Some(answer)) = tokio::time::timeout(wait, answers.recv()).await {
        answered.push(answer);
        wait = Duration::from_secs(2);
    }
    let waiting = count - answered.len();
    (answered, waiting)
}

fn is_task(answer: &Value) -> bool {
    answer["result"]["resultType"] == "task"
}

backend_tests! {
    /// 200 calls that never end, from one anonymous address, do not take
    /// the server's tasks from anybody else. Past the address's cap (and a person's), a
    /// call is answered within its request, as for a client without the extension.
    async fn one_client_cannot_take_the_tasks_of_a_whole_server(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 600_000, &[("FIXTURE_HOSTILE", "1")], |s| {
            s.mcp.rate_limits.per_ip_per_minute = 0;
            s.mcp.rate_limits.per_user_per_minute = 0;
            s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            // 200 calls at once queue for the store; this test is not about outages.
            s.store_timeout = Duration::from_secs(30);
        })
        .await;
        let base = f.app.mcp_path_url("acme");
        let flooder = client(base.clone()).forwarded_for("203.0.113.7");
        let (answered, waiting) = at_once(&flooder, 200, "fx__stall").await;
        assert!(answered.iter().all(is_task), "{answered:?}");
        assert_eq!(
            (answered.len(), waiting),
            (guidepost_domain::MAX_OPEN_TASKS_PER_ADDRESS as usize, 150),
            "tasks up to the address's cap; the rest wait within their requests"
        );
        // The flooder's next long call is answered within its request, not refused.
        let inline = call_accepting_tasks(&flooder, "fx__slow", json!({"seconds": 1.5, "steps": 1})).await;
        assert_eq!(inline.body["result"]["resultType"], "complete", "{}", inline.body);
        assert_eq!(text_of(&inline.body), "done after 1 steps");

        // Somebody else, from another address, still gets a task on the same server.
        let bob = client(format!("{base}?tracking_id=bob")).forwarded_for("198.51.100.2");
        let answer = call_accepting_tasks(&bob, "fx__slow", json!({"seconds": 1.5, "steps": 1})).await;
        let task = started_task(&answer);
        let done = ended(&bob, &task).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["result"]["content"][0]["text"], "done after 1 steps", "{done}");

        // One person has a cap of their own, whatever address they call from.
        let ada = client(format!("{base}?tracking_id=ada")).forwarded_for("192.0.2.1");
        let (answered, waiting) = at_once(&ada, 21, "fx__stall").await;
        assert!(answered.iter().all(is_task), "{answered:?}");
        assert_eq!((answered.len(), waiting), (20, 1), "tasks up to the person's cap");
        let elsewhere = client(format!("{base}?tracking_id=ada")).forwarded_for("192.0.2.2");
        let inline = call_accepting_tasks(&elsewhere, "fx__slow", json!({"seconds": 1.5, "steps": 1})).await;
        assert_eq!(inline.body["result"]["resultType"], "complete", "{}", inline.body);
        let carol = client(format!("{base}?tracking_id=carol")).forwarded_for("192.0.2.1");
        let answer = call_accepting_tasks(&carol, "fx__slow", json!({"seconds": 1.5, "steps": 1})).await;
        started_task(&answer);
    }
}
