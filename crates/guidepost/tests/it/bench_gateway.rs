//! `guidepost bench --gateway`: concurrent clients, both eras, one upstream and
//! many, and the upstream measured directly in the same run, with the tests' own fixture
//! (its stdio is the direct path: it has no HTTP transport of its own).

use serde_json::Value;

use crate::gateway_fixture::{FixtureDir, fixture_catalog_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_gateway_loads_both_eras_through_one_and_many_upstreams() {
    let dir = FixtureDir::new();
    let catalog = dir.0.join("catalog.toml");
    let entry = fixture_catalog_with(&dir.0.join("marks"), &[], "stateless = true");
    std::fs::write(&catalog, entry).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"))
        .current_dir(&dir.0)
        .args(["bench", "--json", "--gateway", "fixture", "--catalog"])
        .arg(&catalog)
        .args([
            "--users",
            "3",
            "--duration",
            "1",
            "--gateway-upstreams",
            "2",
        ])
        .args(["--replicas", "2", "--upstream-data"])
        .arg(dir.0.join("data"))
        .output()
        .await
        .expect("bench runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("a JSON report ({e}); stderr: {stderr}"));
    assert_eq!(report["users"], 3, "{report}");
    assert_eq!(report["replicas"], 2, "{report}");
    let rows = report["rows"].as_array().unwrap();
    let shape: Vec<(String, String, u64)> = rows
        .iter()
        .map(|row| {
            (
                row["path"].as_str().unwrap().to_owned(),
                row["era"].as_str().unwrap().to_owned(),
                row["upstreams"].as_u64().unwrap(),
            )
        })
        .collect();
    let through =
        |era: &str, upstreams| ("through Guidepost".to_owned(), era.to_owned(), upstreams);
    assert_eq!(
        shape,
        [
            (
                "direct (stdio, one connection)".to_owned(),
                "stdio".to_owned(),
                1
            ),
            through("session (2025-11-25)", 1),
            through("stateless (2026-07-28)", 1),
            through("session (2025-11-25)", 2),
            through("stateless (2026-07-28)", 2),
        ],
        "{report}"
    );
    for row in rows {
        assert_eq!(row["errors"], 0, "{row}");
        assert!(row["calls"].as_u64().unwrap() > 0, "{row}");
        assert!(row["calls_per_sec"].as_f64().unwrap() > 0.0, "{row}");
        let (p50, p99) = (
            row["p50_ms"].as_f64().unwrap(),
            row["p99_ms"].as_f64().unwrap(),
        );
        assert!(p50 > 0.0 && p99 >= p50, "{row}");
        assert!(row["share_of_direct"].as_f64().unwrap() > 0.0, "{row}");
    }
}
