//! Organization A never sees or touches organization B's objects, through the API or
//! through A's MCP server.

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{RawMcp, SESSION_ERA, STATELESS_ERA, spawn_app};

backend_tests! {
    async fn api_keys_reach_only_their_own_organization(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let a = app.create_tenant("A").await;
        let b = app.create_tenant("B").await;
        app.create_server(&a, "server-a", json!({})).await;
        let b_server = app.create_server(&b, "server-b", json!({})).await;
        let b_server_id = b_server["id"].as_str().unwrap();

        // B gets a support request and an end user through its own server.
        let b_mcp = RawMcp::new(format!("{}?tracking_id=bob", app.mcp_path_url("server-b")), STATELESS_ERA);
        let opened = b_mcp.call_tool(1, "get_support", json!({"title": "t", "problem_description": "d", "email": "bob@b.example"})).await;
        let request_id = opened.body["result"]["structuredContent"]["support_request_id"].as_str().expect("B's request").to_owned();
        let (_, users) = app.get("/end-users", &b.key).await;
        let b_user_id = users["items"][0]["id"].as_str().unwrap().to_owned();

        let server_path = format!("/servers/{b_server_id}");
        let attempts = [
            (Method::GET, server_path.clone(), None),
            (Method::PATCH, server_path.clone(), Some(json!({"name": "hijacked"}))),
            (Method::DELETE, server_path.clone(), None),
            (Method::GET, format!("{server_path}/install"), None),
            (Method::GET, format!("/support-requests/{request_id}"), None),
            (Method::PATCH, format!("/support-requests/{request_id}"), Some(json!({"status": "closed"}))),
            (Method::GET, format!("/end-users/{b_user_id}"), None),
        ];
        for (method, path, body) in attempts {
            let (status, problem) = app.api(method.clone(), &path, &a.key, body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path} with A's key: {problem}");
        }
        for list in ["/servers", "/support-requests", "/end-users", "/tool-calls"] {
            let (status, page) = app.get(list, &a.key).await;
            assert_eq!(status, StatusCode::OK);
            let text = page.to_string();
            assert!(!text.contains(b_server_id) && !text.contains("bob@b.example"), "{list} shows nothing of B: {text}");
        }
        let (_, still) = app.get(&server_path, &b.key).await;
        assert_eq!(still["name"], "Server server-b", "B's server is untouched");
        let (_, request) = app.get(&format!("/support-requests/{request_id}"), &b.key).await;
        assert_eq!(request["status"], "open");
    }

    async fn a_servers_host_never_shows_b_data(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let a = app.create_tenant("A").await;
        let b = app.create_tenant("B").await;
        let a_server = app.create_server(&a, "server-a", json!({"support_tool_enabled": false})).await;
        app.create_server(&b, "server-b", json!({})).await;

        // A's host offers A's configuration, not B's.
        let a_mcp = RawMcp::new(app.mcp_path_url("server-a"), STATELESS_ERA);
        let tools = a_mcp.call(1, "tools/list", json!({})).await;
        assert_eq!(tools.body["result"]["tools"], json!([]), "{}", tools.body);
        let call = a_mcp.call_tool(2, "get_support", json!({"title": "t", "problem_description": "d"})).await;
        assert_eq!(call.body["error"]["code"], -32602, "B's tool is not callable on A");

        // A session opened on B is unknown on A's host.
        let mut b_session = RawMcp::new(app.mcp_path_url("server-b"), SESSION_ERA);
        b_session.initialize().await;
        let mut hijack = RawMcp::new(app.mcp_path_url("server-a"), SESSION_ERA);
        hijack.session = b_session.session.clone();
        assert_eq!(hijack.call(3, "tools/list", json!({})).await.status, StatusCode::NOT_FOUND);

        // The same tracking id on A and B names two different end users: each organization
        // has exactly one, its own, and A's has no email although B's has.
        let a_server_id = a_server["id"].as_str().unwrap();
        let w = app.seed_walkthrough(&a, "Intro", 1, Some((a_server_id, 0))).await;
        let on_a = RawMcp::new(format!("{}?tracking_id=same", app.mcp_path_url("server-a")), STATELESS_ERA);
        on_a.call_tool(4, "select_walkthrough", json!({"walkthrough_id": w.id})).await.structured();
        let on_b = RawMcp::new(format!("{}?tracking_id=same", app.mcp_path_url("server-b")), STATELESS_ERA);
        on_b.call_tool(5, "get_support", json!({"title": "t", "problem_description": "d", "email": "same@b.example"})).await.structured();
        let (_, a_users) = app.get("/end-users?tracking_id=same", &a.key).await;
        let (_, b_users) = app.get("/end-users?tracking_id=same", &b.key).await;
        let (a_users, b_users) = (a_users["items"].as_array().unwrap(), b_users["items"].as_array().unwrap());
        assert_eq!((a_users.len(), b_users.len()), (1, 1), "one end user each: {a_users:?} {b_users:?}");
        assert!(a_users[0]["id"].is_string(), "{a_users:?}");
        assert_ne!(a_users[0]["id"], b_users[0]["id"]);
        assert_eq!(b_users[0]["email"], "same@b.example", "{b_users:?}");
        assert_eq!(a_users[0]["email"], serde_json::Value::Null, "B's email does not leak to A");
    }
}
