//! A small stdio MCP server of the tests' own (`upstream_fixture.py`), offered by an
//! operator catalog entry, installed and attached as `fx`: what the gateway tests run
//! upstream, and the helpers that watch it (its marks file, its processes).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use guidepost::config::Settings;
use guidepost_core::upstreams::catalog::Catalog;
use guidepost_testkit::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{RawMcp, STATELESS_ERA, Tenant, TestApp, python, spawn_app_with};

/// An app whose catalog offers the fixture as entry `fixture`, writing its marks to a
/// file of the test's own.
pub struct Fixture {
    pub app: TestApp,
    pub acme: Tenant,
    pub slug: String,
    /// The hosted server's id.
    pub server: String,
    pub upstream: String,
    pub mcp: RawMcp,
    pub marks: PathBuf,
    pub dir: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `fx__echo` of `message` through the fixture's client: (is_error, the first text).
pub async fn echo(f: &Fixture, id: i64, message: &str) -> (bool, String) {
    let answer = f
        .mcp
        .call_tool(id, "fx__echo", serde_json::json!({ "message": message }))
        .await;
    let result = &answer.body["result"];
    let text = result["content"][0]["text"].as_str();
    let text = text.unwrap_or_else(|| panic!("no text: {}", answer.body));
    (result["isError"] == true, text.to_owned())
}

pub async fn fixture(db: &TestDatabase, slug: &str, timeout_ms: i64) -> Fixture {
    let f = fixture_with(db, slug, timeout_ms, &[], |_| {}).await;
    let (_, upstream) = f
        .app
        .get(&format!("/upstreams/{}", f.upstream), &f.acme.key)
        .await;
    assert_eq!(upstream["status"], "ready", "{upstream}");
    assert_eq!(upstream["restarts"], 0);
    f
}

/// The fixture with more environment (`FIXTURE_*` switches) and settings of the test's
/// own; installed, settled (whatever its status) and attached as `fx`.
pub async fn fixture_with(
    db: &TestDatabase,
    slug: &str,
    timeout_ms: i64,
    env: &[(&str, &str)],
    adjust: impl FnOnce(&mut Settings),
) -> Fixture {
    fixture_with_entry(db, slug, timeout_ms, env, "", adjust).await
}

/// `fixture_with`, its catalog entry given more TOML keys (such as `config = [...]`).
pub async fn fixture_with_entry(
    db: &TestDatabase,
    slug: &str,
    timeout_ms: i64,
    env: &[(&str, &str)],
    extra: &str,
    adjust: impl FnOnce(&mut Settings),
) -> Fixture {
    let install = json!({"catalog_entry_id": "fixture"});
    fixture_installed(db, slug, timeout_ms, env, extra, install, adjust).await
}

/// `fixture_with_entry`, installed with the request body `install` (more than the entry's
/// id, such as `replicas`).
pub async fn fixture_installed(
    db: &TestDatabase,
    slug: &str,
    timeout_ms: i64,
    env: &[(&str, &str)],
    extra: &str,
    install: Value,
    adjust: impl FnOnce(&mut Settings),
) -> Fixture {
    let dir = unique_dir();
    let marks = dir.join("marks");
    let entry = fixture_catalog_with(&marks, env, extra);
    let catalog = Catalog::with_operator_entries(&entry).unwrap();
    let app = spawn_app_with(db, move |settings| {
        settings.platform.catalog = std::sync::Arc::new(catalog);
        adjust(settings);
    })
    .await;
    let acme = app.create_tenant("Acme").await;
    app.trust_new_tools(&acme).await;
    let server = app.create_server(&acme, slug, json!({})).await;
    let (status, installed) = app
        .api(Method::POST, "/upstreams", &acme.key, Some(install))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    let upstream = installed["id"].as_str().unwrap().to_owned();
    wait_for(&app, &acme, &upstream, |u| {
        !matches!(u["status"].as_str(), Some("installing" | "starting"))
    })
    .await;
    let path = format!(
        "/servers/{}/upstreams/{upstream}",
        server["id"].as_str().unwrap()
    );
    let body = json!({"prefix": "fx", "timeout_ms": timeout_ms});
    let (status, attached) = app.api(Method::PUT, &path, &acme.key, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{attached}");
    let mcp = RawMcp::new(app.mcp_path_url(slug), STATELESS_ERA);
    Fixture {
        app,
        acme,
        slug: slug.to_owned(),
        server: server["id"].as_str().unwrap().to_owned(),
        upstream,
        mcp,
        marks,
        dir,
    }
}

/// A fresh directory for one test's fixture files, unique in this process.
fn unique_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "guidepost-gateway-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A directory of one test's own for the fixture's files (its marks, a tools file), for
/// an app the test starts itself; removed when dropped.
pub struct FixtureDir(pub PathBuf);

impl FixtureDir {
    pub fn new() -> Self {
        Self(unique_dir())
    }

    /// An operator catalog with the fixture as entry `fixture`, its marks in this
    /// directory (`settings.platform.catalog`).
    pub fn catalog(&self, env: &[(&str, &str)]) -> std::sync::Arc<Catalog> {
        let entry = fixture_catalog(&self.0.join("marks"), env);
        std::sync::Arc::new(Catalog::with_operator_entries(&entry).unwrap())
    }
}

impl Drop for FixtureDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An operator catalog with the fixture as entry `fixture`.
pub fn fixture_catalog(marks: &Path, env: &[(&str, &str)]) -> String {
    fixture_catalog_with(marks, env, "")
}

/// The fixture's catalog entry with more TOML keys (such as `secrets = [...]`).
///
/// The fixture runs confined, as the unprivileged upstream user: the marks file's
/// directory is made writable for it and declared in the entry (`paths.write`), the script
/// is copied there (the checkout may be out of that user's reach), and every absolute path
/// in its environment (`FIXTURE_TOOLS`) is declared readable.
pub fn fixture_catalog_with(marks: &Path, env: &[(&str, &str)], extra: &str) -> String {
    let dir = marks.parent().expect("the marks file's directory");
    let script = shared_with_upstreams(
        dir,
        "upstream_fixture.py",
        include_str!("upstream_fixture.py"),
    );
    let mut vars = format!("FIXTURE_MARKS = {:?}", marks.display().to_string());
    let mut read = Vec::new();
    for (name, value) in env {
        vars.push_str(&format!(", {name} = {value:?}"));
        if value.starts_with('/') {
            read.push(format!("{value:?}"));
        }
    }
    format!(
        "[[entry]]\nid = \"fixture\"\nname = \"Fixture\"\ndescription = \"The tests' upstream.\"\n\
         spec = {{ runtime = \"command\", command = {:?}, args = [{:?}], env = {{ {vars} }}, \
         paths = {{ read = [{}], write = [{:?}] }} }}\n{extra}\n",
        python().display().to_string(),
        script.display().to_string(),
        read.join(", "),
        dir.display().to_string(),
    )
}

/// Writes `text` as `name` into `dir`, which is made writable for every user (the
/// upstream user writes its marks there); returns the file's path.
pub fn shared_with_upstreams(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file
}

/// Polls the upstream until `done` holds; returns it.
pub async fn wait_for(
    app: &TestApp,
    tenant: &Tenant,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    wait_for_within(app, tenant, id, 60, done).await
}

/// Polls the upstream until `done` holds, for up to `seconds`; returns it.
pub async fn wait_for_within(
    app: &TestApp,
    tenant: &Tenant,
    id: &str,
    seconds: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let (status, upstream) = app.get(&format!("/upstreams/{id}"), &tenant.key).await;
        assert_eq!(status, StatusCode::OK, "{upstream}");
        if done(&upstream) {
            return upstream;
        }
        assert!(
            Instant::now() < deadline,
            "not there after {seconds} s: {upstream}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the marks file has a line starting with `prefix`; returns those lines.
pub async fn wait_for_mark(marks: &Path, prefix: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(marks).unwrap_or_default();
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_owned)
            .collect();
        if !lines.is_empty() {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "no {prefix:?} mark after 30 s: {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Upstream `upstream`'s stored tool `name`, once `done` holds for it (fails after
/// `within`).
pub async fn stored_tool(
    f: &Fixture,
    upstream: &str,
    name: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    stored_within(&f.app, &f.acme, upstream, name, within, done).await
}

/// [`stored_tool`] for an app and tenant of the test's own, within 20 s.
pub async fn stored_tool_of(
    app: &TestApp,
    tenant: &Tenant,
    upstream: &str,
    name: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    stored_within(app, tenant, upstream, name, Duration::from_secs(20), done).await
}

async fn stored_within(
    app: &TestApp,
    tenant: &Tenant,
    upstream: &str,
    name: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (_, tools) = app
            .get(&format!("/upstreams/{upstream}/tools"), &tenant.key)
            .await;
        let tool = tools["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .cloned();
        if let Some(tool) = tool.filter(|t| done(t)) {
            return tool;
        }
        assert!(Instant::now() < deadline, "{name} never got there: {tools}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn text_of(answer: &Value) -> String {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The host's pid of a test upstream's process, given the pid it reported: the fixtures
/// (`upstream_fixture.py`, `hostile_upstream.py`) report their identity, a number over
/// any pid in `$FIXTURE_IDENTITY`, since an upstream's own pid is its PID namespace's;
/// `None` once no process carries it. A real pid is its own.
pub fn host_pid(reported: i64) -> Option<i64> {
    /// No pid is ever above this (the kernel's PID_MAX_LIMIT).
    const PID_MAX_LIMIT: i64 = 1 << 22;
    if reported <= PID_MAX_LIMIT {
        return Some(reported);
    }
    let wanted = format!("FIXTURE_IDENTITY={reported}");
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i64>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                environ
                    .split(|byte| *byte == 0)
                    .any(|variable| variable == wanted.as_bytes())
            })
        })
}

/// Whether a process is gone (or only a zombie nobody reaped yet); `pid` as a fixture
/// reported it ([`host_pid`]).
pub fn is_gone(pid: i64) -> bool {
    let Some(pid) = host_pid(pid) else {
        return true;
    };
    stat_fields(pid).is_none_or(|fields| fields.first().is_some_and(|state| state == "Z"))
}

/// The fields of `/proc/{pid}/stat` after the command's name (the state first, which
/// is field 3), while the process exists.
pub fn stat_fields(pid: i64) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    Some(after_name.split_whitespace().map(str::to_owned).collect())
}

pub async fn wait_until_gone(pid: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !is_gone(pid) {
        assert!(Instant::now() < deadline, "process {pid} still runs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Organization Acme on a `guidepost serve` process (made through the CLI), trusting new
/// tools, with a server `acme`: how tests that need a process of its own (traces, leaks)
/// set up what they call.
pub struct ProcessTenant {
    pub api: crate::helpers::ApiClient,
    pub key: String,
    pub server: String,
    base: String,
}

impl ProcessTenant {
    pub async fn create(database_url: &str, base: &str) -> Self {
        let org = std::process::Command::new(env!("CARGO_BIN_EXE_guidepost"))
            .args(["--json", "--database-url", database_url])
            .args(["org", "create", "--name", "Acme"])
            .output()
            .unwrap();
        let org: Value = serde_json::from_slice(&org.stdout).unwrap();
        let key = org["api_key"].as_str().unwrap().to_owned();
        let api = crate::helpers::ApiClient::new(format!("{base}/api/v1"));
        let trust = json!({"tool_approval": "trust_on_first_use"});
        let trusted = api
            .call(Method::PATCH, "/organization", Some(&key), Some(trust))
            .await;
        assert_eq!(trusted.status, StatusCode::OK);
        let server = json!({"name": "Acme", "slug": "acme"});
        let server = api
            .call(Method::POST, "/servers", Some(&key), Some(server))
            .await
            .body;
        let server = server["id"].as_str().unwrap().to_owned();
        Self {
            api,
            key,
            server,
            base: base.to_owned(),
        }
    }

    /// Installs catalog entry `entry`, waits until it is ready and attaches it to `acme`
    /// as `prefix`: the upstream's id.
    pub async fn install_and_attach(&self, entry: &str, prefix: &str) -> String {
        let key = Some(self.key.as_str());
        let body = json!({"catalog_entry_id": entry});
        let (status, up) = self
            .api
            .call(Method::POST, "/upstreams", key, Some(body))
            .await
            .into_parts();
        assert_eq!(status, StatusCode::CREATED, "{up}");
        let id = up["id"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let path = format!("/upstreams/{id}");
            let up = self.api.call(Method::GET, &path, key, None).await.body;
            if up["status"] == "ready" {
                break;
            }
            assert!(Instant::now() < deadline, "not ready: {up}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let attach = format!("/servers/{}/upstreams/{id}", self.server);
        let (status, attached) = self
            .api
            .call(Method::PUT, &attach, key, Some(json!({"prefix": prefix})))
            .await
            .into_parts();
        assert_eq!(status, StatusCode::OK, "{attached}");
        id
    }

    /// A stateless-era MCP client of `acme`.
    pub fn mcp(&self) -> RawMcp {
        RawMcp::new(format!("{}/s/acme/mcp", self.base), STATELESS_ERA)
    }
}
