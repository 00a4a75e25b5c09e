//! Single tools switched off per server: through the API, a switched-off tool
//! leaves that server's `tools/list` in both protocol eras and a call to it is a tool
//! error, while another server of the organization keeps it; the switch is audited in
//! words, refused across organizations, and reaches other nodes' caches.

use std::time::Duration;

use guidepost_testkit::{TestDatabase, backend_tests, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::{FixtureDir, wait_for};
use crate::helpers::{
    RawMcp, SESSION_ERA, STATELESS_ERA, Tenant, TestApp, personal_client, spawn_app_with,
    tool_names,
};

/// What `tools/list` shows on `slug` in the era of `version`.
async fn listed(app: &TestApp, slug: &str, version: &'static str) -> Vec<String> {
    let mut client = RawMcp::new(app.mcp_path_url(slug), version);
    if version == SESSION_ERA {
        client.initialize().await;
    }
    tool_names(&client.call(2, "tools/list", json!({})).await)
}

/// A call of `name` on `slug` in the era of `version`.
async fn called(app: &TestApp, slug: &str, version: &'static str, name: &str) -> Value {
    let mut client = RawMcp::new(app.mcp_path_url(slug), version);
    if version == SESSION_ERA {
        client.initialize().await;
    }
    let arguments = json!({"message": "hello"});
    client.call_tool(3, name, arguments).await.body
}

fn switch_path(server: &str, tool: &str) -> String {
    format!("/servers/{server}/tools/{tool}/disabled")
}

/// An app with the fixture upstream attached as `fx` to the server `docs` (its tools
/// trusted), and a second server `other` with the same attachment; the fixture's directory
/// lives as long as the test keeps it.
async fn app_with_two_servers(db: &TestDatabase) -> (TestApp, Tenant, String, String, FixtureDir) {
    let dir = FixtureDir::new();
    let catalog = dir.catalog(&[]);
    let app = spawn_app_with(db, move |s| s.platform.catalog = catalog).await;
    let tenant = app.create_tenant("Acme").await;
    let key = &tenant.key;
    app.trust_new_tools(&tenant).await;
    let body = json!({"catalog_entry_id": "fixture"});
    let (status, upstream) = app.api(Method::POST, "/upstreams", key, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{upstream}");
    let upstream = upstream["id"].as_str().unwrap().to_owned();
    wait_for(&app, &tenant, &upstream, |u| u["status"] == "ready").await;
    let mut servers = Vec::new();
    for slug in ["docs", "other"] {
        let server = app.create_server(&tenant, slug, json!({})).await;
        let server = server["id"].as_str().unwrap().to_owned();
        let attach = format!("/servers/{server}/upstreams/{upstream}");
        let (status, attached) = app
            .api(Method::PUT, &attach, key, Some(json!({"prefix": "fx"})))
            .await;
        assert!(status.is_success(), "{attached}");
        servers.push(server);
    }
    let other = servers.pop().unwrap();
    let docs = servers.pop().unwrap();
    (app, tenant, docs, other, dir)
}

backend_tests! {
    async fn a_tool_switched_off_leaves_one_servers_list_and_its_calls_are_refused(db: &TestDatabase) {
        let (app, tenant, docs, other, _dir) = app_with_two_servers(db).await;
        let key = &tenant.key;
        for era in [SESSION_ERA, STATELESS_ERA] {
            let before = listed(&app, "docs", era).await;
            assert!(before.contains(&"fx__echo".to_owned()) && before.contains(&"get_support".to_owned()), "{before:?}");
        }
        // The switches list both kinds of tools, all on.
        let (status, switches) = app.get(&format!("/servers/{docs}/tools"), key).await;
        assert_eq!(status, StatusCode::OK, "{switches}");
        let items = switches["items"].as_array().unwrap();
        let echo = items.iter().find(|t| t["name"] == "fx__echo").expect("fx__echo listed");
        assert_eq!((echo["enabled"].clone(), echo["source"]["kind"].clone()), (json!(true), json!("upstream")));
        let support = items.iter().find(|t| t["name"] == "get_support").expect("get_support listed");
        assert_eq!(support["source"]["kind"], "builtin");

        // Off: an upstream tool and a built-in one.
        for tool in ["fx__echo", "get_support"] {
            let (status, server) = app.api(Method::PUT, &switch_path(&docs, tool), key, None).await;
            assert_eq!(status, StatusCode::OK, "{server}");
            assert!(server["disabled_tools"].as_array().unwrap().contains(&json!(tool)), "{server}");
        }
        for era in [SESSION_ERA, STATELESS_ERA] {
            let now = listed(&app, "docs", era).await;
            assert!(!now.contains(&"fx__echo".to_owned()) && !now.contains(&"get_support".to_owned()), "{era}: {now:?}");
            let answer = called(&app, "docs", era, "fx__echo").await;
            assert_eq!(answer["result"]["isError"], true, "{era}: {answer}");
            let text = answer["result"]["content"][0]["text"].as_str().unwrap_or_default();
            assert!(text.contains("fx__echo is switched off on this server"), "{era}: {text}");
            // The other server still lists and runs it.
            let there = listed(&app, "other", era).await;
            assert!(there.contains(&"fx__echo".to_owned()), "{era}: {there:?}");
            let answer = called(&app, "other", era, "fx__echo").await;
            assert_eq!(answer["result"]["content"][0]["text"], "hello", "{era}: {answer}");
        }
        for (server, enabled) in [(&docs, false), (&other, true)] {
            let (_, switches) = app.get(&format!("/servers/{server}/tools"), key).await;
            let echo = switches["items"].as_array().unwrap().iter().find(|t| t["name"] == "fx__echo").cloned();
            assert_eq!(echo.unwrap()["enabled"], enabled, "{switches}");
        }

        // On again: listed and callable.
        let (status, body) = app.api(Method::DELETE, &switch_path(&docs, "fx__echo"), key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert!(listed(&app, "docs", STATELESS_ERA).await.contains(&"fx__echo".to_owned()));
        let answer = called(&app, "docs", STATELESS_ERA, "fx__echo").await;
        assert_eq!(answer["result"]["content"][0]["text"], "hello", "{answer}");

        // A tool the server does not have cannot be switched off; problem+json says so.
        let reply = app.client.call(Method::PUT, &format!("/api/v1{}", switch_path(&docs, "fx__nothing")), Some(key), None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
        assert!(reply.content_type().starts_with("application/problem+json"), "{}", reply.content_type());

        // In words in the audit log.
        let (_, events) = app.get("/audit-events?limit=50", key).await;
        let texts: Vec<&str> = events["items"].as_array().unwrap().iter().filter_map(|e| e["text"].as_str()).collect();
        assert!(texts.contains(&"API key test switched off the tool “fx__echo” on the server “Server docs”."), "{texts:?}");
        assert!(texts.contains(&"API key test switched on the tool “fx__echo” on the server “Server docs”."), "{texts:?}");
    }

    async fn another_organization_cannot_switch_or_read_a_servers_tools(db: &TestDatabase) {
        let app = spawn_app_with(db, |_| {}).await;
        let acme = app.create_tenant("Acme").await;
        let rival = app.create_tenant("Rival").await;
        let server = app.create_server(&acme, "acme", json!({})).await;
        let server = server["id"].as_str().unwrap().to_owned();
        let (status, _) = app.get(&format!("/servers/{server}/tools"), &rival.key).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        for method in [Method::PUT, Method::DELETE] {
            let (status, body) = app.api(method, &switch_path(&server, "get_support"), &rival.key, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        }
        // Nothing changed for Acme.
        let (_, own) = app.get(&format!("/servers/{server}"), &acme.key).await;
        assert_eq!(own["disabled_tools"], json!([]));
        assert!(listed(&app, "acme", STATELESS_ERA).await.contains(&"get_support".to_owned()));
        // A read-only key is refused.
        let (_, read_key) = app.api(Method::POST, "/api-keys", &acme.key, Some(json!({"name": "ro", "scopes": ["read"]}))).await;
        let read_key = read_key["key"].as_str().expect("a read key").to_owned();
        let (status, body) = app.api(Method::PUT, &switch_path(&server, "get_support"), &read_key, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
}

/// A switch made through one node reaches another node's cached server.
#[tokio::test]
async fn a_switch_through_one_node_reaches_another_nodes_cache() {
    let Some(db) = TestDatabase::require_postgres().await else {
        return;
    };
    let node = || {
        spawn_app_with(&db, |settings| {
            settings.platform.server_cache_expiry = Duration::from_secs(3600)
        })
    };
    let (a, b) = (node().await, node().await);
    let tenant = a.create_tenant("Acme").await;
    let server = a.create_server(&tenant, "acme", json!({})).await;
    let server = server["id"].as_str().unwrap().to_owned();
    let names = |app: &TestApp| {
        let client = personal_client(app, "acme", "roamer");
        async move { tool_names(&client.call(2, "tools/list", json!({})).await) }
    };
    assert!(
        names(&b).await.contains(&"get_support".to_owned()),
        "b caches the server"
    );
    let (status, body) = a
        .api(
            Method::PUT,
            &switch_path(&server, "get_support"),
            &tenant.key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually("node b hides the switched-off tool", async || {
        !names(&b).await.contains(&"get_support".to_owned())
    })
    .await;
    let answer = personal_client(&b, "acme", "roamer")
        .call_tool(3, "get_support", json!({}))
        .await;
    assert!(answer.tool_error_text().contains("switched off"));
}
