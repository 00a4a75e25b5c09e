//! Upgrading an installed upstream: a package of the tests' own, published in
//! two versions on a PyPI index of the tests' own, is installed at 1.0.0, reviewed and
//! attached; `PATCH` to 1.1.0 fetches the new version beside the old one and switches
//! without a failed call (a call held open across the switch and calls made all along
//! succeed); the changed tool waits for review with its diff, the new one is pending, the
//! unchanged ones keep answering; `POST …/rollback` puts 1.0.0 back with its approvals.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use guidepost_core::upstreams::catalog::Catalog;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway::shared_cache;
use crate::gateway_fixture::{text_of, wait_for_within};
use crate::helpers::{RawMcp, STATELESS_ERA, Tenant, TestApp, spawn_app_with};
use crate::node;
use crate::upgrade_index::{PACKAGE, PackageIndex, Release};

const CHANGED: &str = "Writes a lot to stderr, and keeps a copy of what it wrote.";

/// The two releases: 1.1.0 changes `noisy`'s description and adds `fresh`.
fn releases() -> Vec<Release> {
    vec![
        Release {
            version: "1.0.0",
            descriptions: json!({}),
        },
        Release {
            version: "1.1.0",
            descriptions: json!({"noisy": CHANGED, "fresh": "New in 1.1.0."}),
        },
    ]
}

pub struct Upgradable {
    pub app: TestApp,
    pub acme: Tenant,
    pub upstream: String,
    pub mcp: RawMcp,
    /// The upstream's own directory (its working directory), where `hold` looks.
    pub home: PathBuf,
    index: PackageIndex,
    cache: PathBuf,
}

impl Drop for Upgradable {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.cache);
    }
}

/// The package installed at 1.0.0 from the tests' index, every tool approved by hand
/// (the organization reviews new tools), attached to `acme` as `fx`.
pub async fn installed_at_first_version(db: &TestDatabase) -> Upgradable {
    let index = PackageIndex::publish(&releases()).await;
    // A cache of this test's own: the package's versions exist only in this index.
    let cache = shared_cache().with_file_name(format!(
        "upgrade-cache-{}-{}",
        std::process::id(),
        db.url.len()
    ));
    let entry = format!(
        "[[entry]]\nid = \"versioned\"\nname = \"Versioned\"\n\
         description = \"The tests' upstream, published in versions.\"\n\
         spec = {{ runtime = \"pypi\", package = \"{PACKAGE}\", version = \"1.0.0\" }}\n"
    );
    let catalog = Arc::new(Catalog::with_operator_entries(&entry).unwrap());
    let (index_url, cache_dir) = (index.url.clone(), cache.clone());
    let app = spawn_app_with(db, move |settings| {
        settings.platform.catalog = catalog;
        let toolchain = &mut settings.gateway.toolchain;
        toolchain.cache_dir = cache_dir;
        toolchain.node = node::node();
        toolchain.python = crate::helpers::python();
        toolchain.pypi_index_url = Some(index_url);
        // The switch is watched by calls made back to back, as fast as the gateway
        // answers: a rate limit would fail them, and that is not what is tested.
        settings.mcp.rate_limits.per_user_per_minute = 0;
        settings.mcp.rate_limits.per_ip_per_minute = 0;
    })
    .await;
    let acme = app.create_tenant("Acme").await;
    let server = app.create_server(&acme, "acme", json!({})).await;
    let body = json!({"catalog_entry_id": "versioned"});
    let (status, installed) = app
        .api(Method::POST, "/upstreams", &acme.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    let upstream = installed["id"].as_str().unwrap().to_owned();
    let ready = wait_for_within(&app, &acme, &upstream, 120, |u| {
        u["status"] != "installing" && u["status"] != "starting"
    })
    .await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["version"], "1.0.0");
    for tool in stored_tools(&app, &acme, &upstream).await {
        assert_eq!(
            tool["state"], "pending",
            "new tools wait for review: {tool}"
        );
        let path = format!(
            "/upstreams/{upstream}/tools/{}/approve",
            tool["name"].as_str().unwrap()
        );
        let (status, approved) = app.api(Method::POST, &path, &acme.key, None).await;
        assert_eq!(status, StatusCode::OK, "{approved}");
    }
    let path = format!(
        "/servers/{}/upstreams/{upstream}",
        server["id"].as_str().unwrap()
    );
    let (status, attached) = app
        .api(Method::PUT, &path, &acme.key, Some(json!({"prefix": "fx"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{attached}");
    let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
    let home = std::env::temp_dir()
        .join("guidepost-test-upstream-data")
        .join(&upstream);
    Upgradable {
        app,
        acme,
        upstream,
        mcp,
        home,
        index,
        cache,
    }
}

async fn stored_tools(app: &TestApp, tenant: &Tenant, id: &str) -> Vec<Value> {
    let (status, tools) = app
        .get(&format!("/upstreams/{id}/tools"), &tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{tools}");
    tools["items"].as_array().unwrap().clone()
}

fn tool<'a>(tools: &'a [Value], name: &str) -> Option<&'a Value> {
    tools.iter().find(|t| t["name"] == name)
}

/// The version the upstream answering `whereami` on this node runs.
async fn answering_version(mcp: &RawMcp) -> Value {
    let answer = mcp.call_tool(1, "fx__whereami", json!({})).await;
    let text = text_of(&answer.body);
    let place: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{}", answer.body));
    place["version"].clone()
}

/// Calls `whereami` until the upstream answering is `version` (the switch is done).
async fn switched_to(mcp: &RawMcp, version: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while answering_version(mcp).await != version {
        assert!(Instant::now() < deadline, "never switched to {version}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Calls `echo` over and over until told to stop; every answer must be the echo.
fn keep_calling(mcp: &RawMcp, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    let mcp = RawMcp::new(mcp.url.clone(), STATELESS_ERA);
    tokio::spawn(async move {
        let mut calls = 0;
        while !stop.load(Ordering::Relaxed) {
            let message = format!("call {calls}");
            let answer = mcp
                .call_tool(2, "fx__echo", json!({"message": message}))
                .await;
            assert_eq!(
                text_of(&answer.body),
                message,
                "a call failed during the switch: {}",
                answer.body
            );
            calls += 1;
        }
        calls
    })
}

/// `name` in the upstream's own directory `home`, as its processes see it: the
/// directory is a file system mounted in their namespace only (`confine/disk.rs`), so
/// the host reaches it through a process whose HOME it is (`/proc/<pid>/root`).
fn in_upstream(home: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    let marker = format!("HOME={}\0", home.display());
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            let found = environ
                .windows(marker.len())
                .any(|window| window == marker.as_bytes());
            let inside = entry.path().join("root").join(home.strip_prefix("/").ok()?);
            found.then(|| inside.join(name))
        })
}

/// Waits until the upstream has written `name` into its directory.
async fn file_appears(home: &std::path::Path, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !in_upstream(home, name).is_some_and(|path| path.exists()) {
        assert!(
            Instant::now() < deadline,
            "{name} never appeared in {}",
            home.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn audited(app: &TestApp, tenant: &Tenant) -> Vec<String> {
    let (_, events) = app.get("/audit-events?limit=200", &tenant.key).await;
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect()
}

/// The audit event of an undone upgrade, as `key` reads it.
async fn undo_event(app: &TestApp, key: &str) -> Value {
    let (_, events) = app.get("/audit-events?type=upstream&limit=200", key).await;
    let events = events["items"].as_array().unwrap();
    let undone = events
        .iter()
        .find(|e| e["action"] == "upstream.upgrade_undone");
    undone.cloned().expect("an undone upgrade")
}

/// `guidepost upstream … COMMAND ARGS` against the test's database, fetching from the
/// test's index into the test's cache; its stdout.
fn cli(u: &Upgradable, db: &TestDatabase, args: &[&str]) -> String {
    let data = std::env::temp_dir().join("guidepost-test-upstream-data");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_guidepost"))
        .args(["--database-url", &db.url, "upstream"])
        .args(["--pypi-index-url", &u.index.url])
        .arg("--upstream-cache")
        .arg(&u.cache)
        .arg("--upstream-data")
        .arg(&data)
        .arg("--python")
        .arg(crate::helpers::python())
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

backend_tests! {
    async fn the_cli_upgrades_and_rolls_back_and_the_serving_node_follows(db: &TestDatabase) {
        let u = installed_at_first_version(db).await;
        assert_eq!(answering_version(&u.mcp).await, "1.0.0");
        let org = u.acme.org.to_string();
        let shown = cli(&u, db, &["upgrade", "--org", &org, &u.upstream, "--version", "1.1.0"]);
        assert!(shown.contains(&u.upstream) && shown.contains("fresh"), "its new tools: {shown}");
        let (_, upstream) = u.app.get(&format!("/upstreams/{}", u.upstream), &u.acme.key).await;
        assert_eq!(upstream["version"], "1.1.0");
        assert_eq!(tool(&stored_tools(&u.app, &u.acme, &u.upstream).await, "noisy").unwrap()["state"], "quarantined");
        // The serving app, another process, switches at its next calls.
        switched_to(&u.mcp, "1.1.0").await;
        cli(&u, db, &["rollback", "--org", &org, &u.upstream]);
        switched_to(&u.mcp, "1.0.0").await;
        assert_eq!(tool(&stored_tools(&u.app, &u.acme, &u.upstream).await, "noisy").unwrap()["state"], "approved");
    }

    async fn an_upgrade_switches_without_a_failed_call_and_a_rollback_restores_the_approvals(db: &TestDatabase) {
        let u = installed_at_first_version(db).await;
        assert_eq!(answering_version(&u.mcp).await, "1.0.0");
        let before = stored_tools(&u.app, &u.acme, &u.upstream).await;
        assert!(before.iter().all(|t| t["state"] == "approved"), "{before:?}");

        // A call held open on 1.0.0 across the switch, and calls made all along.
        let held = {
            let mcp = RawMcp::new(u.mcp.url.clone(), STATELESS_ERA);
            tokio::spawn(async move { mcp.call_tool(3, "fx__hold", json!({"name": "go"})).await })
        };
        file_appears(&u.home, "holding-go").await;
        let stop = Arc::new(AtomicBool::new(false));
        let callers: Vec<_> = (0..3).map(|_| keep_calling(&u.mcp, stop.clone())).collect();

        let path = format!("/upstreams/{}", u.upstream);
        let (status, patched) = u.app.api(Method::PATCH, &path, &u.acme.key, Some(json!({"version": "1.1.0"}))).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(patched["version"], "1.1.0");
        assert_eq!(patched["previous_version"], "1.0.0");
        switched_to(&u.mcp, "1.1.0").await;
        assert!(!held.is_finished(), "the held call still waits on 1.0.0, which was not stopped");
        std::fs::write(in_upstream(&u.home, "go").unwrap(), "").unwrap();
        let released = held.await.unwrap();
        assert_eq!(text_of(&released.body), "released by go", "{}", released.body);
        stop.store(true, Ordering::Relaxed);
        for caller in callers {
            assert!(caller.await.unwrap() > 0, "each caller called");
        }

        // The changed tool waits for review with its diff; the new one is pending; the
        // unchanged ones stay approved and answer.
        let after = stored_tools(&u.app, &u.acme, &u.upstream).await;
        let noisy = tool(&after, "noisy").unwrap();
        assert_eq!(noisy["state"], "quarantined", "{noisy}");
        let diff = noisy["diff_from_approved"].to_string();
        assert!(diff.contains(CHANGED) && diff.contains("Writes a lot to stderr."), "{noisy}");
        assert_eq!(tool(&after, "fresh").unwrap()["state"], "pending");
        assert_eq!(tool(&after, "echo").unwrap()["state"], "approved");
        assert_eq!(tool(&after, "echo").unwrap()["definition_hash"], tool(&before, "echo").unwrap()["definition_hash"]);
        let refused = u.mcp.call_tool(4, "fx__noisy", json!({"lines": 1})).await;
        assert!(refused.tool_error_text().contains("awaits review"), "{}", refused.body);
        let echoed = u.mcp.call_tool(5, "fx__echo", json!({"message": "still here"})).await;
        assert_eq!(text_of(&echoed.body), "still here");

        // Rollback: 1.0.0 again, with noisy approved as it was and no `fresh`.
        let (status, rolled) = u.app.api(Method::POST, &format!("{path}/rollback"), &u.acme.key, None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{rolled}");
        assert_eq!(rolled["version"], "1.0.0");
        assert_eq!(rolled["previous_version"], "1.1.0", "a second rollback goes forward");
        switched_to(&u.mcp, "1.0.0").await;
        let restored = stored_tools(&u.app, &u.acme, &u.upstream).await;
        assert_eq!(tool(&restored, "noisy").unwrap()["state"], "approved");
        assert_eq!(tool(&restored, "noisy").unwrap()["definition_hash"], tool(&before, "noisy").unwrap()["definition_hash"]);
        assert!(tool(&restored, "fresh").is_none(), "{restored:?}");
        let noisy = u.mcp.call_tool(6, "fx__noisy", json!({"lines": 1})).await;
        assert_eq!(text_of(&noisy.body), "wrote 1 lines", "{}", noisy.body);

        let actions = audited(&u.app, &u.acme).await;
        for action in ["upstream.upgraded", "upstream.switched", "upstream.rolled_back", "tool.quarantined"] {
            assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
        }
    }

    async fn an_upgrade_to_a_version_that_does_not_start_is_undone_and_the_old_one_serves(db: &TestDatabase) {
        let u = installed_at_first_version(db).await;
        assert_eq!(answering_version(&u.mcp).await, "1.0.0");
        let stop = Arc::new(AtomicBool::new(false));
        let callers: Vec<_> = (0..2).map(|_| keep_calling(&u.mcp, stop.clone())).collect();

        // Well formed, but the index has no 9.9.9: the new launch cannot be fetched.
        let path = format!("/upstreams/{}", u.upstream);
        let (status, patched) = u.app.api(Method::PATCH, &path, &u.acme.key, Some(json!({"version": "9.9.9"}))).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(patched["version"], "9.9.9");
        let undone = wait_for_within(&u.app, &u.acme, &u.upstream, 120, |u| {
            u["version"] == "1.0.0" && u["status"] == "ready"
        })
        .await;
        let said = undone["last_error"].as_str().unwrap_or_default();
        assert!(said.contains("9.9.9 did not start") && said.contains("undone"), "{undone}");
        assert_eq!(undone["status"], "ready", "{undone}");
        assert_eq!(undone["previous_version"], "9.9.9", "{undone}");
        stop.store(true, Ordering::Relaxed);
        for caller in callers {
            assert!(caller.await.unwrap() > 0, "each caller called, and no call failed");
        }
        assert_eq!(answering_version(&u.mcp).await, "1.0.0");
        let actions = audited(&u.app, &u.acme).await;
        assert!(actions.iter().any(|a| a == "upstream.upgrade_undone"), "{actions:?}");
        assert!(!actions.iter().any(|a| a == "upstream.switched"), "it never switched: {actions:?}");
        // Why it did not start quotes the upstream: only for whoever may read its errors.
        let reader = u.app.key_with(&u.acme.key, "reader", json!(["read"])).await;
        let (mine, theirs) = (undo_event(&u.app, &u.acme.key).await, undo_event(&u.app, &reader).await);
        assert!(mine["detail"]["why"].as_str().is_some_and(|why| !why.is_empty()), "{mine}");
        assert_eq!(theirs["detail"].get("why"), None, "{theirs}");
        assert!(theirs["text"].as_str().unwrap().contains("9.9.9, which did not start;"), "{theirs}");
        let (_, settled) = u.app.get(&path, &u.acme.key).await;
        assert_eq!((settled["status"].as_str(), settled["version"].as_str()), (Some("ready"), Some("1.0.0")), "{settled}");
    }

    async fn an_upgrade_refuses_what_it_cannot_run_and_a_rollback_needs_an_earlier_version(db: &TestDatabase) {
        let u = installed_at_first_version(db).await;
        let path = format!("/upstreams/{}", u.upstream);
        let (status, problem) = u.app.api(Method::POST, &format!("{path}/rollback"), &u.acme.key, None).await;
        assert_eq!(status, StatusCode::CONFLICT, "never upgraded: {problem}");
        for (body, field) in [
            (json!({"version": "1.x"}), "version"),
            (json!({"version": ">=1.0"}), "version"),
            (json!({"config": {"zone": "UTC"}}), "config"),
            (json!({"secrets": {"TOKEN": "s3cret"}}), "secrets"),
        ] {
            let (status, problem) = u.app.api(Method::PATCH, &path, &u.acme.key, Some(body.clone())).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
            assert!(problem.to_string().contains(field), "{body}: {problem}");
        }
        let (_, unchanged) = u.app.get(&path, &u.acme.key).await;
        assert_eq!(unchanged["version"], "1.0.0");
        assert_eq!(unchanged["previous_version"], Value::Null);
        // Another organization cannot upgrade or roll it back.
        let other = u.app.create_tenant("Other").await;
        let (status, _) = u.app.api(Method::PATCH, &path, &other.key, Some(json!({"version": "1.1.0"}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = u.app.api(Method::POST, &format!("{path}/rollback"), &other.key, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
