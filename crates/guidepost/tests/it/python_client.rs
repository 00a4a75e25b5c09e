//! The official Python client (`mcp==2.3.0`) against a server created through the API,
//! in both protocol eras.

use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::json;

use crate::helpers::{python_smoke, spawn_app};

async fn support_request_through_python_client(db: &TestDatabase, mode: &str) {
    let app = spawn_app(db).await;
    let tenant = app.create_tenant("Acme").await;
    app.create_server(
        &tenant,
        "acme",
        json!({"product_name": "Acme Cloud", "instructions": "Be kind."}),
    )
    .await;
    let url = format!("{}?tracking_id=dev-42", app.mcp_path_url("acme"));

    let report = python_smoke(&[
        "--url",
        &url,
        "--mode",
        mode,
        "--call-support-email",
        "ada@example.com",
    ])
    .await;

    assert_eq!(
        report["error"],
        serde_json::Value::Null,
        "client error: {report}"
    );
    assert_eq!(report["tools"], json!(["get_support"]));
    assert_eq!(report["is_error"], false);
    let request_id = report["support"]["support_request_id"]
        .as_str()
        .expect("a support request id")
        .to_owned();
    assert!(request_id.starts_with("sr_"));
    assert_eq!(report["support"]["status"], "open");

    let (status, listed) = app.get("/support-requests", &tenant.key).await;
    assert_eq!(status, 200);
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], request_id);
    assert_eq!(items[0]["email"], "ada@example.com");

    let calls = app.wait_for_tool_calls(&tenant, 1).await;
    assert_eq!(calls[0]["tool_name"], "get_support");
    assert_eq!(calls[0]["is_error"], false);
    assert!(
        calls[0]["end_user_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("msu_")),
        "the call names its end user"
    );

    let (_, users) = app.get("/end-users?tracking_id=dev-42", &tenant.key).await;
    assert_eq!(
        users["items"][0]["email"], "ada@example.com",
        "the email is remembered on the end user"
    );
    app.app.shutdown().await.unwrap();
}

backend_tests! {
    async fn python_client_legacy_mode_lists_tools_and_opens_a_support_request(db: &TestDatabase) {
        support_request_through_python_client(db, "legacy").await;
    }

    async fn python_client_stateless_mode_lists_tools_and_opens_a_support_request(db: &TestDatabase) {
        support_request_through_python_client(db, "2026-07-28").await;
    }

    async fn python_client_sees_the_server_name_and_instructions(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let tenant = app.create_tenant("Acme").await;
        app.create_server(&tenant, "acme", json!({"product_name": "Acme Cloud", "instructions": "Be kind."})).await;
        for mode in ["legacy", "auto"] {
            let report = python_smoke(&["--url", &app.mcp_path_url("acme"), "--mode", mode]).await;
            assert_eq!(report["server_name"], "Acme Cloud", "{mode}: {report}");
            assert_eq!(report["instructions"], "Be kind.", "{mode}");
        }
        let report = python_smoke(&["--url", &app.mcp_path_url("acme"), "--mode", "auto"]).await;
        assert_eq!(report["protocol_version"], "2026-07-28", "auto mode discovers the stateless era");
    }
}
