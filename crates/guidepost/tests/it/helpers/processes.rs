//! Processes a test starts: `guidepost serve`, and the end-to-end scripts with the
//! official Python client.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncBufReadExt;

/// The interpreter of the venv with the official Python MCP client.
pub fn python() -> PathBuf {
    if let Ok(path) = std::env::var("GUIDEPOST_TEST_PYTHON") {
        return PathBuf::from(path);
    }
    let local = workspace_root().join(".tools/venv/bin/python");
    assert!(
        local.exists(),
        "the Python MCP client is not installed: run scripts/install-test-tools (or scripts/test)"
    );
    local
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file under `dir` that `keep` takes, going into each directory whose name
/// `descend` takes: the walk the workspace's source checks share.
pub fn files_under(
    dir: &std::path::Path,
    descend: &dyn Fn(&str) -> bool,
    keep: &dyn Fn(&std::path::Path) -> bool,
) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                if descend(&entry.file_name().to_string_lossy()) {
                    pending.push(path);
                }
            } else if keep(&path) {
                found.push(path);
            }
        }
    }
    found
}

/// Runs tests/e2e/mcp_smoke.py with the official Python client; returns its JSON report.
pub async fn python_smoke(args: &[&str]) -> Value {
    python_script("mcp_smoke.py", args).await
}

/// Runs a script of tests/e2e with the official Python client; returns its JSON report
/// (the last line of its output).
pub async fn python_script(name: &str, args: &[&str]) -> Value {
    let script = workspace_root().join("tests/e2e").join(name);
    let output = tokio::process::Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .await
        .expect("the Python client runs");
    json_report(&output, "the Python client")
}

/// The JSON object an end-to-end script prints as the last line of its output; a
/// failure shows `who` printed, its exit status and its standard error.
pub fn json_report(output: &std::process::Output, who: &str) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok());
    report.unwrap_or_else(|| {
        panic!(
            "no JSON report from {who} (exit {:?}):\n{stdout}\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Starts `guidepost serve` on a free port and returns it with its base URL.
pub async fn serve_process(database_url: &str) -> (tokio::process::Child, String) {
    serve_process_with(database_url, &[]).await
}

/// `serve_process` with more environment (`GUIDEPOST_*` settings; a `GUIDEPOST_LOG`
/// of the test's replaces `info`).
pub async fn serve_process_with(
    database_url: &str,
    env: &[(&str, &str)],
) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"))
        .env("GUIDEPOST_LOG", "info")
        .envs(env.iter().copied())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("guidepost starts");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let find = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(addr) = line.split("addr=").nth(1) {
                return addr.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("guidepost did not report its address");
    };
    let addr = tokio::time::timeout(Duration::from_secs(30), find)
        .await
        .expect("listening within 30 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, format!("http://{addr}"))
}
