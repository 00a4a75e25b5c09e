//! The gateway as a newcomer meets it: `guidepost serve --demo` with no path flags at
//! all, started in a new directory, installs `everything` from the catalog and calls it.
//! Every other gateway test passes absolute paths, which hid that a relative default
//! (`guidepost-cache`) named a different place once the upstream ran in its own directory.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ApiClient, RawMcp, STATELESS_ERA};
use crate::node;
use crate::operations::read_demo_output;

#[tokio::test]
async fn with_the_default_flags_an_npm_upstream_installs_starts_and_answers() {
    let workdir = std::env::temp_dir().join(format!("gp-defaults-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&workdir);
    std::fs::create_dir_all(&workdir).unwrap();
    let (child, demo) = demo_in(&workdir, path_with_node()).await;
    let tenant = DemoTenant::trusting(&demo).await;
    tenant
        .install_and_call(
            ("everything", "ev"),
            ("ev__echo", json!({"message": "from a fresh directory"})),
            "from a fresh directory",
        )
        .await;

    // Everything the defaults name landed in the directory it was started in.
    for place in ["guidepost.db", "guidepost-cache/npm", "guidepost-data"] {
        assert!(
            workdir.join(place).exists(),
            "{place} under {}",
            workdir.display()
        );
    }
    drop(child);
    let _ = std::fs::remove_dir_all(&workdir);
}

/// `guidepost serve --demo` started in `workdir` with nothing but the environment a
/// shell gives (no `GUIDEPOST_*` variable, `PATH` as given); the process and what the
/// demo printed.
async fn demo_in(workdir: &Path, path: std::ffi::OsString) -> (tokio::process::Child, Value) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GUIDEPOST_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(["serve", "--demo", "--json", "--listen", "127.0.0.1:0"])
        .env("PATH", path)
        .current_dir(workdir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("guidepost starts");
    let demo = read_demo_output(child.stdout.take().unwrap()).await;
    (child, demo)
}

/// As a newcomer who is root starts it: in a new directory under a private (mode 700)
/// parent, as a directory under `/root` is, with the default flags. The upstream user
/// cannot pass through that parent, so Guidepost puts upstreams' directories and
/// packages where it can (`confine/places.rs`); `/readyz` says confinement is complete,
/// and an npm and a PyPI entry of the catalog install and answer.
#[tokio::test]
async fn as_root_in_a_private_directory_npm_and_pypi_upstreams_install_and_answer() {
    // SAFETY: geteuid only reads.
    let root = unsafe { libc::geteuid() } == 0;
    if !guidepost_testkit::require_environment("root", root, "the upstream user is root's to give")
    {
        return;
    }
    // One stable place, so that what it fetched is reused by the next run on this machine.
    let home = std::env::temp_dir().join("gp-private-home");
    let workdir = home.join("demo");
    let _ = std::fs::remove_dir_all(&workdir);
    std::fs::create_dir_all(&workdir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let (child, demo) = demo_in(&workdir, path_with_node_and_python()).await;
    let tenant = DemoTenant::trusting(&demo).await;
    let origin = tenant.base.split("/api/").next().unwrap().to_owned();
    let ready: Value = reqwest::get(format!("{origin}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["upstream_confinement"]["complete"], true, "{ready}");
    tenant
        .install_and_call(
            ("everything", "ev"),
            ("ev__echo", json!({"message": "from a private home"})),
            "from a private home",
        )
        .await;
    tenant
        .install_and_call(
            ("time", "tm"),
            ("tm__get_current_time", json!({"timezone": "Europe/Paris"})),
            "Europe/Paris",
        )
        .await;
    drop(child);
    let _ = std::fs::remove_dir_all(&workdir);
}

/// The demo's organization, trusting new tools, with its API, key, server and MCP URL.
struct DemoTenant {
    base: String,
    api: ApiClient,
    key: String,
    server: String,
    mcp: RawMcp,
}

impl DemoTenant {
    async fn trusting(demo: &Value) -> Self {
        let base = demo["api_url"]
            .as_str()
            .unwrap()
            .replace("localhost", "127.0.0.1");
        let api = ApiClient::new(base.clone());
        let key = demo["api_key"].as_str().unwrap().to_owned();
        let trust = json!({"tool_approval": "trust_on_first_use"});
        let trusted = api
            .call(Method::PATCH, "/organization", Some(&key), Some(trust))
            .await;
        assert_eq!(trusted.status, StatusCode::OK);
        let servers = api
            .call(Method::GET, "/servers", Some(&key), None)
            .await
            .body;
        let server = servers["items"][0]["id"].as_str().unwrap().to_owned();
        let mcp = RawMcp::new(
            demo["path_mcp_url"].as_str().unwrap().to_owned(),
            STATELESS_ERA,
        );
        DemoTenant {
            base,
            api,
            key,
            server,
            mcp,
        }
    }

    /// Installs the catalog's `entry`, waits until it is ready, attaches it under
    /// `prefix`, calls `tool` and checks the answer carries `expected`.
    async fn install_and_call(
        &self,
        (entry, prefix): (&str, &str),
        (tool, arguments): (&str, Value),
        expected: &str,
    ) {
        let key = Some(self.key.as_str());
        let install = json!({"catalog_entry_id": entry});
        let (status, installed) = self
            .api
            .call(Method::POST, "/upstreams", key, Some(install))
            .await
            .into_parts();
        assert_eq!(status, StatusCode::CREATED, "{installed}");
        let id = installed["id"].as_str().unwrap();
        let upstream = settled(&self.api, &self.key, id).await;
        assert_eq!(upstream["status"], "ready", "{entry}: {upstream}");
        let attach = format!("/servers/{}/upstreams/{id}", self.server);
        let (status, attached) = self
            .api
            .call(Method::PUT, &attach, key, Some(json!({"prefix": prefix})))
            .await
            .into_parts();
        assert_eq!(status, StatusCode::OK, "{attached}");
        let called = self.mcp.call_tool(1, tool, arguments).await;
        assert_ne!(called.body["result"]["isError"], true, "{}", called.body);
        assert!(
            called.body.to_string().contains(expected),
            "{}",
            called.body
        );
    }
}

/// PATH with the test tools' Node (and its npm) first, then their Python (with pip), as
/// a shell with both installed has them.
fn path_with_node_and_python() -> std::ffi::OsString {
    let python = crate::helpers::python();
    let mut dirs = vec![python.parent().expect("python's directory").to_owned()];
    dirs.extend(std::env::split_paths(&path_with_node()));
    std::env::join_paths(dirs).expect("PATH entries")
}

/// PATH with the test tools' Node (and its npm) first.
fn path_with_node() -> std::ffi::OsString {
    let node = node::node();
    let bin: &Path = node.parent().expect("node's directory");
    let mut dirs = vec![bin.to_owned()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH entries")
}

/// The upstream once it leaves `installing`/`starting`.
async fn settled(api: &ApiClient, key: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let upstream = api
            .call(Method::GET, &format!("/upstreams/{id}"), Some(key), None)
            .await
            .body;
        let state = upstream["status"].as_str().unwrap_or_default();
        if !matches!(state, "installing" | "starting") || Instant::now() > deadline {
            return upstream;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
