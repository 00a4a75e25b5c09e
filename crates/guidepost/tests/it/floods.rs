//! Hostile repetition: what a client can send over and over must not multiply work or
//! state on the server.

use guidepost_testkit::{TestDatabase, backend_tests, eventually, within_hang_guard};
use serde_json::json;

use crate::helpers::{RawMcp, SESSION_ERA, STATELESS_ERA, spawn_app_with};
use crate::walkthrough_runtime::{expect_chunk, open_get_stream, unlimited_app};

backend_tests! {
    /// 200 `notifications/initialized` in one session, then one tool-list change: the
    /// session's GET stream hears it once. Once it was heard the session is closed, which
    /// ends the stream, so every notification sent is counted without a time window.
    async fn repeated_initialized_notifications_start_one_forwarder(db: &TestDatabase) {
        let (app, tenant, server) = unlimited_app(db).await;
        let (mcp, mut chunks) = open_get_stream(&app).await;
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        for _ in 0..200 {
            let answer = mcp.send(mcp.request(reqwest::Method::POST).json(&initialized)).await;
            assert_eq!(answer.status, 202);
        }
        app.seed_walkthrough(&tenant, "First", 1, Some((&server, 0))).await;
        let first = expect_chunk(&mut chunks, "notifications/tools/list_changed").await;
        let closed = mcp.send(mcp.request(reqwest::Method::DELETE)).await;
        assert!(closed.status.is_success(), "the session closes: {}", closed.status);
        let rest = within_hang_guard("the stream's end", async {
            let mut rest = String::new();
            while let Some(chunk) = chunks.recv().await {
                rest.push_str(&chunk);
            }
            rest
        })
        .await
        .0;
        let heard = (first + &rest).matches("notifications/tools/list_changed").count();
        assert_eq!(heard, 1, "one change, one notification");
    }
}

backend_tests! {
    /// Every MCP request spends from the client address's budget, not only tool
    /// calls; past it, 429 with Retry-After and a JSON-RPC error.
    async fn every_request_counts_against_the_address_limit(db: &TestDatabase) {
        let app = spawn_app_with(db, |s| s.mcp.rate_limits.per_ip_per_minute = 5).await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server(&tenant, "acme", json!({})).await;
        let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
        let mut session = RawMcp::new(app.mcp_path_url("acme"), SESSION_ERA);
        session.initialize().await; // initialize and initialized: two
        for id in 0..3 {
            assert_eq!(mcp.call(id, "tools/list", json!({})).await.status, 200);
        }
        let refused = mcp.call(9, "tools/list", json!({})).await;
        assert_eq!(refused.status, 429, "{}", refused.body);
        assert!(refused.headers.contains_key("retry-after"));
        assert_eq!(refused.body["error"]["code"], -32029);
    }

    /// Requests refused before any server answers (an unknown server, a stale session
    /// id, a body that is not JSON) spend from the address's budget too, so a flood of
    /// them costs no store lookups past it; the refusal is the limit's, 429.
    async fn requests_refused_before_a_server_answers_count_against_the_address_limit(db: &TestDatabase) {
        let app = spawn_app_with(db, |s| s.mcp.rate_limits.per_ip_per_minute = 3).await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server(&tenant, "acme", json!({})).await;
        let nowhere = RawMcp::new(app.mcp_path_url("nowhere"), STATELESS_ERA);
        assert_eq!(nowhere.call(1, "tools/list", json!({})).await.status, 404);
        let mut stale = RawMcp::new(app.mcp_path_url("acme"), SESSION_ERA);
        stale.session = Some("no-such-session".to_owned());
        assert_eq!(stale.call(2, "tools/list", json!({})).await.status, 404);
        let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
        let garbled = mcp.send(mcp.request(reqwest::Method::POST).body("{not json")).await;
        assert_eq!(garbled.status, 400, "{}", garbled.body);
        let refused = mcp.call(3, "tools/list", json!({})).await;
        assert_eq!(refused.status, 429, "{}", refused.body);
        assert_eq!(refused.body["error"]["code"], -32029);
        let refused = nowhere.call(4, "tools/list", json!({})).await;
        assert_eq!(refused.status, 429, "an unknown server is refused by the limit first: {}", refused.body);
    }

    /// `/metrics` shows the sessions this node holds live: opened, closed by the
    /// client, and expired once idle past the timeout (though still in memory).
    async fn metrics_count_the_live_sessions(db: &TestDatabase) {
        let app = spawn_app_with(db, |s| {
            s.mcp.rate_limits.per_ip_per_minute = 0;
            s.platform.session_idle_timeout = std::time::Duration::from_secs(1);
        })
        .await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server(&tenant, "acme", json!({})).await;
        assert_eq!(app.counter("guidepost_mcp_live_sessions").await, 0);
        let mut first = RawMcp::new(app.mcp_path_url("acme"), SESSION_ERA);
        first.initialize().await;
        let mut second = RawMcp::new(app.mcp_path_url("acme"), SESSION_ERA);
        second.initialize().await;
        assert_eq!(app.counter("guidepost_mcp_live_sessions").await, 2);
        let closed = first.send(first.request(reqwest::Method::DELETE)).await;
        assert!(closed.status.is_success(), "{}", closed.status);
        assert_eq!(app.counter("guidepost_mcp_live_sessions").await, 1);
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert_eq!(app.counter("guidepost_mcp_live_sessions").await, 0, "expired");
    }

    /// Opening a session on a personal URL writes no end user; the first call that
    /// needs one does, and the session is then shown as theirs.
    async fn initialize_alone_writes_no_end_user(db: &TestDatabase) {
        let (app, tenant, _) = unlimited_app(db).await;
        let url = format!("{}?tracking_id=visitor", app.mcp_path_url("acme"));
        let mut mcp = RawMcp::new(url, SESSION_ERA);
        mcp.initialize().await;
        let (_, users) = app.get("/end-users", &tenant.key).await;
        assert_eq!(users["items"].as_array().map(Vec::len), Some(0), "{users}");
        let support = json!({"title": "t", "problem_description": "d", "email": "v@example.com"});
        mcp.call_tool(2, "get_support", support).await;
        let (_, users) = app.get("/end-users?tracking_id=visitor", &tenant.key).await;
        let id = users["items"][0]["id"].as_str().expect("an end user now").to_owned();
        let (_, detail) = app.get(&format!("/end-users/{id}"), &tenant.key).await;
        assert_eq!(detail["sessions"].as_array().map(Vec::len), Some(1), "{detail}");
    }

    /// Past the per-address cap, the longest idle session leaves this node's memory
    /// and comes back from the store when it is used again.
    /// Each cap alone: per address (4 sessions from one address, cap 2), per server (3
    /// on one server and 2 on another, cap 2: only the first server's oldest goes) and
    /// per node (the same 5, cap 3). Every evicted session answers again.
    async fn sessions_past_the_cap_leave_memory_and_come_back(db: &TestDatabase) {
        let caps = [("per address", (2, 100, 100), [4, 0], 2), ("per server", (100, 2, 100), [3, 2], 1),
            ("per node", (100, 100, 3), [3, 2], 2)];
        for (n, (cap, (per_ip, per_server, per_node), opened, expected)) in caps.into_iter().enumerate() {
            let app = capped_app(db, (per_ip, per_server, per_node)).await;
            let tenant = app.create_tenant(&format!("Acme {cap}")).await;
            let slugs = [format!("acme-{n}"), format!("beta-{n}")];
            let before = evicted_so_far(&app).await;
            let mut sessions = Vec::new();
            for (slug, count) in slugs.iter().zip(opened) {
                app.create_server(&tenant, slug, json!({})).await;
                for _ in 0..count {
                    let mut mcp = RawMcp::new(app.mcp_path_url(slug), SESSION_ERA);
                    mcp.initialize().await;
                    sessions.push(mcp);
                }
            }
            // The counter is the process's: what this node evicted is the difference.
            assert_eq!(evicted_so_far(&app).await - before, expected, "{cap}");
            for (id, mcp) in sessions.iter().enumerate() {
                let answer = mcp.call(10 + id as i64, "tools/list", json!({})).await;
                assert_eq!(answer.status, 200, "{cap}, session {id}: {}", answer.body);
            }
        }
    }
}

backend_tests! {
    /// `subscriptions/listen` streams (stateless era) stay open and hold no session,
    /// so the session caps' numbers bound them as they are opened: past the cap per
    /// address, per server or per node a new stream is refused with 429 saying which; a
    /// stream that ends frees its place.
    async fn listen_streams_past_a_cap_are_refused_until_one_ends(db: &TestDatabase) {
        // Which cap, the caps (per address, per server, per node), and the server (first
        // or second) of each of three streams.
        let caps = [("client address", (2, 100, 100), [0, 0, 0]), ("MCP server", (100, 2, 100), [0, 0, 0]),
            ("node", (100, 100, 2), [0, 1, 1])];
        for (n, (cap, (per_ip, per_server, per_node), servers)) in caps.into_iter().enumerate() {
            let app = capped_app(db, (per_ip, per_server, per_node)).await;
            let tenant = app.create_tenant(&format!("Acme {cap}")).await;
            let slugs = [format!("acme-{n}"), format!("beta-{n}")];
            for slug in &slugs {
                app.create_server(&tenant, slug, json!({})).await;
            }
            let slugs = servers.map(|server| slugs[server].as_str());
            let mut open = Vec::new();
            for slug in &slugs[..2] {
                let stream = listen(&app, slug).await;
                assert_eq!(stream.status(), 200, "{cap}: a stream within the cap");
                open.push(stream);
            }
            let refused = listen(&app, slugs[2]).await;
            assert_eq!(refused.status(), 429, "{cap}");
            assert!(refused.headers().contains_key("retry-after"), "{cap}");
            let body: serde_json::Value = refused.json().await.unwrap();
            assert_eq!(body["error"]["code"], -32029, "{cap}: {body}");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(cap) && message.contains("at most 2"), "{cap}: {message}");
            if cap == "MCP server" {
                let elsewhere = format!("beta-{n}");
                assert_eq!(listen(&app, &elsewhere).await.status(), 200, "another server's streams are not capped by it");
            }

            drop(open.pop());
            let mut reopened = None;
            let took = eventually(&format!("{cap}: a new stream once one ended"), async || {
                let stream = listen(&app, slugs[2]).await;
                let opened = stream.status() == 200;
                reopened = opened.then_some(stream);
                opened
            })
            .await;
            assert!(reopened.is_some(), "{cap}: held open");
            eprintln!("[listen] {cap}: a place freed after {} ms", took.as_millis());
        }
    }
}

/// Posts a stateless-era `subscriptions/listen` to the server `slug`: the open stream,
/// nothing of it read, or its refusal.
async fn listen(app: &crate::helpers::TestApp, slug: &str) -> reqwest::Response {
    let mcp = RawMcp::new(app.mcp_path_url(slug), STATELESS_ERA);
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "subscriptions/listen", "params": {
        "_meta": {"io.modelcontextprotocol/protocolVersion": STATELESS_ERA,
            "io.modelcontextprotocol/clientInfo": {"name": "it", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}},
        "notifications": {"toolsListChanged": true}}});
    mcp.request(reqwest::Method::POST)
        .header("mcp-protocol-version", STATELESS_ERA)
        .header("mcp-method", "subscriptions/listen")
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Sessions evicted from memory so far, by `/metrics` (counted for the whole process).
/// A node with these session caps (per address, per server, per node) and no rate
/// limit per address.
async fn capped_app(
    db: &TestDatabase,
    (per_ip, per_server, per_node): (usize, usize, usize),
) -> crate::helpers::TestApp {
    spawn_app_with(db, |s| {
        s.mcp.rate_limits.per_ip_per_minute = 0;
        s.mcp.session_caps.per_ip = per_ip;
        s.mcp.session_caps.per_server = per_server;
        s.mcp.session_caps.per_node = per_node;
    })
    .await
}

async fn evicted_so_far(app: &crate::helpers::TestApp) -> u64 {
    app.counter("guidepost_mcp_sessions_evicted_total").await
}

/// Sends `tools/list` as if forwarded for `client`.
async fn forwarded_for(app: &crate::helpers::TestApp, client: &str) -> u16 {
    let mcp = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA);
    let request = mcp
        .request(reqwest::Method::POST)
        .header("x-forwarded-for", client);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": STATELESS_ERA,
        "io.modelcontextprotocol/clientInfo": {"name": "it", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}}}});
    let request = request
        .header("mcp-protocol-version", STATELESS_ERA)
        .header("mcp-method", "tools/list");
    mcp.send(request.json(&body)).await.status.as_u16()
}

/// Behind a trusted proxy the address limit is the forwarded client's; from anyone else
/// `X-Forwarded-For` is ignored, so a client cannot pick a fresh budget per request.
#[tokio::test]
async fn address_limits_key_on_the_forwarded_client_only_behind_a_trusted_proxy() {
    for trusted in [true, false] {
        let db = TestDatabase::create(guidepost_testkit::TestBackend::Sqlite).await;
        let app = spawn_app_with(&db, |s| {
            s.mcp.rate_limits.per_ip_per_minute = 2;
            if trusted {
                s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            }
        })
        .await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server(&tenant, "acme", json!({})).await;
        let first = [
            forwarded_for(&app, "203.0.113.7").await,
            forwarded_for(&app, "203.0.113.7").await,
        ];
        assert_eq!(first, [200, 200]);
        assert_eq!(forwarded_for(&app, "203.0.113.7").await, 429);
        let other = forwarded_for(&app, "198.51.100.2").await;
        assert_eq!(other, if trusted { 200 } else { 429 }, "trusted: {trusted}");
    }
}

/// An IPv6 client is given a whole /64 and may send each request from another address in
/// it: 100 of them share one budget, as one address would, while a client of the next
/// /64 keeps its own.
#[tokio::test]
async fn the_addresses_of_one_ipv6_64_share_one_limit() {
    let db = TestDatabase::create(guidepost_testkit::TestBackend::Sqlite).await;
    let app = spawn_app_with(&db, |s| {
        s.mcp.rate_limits.per_ip_per_minute = 2;
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let tenant = app.create_tenant("Acme").await;
    app.create_server(&tenant, "acme", json!({})).await;
    let mut answered = Vec::new();
    for n in 1..=100 {
        answered.push(forwarded_for(&app, &format!("2001:db8:1:2:{n:x}::{n:x}")).await);
    }
    let passed = answered.iter().filter(|&&status| status == 200).count();
    assert_eq!(passed, 2, "the budget of one address: {answered:?}");
    assert!(
        answered[2..].iter().all(|&status| status == 429),
        "{answered:?}"
    );
    assert_eq!(
        forwarded_for(&app, "2001:db8:1:3::1").await,
        200,
        "another /64"
    );
    assert_eq!(
        forwarded_for(&app, "::ffff:203.0.113.7").await,
        200,
        "an IPv4 client"
    );
}

backend_tests! {
    /// Stored sessions of one client address are bounded: past the cap the
    /// least recently seen is forgotten, so its client is told the session is unknown,
    /// while the newest still answer (from the store, once evicted from memory).
    async fn the_stored_sessions_of_one_address_are_bounded(db: &TestDatabase) {
        let app = spawn_app_with(db, |s| {
            s.mcp.rate_limits.per_ip_per_minute = 0;
            s.mcp.session_caps.per_ip = 1;
            s.mcp.session_caps.stored_per_ip = 3;
        })
        .await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server(&tenant, "acme", json!({})).await;
        let forgotten = || app.counter("guidepost_mcp_sessions_forgotten_total");
        let before = forgotten().await;
        let mut sessions = Vec::new();
        for _ in 0..5 {
            let mut mcp = RawMcp::new(app.mcp_path_url("acme"), SESSION_ERA);
            mcp.initialize().await;
            sessions.push(mcp);
        }
        for (n, mcp) in sessions.iter().enumerate() {
            let answer = mcp.call(10 + n as i64, "tools/list", json!({})).await;
            let expected = if n < 2 { 404 } else { 200 };
            assert_eq!(answer.status, expected, "session {n}: {}", answer.body);
        }
        assert_eq!(forgotten().await - before, 2);
    }
}
