//! Bad input, one test each: every refusal is clear and of the right kind.

use std::time::Duration;

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    RawMcp, SESSION_ERA, STATELESS_ERA, TestApp, python_smoke, spawn_app, spawn_app_with,
};

async fn app_with_server(db: &TestDatabase) -> (TestApp, RawMcp) {
    let app = spawn_app(db).await;
    let tenant = app.create_tenant("Acme").await;
    app.create_server(
        &tenant,
        "acme",
        json!({"allowed_origins": ["https://app.acme.dev"]}),
    )
    .await;
    let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
    (app, mcp)
}

backend_tests! {
    async fn unknown_host_is_404(db: &TestDatabase) {
        let (app, _) = app_with_server(db).await;
        let known = RawMcp::new(format!("{}/mcp", app.url), STATELESS_ERA).with_host("acme.localhost");
        assert_eq!(known.call(1, "tools/list", json!({})).await.status, StatusCode::OK, "the vhost serves acme");

        for host in ["nope.localhost", "evil.example", "localhost"] {
            let unknown = RawMcp::new(format!("{}/mcp", app.url), STATELESS_ERA).with_host(host);
            let answer = unknown.call(1, "tools/list", json!({})).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{host}");
            assert!(!answer.body.to_string().contains("acme"), "the error names no tenant");
        }
        let answer = RawMcp::new(app.mcp_path_url("nope"), STATELESS_ERA).call(1, "tools/list", json!({})).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
    }

    async fn foreign_origin_is_403(db: &TestDatabase) {
        let (_app, mcp) = app_with_server(db).await;
        let list = |origin: &str| mcp.request(Method::POST).header("origin", origin)
            .header("mcp-protocol-version", SESSION_ERA)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": SESSION_ERA, "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}}));
        assert_eq!(mcp.send(list("https://evil.example")).await.status, StatusCode::FORBIDDEN);
        assert_eq!(mcp.send(list("https://app.acme.dev")).await.status, StatusCode::OK, "an allowed origin passes");
        let port = reqwest::Url::parse(&mcp.url).unwrap().port().unwrap();
        let own = format!("http://acme.localhost:{port}");
        assert_eq!(mcp.send(list(&own)).await.status, StatusCode::OK, "the server's own origin passes");
        // An origin is scheme, host and port: the same host on another port, or over
        // another scheme, is another site.
        let other_port = format!("http://acme.localhost:{}", if port == 8080 { 8081 } else { 8080 });
        assert_eq!(mcp.send(list(&other_port)).await.status, StatusCode::FORBIDDEN, "{other_port}");
        let other_scheme = format!("https://acme.localhost:{port}");
        assert_eq!(mcp.send(list(&other_scheme)).await.status, StatusCode::FORBIDDEN, "{other_scheme}");
        // The platform's own host (the path fallback `/s/acme`) is the server's too; another
        // tenant's host is another site: its pages must not drive this server.
        let platform = format!("http://localhost:{port}");
        assert_eq!(mcp.send(list(&platform)).await.status, StatusCode::OK, "{platform}");
        let tenant = format!("http://globex.localhost:{port}");
        assert_eq!(mcp.send(list(&tenant)).await.status, StatusCode::FORBIDDEN, "{tenant}");
    }

    async fn oversize_body_is_413(db: &TestDatabase) {
        let (_app, mcp) = app_with_server(db).await;
        let huge = "x".repeat(1024 * 1024 + 1);
        let answer = mcp.call_tool(1, "get_support", json!({"title": huge})).await;
        assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    async fn malformed_json_is_parse_error(db: &TestDatabase) {
        let (_app, mcp) = app_with_server(db).await;
        let answer = mcp.send(mcp.request(Method::POST).body("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert_eq!(answer.body["error"]["code"], -32700);
    }

    async fn unknown_tool_is_invalid_params(db: &TestDatabase) {
        let (_app, stateless) = app_with_server(db).await;
        let answer = stateless.call_tool(7, "no_such_tool", json!({})).await;
        assert_eq!(answer.body["error"]["code"], -32602, "{}", answer.body);
        assert_eq!(answer.body["id"], 7);

        let mut session = RawMcp::new(stateless.url.clone(), SESSION_ERA);
        session.initialize().await;
        let answer = session.call_tool(8, "no_such_tool", json!({})).await;
        assert_eq!(answer.body["error"]["code"], -32602, "{}", answer.body);
    }

    /// Arguments that are not an object are invalid params, said so, and the call is
    /// recorded against its tool like any refused call; a call without a name is not.
    async fn a_call_whose_arguments_are_not_an_object_is_refused_and_recorded(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server(&tenant, "acme", json!({})).await;
        let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
        let nameless = mcp.call(1, "tools/call", json!({"arguments": {}})).await;
        assert_eq!(nameless.body["error"]["code"], -32602, "{}", nameless.body);
        for (id, arguments) in [(2, json!(["a", "b"])), (3, json!("title=Help"))] {
            let params = json!({"name": "get_support", "arguments": arguments});
            let answer = mcp.call(id, "tools/call", params).await;
            assert_eq!(answer.body["error"]["code"], -32602, "{}", answer.body);
            let message = answer.body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains("params.arguments must be an object"), "{message}");
        }
        let recorded = app.wait_for_tool_calls(&tenant, 2).await;
        assert_eq!(recorded.len(), 2, "the two named calls, not the nameless one: {recorded:?}");
        for call in &recorded {
            assert_eq!(call["tool_name"], "get_support", "{call}");
            assert_eq!(call["is_error"], true, "{call}");
            assert_eq!(call["error_code"], -32602, "{call}");
            assert_eq!(call["result_summary"], "params.arguments must be an object", "{call}");
        }
    }

    /// PostgreSQL refuses NUL in TEXT, and with it a whole statement: a NUL in a tool's
    /// name, or in a client's name, is stored cleaned, and loses nothing else. Another
    /// organization's calls, written in the same batch, are all recorded.
    async fn a_nul_in_caller_text_is_stored_cleaned_and_loses_no_other_call(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let (acme, globex) = (app.create_tenant("Acme").await, app.create_tenant("Globex").await);
        app.create_server(&acme, "acme", json!({})).await;
        app.create_server(&globex, "globex", json!({})).await;
        let theirs = RawMcp::new(format!("{}?tracking_id=g1", app.mcp_path_url("globex")), STATELESS_ERA);
        let mut anonymous = RawMcp::new(app.mcp_path_url("acme"), SESSION_ERA);
        anonymous.initialize().await;
        // Globex calls before and after: the writer flushes every second, so at least one
        // of the two shares a batch with the NUL.
        assert_eq!(theirs.call_tool(1, "nothing", json!({})).await.status, StatusCode::OK);
        let answer = anonymous.call_tool(2, "x\u{0}", json!({})).await;
        assert_eq!(answer.body["error"]["code"], -32602, "{}", answer.body);
        assert_eq!(theirs.call_tool(3, "nothing", json!({})).await.status, StatusCode::OK);
        assert_eq!(app.wait_for_tool_calls(&globex, 2).await.len(), 2, "both of Globex's calls");
        let recorded = app.wait_for_tool_calls(&acme, 1).await;
        assert_eq!(recorded[0]["tool_name"], "x\u{FFFD}", "{recorded:?}");
        assert!(!recorded[0]["result_summary"].as_str().unwrap().contains('\0'), "{recorded:?}");
        assert_eq!(app.counter("guidepost_analytics_dropped_total").await, 0);

        let mut named = RawMcp::new(app.mcp_path_url("acme"), SESSION_ERA);
        let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": SESSION_ERA, "capabilities": {}, "clientInfo": {"name": "it\u{0}", "version": "1\u{0}"}}});
        let opened = named.send(named.request(Method::POST).json(&initialize)).await;
        assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
        let id = opened.headers["mcp-session-id"].to_str().unwrap().to_owned();
        named.session = Some(id.clone());
        assert_eq!(named.call(2, "tools/list", json!({})).await.status, StatusCode::OK, "the session was stored");
        let stored = app.store.find_session(&id).await.unwrap().expect("the session row");
        assert_eq!(stored.client_name.as_deref(), Some("it\u{FFFD}"));
        assert_eq!(stored.client_version.as_deref(), Some("1\u{FFFD}"));
    }

    /// A session stores its `initialize` params (to restore it on another node): params
    /// past the limit are refused in words before anything is stored, so a client cannot
    /// store a body's worth per session; a usual `initialize` opens its session.
    async fn an_oversized_initialize_is_refused_and_stores_nothing(db: &TestDatabase) {
        let (app, mcp) = app_with_server(db).await;
        let server = app.store.find_server_by_slug("acme").await.unwrap().unwrap();
        let initialize = |capabilities| json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": SESSION_ERA, "capabilities": capabilities, "clientInfo": {"name": "big", "version": "1"}}});
        let padded = initialize(json!({"experimental": {"padding": {"x": "x".repeat(900_000)}}}));
        let answer = mcp.send(mcp.request(Method::POST).json(&padded)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
        assert_eq!(answer.body["error"]["code"], -32602, "{}", answer.body);
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("16384 bytes"), "the message names the limit: {message}");
        assert!(answer.headers.get("mcp-session-id").is_none(), "no session was opened");
        let clients = app.store.clients_of_server(&server.org_id, &server.id).await.unwrap();
        assert!(clients.is_empty(), "no session row: {clients:?}");
        assert_eq!(app.counter("guidepost_mcp_sessions_created_total").await, 0);

        let usual = initialize(json!({"roots": {"listChanged": true}, "experimental": {"x": {"y": 1}}}));
        let answer = mcp.send(mcp.request(Method::POST).json(&usual)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(answer.headers.get("mcp-session-id").is_some());
        let clients = app.store.clients_of_server(&server.org_id, &server.id).await.unwrap();
        assert_eq!(clients.len(), 1, "{clients:?}");
        assert_eq!(app.counter("guidepost_mcp_sessions_created_total").await, 1);
    }

    async fn unknown_method_is_method_not_found(db: &TestDatabase) {
        let (_app, stateless) = app_with_server(db).await;
        let mut session = RawMcp::new(stateless.url.clone(), SESSION_ERA);
        session.initialize().await;
        let answer = session.call(2, "no/such/method", json!({})).await;
        assert_eq!(answer.body["error"]["code"], -32601, "{}", answer.body);
    }

    async fn unknown_session_is_404(db: &TestDatabase) {
        let (_app, stateless) = app_with_server(db).await;
        let mut session = RawMcp::new(stateless.url.clone(), SESSION_ERA);
        session.session = Some("0f0e0d0c-not-a-real-session".into());
        let answer = session.call(2, "tools/list", json!({})).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
    }

    async fn expired_session_is_404(db: &TestDatabase) {
        let app = spawn_app_with(db, |s| s.platform.session_idle_timeout = Duration::from_secs(1)).await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server(&tenant, "acme", json!({})).await;
        let mut session = RawMcp::new(app.mcp_path_url("acme"), SESSION_ERA);
        session.initialize().await;
        assert_eq!(session.call(2, "tools/list", json!({})).await.status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(2200)).await;
        let answer = session.call(3, "tools/list", json!({})).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
    }

    async fn support_without_email_asks_for_one(db: &TestDatabase) {
        let (app, _) = app_with_server(db).await;
        let url = format!("{}?tracking_id=no-email", app.mcp_path_url("acme"));
        let report = python_smoke(&["--url", &url, "--mode", "legacy", "--call-support", "--allow-tool-error"]).await;
        assert_eq!(report["is_error"], true, "{report}");
        let text = report["support_text"].as_str().unwrap_or_default();
        assert!(text.contains("email"), "the error asks for an email: {text}");
        let (_, listed) = app.get("/support-requests", &app_key(&app).await).await;
        assert_eq!(listed["items"].as_array().map(Vec::len), Some(0), "nothing was opened");
    }

    /// An email is enough on its own; without one, the error asks for it.
    async fn anonymous_stateless_support_needs_only_an_email(db: &TestDatabase) {
        let (app, mcp) = app_with_server(db).await;
        let refused = mcp.call_tool(1, "get_support", json!({"title": "t", "problem_description": "d"})).await;
        assert!(refused.tool_error_text().contains("email"), "{}", refused.body);
        let answer = mcp.call_tool(2, "get_support", json!({"title": "t", "problem_description": "d", "email": "a@b.co"})).await;
        assert_eq!(answer.body["result"]["isError"], false, "{}", answer.body);
        let (_, listed) = app.get("/support-requests", &app_key(&app).await).await;
        assert_eq!(listed["items"][0]["email"], "a@b.co", "{listed}");
        assert_eq!(listed["items"][0]["end_user_id"], serde_json::Value::Null, "nobody was identified");
    }

    async fn invalid_tool_arguments_are_a_tool_error(db: &TestDatabase) {
        let (app, _) = app_with_server(db).await;
        let mcp = RawMcp::new(format!("{}?tracking_id=t1", app.mcp_path_url("acme")), STATELESS_ERA);
        let answer = mcp.call_tool(1, "get_support", json!({"title": 5, "problem_description": "d"})).await;
        assert_eq!(answer.body["result"]["isError"], true, "{}", answer.body);
        let answer = mcp.call_tool(2, "get_support", json!({"title": "t", "problem_description": "d", "email": "not-an-email"})).await;
        assert_eq!(answer.body["result"]["isError"], true, "{}", answer.body);
        assert!(answer.body["result"]["content"][0]["text"].as_str().unwrap().contains("email"));
    }

    async fn fixture_servers_are_served_only_with_fixtures_enabled(db: &TestDatabase) {
        let with_fixtures = spawn_app_with(db, |s| s.platform.enable_fixtures = true).await;
        let tenant = with_fixtures.create_tenant("Conf").await;
        with_fixtures.create_server(&tenant, "fixture", json!({"kind": "conformance_fixture"})).await;
        let served = RawMcp::new(with_fixtures.mcp_path_url("fixture"), STATELESS_ERA).call(1, "tools/list", json!({})).await;
        assert_eq!(served.status, StatusCode::OK);
        assert!(served.body["result"]["tools"].as_array().unwrap().len() > 5, "the fixture surface");
        with_fixtures.app.shutdown().await.unwrap();

        let without = spawn_app(db).await;
        let hidden = RawMcp::new(without.mcp_path_url("fixture"), STATELESS_ERA).call(2, "tools/list", json!({})).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.body);
    }

    /// PostgreSQL refuses a NUL in a text parameter: a filter, a name or a version that
    /// carried one to the store answered 500 there (and counted as a store failure).
    async fn a_nul_in_a_url_or_a_version_is_refused_before_the_store_sees_it(db: &TestDatabase) {
        let (app, _) = app_with_server(db).await;
        let key = app_key(&app).await;
        let http = reqwest::Client::new();
        // A query parameter with one is invalid (422, as the API says of a bad filter); a
        // path with one names nothing (404, as an id that cannot be one).
        for (method, path, status) in [
            (Method::GET, "/v0.1/servers?search=%00", StatusCode::UNPROCESSABLE_ENTITY),
            (Method::GET, "/api/v1/tool-calls?tool_name=x%00", StatusCode::UNPROCESSABLE_ENTITY),
            (Method::GET, "/api/v1/audit-events?actor=%00", StatusCode::UNPROCESSABLE_ENTITY),
            (Method::GET, "/app/end-users?email=%00", StatusCode::UNPROCESSABLE_ENTITY),
            (Method::POST, "/api/v1/upstreams/us_00000000000000000000/tools/a%00b/approve", StatusCode::NOT_FOUND),
        ] {
            let answer = http.request(method, format!("{}{path}", app.url)).bearer_auth(&key).send().await.unwrap();
            assert_eq!(answer.status(), status, "{path}");
            let kind = answer.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_owned();
            assert_eq!(kind, "application/problem+json", "{path}");
            let said = answer.text().await.unwrap();
            assert!(status == StatusCode::NOT_FOUND || said.contains("NUL"), "{path}: {said}");
        }
        let install = json!({"catalog_entry_id": "example/nothing", "version": "1.0\u{0}"});
        let (status, problem) = app.api(Method::POST, "/upstreams", &key, Some(install)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem.to_string().contains("control characters"), "{problem}");
        // A package version with a character of two bytes where its digits end was cut
        // inside that character: the request's task panicked and its connection dropped.
        let entry = json!({"id": "accented", "name": "Accented", "description": "d",
            "spec": {"runtime": "pypi", "package": "foo", "version": "1.0é"}});
        let (status, problem) = app.api(Method::POST, "/catalog", &key, Some(entry)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem.to_string().contains("exact version"), "{problem}");
    }

    async fn rate_limit_answers_429_with_retry_after(db: &TestDatabase) {
        let app = spawn_app_with(db, |s| {
            s.mcp.rate_limits.per_user_per_minute = 2;
            s.mcp.rate_limits.per_user_burst = 2;
        }).await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server(&tenant, "acme", json!({})).await;
        let mcp = RawMcp::new(format!("{}?tracking_id=busy", app.mcp_path_url("acme")), STATELESS_ERA);
        for id in 1..=2 {
            assert_eq!(mcp.call_tool(id, "nothing", json!({})).await.status, StatusCode::OK);
        }
        let answer = mcp.call_tool(3, "nothing", json!({})).await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(answer.headers.get("retry-after").is_some());
        assert!(answer.body["error"]["code"].is_i64());
        let calls = app.wait_for_tool_calls(&tenant, 3).await;
        assert!(calls.iter().any(|c| c["error_code"] == -32029), "the refused call is recorded");
        let other = RawMcp::new(format!("{}?tracking_id=calm", app.mcp_path_url("acme")), STATELESS_ERA);
        assert_eq!(other.call_tool(4, "nothing", json!({})).await.status, StatusCode::OK, "another user is not limited");
    }

    async fn a_signed_in_persons_refused_and_unknown_calls_are_recorded_as_theirs(db: &TestDatabase) {
        let oauth = crate::oauth_helpers::oauth_app(db, &["acme"], |s| {
            s.mcp.rate_limits.per_user_per_minute = 1;
            s.mcp.rate_limits.per_user_burst = 1;
        }).await;
        let ada = oauth.sign_in("acme", "ada@example.com").await;
        let mcp = oauth.mcp("acme", Some(&ada.access), None);
        assert_eq!(mcp.call_tool(1, "nothing", json!({})).await.status, StatusCode::OK);
        let refused = mcp.call_tool(2, "nothing", json!({})).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.body);
        let calls = oauth.app.wait_for_tool_calls(&oauth.tenant, 2).await;
        let refused = calls.iter().find(|c| c["error_code"] == -32029).unwrap_or_else(|| panic!("{calls:?}"));
        let answered = calls.iter().find(|c| c["error_code"] != -32029).unwrap_or_else(|| panic!("{calls:?}"));
        assert!(refused["end_user_id"].as_str().is_some_and(|id| id.starts_with("msu_")), "{refused}");
        assert_eq!(refused["end_user_id"], answered["end_user_id"], "the same person's (an unknown tool): {calls:?}");
    }
}

/// A fresh API key of the organization that owns `acme`.
async fn app_key(app: &TestApp) -> String {
    let store = &app.store;
    let server = store.find_server_by_slug("acme").await.unwrap().unwrap();
    let secret = guidepost_domain::ApiKeySecret::generate();
    store
        .create_api_key(
            &server.org_id,
            guidepost_store::KeyMaker::Platform,
            "k",
            &guidepost_domain::ApiKeyScopes::all(),
            &secret,
        )
        .await
        .unwrap();
    secret.plaintext
}
