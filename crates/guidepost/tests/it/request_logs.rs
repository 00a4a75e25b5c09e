//! Logs name their request: a failing tool call's log line carries the request id that
//! the client got back, the organization and the server.

use std::process::Stdio;
use std::time::Duration;

use guidepost_testkit::{TestBackend, TestDatabase};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{RawMcp, STATELESS_ERA};
use crate::operations::read_demo_output;

#[tokio::test]
async fn a_failing_tool_call_is_logged_with_its_request_organization_and_server() {
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    let workdir = std::env::temp_dir().join(format!("gp-logs-{}", std::process::id()));
    std::fs::create_dir_all(&workdir).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"))
        .args(["serve", "--demo", "--json", "--listen", "127.0.0.1:0"])
        .args(["--database-url", &db.url, "--log-format", "text"])
        .env("GUIDEPOST_LOG", "info")
        .current_dir(&workdir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("guidepost starts");
    let seeded = read_demo_output(child.stdout.take().unwrap()).await;
    let url = seeded["path_mcp_url"].as_str().unwrap();

    let answer = RawMcp::new(url, STATELESS_ERA)
        .call_tool(
            1,
            "select_walkthrough",
            json!({"walkthrough_id": "wt_doesnotexist"}),
        )
        .await;
    assert_eq!(answer.body["result"]["isError"], true, "{}", answer.body);
    let request_id = answer.headers["x-request-id"].to_str().unwrap().to_owned();

    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let find = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("tool call failed") {
                return line;
            }
        }
        panic!("no log line for the failing call");
    };
    let line = tokio::time::timeout(Duration::from_secs(10), find)
        .await
        .expect("the failing call is logged within 10 s");
    for expected in [
        format!("id={request_id}"),
        format!("org={}", seeded["organization_id"].as_str().unwrap()),
        format!("server={}", seeded["server_id"].as_str().unwrap()),
        "mcp_method=tools/call".to_owned(),
        "tool=\"select_walkthrough\"".to_owned(),
    ] {
        assert!(line.contains(&expected), "{expected} missing from: {line}");
    }
    child.kill().await.ok();
    std::fs::remove_dir_all(&workdir).ok();
}
