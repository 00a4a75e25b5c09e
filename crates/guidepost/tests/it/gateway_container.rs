//! Container upstreams: an MCP server in an image built here, run by Podman's
//! Docker Engine API with its limits applied (read inside the container), its tool
//! called through the gateway, the container gone once it is uninstalled, a dead node's
//! containers removed by the next node to start, and each upstream's own volume.

use std::sync::Arc;

use guidepost_core::upstreams::catalog::Catalog;
use guidepost_testkit::{TestBackend, TestDatabase};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::gateway_fixture::{text_of, wait_for};
use crate::helpers::{RawMcp, STATELESS_ERA, TestApp, spawn_app_with};
use crate::podman::{self, Podman};

/// A node whose catalog holds `entry` and that runs containers on `podman`.
async fn container_node(db: &TestDatabase, podman: &Podman, entry: &str) -> TestApp {
    let catalog = Catalog::with_operator_entries(entry).unwrap();
    let socket = podman.socket.clone();
    spawn_app_with(db, move |settings| {
        settings.platform.catalog = Arc::new(catalog);
        settings.gateway.container_socket = Some(socket);
    })
    .await
}

/// The catalog entry `boxed`: the tests' server in `image`, 64 MiB, half a CPU, 32 pids.
fn boxed_entry(image: &str) -> String {
    format!(
        "[[entry]]\nid = \"boxed\"\nname = \"Boxed\"\ndescription = \"The tests' server in a container.\"\n\
         spec = {{ runtime = \"container\", image = {image:?}, args = [\"/bin/sh\", \"/server.sh\"], \
         limits = {{ memory_mb = 64, cpus = 0.5, pids = 32 }} }}\n"
    )
}

/// Runs `podman` with `args`; fails the test when it fails.
async fn podman_cli(args: &[&str]) -> String {
    let ran = tokio::process::Command::new("podman")
        .args(args)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(ran.status.success(), "podman {args:?}: {stderr}");
    String::from_utf8_lossy(&ran.stdout).into_owned()
}

/// Containers of ours, by upstream label.
async fn containers_of(upstream: &str) -> Vec<String> {
    let label = format!("label=guidepost.upstream={upstream}");
    let listed = podman_cli(&["ps", "-a", "-q", "--filter", &label]).await;
    listed.lines().map(str::to_owned).collect()
}

/// Volumes of ours, by upstream label.
async fn volumes_of(upstream: &str) -> Vec<String> {
    let label = format!("label=guidepost.upstream={upstream}");
    let listed = podman_cli(&["volume", "ls", "-q", "--filter", &label]).await;
    listed.lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_upstream_runs_within_its_limits() {
    if !podman::required() {
        return;
    }
    let podman = Podman::start().await;
    let image = podman::test_image().await;
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    // A container a node of this deployment left when it died (its owner marker names no
    // live process).
    let dead_owner = format!(
        "guidepost.owner=999999999.1.{}",
        guidepost::config::deployment_of(&db.url)
    );
    let orphan = ["run", "-d", "-i", "--label", &dead_owner, "--label"];
    let label = "guidepost.upstream=up_orphan";
    podman_cli(&[&orphan[..], &[label, &image, "/bin/sh", "/server.sh"]].concat()).await;
    assert_eq!(containers_of("up_orphan").await.len(), 1);
    let entry = boxed_entry(&image);
    let app = container_node(&db, &podman, &entry).await;
    assert!(
        containers_of("up_orphan").await.is_empty(),
        "reaped when the node started"
    );
    let acme = app.create_tenant("Acme").await;
    app.trust_new_tools(&acme).await;
    let server = app.create_server(&acme, "acme", json!({})).await;
    let body = json!({"catalog_entry_id": "boxed"});
    let (status, installed) = app
        .api(Method::POST, "/upstreams", &acme.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    assert_eq!(installed["spec"]["runtime"], "container");
    let id = installed["id"].as_str().unwrap().to_owned();
    let ready = wait_for(&app, &acme, &id, |u| {
        !matches!(u["status"].as_str(), Some("installing" | "starting"))
    })
    .await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(
        containers_of(&id).await.len(),
        1,
        "one container for the upstream on this node"
    );

    let path = format!("/servers/{}/upstreams/{id}", server["id"].as_str().unwrap());
    let (status, _) = app
        .api(
            Method::PUT,
            &path,
            &acme.key,
            Some(json!({"prefix": "box"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
    let answer = mcp.call_tool(1, "box__limits", json!({})).await;
    let report = text_of(&answer.body);
    eprintln!("[gateway] inside the container: {report}");
    for expected in [
        "memory=67108864",
        "pids=32",
        "root=read-only",
        "caps=0000000000000000",
        "net=lo,",
        "uid=65534",
    ] {
        assert!(report.contains(expected), "{expected} in {report:?}");
    }

    let (status, _) = app
        .api(Method::DELETE, &format!("/upstreams/{id}"), &acme.key, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        containers_of(&id).await.is_empty(),
        "removed with the upstream"
    );

    // Install, call, uninstall, ten times: no container of theirs is left.
    let mut ids = Vec::new();
    for cycle in 0..10 {
        let body = json!({"catalog_entry_id": "boxed"});
        let (_, installed) = app
            .api(Method::POST, "/upstreams", &acme.key, Some(body))
            .await;
        let id = installed["id"].as_str().unwrap().to_owned();
        wait_for(&app, &acme, &id, |u| u["status"] == "ready").await;
        let path = format!("/servers/{}/upstreams/{id}", server["id"].as_str().unwrap());
        app.api(
            Method::PUT,
            &path,
            &acme.key,
            Some(json!({"prefix": "box"})),
        )
        .await;
        let answer = mcp.call_tool(cycle, "box__limits", json!({})).await;
        assert!(text_of(&answer.body).contains("pids=32"), "{}", answer.body);
        app.api(Method::DELETE, &format!("/upstreams/{id}"), &acme.key, None)
            .await;
        ids.push(id);
    }
    for id in ids {
        assert!(containers_of(&id).await.is_empty(), "{id} left a container");
    }
}

/// A container that asks for network gets no bridge: its only interface is loopback, and
/// the only way out is the egress fence, which refuses the host's loopback (private
/// addresses are not allowed here), so a listener of the test's own on the host is never
/// reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_that_asks_for_network_cannot_reach_the_hosts_loopback() {
    if !podman::required() {
        return;
    }
    let podman = Podman::start().await;
    let image = podman::test_image().await;
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let reached = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = reached.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            use tokio::io::AsyncWriteExt;
            let _ = stream.write_all(b"HTTP/1.0 200 OK\r\n\r\nhello\n").await;
        }
    });
    let entry = format!(
        "[[entry]]\nid = \"netboxed\"\nname = \"Netboxed\"\ndescription = \"Asks for network.\"\n\
         spec = {{ runtime = \"container\", image = {image:?}, args = [\"/bin/sh\", \"/server.sh\"], \
         network = true, env = {{ PROBE_HOST = \"127.0.0.1\", PROBE_PORT = \"{port}\" }} }}\n"
    );
    let app = container_node(&db, &podman, &entry).await;
    let acme = app.create_tenant("Acme").await;
    app.trust_new_tools(&acme).await;
    let server = app.create_server(&acme, "acme", json!({})).await;
    let body = json!({"catalog_entry_id": "netboxed"});
    let (status, installed) = app
        .api(Method::POST, "/upstreams", &acme.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    let id = installed["id"].as_str().unwrap().to_owned();
    let ready = wait_for(&app, &acme, &id, |u| {
        !matches!(u["status"].as_str(), Some("installing" | "starting"))
    })
    .await;
    assert_eq!(ready["status"], "ready", "{ready}");
    let path = format!("/servers/{}/upstreams/{id}", server["id"].as_str().unwrap());
    let (status, _) = app
        .api(
            Method::PUT,
            &path,
            &acme.key,
            Some(json!({"prefix": "box"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
    let limits = text_of(&mcp.call_tool(1, "box__limits", json!({})).await.body);
    assert!(
        limits.contains("net=lo,"),
        "loopback only, no bridge: {limits}"
    );
    let reach = text_of(&mcp.call_tool(2, "box__reach", json!({})).await.body);
    eprintln!("[gateway] a network container reaching the host: {reach}");
    assert!(
        reach.contains("proxy=http://127.0.0.1:3128"),
        "through the fence: {reach}"
    );
    assert!(
        reach.contains("fenced=HTTP/1.1 403 Forbidden"),
        "the fence refuses it: {reach}"
    );
    assert!(!reach.contains("hello"), "{reach}");
    assert_eq!(
        reached.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "never reached"
    );
    app.api(Method::DELETE, &format!("/upstreams/{id}"), &acme.key, None)
        .await;
}

/// What a container upstream writes in /data (a volume of its own, nobody's, beside its
/// read-only root) is still there after its container dies and another takes its place,
/// and the volume goes when the upstream is uninstalled, or, uninstalled while a node was
/// down, when the node starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_upstream_keeps_its_data_across_restarts_until_uninstalled() {
    if !podman::required() {
        return;
    }
    let podman = Podman::start().await;
    let image = podman::test_image().await;
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    // Volumes of upstreams uninstalled while the node was down: this deployment's go when
    // it starts, another deployment's stay.
    let ours = format!(
        "guidepost.deployment={}",
        guidepost::config::deployment_of(&db.url)
    );
    for (upstream, deployment) in [
        ("up_gone", ours.as_str()),
        ("up_elsewhere", "guidepost.deployment=other"),
    ] {
        let upstream = format!("guidepost.upstream={upstream}");
        podman_cli(&[
            "volume", "create", "--label", deployment, "--label", &upstream,
        ])
        .await;
    }
    let entry = format!(
        "[[entry]]\nid = \"keeper\"\nname = \"Keeper\"\ndescription = \"Keeps notes.\"\n\
         spec = {{ runtime = \"container\", image = {image:?}, args = [\"/bin/sh\", \"/server.sh\"] }}\n"
    );
    let app = container_node(&db, &podman, &entry).await;
    assert!(
        volumes_of("up_gone").await.is_empty(),
        "swept when the node started"
    );
    let elsewhere = volumes_of("up_elsewhere").await;
    assert_eq!(
        elsewhere.len(),
        1,
        "another deployment's volume is left alone"
    );
    podman_cli(&["volume", "rm", &elsewhere[0]]).await;
    let acme = app.create_tenant("Acme").await;
    app.trust_new_tools(&acme).await;
    let server = app.create_server(&acme, "acme", json!({})).await;
    let body = json!({"catalog_entry_id": "keeper"});
    let (status, installed) = app
        .api(Method::POST, "/upstreams", &acme.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    let id = installed["id"].as_str().unwrap().to_owned();
    wait_for(&app, &acme, &id, |u| u["status"] == "ready").await;
    let path = format!("/servers/{}/upstreams/{id}", server["id"].as_str().unwrap());
    let body = Some(json!({"prefix": "keep"}));
    let (status, _) = app.api(Method::PUT, &path, &acme.key, body).await;
    assert_eq!(status, StatusCode::OK);
    let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
    let remember = |n: i64| {
        let mcp = &mcp;
        async move { text_of(&mcp.call_tool(n, "keep__remember", json!({})).await.body) }
    };
    assert_eq!(remember(1).await, "remembered=1 owner=65534");
    assert_eq!(remember(2).await, "remembered=2 owner=65534");
    assert_eq!(volumes_of(&id).await, [format!("guidepost-{id}-data")]);

    // Its container dies; the supervisor starts another on the same volume.
    let first = containers_of(&id).await;
    assert_eq!(first.len(), 1, "{first:?}");
    podman_cli(&["kill", &first[0]]).await;
    wait_for(&app, &acme, &id, |u| {
        u["restarts"].as_i64() >= Some(1) && u["status"] == "ready"
    })
    .await;
    let second = containers_of(&id).await;
    assert!(
        second.len() == 1 && second != first,
        "{first:?} then {second:?}"
    );
    assert_eq!(remember(3).await, "remembered=3 owner=65534");

    let (status, _) = app
        .api(Method::DELETE, &format!("/upstreams/{id}"), &acme.key, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(volumes_of(&id).await.is_empty(), "the volume goes with it");
}

/// A container's memory counts on its organization's cap on the node as a process's
/// does (processes and memory bounded per organization and per node).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_count_on_their_organizations_memory_cap() {
    if !podman::required() {
        return;
    }
    let podman = Podman::start().await;
    let image = podman::test_image().await;
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    let entry = boxed_entry(&image);
    let catalog = Catalog::with_operator_entries(&entry).unwrap();
    let socket = podman.socket.clone();
    let app = spawn_app_with(&db, move |settings| {
        settings.platform.catalog = Arc::new(catalog);
        settings.gateway.container_socket = Some(socket);
        // One 64 MiB container fits in Acme's 100, a second does not.
        settings.gateway.confinement.caps.org_memory_mb = 100;
    })
    .await;
    let install = |tenant: &crate::helpers::Tenant| {
        let (app, key) = (&app, tenant.key.clone());
        async move {
            let body = json!({"catalog_entry_id": "boxed"});
            app.api(Method::POST, "/upstreams", &key, Some(body)).await
        }
    };
    let acme = app.create_tenant("Acme").await;
    let (status, first) = install(&acme).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let id = first["id"].as_str().unwrap().to_owned();
    let ready = wait_for(&app, &acme, &id, |u| {
        !matches!(u["status"].as_str(), Some("installing" | "starting"))
    })
    .await;
    assert_eq!(ready["status"], "ready", "{ready}");

    let (status, refused) = install(&acme).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.contains("cap of 100") && detail.contains("--upstream-org-memory-mb"),
        "{detail}"
    );

    let globex = app.create_tenant("Globex").await;
    let (status, theirs) = install(&globex).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "another organization's own cap: {theirs}"
    );

    // Uninstalled, its share is given back.
    let (status, _) = app
        .api(Method::DELETE, &format!("/upstreams/{id}"), &acme.key, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, again) = install(&acme).await;
        if status == StatusCode::CREATED {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still refused: {again}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
