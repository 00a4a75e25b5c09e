//! What an organization's private entry may name (the package and image
//! inputs): an npm or PyPI package that cannot read as an installer's option, pinned to
//! one exact version; and a container image only where the operator's allowlist
//! (`--container-images`) names it, exactly.

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, spawn_app_with};

const ALLOWED: &str = "registry.example.com/team/server:1.2";

/// A platform that lets organizations add packages, and the one image above.
async fn inputs_app(db: &TestDatabase, images: &[&str]) -> TestApp {
    let images: Vec<String> = images.iter().map(|i| i.to_string()).collect();
    spawn_app_with(db, move |settings| {
        settings.platform.private_package_entries = true;
        settings.platform.container_images = images;
    })
    .await
}

async fn add(app: &TestApp, tenant: &Tenant, id: &str, spec: Value) -> (StatusCode, Value) {
    let body = json!({"id": id, "name": "Entry", "description": "", "spec": spec});
    app.api(Method::POST, "/catalog", &tenant.key, Some(body))
        .await
}

/// The problem names `field`, and its message says `says`.
fn refused_at(status: StatusCode, problem: &Value, field: &str, says: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let errors = problem["errors"].as_array().cloned().unwrap_or_default();
    assert!(
        errors.iter().any(
            |e| e["field"] == field && e["message"].as_str().unwrap_or_default().contains(says)
        ),
        "expected {field} to say {says:?}: {problem}"
    );
}

backend_tests! {
    async fn package_names_that_read_as_options_are_refused(db: &TestDatabase) {
        let app = inputs_app(db, &[]).await;
        let acme = app.create_tenant("Acme").await;
        let mut n = 0;
        for runtime in ["npm", "pypi"] {
            let version = if runtime == "npm" { "1.3.0" } else { "1.16.0" };
            for package in ["-g", "--prefix", "--prefix=/tmp/elsewhere", "-e"] {
                n += 1;
                let spec = json!({"runtime": runtime, "package": package, "version": version});
                let (status, problem) = add(&app, &acme, &format!("opt-{n}"), spec).await;
                refused_at(status, &problem, "spec.package", "option");
            }
            for package in ["", "a b", "a..b", "../../etc", "left\npad"] {
                n += 1;
                let spec = json!({"runtime": runtime, "package": package, "version": version});
                let (status, problem) = add(&app, &acme, &format!("bad-{n}"), spec).await;
                refused_at(status, &problem, "spec.package", "");
            }
        }
        let (_, catalog) = app.get("/catalog", &acme.key).await;
        assert!(!catalog.to_string().contains("\"organization\""), "nothing was added: {catalog}");
    }
}

backend_tests! {
    async fn package_versions_must_be_exact(db: &TestDatabase) {
        let app = inputs_app(db, &[]).await;
        let acme = app.create_tenant("Acme").await;
        let cases = [
            ("npm", "left-pad", vec!["1", "1.x", "^1.3.0", "~1.3.0", "1.3", ">=1.0.0", "latest", "v1.3.0", "1.3.0 || 2.0.0"]),
            ("pypi", "six", vec!["1", "1.x", "^1.3.0", ">=1", "~=1.0", "1.*", "==1.16.0", "latest", "1.16.0+local"]),
        ];
        let mut n = 0;
        for (runtime, package, versions) in cases {
            for version in versions {
                n += 1;
                let spec = json!({"runtime": runtime, "package": package, "version": version});
                let (status, problem) = add(&app, &acme, &format!("ranged-{n}"), spec).await;
                refused_at(status, &problem, "spec.version", "must be an exact version");
            }
        }
        // Exact versions are taken: full semver for npm, a PEP 440 release for PyPI.
        let exact = [
            ("npm", "left-pad", "1.3.0"),
            ("npm", "@modelcontextprotocol/server-everything", "2026.8.31"),
            ("npm", "left-pad", "2.0.0-rc.1+build.5"),
            ("pypi", "six", "1.16.0"),
            ("pypi", "mcp-server-time", "2026.10.19"),
            ("pypi", "six", "1.0"),
            ("pypi", "six", "1.2.3rc1"),
            ("pypi", "six", "1.0.post1"),
            ("pypi", "six", "1.0.dev2"),
        ];
        for (n, (runtime, package, version)) in exact.into_iter().enumerate() {
            let spec = json!({"runtime": runtime, "package": package, "version": version});
            let (status, added) = add(&app, &acme, &format!("exact-{n}"), spec).await;
            assert_eq!(status, StatusCode::CREATED, "{runtime} {package} {version}: {added}");
            assert_eq!(added["spec"]["version"], version);
        }
    }
}

backend_tests! {
    async fn an_organization_names_only_images_on_the_operators_allowlist(db: &TestDatabase) {
        let app = inputs_app(db, &[ALLOWED, "ghcr.io/acme/tool@sha256:0123456789abcdef"]).await;
        let acme = app.create_tenant("Acme").await;
        let boxed = |image: &str| json!({"runtime": "container", "image": image});
        let (status, added) = add(&app, &acme, "allowed", boxed(ALLOWED)).await;
        assert_eq!(status, StatusCode::CREATED, "{added}");
        assert_eq!(added["spec"]["image"], ALLOWED);
        // Exact references only: another tag, another registry, a prefix of an allowed
        // one, or an image some other tenant runs on this host.
        for (n, image) in [
            "registry.example.com/team/server:1.3",
            "registry.example.com/team/server",
            "registry.example.com/team/server:latest",
            "docker.io/library/busybox:latest",
            "busybox",
            "ghcr.io/acme/tool",
            "registry.example.com/other-tenant/secret-server:1.2",
        ]
        .into_iter()
        .enumerate()
        {
            let (status, problem) = add(&app, &acme, &format!("other-{n}"), boxed(image)).await;
            refused_at(status, &problem, "spec.image", "allowlist");
            assert!(problem.to_string().contains(image), "{problem}");
        }

        // Without an allowlist, an organization names no image at all, and an entry added
        // while its image was allowed installs no more.
        let none = inputs_app(db, &[]).await;
        let (status, problem) = add(&none, &acme, "boxed", boxed(ALLOWED)).await;
        refused_at(status, &problem, "spec.image", "allows no container images");
        let install = json!({"catalog_entry_id": "allowed"});
        let (status, problem) = none.api(Method::POST, "/upstreams", &acme.key, Some(install)).await;
        refused_at(status, &problem, "spec.image", "allows no container images");
        // The catalog says so before anyone tries; where the image is allowed, it says nothing.
        let refusal = |catalog: &serde_json::Value| catalog["items"].as_array().unwrap().iter()
            .find(|e| e["id"] == "allowed").unwrap()["not_installable"].clone();
        let (_, catalog) = none.get("/catalog?source=organization", &acme.key).await;
        assert!(refusal(&catalog).as_str().is_some_and(|r| r.contains("allows no container images")), "{catalog}");
        let (_, catalog) = app.get("/catalog?source=organization", &acme.key).await;
        assert!(refusal(&catalog).is_null(), "{catalog}");
    }
}

backend_tests! {
    /// An entry id with a NUL (found by Schemathesis: PostgreSQL refused the query, and
    /// the install answered 500) is an unknown entry, on both backends.
    async fn an_entry_id_with_control_characters_is_an_unknown_entry(db: &TestDatabase) {
        let app = inputs_app(db, &[]).await;
        let acme = app.create_tenant("Acme").await;
        for id in ["\u{0}x", "a\nb", ""] {
            let body = json!({"catalog_entry_id": id});
            let (status, problem) = app.api(Method::POST, "/upstreams", &acme.key, Some(body)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{id:?}: {problem}");
            assert!(problem.to_string().contains("no catalog entry"), "{problem}");
        }
    }
}

backend_tests! {
    async fn an_upstream_is_installed_as_the_request_describes_it_without_a_catalog_entry(db: &TestDatabase) {
        let app = crate::gateway::gateway_app_with(db, |settings| {
            settings.platform.master_key = Some(guidepost_core::secrets::MasterKey::from_bytes([5; 32]));
        }).await;
        let acme = app.create_tenant("Acme").await;
        app.trust_new_tools(&acme).await;
        let remote = "https://mcp.example.com/mcp";

        // Checked as an organization's own entry is, field by field.
        let refusals = [
            (json!({"runtime": "http", "url": remote}), "name", "is required"),
            (json!({"name": "R", "runtime": "http", "url": remote, "header": {}}), "runtime", "unknown field `header`"),
            (json!({"name": "R", "runtime": "http", "url": "http://mcp.example.com/mcp"}), "spec.url", "https"),
            (json!({"name": "R", "runtime": "http", "url": "https://:token@mcp.example.com/mcp"}), "spec.url", "without credentials"),
            (json!({"name": "R", "runtime": "command", "command": "/bin/sh"}), "spec.runtime", "only the platform's operator"),
            (json!({"name": "R", "runtime": "container", "image": "evil.example.com/x:1"}), "spec.image", "allows no container images"),
            (json!({"name": "R", "runtime": "npm", "package": "left-pad", "version": "^1.3.0"}), "spec.version", "exact"),
            (json!({"name": "R", "runtime": "http", "url": remote, "secret_headers": {"X-Key": "API_KEY"}}), "secrets", "API_KEY"),
            (json!({"name": "R", "runtime": "http", "url": remote, "secrets": {"API_KEY": 7}}), "secrets", "object of secret names to strings"),
            (json!({"name": "R", "runtime": "http", "url": remote, "start": "sometimes"}), "start", "on_demand"),
        ];
        for (body, field, says) in refusals {
            let (status, problem) = app.api(Method::POST, "/upstreams", &acme.key, Some(body.clone())).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
            refused_at(status, &problem, field, says);
        }
        let (_, none) = app.get("/upstreams", &acme.key).await;
        assert_eq!(none["items"], json!([]), "nothing was installed: {none}");

        // The reference server by its package, a secret in its environment.
        let body = json!({"name": "Everything by package", "runtime": "npm", "start": "on_demand",
            "package": "@modelcontextprotocol/server-everything", "version": "2026.8.31",
            "bin": "mcp-server-everything", "args": ["stdio"], "secrets": {"EVERYTHING_TOKEN": "direct-secret-value"}});
        let (status, installed) = app.api(Method::POST, "/upstreams", &acme.key, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{installed}");
        assert_eq!((&installed["catalog_entry_id"], &installed["start"]), (&Value::Null, &json!("on_demand")), "{installed}");
        let id = installed["id"].as_str().unwrap().to_owned();
        let ready = crate::gateway::settled(&app, &acme, &id).await;
        assert_eq!(ready["status"], "ready", "{ready}");
        assert!(!ready.to_string().contains("direct-secret-value"), "the secret is never shown: {ready}");
        let (_, tools) = app.get(&format!("/upstreams/{id}/tools"), &acme.key).await;
        assert!(tools.to_string().contains("\"echo\""), "its tools are discovered: {tools}");
        let (_, events) = app.get("/audit-events?limit=200", &acme.key).await;
        let event = events["items"].as_array().unwrap().iter().find(|e| e["action"] == "upstream.installed");
        let event = event.unwrap_or_else(|| panic!("{events}"));
        let echo = events["items"].as_array().unwrap().iter()
            .filter(|e| e["action"] == "tool.discovered" && e["tool"] == "echo").count();
        assert_eq!(echo, 1, "discovered once: {events}");
        assert_eq!((&event["detail"]["runtime"], &event["detail"]["name"]), (&json!("npm"), &json!("Everything by package")), "{event}");

        // Its secret can be replaced after install (a new launch); it takes no other, and
        // no settings, as an entry that declared only that secret would.
        let path = format!("/upstreams/{id}");
        let rotate = json!({"secrets": {"EVERYTHING_TOKEN": "rotated-secret-value"}});
        let (status, rotated) = app.api(Method::PATCH, &path, &acme.key, Some(rotate)).await;
        assert_eq!(status, StatusCode::OK, "{rotated}");
        assert!(!rotated.to_string().contains("rotated-secret-value"), "{rotated}");
        for (body, field, says) in [
            (json!({"secrets": {"OTHER_TOKEN": "x"}}), "secrets", "takes no secret \"OTHER_TOKEN\""),
            (json!({"config": {"region": "eu"}}), "config", "takes no setting \"region\""),
        ] {
            let (status, problem) = app.api(Method::PATCH, &path, &acme.key, Some(body)).await;
            refused_at(status, &problem, field, says);
        }
    }
}
