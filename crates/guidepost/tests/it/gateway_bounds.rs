//! Nothing an upstream lists can exhaust the platform (SECURITY.md): an
//! upstream of the tests' own (`endless_upstream.py`) answers `tools/list` with pages of
//! 100 long tools and a fresh `nextCursor` forever. Installed, or turned endless after it
//! was ready (its `list_changed` rediscovery), it ends `failed` with the bound it went past
//! named, while Guidepost (in this process) grows by less than [`GROWTH_BOUND`].

use std::path::{Path, PathBuf};

use guidepost_core::upstreams::catalog::Catalog;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::{shared_with_upstreams, text_of, wait_for};
use crate::helpers::{RawMcp, STATELESS_ERA, Tenant, TestApp, python, spawn_app_with};

/// How much more memory Guidepost may hold at its peak while an endless upstream is
/// discovered than before: the bounds keep one list to 8 MiB of JSON (a few times that
/// as parsed values); without them, it grew by gigabytes.
const GROWTH_BOUND: u64 = 200 * 1024 * 1024;

/// What the upstream's status says once its listing went past the byte bound.
const PAST_THE_BOUND: &str =
    "the upstream's tools/list went past 8 MiB; Guidepost keeps at most 8 MiB of one list";

/// A directory of the test's own under the system's temporary directory.
fn scratch() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("guidepost-bounds-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The operator's catalog: `endless` (endless from the start) and `later` (endless once
/// its tool `turn` is called).
fn endless_catalog(dir: &Path) -> Catalog {
    let script = shared_with_upstreams(
        dir,
        "endless_upstream.py",
        include_str!("endless_upstream.py"),
    );
    let entry = |id: &str| {
        format!(
            "[[entry]]\nid = {id:?}\nname = {id:?}\ndescription = \"Lists forever.\"\n\
             spec = {{ runtime = \"command\", command = {:?}, args = [{:?}, {id:?}], \
             paths = {{ read = [{:?}] }} }}\n",
            python().display().to_string(),
            script.display().to_string(),
            script.display().to_string(),
        )
    };
    Catalog::with_operator_entries(&(entry("endless") + &entry("later"))).unwrap()
}

/// A field of this process's /proc/self/status (`VmRSS`, `VmHWM`), in bytes.
fn memory(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    kib * 1024
}

/// Asserts that the peak of this process's memory since `before` (its resident size
/// then) stayed within [`GROWTH_BOUND`], and prints what it was.
fn assert_grew_within_bound(before: u64, what: &str) {
    // The high-water mark: the listing's memory may be given back by the time it fails.
    let peak = memory("VmHWM");
    let now = memory("VmRSS");
    let grown = peak.saturating_sub(before);
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "{what}: resident {:.1} MiB before, {:.1} MiB at the peak, {:.1} MiB now; \
         grew by at most {:.1} MiB (bound {:.0} MiB)",
        mib(before),
        mib(peak),
        mib(now),
        mib(grown),
        mib(GROWTH_BOUND)
    );
    assert!(
        grown < GROWTH_BOUND,
        "{what}: grew by {:.1} MiB, past {:.0} MiB",
        mib(grown),
        mib(GROWTH_BOUND)
    );
}

struct Endless {
    app: TestApp,
    acme: Tenant,
    dir: PathBuf,
}

async fn endless(db: &TestDatabase) -> Endless {
    let dir = scratch();
    let catalog = endless_catalog(&dir);
    let app = spawn_app_with(db, move |settings| {
        settings.platform.catalog = std::sync::Arc::new(catalog);
    })
    .await;
    let acme = app.create_tenant("Acme").await;
    app.trust_new_tools(&acme).await;
    Endless { app, acme, dir }
}

impl Endless {
    async fn install(&self, entry: &str) -> String {
        let body = json!({"catalog_entry_id": entry});
        let (status, installed) = self
            .app
            .api(Method::POST, "/upstreams", &self.acme.key, Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{installed}");
        installed["id"].as_str().unwrap().to_owned()
    }

    /// Waits until the upstream is `failed`; asserts its reason names the bound.
    async fn failed_past_the_bound(&self, id: &str) -> Value {
        let failed = wait_for(&self.app, &self.acme, id, |u| u["status"] == "failed").await;
        let why = failed["last_error"].as_str().unwrap_or_default();
        assert!(why.contains(PAST_THE_BOUND), "{failed}");
        failed
    }
}

backend_tests! {
    /// At install: discovery stops at the byte bound, and the upstream is failed at once
    /// with it named (no restart would list less).
    async fn an_endless_tools_list_fails_the_upstream_at_install_within_bounds(db: &TestDatabase) {
        let e = endless(db).await;
        let before = memory("VmRSS");
        let id = e.install("endless").await;
        let failed = e.failed_past_the_bound(&id).await;
        assert_eq!(failed["restarts"], 0, "failed without restarts: {failed}");
        assert_grew_within_bound(before, "endless at install");
        let _ = std::fs::remove_dir_all(&e.dir);
    }

    /// Ready first, then endless after its `list_changed`: the rediscovery stops at the
    /// byte bound and fails the upstream instead of leaving it `ready` with what it
    /// listed before; a call then says it cannot be started.
    async fn an_endless_tools_list_after_list_changed_fails_the_upstream(db: &TestDatabase) {
        let e = endless(db).await;
        let id = e.install("later").await;
        wait_for(&e.app, &e.acme, &id, |u| u["status"] == "ready").await;
        let server = e.app.create_server(&e.acme, "acme", json!({})).await;
        let path = format!("/servers/{}/upstreams/{id}", server["id"].as_str().unwrap());
        let body = json!({"prefix": "later", "timeout_ms": 60_000});
        let (status, attached) = e.app.api(Method::PUT, &path, &e.acme.key, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{attached}");
        let mcp = RawMcp::new(e.app.mcp_path_url("acme"), STATELESS_ERA);
        let before = memory("VmRSS");
        let turned = mcp.call_tool(1, "later__turn", json!({})).await;
        assert_eq!(text_of(&turned.body), "turned", "{}", turned.body);
        e.failed_past_the_bound(&id).await;
        assert_grew_within_bound(before, "endless after list_changed");
        let again = mcp.call_tool(2, "later__turn", json!({})).await;
        assert_ne!(text_of(&again.body), "turned", "a failed upstream is not called: {}", again.body);
        let _ = std::fs::remove_dir_all(&e.dir);
    }
}
