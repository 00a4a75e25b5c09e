//! Logs name their request: a failing tool call's log line carries the request id that
//! the client got back, the organization and the server, as text and as JSON
//! (`--log-format json`, one object per line for a log pipeline).

use std::process::Stdio;
use std::time::Duration;

use guidepost_testkit::{TestBackend, TestDatabase};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{RawMcp, STATELESS_ERA};
use crate::operations::read_demo_output;

/// What a failing call's log line must name: the request id the client got, its
/// organization and server, the method and the tool; and the line itself.
struct Logged {
    expected: Vec<String>,
    line: String,
}

/// Runs the demo with `--log-format format`, makes one tool call fail, and returns its
/// log line.
async fn failing_call_logged(format: &str) -> Logged {
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    let workdir = std::env::temp_dir().join(format!("gp-logs-{format}-{}", std::process::id()));
    std::fs::create_dir_all(&workdir).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"))
        .args(["serve", "--demo", "--json", "--listen", "127.0.0.1:0"])
        .args(["--database-url", &db.url, "--log-format", format])
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
    child.kill().await.ok();
    std::fs::remove_dir_all(&workdir).ok();
    let expected = vec![
        request_id,
        seeded["organization_id"].as_str().unwrap().to_owned(),
        seeded["server_id"].as_str().unwrap().to_owned(),
        "tools/call".to_owned(),
        "select_walkthrough".to_owned(),
    ];
    Logged { expected, line }
}

#[tokio::test]
async fn a_failing_tool_call_is_logged_with_its_request_organization_and_server() {
    let Logged { expected, line } = failing_call_logged("text").await;
    let names = ["id=", "org=", "server=", "mcp_method=", "tool="];
    for (name, value) in names.iter().zip(&expected) {
        let quoted = format!("{name}\"{value}\"");
        let pair = format!("{name}{value}");
        assert!(
            line.contains(&pair) || line.contains(&quoted),
            "{pair} missing from: {line}"
        );
    }
}

#[tokio::test]
async fn with_log_format_json_each_line_is_an_object_naming_the_request() {
    let Logged { expected, line } = failing_call_logged("json").await;
    let object: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
    assert_eq!(object["level"], "INFO", "{object:#}");
    assert!(object["timestamp"].is_string(), "{object:#}");
    // The request's span fields, wherever the formatter puts them.
    let text = object.to_string();
    for value in &expected {
        assert!(
            text.contains(&format!("\"{value}\"")),
            "{value} missing from: {object:#}"
        );
    }
}
