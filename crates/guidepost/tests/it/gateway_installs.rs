//! Installers run confined: an installer is an upstream too. `npm install` of
//! a package whose git dependency carries an `.npmrc` that names a script as `git` is
//! refused with the dependency named, and the script never runs (from an organization's
//! private entry, from a registry's entry that any organization may install, and on an
//! upgrade to a version that brings it); an installer sees no
//! variable of the platform's environment, runs as the upstream user, and cannot write
//! outside its target directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::StatusCode as HttpStatus;
use axum::response::IntoResponse;
use axum::routing::get;
use guidepost_testkit::{TestDatabase, backend_tests, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway::{gateway_app_with, settled};
use crate::gateway_fixture::{shared_with_upstreams, wait_for_within};
use crate::helpers::{Tenant, TestApp};
use crate::registry_server::{TestRegistry, npm_server};

/// A directory of the test's own, every user may enter.
fn scratch(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "guidepost-installs-{name}-{}-{n}",
        std::process::id()
    ));
    shared_with_upstreams(&dir, ".keep", "");
    dir
}

/// Adds an organization's private npm entry for `package@version` and installs it;
/// answers the upstream once it settled.
async fn install_private(app: &TestApp, tenant: &Tenant, package: &str, version: &str) -> Value {
    let spec = json!({"runtime": "npm", "package": package, "version": version});
    let entry = json!({"id": package, "name": package, "description": "", "spec": spec});
    let (status, added) = app
        .api(Method::POST, "/catalog", &tenant.key, Some(entry))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let body = json!({"catalog_entry_id": package});
    let (status, installed) = app
        .api(Method::POST, "/upstreams", &tenant.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    settled(app, tenant, installed["id"].as_str().unwrap()).await
}

backend_tests! {
    /// The installer here is a script that prints its environment's names and its uid,
    /// and tries to write to a directory every user may write to.
    async fn an_installer_sees_no_platform_variable_and_writes_nowhere_but_its_target(db: &TestDatabase) {
        let dir = scratch("printer");
        let outside = dir.join("escaped.txt");
        let script = format!(
            "#!/bin/sh\n\
             names=$(env | cut -d= -f1 | sort | tr '\\n' ' ')\n\
             if echo escaped > {outside} 2>/dev/null; then wrote=yes; else wrote=no; fi\n\
             echo \"installer-env: $names; wrote-outside: $wrote; uid: $(id -u)\" >&2\n\
             exit 1\n",
            outside = outside.display()
        );
        let npm = shared_with_upstreams(&dir, "npm", &script);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&npm, std::fs::Permissions::from_mode(0o755)).unwrap();
        let app = gateway_app_with(db, move |settings| settings.gateway.toolchain.npm = npm).await;
        let acme = app.create_tenant("Acme").await;
        let failed = install_private(&app, &acme, "guidepost-env-printer", "1.0.0").await;
        assert_eq!(failed["status"], "failed", "{failed}");
        let error = failed["last_error"].as_str().unwrap();
        let printed = error.split("installer-env: ").nth(1).unwrap_or_else(|| panic!("{error}"));
        let names: Vec<&str> = printed.split(';').next().unwrap().split_whitespace().collect();
        assert!(names.contains(&"HOME") && names.contains(&"npm_config_git"), "{names:?}");
        let platform: Vec<&&str> = names
            .iter()
            .filter(|n| n.starts_with("GUIDEPOST") || n.starts_with("CARGO") || n.starts_with("RUST"))
            .collect();
        assert!(platform.is_empty(), "the platform's variables reached the installer: {platform:?}");
        assert!(printed.contains("wrote-outside: no"), "{printed}");
        assert!(printed.contains("uid: 65534"), "runs as the upstream user: {printed}");
        assert!(!outside.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A git repository at `dir` holding `files`, committed.
fn git_repository(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let git = |args: &[&str]| {
        let done = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            done.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&done.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "one"]);
}

/// The attack: a package whose dependency `helper` is a git repository with an `.npmrc`
/// naming `./pwn.sh` as git, which npm prepares with a nested install (its `prepare`
/// script) that fetches `inner`, also from git. The script leaves `pwned` in `dir`.
fn hostile_git_dependency(dir: &Path) -> (String, PathBuf) {
    let marker = dir.join("pwned");
    let inner = dir.join("inner");
    git_repository(
        &inner,
        &[("package.json", r#"{"name": "inner", "version": "1.0.0"}"#)],
    );
    let helper = dir.join("helper");
    let manifest = json!({"name": "helper", "version": "1.0.0", "scripts": {"prepare": "echo prepared"},
        "dependencies": {"inner": format!("git+file://{}", inner.display())}});
    let pwn = format!("#!/bin/sh\ntouch {}\nexec git \"$@\"\n", marker.display());
    git_repository(
        &helper,
        &[
            ("package.json", &manifest.to_string()),
            (".npmrc", "git=./pwn.sh\n"),
            ("pwn.sh", &pwn),
        ],
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        helper.join("pwn.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    (format!("git+file://{}", helper.display()), marker)
}

/// An npm registry of the test's own serving `package` in `versions` (each with its
/// dependencies), until dropped.
struct Registry {
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The package's binary: a stdio MCP server with one tool.
const SERVER_JS: &str = r#"const lines = require('readline').createInterface({input: process.stdin});
lines.on('line', (line) => {
  let m;
  try { m = JSON.parse(line); } catch { return; }
  if (m.id === undefined) return;
  const answers = {
    initialize: () => ({protocolVersion: m.params.protocolVersion, capabilities: {tools: {}},
                        serverInfo: {name: 'victim', version: '1.0.0'}}),
    'tools/list': () => ({tools: [{name: 'hello', description: 'Says hello.', inputSchema: {type: 'object'}}]}),
    'tools/call': () => ({content: [{type: 'text', text: 'hello'}]}),
    ping: () => ({}),
  };
  const answer = answers[m.method];
  const reply = answer ? {jsonrpc: '2.0', id: m.id, result: answer()}
                       : {jsonrpc: '2.0', id: m.id, error: {code: -32601, message: String(m.method)}};
  process.stdout.write(JSON.stringify(reply) + '\n');
});
"#;

impl Registry {
    async fn serve(dir: &Path, package: &str, versions: &[(&str, Value)]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let mut packument = json!({"name": package, "dist-tags": {}, "versions": {}});
        let mut tarballs = std::collections::HashMap::new();
        for (version, dependencies) in versions {
            let manifest = json!({"name": package, "version": version,
                "bin": {package: "index.js"}, "dependencies": dependencies});
            let root = dir.join(format!("tarball-{version}"));
            std::fs::create_dir_all(root.join("package")).unwrap();
            std::fs::write(root.join("package/package.json"), manifest.to_string()).unwrap();
            std::fs::write(root.join("package/index.js"), SERVER_JS).unwrap();
            let file = format!("{package}-{version}.tgz");
            let made = Command::new("tar")
                .args(["-czf", &file, "package"])
                .current_dir(&root)
                .status()
                .unwrap();
            assert!(made.success());
            let tarball = std::fs::read(root.join(&file)).unwrap();
            // As a registry gives it: the tarball's SHA-512, which npm checks and records.
            let integrity = {
                use base64::Engine;
                use sha2::Digest;
                let digest = sha2::Sha512::digest(&tarball);
                format!(
                    "sha512-{}",
                    base64::engine::general_purpose::STANDARD.encode(digest)
                )
            };
            tarballs.insert(file.clone(), tarball);
            let mut entry = manifest.clone();
            entry["dist"] =
                json!({"tarball": format!("{url}{package}/-/{file}"), "integrity": integrity});
            packument["versions"][*version] = entry;
            packument["dist-tags"]["latest"] = json!(version);
        }
        let packument = packument.to_string();
        let tarballs = std::sync::Arc::new(tarballs);
        let name = package.to_owned();
        let router = Router::new()
            .route(
                "/{name}",
                get(move |UrlPath(asked): UrlPath<String>| async move {
                    if asked == name {
                        (
                            [(axum::http::header::CONTENT_TYPE, "application/json")],
                            packument,
                        )
                            .into_response()
                    } else {
                        HttpStatus::NOT_FOUND.into_response()
                    }
                }),
            )
            .route(
                "/{name}/-/{file}",
                get(
                    move |UrlPath((_, file)): UrlPath<(String, String)>| async move {
                        match tarballs.get(&file) {
                            Some(bytes) => bytes.clone().into_response(),
                            None => HttpStatus::NOT_FOUND.into_response(),
                        }
                    },
                ),
            );
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Registry { url, server }
    }
}

/// The refusal names git and the registry, and the dependency's repository.
fn assert_refused_for_git(upstream: &Value, marker: &Path) {
    assert_eq!(upstream["status"], "failed", "{upstream}");
    let error = upstream["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("fetched with git") && error.contains("only from the registry"),
        "{error}"
    );
    assert!(error.contains("helper"), "names the dependency: {error}");
    assert!(!marker.exists(), "the dependency's script ran");
}

backend_tests! {
    async fn a_git_dependency_is_refused_and_its_script_never_runs(db: &TestDatabase) {
        let dir = scratch("git");
        let (helper, marker) = hostile_git_dependency(&dir);
        let package = format!("guidepost-git-victim-{}", db.url.len() % 1000);
        let registry = Registry::serve(&dir, &package, &[
            ("1.0.0", json!({})),
            ("1.1.0", json!({"helper": helper})),
            ("2.0.0", json!({"helper": helper})),
        ]).await;
        // An MCP registry lists the same version, for any organization to install.
        let listing = TestRegistry::start().await;
        let listed = npm_server("io.example/victim", "Says hello.", "2.0.0", &package, "2.0.0");
        listing.publish(listed, "active", "2026-01-01T00:00:00Z");
        let (url, cache) = (registry.url.clone(), dir.join("cache"));
        let listing_url = listing.url.clone();
        let app = gateway_app_with(db, move |settings| {
            settings.gateway.toolchain.npm_registry = Some(url);
            settings.gateway.toolchain.cache_dir = cache;
            settings.platform.registries = vec![listing_url];
            settings.registries.allow_private = true;
        })
        .await;
        let acme = app.create_tenant("Acme").await;
        app.trust_new_tools(&acme).await;
        // From a private entry, at a version that brings the dependency.
        let spec = json!({"runtime": "npm", "package": package, "version": "2.0.0"});
        let entry = json!({"id": "victim", "name": "Victim", "description": "", "spec": spec});
        let (status, added) = app.api(Method::POST, "/catalog", &acme.key, Some(entry)).await;
        assert_eq!(status, StatusCode::CREATED, "{added}");
        let (status, installed) = app
            .api(Method::POST, "/upstreams", &acme.key, Some(json!({"catalog_entry_id": "victim"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{installed}");
        let upstream = settled(&app, &acme, installed["id"].as_str().unwrap()).await;
        assert_refused_for_git(&upstream, &marker);

        // From the registry's entry: the same refusal.
        eventually("the registry's entry is in the catalog", async || {
            let (_, catalog) = app.get("/catalog?source=registry", &acme.key).await;
            catalog.to_string().contains("io.example/victim")
        })
        .await;
        let body = json!({"catalog_entry_id": "io.example/victim"});
        let (status, installed) = app.api(Method::POST, "/upstreams", &acme.key, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{installed}");
        let upstream = settled(&app, &acme, installed["id"].as_str().unwrap()).await;
        assert_refused_for_git(&upstream, &marker);

        // An upgrade takes the same way: 1.0.0 installs (its tree fetched from the
        // registry and checked), 1.1.0 brings the dependency, is refused and undone.
        let clean = install_private(&app, &acme, &package, "1.0.0").await;
        assert_eq!(clean["status"], "ready", "{clean}");
        let path = format!("/upstreams/{}", clean["id"].as_str().unwrap());
        let (status, patched) = app.api(Method::PATCH, &path, &acme.key, Some(json!({"version": "1.1.0"}))).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        let undone = wait_for_within(&app, &acme, clean["id"].as_str().unwrap(), 120, |u| {
            u["version"] == "1.0.0" && u["last_error"].as_str().is_some_and(|e| e.contains("undone"))
        })
        .await;
        let said = undone["last_error"].as_str().unwrap();
        assert!(said.contains("fetched with git") && said.contains("helper"), "{said}");
        assert!(!marker.exists(), "the dependency's script ran on upgrade");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
