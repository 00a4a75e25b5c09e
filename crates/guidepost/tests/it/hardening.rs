//! Fixes from the security review (issue 11), one test each, on both backends where a
//! store is involved.

use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::json;

use crate::helpers::{RawMcp, SESSION_ERA, STATELESS_ERA, spawn_app};

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
}
