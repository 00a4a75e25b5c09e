//! Confinement of process upstreams (SECURITY.md): a hostile stdio server of
//! the tests' own (`hostile_upstream.py`), installed from an operator catalog entry with
//! the default flags, tries every escape and reports each refused; its processes and
//! memory are bounded while Guidepost and a neighbour keep answering; whatever it forks
//! is gone after a restart, an uninstall and a graceful stop; an organization past its
//! cap is refused with the cap named; a network entry reaches out only through the
//! egress fence.

use std::path::{Path, PathBuf};
use std::time::Duration;

use guidepost::config::Settings;
use guidepost_core::upstreams::catalog::Catalog;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::{shared_with_upstreams, text_of, wait_for, wait_until_gone};
use crate::helpers::{RawMcp, STATELESS_ERA, Tenant, TestApp, python, spawn_app_with};

/// A directory of the test's own under the system's temporary directory.
fn scratch(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "guidepost-confine-{name}-{}-{n}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The operator's catalog: `hostile` (no network, at most 16 processes), `hostile-net`
/// (network), `hostile-localhost` (network to `localhost` only) and `hostile-small` (a 32
/// MiB directory), all running the hostile script, which may read its own file.
fn hostile_catalog(dir: &Path) -> Catalog {
    let script = shared_with_upstreams(
        dir,
        "hostile_upstream.py",
        include_str!("hostile_upstream.py"),
    );
    let entry = |id: &str, extra: &str| {
        format!(
            "[[entry]]\nid = {id:?}\nname = {id:?}\ndescription = \"Tries to escape.\"\n\
             spec = {{ runtime = \"command\", command = {:?}, args = [{:?}], \
             paths = {{ read = [{:?}] }}, limits = {{ processes = 16 }}{extra} }}\n",
            python().display().to_string(),
            script.display().to_string(),
            script.display().to_string(),
        )
    };
    let text = entry("hostile", "")
        + &entry("hostile-net", ", network = true")
        + &entry(
            "hostile-localhost",
            ", network = { allow = [\"localhost\"] }",
        )
        + &entry("hostile-small", "").replace("processes = 16", "processes = 16, disk_mb = 32");
    Catalog::with_operator_entries(&text).unwrap()
}

pub(crate) struct Hostile {
    pub app: TestApp,
    pub acme: Tenant,
    pub server: String,
    pub mcp: RawMcp,
    pub dir: PathBuf,
}

pub(crate) async fn hostile(db: &TestDatabase, adjust: impl FnOnce(&mut Settings)) -> Hostile {
    let dir = scratch("catalog");
    let catalog = hostile_catalog(&dir);
    let app = spawn_app_with(db, move |settings| {
        settings.platform.catalog = std::sync::Arc::new(catalog);
        adjust(settings);
    })
    .await;
    let acme = app.create_tenant("Acme").await;
    app.trust_new_tools(&acme).await;
    let server = app.create_server(&acme, "acme", json!({})).await;
    let server = server["id"].as_str().unwrap().to_owned();
    let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
    Hostile {
        app,
        acme,
        server,
        mcp,
        dir,
    }
}

impl Hostile {
    /// Installs `entry`, waits until it is ready, attaches it under `prefix`.
    pub async fn install(&self, entry: &str, prefix: &str) -> String {
        self.install_for(&self.acme, &self.server, entry, prefix)
            .await
    }

    /// [`Hostile::install`] for `tenant`'s `server`.
    pub async fn install_for(
        &self,
        tenant: &Tenant,
        server: &str,
        entry: &str,
        prefix: &str,
    ) -> String {
        let (status, installed) = self.try_install(tenant, entry).await;
        assert_eq!(status, StatusCode::CREATED, "{installed}");
        let id = installed["id"].as_str().unwrap().to_owned();
        wait_for(&self.app, tenant, &id, |u| u["status"] == "ready").await;
        let path = format!("/servers/{server}/upstreams/{id}");
        let body = json!({"prefix": prefix, "timeout_ms": 60_000});
        let (status, attached) = self
            .app
            .api(Method::PUT, &path, &tenant.key, Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{attached}");
        id
    }

    async fn try_install(&self, tenant: &Tenant, entry: &str) -> (StatusCode, Value) {
        let body = json!({"catalog_entry_id": entry});
        self.app
            .api(Method::POST, "/upstreams", &tenant.key, Some(body))
            .await
    }

    /// Calls a probe; returns its report.
    pub async fn probe(&self, tool: &str, arguments: Value) -> Value {
        probe_on(&self.mcp, tool, arguments).await
    }

    pub async fn refused(&self, tool: &str, arguments: Value) -> Value {
        refused_on(&self.mcp, tool, arguments).await
    }
}

/// Calls a probe through `mcp`; returns its report.
pub(crate) async fn probe_on(mcp: &RawMcp, tool: &str, arguments: Value) -> Value {
    let answer = mcp.call_tool(1, tool, arguments).await;
    let text = text_of(&answer.body);
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{tool}: {}", answer.body))
}

/// Calls a probe through `mcp` that must be refused; returns its report.
pub(crate) async fn refused_on(mcp: &RawMcp, tool: &str, arguments: Value) -> Value {
    let report = probe_on(mcp, tool, arguments.clone()).await;
    assert_eq!(
        report["ok"], false,
        "{tool} {arguments} was allowed: {report}"
    );
    report
}

/// The SQLite database's file, if the test runs on SQLite.
fn database_file(db: &TestDatabase) -> Option<PathBuf> {
    db.url.strip_prefix("sqlite:").map(PathBuf::from)
}

fn world_readable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

backend_tests! {
    async fn a_hostile_upstream_reaches_its_own_directory_and_nothing_else(db: &TestDatabase) {
        let outside = scratch("outside");
        let key_file = outside.join("master.key");
        world_readable(&key_file, "0123456789abcdef0123456789abcdef");
        let stray = outside.join("stray.txt");
        world_readable(&stray, "never given");
        shared_with_upstreams(&outside, "open.txt", "a directory anyone may write to");
        let h = hostile(db, |_| {}).await;
        let neighbour = h.install("hostile", "nb").await;
        let id = h.install("hostile", "hx").await;

        let me = h.probe("hx__whoami", json!({})).await;
        assert_eq!(me["uid"], 65534, "runs as nobody: {me}");
        let home = me["home"].as_str().unwrap().to_owned();
        assert!(home.ends_with(&id), "{me}");
        // Its own directory is its own: written and read back.
        let own = format!("{home}/own.txt");
        assert_eq!(h.probe("hx__write", json!({"path": own})).await["ok"], true);
        assert_eq!(h.probe("hx__read", json!({"path": own})).await["ok"], true);
        let neighbours = h.probe("nb__whoami", json!({})).await;
        let theirs = format!("{}/secret.txt", neighbours["home"].as_str().unwrap());
        assert_eq!(h.probe("nb__write", json!({"path": theirs})).await["ok"], true);
        // In the neighbour's own disk (`confine/disk.rs`), which only its namespace mounts:
        // beneath it, the host's directory, whose listing Landlock refuses below.
        assert_eq!(h.probe("nb__read", json!({"path": theirs})).await["bytes"], 7);

        // Files: the neighbour's, the key, a stray file, Guidepost's environment, the
        // database; all readable by any user, so what refuses them is the confinement.
        h.refused("hx__read", json!({"path": theirs})).await;
        h.refused("hx__list", json!({"path": neighbours["home"]})).await;
        h.refused("hx__read", json!({"path": key_file})).await;
        h.refused("hx__read", json!({"path": stray})).await;
        h.refused("hx__list", json!({"path": outside})).await;
        let environ = format!("/proc/{}/environ", std::process::id());
        h.refused("hx__read", json!({"path": environ})).await;
        if let Some(file) = database_file(db) {
            assert!(file.exists());
            h.refused("hx__read", json!({"path": file})).await;
        }
        // Writing outside its directory, even where every user may write.
        let escaped = outside.join("escaped.txt");
        h.refused("hx__write", json!({"path": escaped})).await;
        assert!(!escaped.exists());
        h.refused("hx__write", json!({"path": "/tmp/guidepost-escaped.txt"})).await;
        // Signals: Guidepost itself.
        h.refused("hx__signal", json!({"pid": std::process::id(), "signal": 0})).await;
        // The network: PostgreSQL (TCP and its Unix socket) and Guidepost's own port.
        h.refused("hx__connect", json!({"host": "127.0.0.1", "port": 5432})).await;
        let port = url::Url::parse(&h.app.url).unwrap().port().unwrap();
        h.refused("hx__connect", json!({"host": "127.0.0.1", "port": port})).await;
        let socket = "/var/run/postgresql/.s.PGSQL.5432";
        if Path::new(socket).exists() {
            h.refused("hx__unix_connect", json!({"path": socket})).await;
        }

        // The status and /readyz say what is in force.
        let (_, upstream) = h.app.get(&format!("/upstreams/{id}"), &h.acme.key).await;
        let confinement = upstream["confinement"].as_str().unwrap();
        assert!(confinement.starts_with("strict: Landlock"), "{confinement}");
        assert!(confinement.contains("no network") && confinement.contains("as nobody"), "{confinement}");
        let ready: Value = h.app.http.get(format!("{}/readyz", h.app.url)).send().await.unwrap().json().await.unwrap();
        assert_eq!(ready["upstream_confinement"]["complete"], true, "{ready}");
        assert_eq!(ready["upstream_confinement"]["mode"], "strict", "{ready}");
        let _ = std::fs::remove_dir_all(&outside);
        let _ = std::fs::remove_dir_all(&h.dir);
        let _ = neighbour;
    }
}

backend_tests! {
    async fn processes_and_memory_are_bounded_while_guidepost_and_a_neighbour_answer(db: &TestDatabase) {
        let h = hostile(db, |_| {}).await;
        h.install("hostile", "nb").await;
        h.install("hostile", "hx").await;
        let forked = h.probe("hx__processes", json!({"count": 40})).await;
        let started = forked["started"].as_i64().unwrap();
        assert!((8..16).contains(&started), "16 processes in all, the server included: {forked}");
        assert!(forked["error"].as_str().unwrap().contains("Resource temporarily unavailable"), "{forked}");

        let allocated = h.probe("hx__allocate", json!({"mib": 1024})).await;
        assert_eq!(allocated["ok"], true, "{allocated}");
        assert!(
            allocated["child_signal"] == 9 || allocated["child_exit"] == 3,
            "1 GiB does not fit in 512 MiB: {allocated}"
        );
        let small = h.probe("hx__allocate", json!({"mib": 64})).await;
        assert_eq!(small["child_exit"], 0, "64 MiB fits: {small}");
        for tool in ["hx__echo", "nb__echo"] {
            let echoed = h.probe(tool, json!({"message": "still here"})).await;
            assert_eq!(echoed["message"], "still here", "{tool}: {echoed}");
        }
        let listed = h.mcp.call(2, "tools/list", json!({})).await;
        assert!(listed.body.to_string().contains("hx__echo"), "Guidepost answers");
    }
}

backend_tests! {
    async fn nothing_it_forks_outlives_a_restart_an_uninstall_or_a_graceful_stop(db: &TestDatabase) {
        let h = hostile(db, |_| {}).await;
        let id = h.install("hostile", "hx").await;
        let escaped = |report: Value| report["pid"].as_i64().unwrap_or_else(|| panic!("{report}"));

        let pid = escaped(h.probe("hx__double_fork", json!({})).await);
        let (status, _) = h.app.api(Method::POST, &format!("/upstreams/{id}/restart"), &h.acme.key, None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        wait_until_gone(pid).await;

        wait_for(&h.app, &h.acme, &id, |u| u["status"] == "ready").await;
        let pid = escaped(h.probe("hx__double_fork", json!({})).await);
        let (status, _) = h.app.api(Method::DELETE, &format!("/upstreams/{id}"), &h.acme.key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        wait_until_gone(pid).await;

        h.install("hostile", "hy").await;
        let pid = escaped(h.probe("hy__double_fork", json!({})).await);
        let Hostile { app, dir, .. } = h;
        app.app.shutdown().await.unwrap();
        wait_until_gone(pid).await;
        let _ = std::fs::remove_dir_all(dir);
    }
}

backend_tests! {
    async fn an_organization_past_its_cap_is_refused_and_others_keep_starting(db: &TestDatabase) {
        // Two of Acme's 16-process upstreams fit in its 40, a third does not.
        let h = hostile(db, |settings| {
            settings.gateway.confinement.caps.org_processes = 40;
        })
        .await;
        h.install("hostile", "h1").await;
        h.install("hostile", "h2").await;
        let (status, problem) = h.try_install(&h.acme, "hostile").await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("cap of 40") && detail.contains("--upstream-org-processes"), "{detail}");

        let globex = h.app.create_tenant("Globex").await;
        let (status, theirs) = h.try_install(&globex, "hostile").await;
        assert_eq!(status, StatusCode::CREATED, "another organization still starts: {theirs}");
        let id = theirs["id"].as_str().unwrap();
        wait_for(&h.app, &globex, id, |u| u["status"] == "ready").await;
    }
}

/// A TCP server of the test's own on loopback that answers one line of HTTP.
async fn loopback_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                let _ = stream.read(&mut buffer).await;
                let _ = stream
                    .write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 13\r\n\r\nhello, fence\n")
                    .await;
            });
        }
    });
    port
}

backend_tests! {
    async fn a_network_entry_reaches_out_through_the_fence_only(db: &TestDatabase) {
        let server = loopback_server().await;
        let h = hostile(db, |settings| settings.gateway.http_allow_private = true).await;
        let id = h.install("hostile-net", "hn").await;
        let me = h.probe("hn__whoami", json!({})).await;
        assert!(me["proxy"].as_str().unwrap().starts_with("http://127.0.0.1:"), "{me}");
        // The fence listens before the process runs: its very first connection gets through.
        assert_eq!(me["proxy_at_start"], "open", "{me}");

        let through = h.probe("hn__via_proxy", json!({"host": "127.0.0.1", "port": server})).await;
        assert_eq!(through["status"], 200, "{through}");
        assert!(through["body"].as_str().unwrap().contains("hello, fence"), "{through}");
        // Not directly: its namespace has only loopback.
        h.refused("hn__connect", json!({"host": "127.0.0.1", "port": server, "timeout": 2})).await;
        // Never the platform's own ports, private addresses allowed or not.
        let port = url::Url::parse(&h.app.url).unwrap().port().unwrap();
        let mut fenced = vec![port];
        if db.url.starts_with("postgres") {
            fenced.push(5432);
        }
        for port in fenced {
            let refused = h.refused("hn__via_proxy", json!({"host": "127.0.0.1", "port": port})).await;
            assert_eq!(refused["status"], 403, "{refused}");
        }
        let (_, upstream) = h.app.get(&format!("/upstreams/{id}"), &h.acme.key).await;
        assert!(upstream["confinement"].as_str().unwrap().contains("egress fence"), "{upstream}");
        assert_eq!(upstream["spec"]["network"], true, "shown before and after install");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

backend_tests! {
    /// An entry that names the hosts it needs reaches them, and only them, whatever
    /// address another name resolves to.
    async fn a_network_allow_list_lets_through_the_named_hosts_only(db: &TestDatabase) {
        let server = loopback_server().await;
        let h = hostile(db, |settings| settings.gateway.http_allow_private = true).await;
        let id = h.install("hostile-localhost", "hl").await;
        let through = h.probe("hl__via_proxy", json!({"host": "localhost", "port": server})).await;
        assert_eq!(through["status"], 200, "{through}");
        assert!(through["body"].as_str().unwrap().contains("hello, fence"), "{through}");
        // The same server by another name is not on the list.
        let refused = h.refused("hl__via_proxy", json!({"host": "127.0.0.1", "port": server})).await;
        assert_eq!(refused["status"], 403, "{refused}");
        assert!(refused.to_string().contains("127.0.0.1 is not among the hosts this \
            upstream may reach (its network allow list)"), "{refused}");
        let (_, upstream) = h.app.get(&format!("/upstreams/{id}"), &h.acme.key).await;
        assert_eq!(upstream["spec"]["network"], json!({"allow": ["localhost"]}), "{upstream}");
        let confinement = upstream["confinement"].as_str().unwrap();
        assert!(confinement.contains("egress fence, to localhost only"), "{confinement}");
    }

    /// Fail closed: where a promise cannot be kept (here, the upstream user does not
    /// exist), strict mode refuses process upstreams, naming what is missing and the flag
    /// that accepts weaker confinement; /readyz says so.
    async fn strict_mode_refuses_process_upstreams_where_confinement_is_incomplete(db: &TestDatabase) {
        let h = hostile(db, |settings| {
            settings.gateway.confinement.user = "guidepost-no-such-user".into();
        })
        .await;
        let (status, problem) = h.try_install(&h.acme, "hostile").await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("guidepost-no-such-user"), "names what is missing: {detail}");
        assert!(detail.contains("--upstream-confinement=best-effort"), "and the flag: {detail}");
        let ready: Value = h.app.http.get(format!("{}/readyz", h.app.url)).send().await.unwrap().json().await.unwrap();
        assert_eq!(ready["status"], "ready");
        assert_eq!(ready["upstream_confinement"]["complete"], false, "{ready}");
        let missing = ready["upstream_confinement"]["missing"].to_string();
        assert!(missing.contains("guidepost-no-such-user"), "{ready}");
        let _ = std::fs::remove_dir_all(&h.dir);
    }
}
