//! Fixes from the security review, one test each, on both backends where a
//! store is involved.

use std::time::Duration;

use guidepost_testkit::{TestBackend, TestDatabase, backend_tests, eventually};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{RawMcp, SESSION_ERA, STATELESS_ERA, spawn_app, spawn_app_with};
use crate::oauth_helpers::{OAuthApp, Pkce, oauth_app};

/// The organization switches the server's auth mode.
async fn set_auth_mode(oauth: &OAuthApp, server: &str, mode: &str) {
    let path = format!("/servers/{server}");
    let body = Some(json!({"auth_mode": mode}));
    let (status, answer) = oauth
        .app
        .api(reqwest::Method::PATCH, &path, &oauth.tenant.key, body)
        .await;
    assert_eq!(status, 200, "{answer}");
}

/// Servers `alpha` and `beta` of two organizations, and a session opened on `alpha`
/// with its id.
async fn alpha_session_beside_beta(db: &TestDatabase) -> (crate::helpers::TestApp, RawMcp, String) {
    let app = spawn_app(db).await;
    let alpha = app.create_tenant("Alpha").await;
    let beta = app.create_tenant("Beta").await;
    app.create_server(&alpha, "alpha", json!({})).await;
    app.create_server(&beta, "beta", json!({})).await;
    let mut session = RawMcp::new(app.mcp_path_url("alpha"), SESSION_ERA);
    session.initialize().await;
    let session_id = session.session.clone().expect("a session");
    (app, session, session_id)
}

backend_tests! {
    /// A message that names a session is checked against the server it is sent to,
    /// whatever its era: another server's session id is "not found", not served.
    async fn a_session_id_is_honoured_only_on_its_own_server(db: &TestDatabase) {
        let (app, _session, session_id) = alpha_session_beside_beta(db).await;

        let mut elsewhere = RawMcp::new(app.mcp_path_url("beta"), STATELESS_ERA);
        elsewhere.session = Some(session_id.clone());
        let answer = elsewhere.call(2, "tools/list", json!({})).await;
        assert_eq!(answer.status, 404, "{}", answer.body);

        let mut at_home = RawMcp::new(app.mcp_path_url("alpha"), STATELESS_ERA);
        at_home.session = Some(session_id);
        let answer = at_home.call(3, "tools/list", json!({})).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }

    /// An `initialize` that names a session is checked like any other message (rmcp
    /// would route it into that session): sent to another server, it is "not found", and
    /// the session it named goes on as it was opened.
    async fn an_initialize_naming_another_servers_session_is_refused(db: &TestDatabase) {
        let (app, session, session_id) = alpha_session_beside_beta(db).await;

        let initialize = json!({"jsonrpc": "2.0", "id": 5, "method": "initialize", "params": {
            "protocolVersion": SESSION_ERA, "capabilities": {}, "clientInfo": {"name": "intruder", "version": "6.6"}}});
        for (slug, why) in [("beta", "another server's session"), ("alpha", "an unknown session")] {
            let mut elsewhere = RawMcp::new(app.mcp_path_url(slug), SESSION_ERA);
            elsewhere.session = Some(if slug == "beta" { session_id.clone() } else { "no-such-session".into() });
            let answer = elsewhere.send(elsewhere.request(reqwest::Method::POST).json(&initialize)).await;
            assert_eq!(answer.status, 404, "{why}: {}", answer.body);
            assert!(answer.headers.get("mcp-session-id").is_none(), "{why}: no session was opened");
        }

        let answer = session.call(3, "tools/list", json!({})).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let stored = app.store.find_session(&session_id).await.unwrap().expect("alpha's session");
        assert_eq!(stored.client_name.as_deref(), Some("it"));
        assert_eq!(stored.client_version.as_deref(), Some("1.0"));
    }

    /// `/metrics` answers on the platform's own host only, and with
    /// `--metrics-token` only to that bearer token. Latencies are histograms.
    async fn metrics_are_served_only_on_the_platform_host(db: &TestDatabase) {
        let app = spawn_app_with(db, |s| s.metrics_token = Some("scrape-secret".into())).await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server_at_domain(&tenant, "acme", "mcp.acme.example", json!({})).await;
        RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA).call(1, "tools/list", json!({})).await;
        let metrics = |host: &'static str, token: Option<&'static str>| {
            let mut request = app.http.get(format!("{}/metrics", app.url)).header("host", host);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send()
        };
        for host in ["acme.localhost", "mcp.acme.example"] {
            let response = metrics(host, Some("scrape-secret")).await.unwrap();
            assert_eq!(response.status(), 404, "{host}");
        }
        assert_eq!(metrics("localhost", None).await.unwrap().status(), 401);
        assert_eq!(metrics("localhost", Some("wrong")).await.unwrap().status(), 401);
        let answered = metrics("localhost", Some("scrape-secret")).await.unwrap();
        assert_eq!(answered.status(), 200);
        let text = answered.text().await.unwrap();
        assert!(text.contains("guidepost_mcp_request_duration_seconds_bucket{"), "{text}");
        let by_address = metrics("127.0.0.1", Some("scrape-secret")).await.unwrap();
        assert_eq!(by_address.status(), 200);
    }

    /// A tracking id carries progress, never a verified identity. A person signs in
    /// through a URL carrying someone else's tracking id; whoever holds that id later
    /// cannot file support under the person's verified email, nor see it.
    async fn a_tracking_id_never_acts_with_a_verified_email(db: &TestDatabase) {
        let oauth = oauth_app(db, &[], |_| {}).await;
        let server = oauth.app.create_server(&oauth.tenant, "acme", json!({})).await;
        let server = server["id"].as_str().unwrap();
        let support = json!({"title": "Help", "problem_description": "d"});
        // The holder of the id uses it first, anonymously.
        oauth.mcp("acme", None, Some("trap")).call(1, "tools/list", json!({})).await;
        // The person signs in through a URL that carries it: the two are linked.
        set_auth_mode(&oauth, server, "platform_oauth").await;
        let tokens = oauth.sign_in("acme", "victim@example.com").await;
        let signed_in = oauth.mcp("acme", Some(&tokens.access), Some("trap"));
        assert_eq!(signed_in.call(2, "tools/list", json!({})).await.status, 200);
        set_auth_mode(&oauth, server, "none").await;

        let holder = oauth.mcp("acme", None, Some("trap"));
        let refused = holder.call_tool(3, "get_support", support.clone()).await;
        assert!(refused.tool_error_text().contains("email address is needed"), "{}", refused.body);
        let mut with_email = support.clone();
        with_email["email"] = json!("holder@example.net");
        let filed = holder.call_tool(4, "get_support", with_email).await;
        assert_eq!(filed.body["result"]["isError"], false, "{}", filed.body);
        let (_, requests) = oauth.app.get("/support-requests", &oauth.tenant.key).await;
        let emails: Vec<&str> = requests["items"].as_array().unwrap().iter().map(|r| r["email"].as_str().unwrap()).collect();
        assert_eq!(emails, ["holder@example.net"], "never the person's verified address");
        let (_, people) = oauth.app.get("/end-users?email=victim@example.com", &oauth.tenant.key).await;
        assert_eq!(people["items"][0]["email_verified"], true, "the person's verified email stays");
    }

    /// A tracking id is shared by whoever holds the personal URL: an email one holder gave
    /// is not where another holder's support request is filed (its replies are mailed
    /// there); each request by tracking id alone gives its own.
    async fn a_tracking_id_files_support_only_under_the_email_it_gives(db: &TestDatabase) {
        let oauth = oauth_app(db, &[], |_| {}).await;
        oauth.app.create_server(&oauth.tenant, "acme", json!({"auth_mode": "collect_email"})).await;
        let support = json!({"title": "Help", "problem_description": "d"});
        let first = oauth.mcp("acme", None, Some("shared-url"));
        let mut with_email = support.clone();
        with_email["email"] = json!("first@example.net");
        let filed = first.call_tool(1, "get_support", with_email).await;
        assert_eq!(filed.body["result"]["isError"], false, "{}", filed.body);

        let later = oauth.mcp("acme", None, Some("shared-url"));
        let refused = later.call_tool(2, "get_support", support.clone()).await;
        assert!(refused.tool_error_text().contains("email address is needed"), "{}", refused.body);
        let mut own = support.clone();
        own["email"] = json!("later@example.org");
        let filed = later.call_tool(3, "get_support", own).await;
        assert_eq!(filed.body["result"]["isError"], false, "{}", filed.body);
        let (_, requests) = oauth.app.get("/support-requests", &oauth.tenant.key).await;
        let mut emails: Vec<&str> = requests["items"].as_array().unwrap().iter()
            .map(|r| r["email"].as_str().unwrap()).collect();
        emails.sort_unstable();
        assert_eq!(emails, ["first@example.net", "later@example.org"]);
    }

    /// Which server and who is asking are settled before the body is parsed: a
    /// malformed body of most of a megabyte to an unknown server is 404, to a sign-in
    /// server without a token 401, never a parse error; and the connection stays usable
    /// (the refused body is read and dropped, not parsed).
    async fn bodies_are_parsed_only_after_routing_and_sign_in(db: &TestDatabase) {
        let oauth = oauth_app(db, &["locked"], |_| {}).await;
        let junk = format!("[{}", "1,".repeat(400_000));
        let post = |path: String| {
            oauth.app.http.post(format!("{}{path}", oauth.app.url))
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(junk.clone())
                .send()
        };
        assert_eq!(post("/s/nobody/mcp".into()).await.unwrap().status(), 404);
        assert_eq!(post("/s/locked/mcp".into()).await.unwrap().status(), 401);
    }
}

/// What a slow client gets back on a raw connection: everything the server sent until it
/// closed, waiting at most 15 s (the server's limits in these tests are 1 s).
async fn slow_client(app: &crate::helpers::TestApp, first_bytes: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(app.app.addr).await.unwrap();
    tcp.write_all(first_bytes.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), tcp.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept a stalled connection open");
    String::from_utf8_lossy(&answer).into_owned()
}

/// A client that stops in the middle of its headers, or of its body, is cut off.
#[tokio::test]
async fn stalled_headers_and_bodies_are_cut_off() {
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    let app = spawn_app_with(&db, |s| {
        s.header_read_timeout = Duration::from_secs(1);
        s.body_read_timeout = Duration::from_secs(1);
    })
    .await;
    let tenant = app.create_tenant("Acme").await;
    app.create_server(&tenant, "acme", json!({})).await;
    slow_client(&app, "POST /s/acme/mcp HTTP/1.1\r\nHost: localhost\r\n").await;
    let stalled_body = "POST /s/acme/mcp HTTP/1.1\r\nHost: localhost\r\n\
        Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
        Content-Length: 100\r\n\r\n{\"jsonrpc\"";
    let answer = slow_client(&app, stalled_body).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// Few large bodies are read at once (four per node): four clients that announce a large
/// body and stall hold every turn, so a fifth large one waits its turn and is told to
/// retry (503), while a small request answers at once; once they are gone, a large one
/// answers again.
#[tokio::test]
async fn only_a_few_large_bodies_are_read_at_once() {
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    let app = spawn_app_with(&db, |s| {
        s.body_read_timeout = Duration::from_secs(300);
        s.mcp.rate_limits.per_ip_per_minute = 0;
    })
    .await;
    let tenant = app.create_tenant("Acme").await;
    app.create_server(&tenant, "acme", json!({})).await;
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut tcp = tokio::net::TcpStream::connect(app.app.addr).await.unwrap();
        let head = "POST /s/acme/mcp HTTP/1.1\r\nHost: localhost\r\n\
            Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
            Content-Length: 100000\r\n\r\n{\"jsonrpc\"";
        tcp.write_all(head.as_bytes()).await.unwrap();
        stalled.push(tcp);
    }
    let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
    let large = json!({"padding": "x".repeat(100_000)});
    // The stalled four take their turns as the server reads their headers: a large call
    // that slipped in before them answers, the next waits and is refused.
    let refused = eventually(
        "a large body refused while four are in flight",
        async || mcp.call(1, "tools/list", large.clone()).await.status == 503,
    )
    .await;
    eprintln!(
        "[hardening] the fifth large body was refused after {} ms",
        refused.as_millis()
    );
    let small = mcp.call(2, "tools/list", json!({})).await;
    assert_eq!(
        small.status, 200,
        "a small request does not wait: {}",
        small.body
    );
    drop(stalled);
    eventually(
        "a large body read again once the four are gone",
        async || mcp.call(3, "tools/list", large.clone()).await.status == 200,
    )
    .await;
}

/// The `ms_…` server record of a slug, read below the API.
async fn server_record(app: &crate::helpers::TestApp, slug: &str) -> guidepost_domain::McpServer {
    app.store
        .find_server_by_slug(slug)
        .await
        .unwrap()
        .expect("the server exists")
}

/// A recorded call `days_ago` in the past, by `end_user`.
fn old_call(
    server: &guidepost_domain::McpServer,
    end_user: Option<&guidepost_domain::EndUser>,
    days_ago: i64,
) -> guidepost_domain::ToolCall {
    use guidepost_domain::{Timestamp, ToolCall, ToolCallId};
    ToolCall {
        id: ToolCallId::generate(),
        org_id: server.org_id.clone(),
        server_id: server.id.clone(),
        session_id: None,
        end_user_id: end_user.map(|u| u.id.clone()),
        tool_name: "get_support".into(),
        arguments: "{}".into(),
        result_summary: "ok".into(),
        is_error: false,
        error_code: None,
        duration_us: 10,
        created_at: Timestamp::now().plus_seconds(-days_ago * 86_400),
        upstream_id: None,
        is_test: false,
        refusal: None,
    }
}

backend_tests! {
    /// What unauthenticated callers create does not pile up: tool calls past the
    /// retention are pruned, anonymous end users that nothing refers to and that were not
    /// seen within it are removed, and client registrations that were never used go.
    async fn storage_does_not_grow_without_bound(db: &TestDatabase) {
        use guidepost_domain::{NewOAuthClient, Timestamp, TokenEndpointAuthMethod};
        let app = spawn_app_with(db, |s| s.platform.retention = Duration::from_secs(86_400)).await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server(&tenant, "acme", json!({})).await;
        let server = server_record(&app, "acme").await;
        let org = &server.org_id;
        let two_days_ago = Timestamp::now().plus_seconds(-2 * 86_400);
        let forgotten = app.store.create_anonymous_end_user(org, two_days_ago).await.unwrap();
        let still_cited = app.store.create_anonymous_end_user(org, two_days_ago).await.unwrap();
        let recent = app.store.create_anonymous_end_user(org, Timestamp::now()).await.unwrap();
        let calls = [old_call(&server, None, 2), old_call(&server, None, 3), old_call(&server, Some(&still_cited), 0)];
        app.store.insert_tool_calls(&calls).await.unwrap();

        let swept = guidepost_core::privacy::retention::sweep(&app.app.platform).await;
        assert_eq!((swept.tool_calls, swept.forgotten_end_users), (2, 1), "{swept:?}");
        let page = guidepost_domain::PageRequest::default();
        let left = app.store.list_tool_calls(org, &Default::default(), &page).await.unwrap();
        assert_eq!(left.items.len(), 1);
        assert!(app.store.get_end_user(org, &forgotten.id).await.is_err(), "removed");
        assert!(app.store.get_end_user(org, &still_cited.id).await.is_ok(), "a call names it");
        assert!(app.store.get_end_user(org, &recent.id).await.is_ok(), "seen recently");

        let client = NewOAuthClient {
            org_id: org.clone(),
            server_id: server.id.clone(),
            client_name: Some("never used".into()),
            client_uri: None,
            redirect_uris: vec!["http://127.0.0.1:9/callback".into()],
            grant_types: vec!["authorization_code".into()],
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            scope: None,
            secret_hash: None,
        };
        app.store.create_oauth_client(&client).await.unwrap();
        assert_eq!(app.store.delete_unused_clients(Timestamp::now().plus_seconds(-60)).await.unwrap(), 0, "too young");
        assert_eq!(app.store.delete_unused_clients(Timestamp::now().plus_seconds(1)).await.unwrap(), 1);
    }
}

backend_tests! {
    /// A code is checked before it is spent. Someone who holds a code but not its
    /// PKCE verifier (or is another client) is refused, and the code still works for its
    /// own client afterwards; nothing it granted is revoked.
    async fn a_code_presented_by_the_wrong_party_stays_usable(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let client = oauth.register("acme", json!({})).await;
        let intruder = oauth.register("acme", json!({})).await;
        let pkce = Pkce::new();
        let url = oauth.authorize_url("acme", &client, &pkce, &[]);
        let callback = oauth.person("ada@example.com").approve(&oauth, &url).await;
        let wrong = Pkce::new();
        let (status, body) = oauth.exchange("acme", &client, &callback.code, &wrong.verifier).await;
        assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        let (status, body) = oauth.exchange("acme", &intruder, &callback.code, &pkce.verifier).await;
        assert_eq!(status.as_u16(), 400, "{body}");
        let (status, tokens) = oauth.exchange("acme", &client, &callback.code, &pkce.verifier).await;
        assert_eq!(status.as_u16(), 200, "the code was not burnt: {tokens}");
        let access = tokens["access_token"].as_str().unwrap();
        let listed = oauth.mcp("acme", Some(access), None).call(1, "tools/list", json!({})).await;
        assert_eq!(listed.status, 200);
    }
}
