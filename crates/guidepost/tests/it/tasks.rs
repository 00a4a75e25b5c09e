//! The tasks extension on hosted servers (SEP-2663): an upstream call that outlives a
//! second runs on as a task, and the store answers for it on any node; cancelling it
//! stops the call at the upstream; a task is known only to its own server and caller.

use std::time::{Duration, Instant};

use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::{Value, json};

use crate::gateway_fixture::{fixture, text_of, wait_for_mark};
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
