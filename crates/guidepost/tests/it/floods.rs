//! Hostile repetition: what a client can send over and over must not multiply work or
//! state on the server (SPEC §2).

use std::time::Duration;

use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::json;

use crate::walkthrough_runtime::{open_get_stream, unlimited_app};

backend_tests! {
    /// 200 `notifications/initialized` in one session, then one tool-list change: the
    /// session's GET stream hears it once.
    async fn repeated_initialized_notifications_start_one_forwarder(db: &TestDatabase) {
        let (app, tenant, server) = unlimited_app(db).await;
        let (mcp, mut chunks) = open_get_stream(&app).await;
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        for _ in 0..200 {
            let answer = mcp.send(mcp.request(reqwest::Method::POST).json(&initialized)).await;
            assert_eq!(answer.status, 202);
        }
        app.seed_walkthrough(&tenant, "First", 1, Some((&server, 0))).await;
        let mut heard = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, chunks.recv()).await {
            heard += chunk.matches("notifications/tools/list_changed").count();
        }
        assert_eq!(heard, 1, "one change, one notification");
    }
}
