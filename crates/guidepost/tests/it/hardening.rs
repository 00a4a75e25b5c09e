//! Fixes from the security review (issue 11), one test each, on both backends where a
//! store is involved.

use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::json;

use crate::helpers::{RawMcp, SESSION_ERA, STATELESS_ERA, spawn_app, spawn_app_with};

backend_tests! {
    /// L1: a message that names a session is checked against the server it is sent to,
    /// whatever its era: another server's session id is "not found", not served.
    async fn a_session_id_is_honoured_only_on_its_own_server(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let alpha = app.create_tenant("Alpha").await;
        let beta = app.create_tenant("Beta").await;
        app.create_server(&alpha, "alpha", json!({})).await;
        app.create_server(&beta, "beta", json!({})).await;
        let mut session = RawMcp::new(app.mcp_path_url("alpha"), SESSION_ERA);
        session.initialize().await;
        let session_id = session.session.clone().expect("a session");

        let mut elsewhere = RawMcp::new(app.mcp_path_url("beta"), STATELESS_ERA);
        elsewhere.session = Some(session_id.clone());
        let answer = elsewhere.call(2, "tools/list", json!({})).await;
        assert_eq!(answer.status, 404, "{}", answer.body);

        let mut at_home = RawMcp::new(app.mcp_path_url("alpha"), STATELESS_ERA);
        at_home.session = Some(session_id);
        let answer = at_home.call(3, "tools/list", json!({})).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }

    /// L6: `/metrics` answers on the platform's own host only, and with
    /// `--metrics-token` only to that bearer token. Latencies are histograms.
    async fn metrics_are_served_only_on_the_platform_host(db: &TestDatabase) {
        let app = spawn_app_with(db, |s| s.metrics_token = Some("scrape-secret".into())).await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server(&tenant, "acme", json!({"custom_domain": "mcp.acme.example"})).await;
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
}
