//! HTTP upstreams: a remote MCP server over Streamable HTTP, here a hosted
//! server of another Guidepost, installed from an operator entry and attached like any
//! upstream; and the outbound fence, which keeps the platform off private addresses
//! unless the operator allows them.

use std::sync::Arc;

use guidepost_core::upstreams::catalog::Catalog;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::wait_for;
use crate::helpers::{RawMcp, STATELESS_ERA, TestApp, spawn_app, spawn_app_with};

/// A Guidepost whose catalog offers `remote`: the MCP URL of a server on `upstream_node`.
async fn gateway_node(db: &TestDatabase, upstream_node: &TestApp, allow_private: bool) -> TestApp {
    let mut url = upstream_node.mcp_path_url("remote");
    if !allow_private {
        // Past the https rule, so that the address rule is what refuses it.
        url = url.replacen("http://", "https://", 1);
    }
    gateway_node_at(db, &url, allow_private).await
}

/// A Guidepost whose catalog offers `remote` at `url`.
async fn gateway_node_at(db: &TestDatabase, url: &str, allow_private: bool) -> TestApp {
    let entry = format!(
        "[[entry]]\nid = \"remote\"\nname = \"Remote\"\ndescription = \"Another Guidepost.\"\n\
         spec = {{ runtime = \"http\", url = {url:?}, headers = {{ X-Api-Key = \"not-for-logs\" }} }}\n"
    );
    let catalog = Catalog::with_operator_entries(&entry).unwrap();
    spawn_app_with(db, move |settings| {
        settings.platform.catalog = Arc::new(catalog);
        settings.gateway.http_allow_private = allow_private;
    })
    .await
}

async fn install_remote(app: &TestApp, key: &str) -> String {
    let body = json!({"catalog_entry_id": "remote"});
    let (status, installed) = app.api(Method::POST, "/upstreams", key, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    assert_eq!(installed["spec"]["runtime"], "http");
    installed["id"].as_str().unwrap().to_owned()
}

backend_tests! {
    async fn a_remote_server_over_http_serves_its_tools_through_the_gateway(db: &TestDatabase) {
        let upstream_node = spawn_app(db).await;
        let remote = upstream_node.create_tenant("Remote").await;
        upstream_node.create_server(&remote, "remote", json!({})).await;

        let app = gateway_node(db, &upstream_node, true).await;
        let acme = app.create_tenant("Acme").await;
        app.trust_new_tools(&acme).await;
        let server = app.create_server(&acme, "acme", json!({})).await;
        let id = install_remote(&app, &acme.key).await;
        let ready = wait_for(&app, &acme, &id, |u| u["status"] != "installing" && u["status"] != "starting").await;
        assert_eq!(ready["status"], "ready", "{ready}");
        let path = format!("/servers/{}/upstreams/{id}", server["id"].as_str().unwrap());
        let (status, _) = app.api(Method::PUT, &path, &acme.key, Some(json!({"prefix": "rm"}))).await;
        assert_eq!(status, StatusCode::OK);

        let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
        let listed = mcp.call(1, "tools/list", json!({})).await;
        assert!(listed.body.to_string().contains("rm__get_support"), "{}", listed.body);
        let arguments = json!({"title": "Through the gateway", "problem_description": "Asked on Acme's server.",
            "email": "ada@example.com"});
        let called = mcp.call_tool(2, "rm__get_support", arguments).await;
        assert_ne!(called.body["result"]["isError"], true, "{}", called.body);

        // The remote server filed it under its own organization.
        let (_, requests) = upstream_node.get("/support-requests", &remote.key).await;
        let items = requests["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{requests}");
        assert_eq!(items[0]["title"], "Through the gateway");
        let (_, theirs) = app.get("/support-requests", &acme.key).await;
        assert_eq!(theirs["items"], json!([]), "not Acme's");

        // The header's value never shows in the API.
        let (_, shown) = app.get(&format!("/upstreams/{id}"), &acme.key).await;
        assert_eq!(shown["spec"]["headers"]["X-Api-Key"], "(hidden)", "{shown}");
        assert!(!shown.to_string().contains("not-for-logs"), "{shown}");
    }

    async fn the_outbound_fence_keeps_http_upstreams_off_private_addresses(db: &TestDatabase) {
        let upstream_node = spawn_app(db).await;
        let remote = upstream_node.create_tenant("Remote").await;
        upstream_node.create_server(&remote, "remote", json!({})).await;
        let app = gateway_node(db, &upstream_node, false).await;
        let acme = app.create_tenant("Acme").await;
        let id = install_remote(&app, &acme.key).await;
        let failed: Value = wait_for(&app, &acme, &id, |u| u["status"] == "failed").await;
        let error = failed["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("127.0.0.1 is not on a public address"), "{failed}");
        assert_eq!(failed["restarts"], 0, "refused at once, not retried: {failed}");
        // And left alone: no launch loop rewrites its status.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let (_, later) = app.get(&format!("/upstreams/{id}"), &acme.key).await;
        assert_eq!(later["updated_at"], failed["updated_at"], "{later}");
    }
}

backend_tests! {
    async fn an_ipv6_literal_upstream_is_reached_only_where_private_addresses_are_allowed(db: &TestDatabase) {
        let upstream_node = spawn_app_with(db, |settings| settings.listen = "[::1]:0".parse().unwrap()).await;
        let remote = upstream_node.create_tenant("Remote").await;
        upstream_node.create_server(&remote, "remote", json!({})).await;
        let url = upstream_node.mcp_path_url("remote");
        assert!(url.starts_with("http://[::1]:"), "{url}");

        // Allowed: the literal is connected to as it is, and its tools are discovered.
        let app = gateway_node_at(db, &url, true).await;
        let acme = app.create_tenant("Acme").await;
        let id = install_remote(&app, &acme.key).await;
        let ready = wait_for(&app, &acme, &id, |u| u["status"] != "installing" && u["status"] != "starting").await;
        assert_eq!(ready["status"], "ready", "{ready}");
        let (_, tools) = app.get(&format!("/upstreams/{id}/tools"), &acme.key).await;
        assert!(tools.to_string().contains("get_support"), "{tools}");

        // Fenced: refused for its address (the unbracketed literal), at once.
        let fenced = gateway_node_at(db, &url.replacen("http://", "https://", 1), false).await;
        let other = fenced.create_tenant("Fenced").await;
        let id = install_remote(&fenced, &other.key).await;
        let failed = wait_for(&fenced, &other, &id, |u| u["status"] == "failed").await;
        let error = failed["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("::1 is not on a public address"), "{failed}");
        assert!(!error.contains("[::1]"), "{failed}");
        assert_eq!(failed["restarts"], 0, "refused at once, not retried: {failed}");
    }
}
