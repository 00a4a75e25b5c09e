//! API keys have scopes (`read`, `write`, `gateway`, `admin`), and a key may do only what
//! its scopes give: a `read` key is refused every change the API offers (each operation
//! of the OpenAPI document that is not a GET, tried on organization A's real objects with
//! a body A's owner could send), only `admin` mints keys, and never one with a scope the
//! minting key lacks, so a leaked key cannot outlive its revocation through a key it made.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use guidepost_testkit::{TestDatabase, backend_tests};

use crate::gateway_fixture::FixtureDir;
use crate::helpers::{TestApp, spawn_app};
use crate::route_walk::{Objects, assert_unchanged, snapshot, walk_app};

/// The methods of an OpenAPI path item that change something.
const CHANGES: [&str; 4] = ["post", "put", "patch", "delete"];

/// What `key` is answered when it asks for a key with `scopes`.
async fn mint(app: &TestApp, key: &str, scopes: Value) -> (StatusCode, Value) {
    let body = json!({"name": "minted", "scopes": scopes});
    app.api(Method::POST, "/api-keys", key, Some(body)).await
}

fn assert_refused(answer: &(StatusCode, Value), phrase: &str, what: &str) {
    let (status, problem) = answer;
    assert_eq!(*status, StatusCode::FORBIDDEN, "{what}: {problem}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(phrase), "{what}: {problem}");
}

backend_tests! {
    async fn a_read_key_is_refused_every_change_of_the_openapi_document(db: &TestDatabase) {
        let dir = FixtureDir::new();
        let app = walk_app(db, &dir).await;
        let a = &app.tenant;
        let objects = Objects::seed(&app, a).await;
        let reader = app.app.key_with(&a.key, "reader", json!(["read"])).await;
        let before = snapshot(&app.app, a, &objects).await;

        let document = app.app.client.call(Method::GET, "/api/v1/openapi.json", None, None).await;
        assert_eq!(document.status, StatusCode::OK);
        assert!(document.is_json(), "{}", document.text);
        let document = document.body;
        // The document names every route the router serves, so walking it misses none.
        for route in guidepost_api::route_paths() {
            assert!(document["paths"].get(&route).is_some(), "{route} is not in the OpenAPI document");
        }
        let mut walked = Vec::new();
        let mut failures = Vec::new();
        for (template, item) in document["paths"].as_object().expect("paths") {
            for method in CHANGES.into_iter().filter(|m| item.get(*m).is_some()) {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let body = objects.api_body(&method, template);
                let takes_body = item[method.as_str().to_lowercase()].get("requestBody").is_some();
                assert_eq!(takes_body, body.is_some(),
                    "{method} {template}: give it a body A's owner could send in route_walk::Objects::api_body");
                let path = objects.fill(template);
                let (status, problem) = app.app.client.call(method.clone(), &path, Some(&reader), body).await.into_parts();
                let detail = problem["detail"].as_str().unwrap_or_default();
                if status != StatusCode::FORBIDDEN || !detail.contains("scopes do not include") {
                    failures.push(format!("{method} {path}: {status} {problem}"));
                }
                walked.push(format!("{method} {template}"));
            }
        }
        assert!(failures.is_empty(), "{} of {} changes were not refused to a read key:\n{}",
            failures.len(), walked.len(), failures.join("\n"));
        assert!(walked.len() >= 30, "walked too few: {walked:?}");
        println!("a read key: {} changes refused with 403", walked.len());

        // Reading is what it may do.
        for path in ["/servers", "/walkthroughs", "/upstreams", "/end-users", "/audit-events"] {
            let (status, answer) = app.app.get(path, &reader).await;
            assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        }
        assert_unchanged(&before, &snapshot(&app.app, a, &objects).await);
    }

    async fn only_an_admin_key_mints_keys_and_never_with_more_scopes_than_its_own(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let acme = app.create_tenant("Acme").await;
        let (_, listed) = app.get("/api-keys", &acme.key).await;
        assert_eq!(listed["items"][0]["scopes"], json!(["read", "write", "gateway", "admin"]),
            "the organization's first key has every scope: {listed}");

        // Without a choice, a key reads and writes.
        let (status, made) = app.api(Method::POST, "/api-keys", &acme.key, Some(json!({"name": "ci"}))).await;
        assert_eq!((status, &made["scopes"]), (StatusCode::CREATED, &json!(["read", "write"])), "{made}");
        let writer = made["key"].as_str().unwrap().to_owned();
        let (status, made) = app.api(Method::POST, "/api-keys", &acme.key,
            Some(json!({"name": "bad", "scopes": ["read", "owner"]}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no such scope: {made}");

        // A write key mints nothing: a leaked one ends with its revocation.
        assert_refused(&mint(&app, &writer, json!(["read"])).await, "admin", "a write key");
        assert_refused(&app.api(Method::POST, "/api-keys", &writer, Some(json!({"name": "x"}))).await,
            "admin", "a write key, default scopes");
        assert_refused(&app.get("/api-keys", &writer).await, "admin", "a write key listing keys");
        // Nor does a key with read and gateway, least of all an admin key.
        let gateway = app.key_with(&acme.key, "deploy", json!(["read", "gateway"])).await;
        assert_refused(&mint(&app, &gateway, json!(["admin"])).await, "admin", "a read,gateway key");

        // An admin key mints any key with scopes it holds, and none with more.
        let admin_only = app.key_with(&acme.key, "keys", json!(["admin"])).await;
        assert_refused(&mint(&app, &admin_only, json!(["write"])).await, "may not grant write",
            "an admin key without write");
        assert_refused(&mint(&app, &admin_only, json!(["admin", "gateway"])).await, "may not grant gateway",
            "an admin key without gateway");
        let (status, made) = mint(&app, &admin_only, json!(["admin"])).await;
        assert_eq!((status, &made["scopes"]), (StatusCode::CREATED, &json!(["read", "admin"])), "{made}");
        let admin = app.key_with(&acme.key, "root", json!(["read", "write", "gateway", "admin"])).await;
        for scopes in [json!(["read"]), json!(["write"]), json!(["gateway"]), json!(["read", "write", "gateway", "admin"])] {
            let (status, made) = mint(&app, &admin, scopes.clone()).await;
            assert_eq!(status, StatusCode::CREATED, "{scopes}: {made}");
        }

        // The listing shows each key's scopes.
        let (_, listed) = app.get("/api-keys", &admin).await;
        let deploy = listed["items"].as_array().unwrap().iter().find(|k| k["name"] == "deploy").unwrap();
        assert_eq!(deploy["scopes"], json!(["read", "gateway"]), "{listed}");
    }

    async fn each_scope_opens_only_its_own_changes(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let acme = app.create_tenant("Acme").await;
        let writer = app.key_with(&acme.key, "content", json!(["write"])).await;
        let gateway = app.key_with(&acme.key, "gateway", json!(["gateway"])).await;
        let admin = app.key_with(&acme.key, "admin", json!(["admin"])).await;
        let (denied, created, done) = (StatusCode::FORBIDDEN, StatusCode::CREATED, StatusCode::OK);
        assert_eq!(one_change_of_each_kind(&app, &writer, "w").await, [created, denied, denied], "write");
        assert_eq!(one_change_of_each_kind(&app, &gateway, "g").await, [denied, created, denied], "gateway");
        assert_eq!(one_change_of_each_kind(&app, &admin, "a").await, [denied, denied, done], "admin");
    }
}

/// What `key` is answered when it creates a server (content), adds a catalog entry (the
/// gateway) and changes the organization's settings.
async fn one_change_of_each_kind(app: &TestApp, key: &str, tag: &str) -> [StatusCode; 3] {
    let server = json!({"name": "Docs", "slug": format!("docs-{tag}")});
    let entry = json!({"id": format!("remote-{tag}"), "name": "Remote", "description": "",
        "spec": {"runtime": "http", "url": "https://mcp.acme.example/mcp"}});
    let setting = json!({"tool_approval": "trust_on_first_use"});
    [
        app.api(Method::POST, "/servers", key, Some(server)).await.0,
        app.api(Method::POST, "/catalog", key, Some(entry)).await.0,
        app.api(Method::PATCH, "/organization", key, Some(setting))
            .await
            .0,
    ]
}

backend_tests! {
    /// A recorded call names its session by the session's id, never by the transport's
    /// `Mcp-Session-Id`: whoever reads the calls (a `read` key, a viewer) could otherwise
    /// go on in that person's session, as them, on a server whose people do not sign in.
    async fn a_recorded_call_names_its_session_never_by_the_sessions_secret(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server(&tenant, "acme", json!({})).await;
        let minted = json!({"name": "reader", "scopes": ["read"]});
        let (status, reader) = app.api(Method::POST, "/api-keys", &tenant.key, Some(minted)).await;
        assert_eq!(status, StatusCode::CREATED, "{reader}");
        let reader = reader["key"].as_str().unwrap().to_owned();
        let url = format!("{}?tracking_id=ada", app.mcp_path_url("acme"));
        let mut mcp = crate::helpers::RawMcp::new(url, crate::helpers::SESSION_ERA);
        mcp.initialize().await;
        let transport = mcp.session.clone().expect("a session");
        let support = json!({"title": "t", "problem_description": "d", "email": "ada@acme.example"});
        let called = mcp.call_tool(2, "get_support", support).await;
        assert_ne!(called.body["result"]["isError"], true, "{}", called.body);

        let calls = app.wait_for_tool_calls(&tenant, 1).await;
        let (_, read) = app.api(Method::GET, "/tool-calls", &reader, None).await;
        let person = calls[0]["end_user_id"].as_str().unwrap_or_else(|| panic!("{calls:?}")).to_owned();
        let (_, detail) = app.api(Method::GET, &format!("/end-users/{person}"), &reader, None).await;
        for shown in [&read, &detail] {
            assert!(!shown.to_string().contains(&transport), "the session's secret is shown: {shown}");
        }
        assert_eq!(read["items"][0]["session_id"], detail["sessions"][0]["id"], "{read} {detail}");
        assert!(read["items"][0]["session_id"].as_str().is_some_and(|id| id.starts_with("mss_")), "{read}");
    }
}
