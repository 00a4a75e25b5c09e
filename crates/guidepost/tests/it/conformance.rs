//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned in
//! tests/e2e/package.json) against a conformance fixture server created through the
//! API, for both requirement sets, with no expected-failures file: every scored check
//! must pass, `dns-rebinding-protection` included.
//!
//! Each requirement set runs twice against the same fixture server:
//! - on `http://localhost:PORT/mcp`, where the bare base domain `localhost` is the
//!   platform's default server (`--default-server`);
//! - through the server's own virtual host, its custom domain `127.0.0.1`
//!   (`http://127.0.0.1:PORT/mcp`, routed by Host like any custom domain). The suite
//!   needs a URL whose host is `localhost`, `127.0.0.1` or `[::1]` (its DNS-rebinding
//!   scenario refuses to run otherwise), so a `{slug}.localhost` host cannot pass it;
//!   the loopback address is the one virtual host name that can, and needs no DNS.
//!
//! The scored scenarios are the ones `conformance list --server --requirements R`
//! names; the counts come from the `checks.json` files the suite writes.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::{Value, json};

use crate::helpers::spawn_app_with;
use crate::node;

const SUITE: &str = "@modelcontextprotocol/conformance/dist/index.js";
/// A whole run takes a few seconds; this only bounds a hung one.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// The server scenarios a requirement set scores.
async fn scored_scenarios(requirements: &str) -> Vec<String> {
    let suite = node::package_file(SUITE);
    let args: [&OsStr; 5] = [
        suite.as_os_str(),
        "list".as_ref(),
        "--server".as_ref(),
        "--requirements".as_ref(),
        requirements.as_ref(),
    ];
    let (output, _) = node::run(&args, &[], Duration::from_secs(60)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "conformance list failed:\n{stdout}"
    );
    // "Server scenarios (…):" is followed by "  - name" lines until the next heading.
    let scenarios: Vec<String> = stdout
        .split_once("Server scenarios")
        .map(|(_, rest)| rest)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .take_while(|line| line.trim_start().starts_with("- "))
        .map(|line| line.trim_start()[2..].trim().to_owned())
        .collect();
    assert!(
        scenarios.len() >= 20,
        "could not read the scored scenarios of {requirements}:\n{stdout}"
    );
    scenarios
}

/// The scenarios a requirement set does not score but that apply to its version: those
/// introduced with it that it leaves out, and, for 2026-07-28, the extensions (tasks,
/// skills), which the suite runs at that version's wire.
async fn unscored_scenarios(requirements: &str, scored: &[String]) -> Vec<String> {
    let suite = node::package_file(SUITE);
    let args: [&OsStr; 3] = [suite.as_os_str(), "list".as_ref(), "--server".as_ref()];
    let (output, _) = node::run(&args, &[], Duration::from_secs(60)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "conformance list failed:\n{stdout}"
    );
    // "  - name [2025-11-25,2026-07-28]" or "  - name [extension]"
    let applies = |tags: &str| {
        tags.split(',')
            .any(|tag| tag == requirements || (tag == "extension" && requirements == "2026-07-28"))
    };
    stdout
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("- "))
        .filter_map(|entry| entry.split_once(" ["))
        .filter(|(name, tags)| {
            applies(tags.trim_end_matches(']')) && !scored.iter().any(|s| s == name)
        })
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// The scenario of a result directory `server-<scenario>-<YYYY-MM-DDTHH-MM-SS-mmmZ>`.
fn scenario_of(directory: &str) -> Option<&str> {
    const STAMP: usize = "-2026-01-01T00-00-00-000Z".len();
    let rest = directory.strip_prefix("server-")?;
    let (scenario, stamp) = rest.split_at_checked(rest.len().checked_sub(STAMP)?)?;
    let looks_like_stamp = stamp.ends_with('Z')
        && stamp.as_bytes().get(11) == Some(&b'T')
        && stamp[1..5].bytes().all(|b| b.is_ascii_digit());
    looks_like_stamp.then_some(scenario)
}

/// Check statuses over the scored scenarios of one run.
#[derive(Default)]
struct Tally {
    statuses: BTreeMap<String, usize>,
    scenarios: usize,
    missing: Vec<String>,
    problems: Vec<String>,
}

impl Tally {
    fn count(&self, status: &str) -> usize {
        self.statuses.get(status).copied().unwrap_or(0)
    }

    fn read(results: &Path, scored: &[String]) -> Self {
        let mut tally = Tally::default();
        let mut seen = Vec::new();
        let entries = std::fs::read_dir(results).expect("the suite wrote its results");
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(scenario) = scenario_of(&name) else {
                continue;
            };
            if !scored.iter().any(|s| s == scenario) {
                continue;
            }
            seen.push(scenario.to_owned());
            let text = std::fs::read_to_string(entry.path().join("checks.json"))
                .unwrap_or_else(|e| panic!("{name}/checks.json: {e}"));
            let checks: Vec<Value> = serde_json::from_str(&text).expect("checks.json is JSON");
            for check in checks {
                let status = check["status"].as_str().unwrap_or("?").to_owned();
                if !matches!(status.as_str(), "SUCCESS" | "INFO" | "SKIPPED") {
                    tally.problems.push(format!(
                        "{scenario}/{}: {status} {}",
                        check["id"].as_str().unwrap_or("?"),
                        check["errorMessage"].as_str().unwrap_or("")
                    ));
                }
                *tally.statuses.entry(status).or_default() += 1;
            }
        }
        tally.scenarios = seen.len();
        tally.missing = scored
            .iter()
            .filter(|s| !seen.contains(s))
            .cloned()
            .collect();
        tally
    }
}

async fn run_suite(
    url: &str,
    requirements: &str,
    results: &Path,
) -> (std::process::Output, Duration) {
    let suite = node::package_file(SUITE);
    let args: [&OsStr; 8] = [
        suite.as_os_str(),
        "server".as_ref(),
        "--url".as_ref(),
        url.as_ref(),
        "--requirements".as_ref(),
        requirements.as_ref(),
        "--output-dir".as_ref(),
        results.as_os_str(),
    ];
    node::run(&args, &[], RUN_LIMIT).await
}

/// Runs each of `scenarios` on its own (`--scenario`) into `results`.
async fn run_scenarios(url: &str, scenarios: &[String], results: &Path) -> Duration {
    let suite = node::package_file(SUITE);
    let mut took = Duration::ZERO;
    for scenario in scenarios {
        let args: [&OsStr; 8] = [
            suite.as_os_str(),
            "server".as_ref(),
            "--url".as_ref(),
            url.as_ref(),
            "--scenario".as_ref(),
            scenario.as_ref(),
            "--output-dir".as_ref(),
            results.as_os_str(),
        ];
        // The exit status says whether checks failed; the checks are read from the files.
        let (_, elapsed) = node::run(&args, &[], RUN_LIMIT).await;
        took += elapsed;
    }
    took
}

async fn conformance_suite_passes(db: &TestDatabase, requirements: &str) {
    let app = spawn_app_with(db, |settings| {
        settings.platform.enable_fixtures = true;
        settings.platform.default_server = Some("conf".into());
    })
    .await;
    let tenant = app.create_tenant("Conformance").await;
    let server = app
        .create_server_at_domain(
            &tenant,
            "conf",
            "127.0.0.1",
            json!({"kind": "conformance_fixture"}),
        )
        .await;
    assert_eq!(server["kind"], "conformance_fixture");
    let port = app.url.rsplit(':').next().expect("the app URL has a port");
    let scored = scored_scenarios(requirements).await;

    let targets = [
        (
            "localhost, default server",
            format!("http://localhost:{port}/mcp"),
        ),
        (
            "vhost 127.0.0.1, custom domain",
            format!("http://127.0.0.1:{port}/mcp"),
        ),
    ];
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    for (how, url) in &targets {
        let label = format!(
            "{requirements}-{}-{}",
            db.backend,
            how.split(',').next().unwrap_or(how)
        );
        let results = node::scratch_dir(&format!("conformance/{}", label.replace(' ', "-")));
        let (output, took) = run_suite(url, requirements, &results).await;
        let tally = Tally::read(&results, &scored);
        let passed = tally.count("SUCCESS");
        let failed = tally.count("FAILURE");
        lines.push(format!(
            "conformance {requirements} [{}] via {url} ({how}): scored checks {passed} passed, \
             {failed} failed ({} warnings, {} info, {} skipped) in {}/{} scenarios, {:.1} s",
            db.backend,
            tally.count("WARNING"),
            tally.count("INFO"),
            tally.count("SKIPPED"),
            tally.scenarios,
            scored.len(),
            took.as_secs_f64()
        ));
        let stdout = String::from_utf8_lossy(&output.stdout);
        // Warnings (SHOULDs) fail the test too: today there are none.
        if !tally.problems.is_empty() || !tally.missing.is_empty() || !output.status.success() {
            failures.push(format!(
                "{requirements} via {url}: exit {:?}\n  not passed: {:#?}\n  scenarios without results: {:?}\n  results in {}\n--- suite output (tail) ---\n{}",
                output.status.code(),
                tally.problems,
                tally.missing,
                results.display(),
                stdout.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"),
            ));
        }
    }
    // The scenarios the requirement set does not score (extensions, pending ones) must
    // pass too; once, through the default server.
    let unscored = unscored_scenarios(requirements, &scored).await;
    if !unscored.is_empty() {
        let url = &targets[0].1;
        let results = node::scratch_dir(&format!(
            "conformance/{requirements}-{}-unscored",
            db.backend
        ));
        let took = run_scenarios(url, &unscored, &results).await;
        let tally = Tally::read(&results, &unscored);
        lines.push(format!(
            "conformance {requirements} [{}] via {url}, unscored scenarios: checks {} passed, \
             {} failed ({} warnings, {} info, {} skipped) in {}/{} scenarios, {:.1} s",
            db.backend,
            tally.count("SUCCESS"),
            tally.count("FAILURE"),
            tally.count("WARNING"),
            tally.count("INFO"),
            tally.count("SKIPPED"),
            tally.scenarios,
            unscored.len(),
            took.as_secs_f64()
        ));
        if !tally.problems.is_empty() || !tally.missing.is_empty() {
            failures.push(format!(
                "{requirements} unscored scenarios via {url}:\n  not passed: {:#?}\n  scenarios without results: {:?}\n  results in {}",
                tally.problems,
                tally.missing,
                results.display(),
            ));
        }
    }
    node::summary(
        &format!("conformance-{requirements}-{}", db.backend),
        &lines,
    );

    // The fixture's calls went through the same path as every tool call: recorded.
    let calls = app.wait_for_tool_calls(&tenant, 1).await;
    assert!(
        calls.iter().any(|call| call["tool_name"]
            .as_str()
            .is_some_and(|n| n.starts_with("test_"))),
        "the fixture's tool calls are recorded: {calls:?}"
    );
    app.app.shutdown().await.unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

backend_tests! {
    async fn conformance_suite_passes_for_2025_11_25(db: &TestDatabase) {
        conformance_suite_passes(db, "2025-11-25").await;
    }

    async fn conformance_suite_passes_for_2026_07_28(db: &TestDatabase) {
        conformance_suite_passes(db, "2026-07-28").await;
    }
}

#[test]
fn result_directories_name_their_scenario() {
    assert_eq!(
        scenario_of("server-sep-2164-resource-not-found-2026-11-21T08-56-22-527Z"),
        Some("sep-2164-resource-not-found")
    );
    assert_eq!(
        scenario_of("server-ping-2026-11-21T08-56-22-527Z"),
        Some("ping")
    );
    assert_eq!(scenario_of("server-ping"), None);
    assert_eq!(scenario_of("client-x-2026-11-21T08-56-22-527Z"), None);
}
