//! The alerting rules and the Grafana dashboard in `deploy/`: promtool accepts
//! the rules and their unit tests pass (each alert fires on a synthetic series and stays
//! quiet on a normal one), and every metric they name is served by a live `/metrics`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use guidepost_testkit::{TestDatabase, backend_tests, require_environment};
use serde_json::json;

use crate::gateway_fixture::{fixture, text_of};
use crate::helpers::workspace_root;

fn deploy_file(path: &str) -> String {
    let path = workspace_root().join("deploy").join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Prometheus's `promtool`, unpacked by scripts/install-test-tools.
fn promtool() -> Option<PathBuf> {
    let path = std::env::var("GUIDEPOST_TEST_PROMTOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join(".tools/bin/promtool"));
    let present = path.exists();
    require_environment(
        "promtool",
        present,
        "run scripts/install-test-tools (scripts/test does it)",
    )
    .then_some(path)
}

fn run_promtool(promtool: &PathBuf, args: &[&str]) -> String {
    let output = std::process::Command::new(promtool)
        .args(args)
        .current_dir(workspace_root().join("deploy/prometheus"))
        .output()
        .expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn promtool_accepts_the_rules_and_their_unit_tests_pass() {
    let Some(promtool) = promtool() else { return };
    let checked = run_promtool(&promtool, &["check", "rules", "alerts.yml"]);
    assert!(checked.contains("SUCCESS: 8 rules found"), "{checked}");

    let tests = deploy_file("prometheus/alerts.test.yml");
    let rules = deploy_file("prometheus/alerts.yml");
    // Every alert has a unit test that expects it to fire, and one that expects quiet.
    for alert in alert_names(&rules) {
        let mentions = tests.matches(&format!("alertname: {alert}\n")).count();
        assert!(
            mentions >= 2,
            "{alert} is tested {mentions} times; it needs a firing and a quiet case"
        );
    }
    let tested = run_promtool(&promtool, &["test", "rules", "alerts.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

fn alert_names(rules: &str) -> Vec<&str> {
    rules
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert: "))
        .collect()
}

/// Every `guidepost_…` name in the rules and the dashboard, as `/metrics` names its
/// series' family (a histogram's `_bucket` is its family's).
fn metrics_named_in_deploy() -> BTreeSet<String> {
    let text = deploy_file("prometheus/alerts.yml") + &deploy_file("grafana/guidepost.json");
    let mut names = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("guidepost_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        names.insert(name.strip_suffix("_bucket").unwrap_or(name).to_owned());
        rest = &tail[end..];
    }
    names
}

backend_tests! {
    async fn every_metric_the_rules_and_dashboard_name_is_served(db: &TestDatabase) {
        let named = metrics_named_in_deploy();
        assert!(named.len() >= 15, "the parser found the names: {named:?}");
        assert!(named.contains("guidepost_tool_call_duration_seconds"), "{named:?}");

        // An upstream installed and one of its tools called: the upstream and call series exist.
        let f = fixture(db, "acme", 60_000).await;
        let answer = f.mcp.call_tool(7, "fx__echo", json!({"message": "measured"})).await;
        assert_eq!(text_of(&answer.body), "measured");

        let served = f.app.http.get(format!("{}/metrics", f.app.url)).send().await.unwrap().text().await.unwrap();
        let families: BTreeSet<&str> = served
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split(['{', ' ']).next())
            .map(|series| ["_bucket", "_sum", "_count"].iter().fold(series, |s, suffix| s.strip_suffix(suffix).unwrap_or(s)))
            .collect();
        let missing: Vec<&String> = named.iter().filter(|name| !families.contains(name.as_str())).collect();
        assert!(missing.is_empty(), "named in deploy/ but not served: {missing:?}\n{served}");
    }
}
