//! Node 22 and the pinned npm packages of `tests/e2e` (the conformance suite, the MCP
//! Inspector CLI and the TypeScript client), as `scripts/install-test-tools` installs
//! them, and the summary lines that CI prints.
//!
//! These tests never skip: when Node or a package is missing they fail and say to run
//! `scripts/install-test-tools`. `scripts/test` (what CI runs) installs everything and
//! exports `GUIDEPOST_TEST_NODE`; a plain `cargo test` finds the same tools under
//! `$GUIDEPOST_TOOLS_DIR` (default `.tools/`) once they are installed. A silently skipped
//! conformance run would hide exactly the regressions it exists to catch.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::helpers::workspace_root;

const INSTALL_HINT: &str = "run scripts/install-test-tools (scripts/test does it)";

/// The Node 22 binary: `$GUIDEPOST_TEST_NODE`, else the one in the tools directory.
pub fn node() -> PathBuf {
    if let Some(path) = std::env::var_os("GUIDEPOST_TEST_NODE") {
        let path = PathBuf::from(path);
        assert!(
            path.exists(),
            "GUIDEPOST_TEST_NODE={} does not exist: {INSTALL_HINT}",
            path.display()
        );
        return path;
    }
    let tools = std::env::var_os("GUIDEPOST_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".tools"));
    let path = tools.join("node/node_modules/.bin/node");
    assert!(
        path.exists(),
        "Node 22 is not installed ({} is missing): {INSTALL_HINT}",
        path.display()
    );
    path
}

pub fn e2e_dir() -> PathBuf {
    workspace_root().join("tests/e2e")
}

/// A file of an installed npm package of `tests/e2e`.
pub fn package_file(path: &str) -> PathBuf {
    let file = e2e_dir().join("node_modules").join(path);
    assert!(
        file.exists(),
        "the npm packages of tests/e2e are not installed ({} is missing): {INSTALL_HINT}",
        file.display()
    );
    file
}

/// Runs Node with `args` in `tests/e2e`, killing it after `limit`.
pub async fn run(args: &[&OsStr], env: &[(&str, &OsStr)], limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut command = tokio::process::Command::new(node());
    command.args(args).current_dir(e2e_dir()).kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("node {args:?} did not finish within {limit:?}"))
        .expect("node runs");
    (output, started.elapsed())
}

/// The directory for a test's scratch files, inside the target directory, emptied.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory created");
    dir
}

/// Prints result lines and keeps them in `<target>/tmp/e2e-summary/<file>.txt`, which
/// `scripts/test` prints at the end of the run: test output is captured, so CI would not
/// show them otherwise.
pub fn summary(file: &str, lines: &[String]) {
    for line in lines {
        println!("{line}");
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-summary");
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join(format!("{file}.txt")), text));
    if let Err(error) = written {
        eprintln!("could not keep the summary lines: {error}");
    }
}
