//! The API suite's view of the application: `spawn_app(db)` starts the real application
//! (the same `crate::helpers::spawn_app` as every integration test), and `ApiApp` adds
//! typed helpers for the management API and for data a test sets up below the API.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use guidepost_core::Platform;
use guidepost_domain::*;
use guidepost_store::Store;
use guidepost_testkit::TestDatabase;
use reqwest::RequestBuilder;
use serde_json::{Value, json};

pub use crate::helpers::{Reply, Tenant};

/// The application of [`crate::helpers::spawn_app_with`] with the API suite's settings,
/// and the suite's helpers; requests go through the shared [`crate::helpers::ApiClient`].
pub struct ApiApp {
    pub app: crate::helpers::TestApp,
}

pub async fn spawn_app(db: &TestDatabase) -> ApiApp {
    spawn_app_with(db, false).await
}

pub async fn spawn_app_with(db: &TestDatabase, enable_fixtures: bool) -> ApiApp {
    let app = crate::helpers::spawn_app_with(db, |settings| {
        settings.platform.enable_fixtures = enable_fixtures;
        // URLs are written as if behind a proxy on port 8080, whatever port the test
        // listens on (`--public-port`).
        settings.public_port = Some(8080);
    })
    .await;
    ApiApp { app }
}

impl ApiApp {
    /// The application's store, for data a test sets up below the API.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.app.store
    }

    /// The application's platform. Only for the one test that mounts the API router in
    /// process (`errors::the_router_merges_with_other_routes_and_fallbacks`): it merges
    /// the router with other routes and a fallback, as the binary does, which no request
    /// to the running application can show. Every other test goes over HTTP.
    pub fn platform(&self) -> &Platform {
        &self.app.app.platform
    }

    pub async fn tenant(&self, name: &str) -> Tenant {
        self.app.create_tenant(name).await
    }

    /// Sends a request with an optional bearer key and JSON body; the reply must be JSON
    /// (or empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let reply = self.app.client.call(method, path, key, body).await;
        json_reply(reply)
    }

    /// A request to `path` with an optional bearer key, for a test to shape further
    /// (headers, a raw body) and [`ApiApp::send`].
    pub fn request(&self, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
        self.app.client.request(method, path, key)
    }

    /// Sends a request of [`ApiApp::request`]; the reply must be JSON (or empty).
    pub async fn send(&self, request: RequestBuilder) -> Reply {
        json_reply(self.app.client.send(request).await)
    }

    pub async fn get(&self, tenant: &Tenant, path: &str) -> Reply {
        self.call(Method::GET, path, Some(&tenant.key), None).await
    }

    pub async fn post(&self, tenant: &Tenant, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(&tenant.key), Some(body))
            .await
    }

    pub async fn patch(&self, tenant: &Tenant, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(&tenant.key), Some(body))
            .await
    }

    pub async fn delete(&self, tenant: &Tenant, path: &str) -> Reply {
        self.call(Method::DELETE, path, Some(&tenant.key), None)
            .await
    }

    /// Creates a server through the API and returns its JSON.
    pub async fn create_server(&self, tenant: &Tenant, slug: &str) -> Value {
        let reply = self
            .post(
                tenant,
                "/api/v1/servers",
                json!({"name": format!("Server {slug}"), "slug": slug}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }

    pub async fn server_record(&self, tenant: &Tenant, server: &Value) -> McpServer {
        let id = ServerId::parse(server["id"].as_str().unwrap()).unwrap();
        self.store().get_server(&tenant.org, &id).await.unwrap()
    }

    pub async fn support_request(&self, tenant: &Tenant, server: &McpServer) -> SupportRequest {
        let request = NewSupportRequest {
            org_id: tenant.org.clone(),
            server_id: server.id.clone(),
            end_user_id: None,
            email: Email::parse("ada@example.com").unwrap(),
            title: "It broke".into(),
            description: "The walkthrough stops at step 2".into(),
            context: None,
        };
        self.store()
            .create_support_request(&request, Timestamp::now())
            .await
            .unwrap()
    }

    pub async fn end_user(&self, tenant: &Tenant, tracking_id: &str) -> EndUser {
        self.store()
            .end_user_for_tracking_id(&tenant.org, tracking_id, Timestamp::now())
            .await
            .unwrap()
    }

    pub async fn session(
        &self,
        tenant: &Tenant,
        server: &McpServer,
        end_user: &EndUser,
        transport_id: &str,
    ) {
        let session = NewSession {
            transport_id: transport_id.into(),
            org_id: tenant.org.clone(),
            server_id: server.id.clone(),
            end_user_id: Some(end_user.id.clone()),
            client_name: Some("cursor".into()),
            client_version: Some("1.0".into()),
            protocol_version: Some("2025-06-18".into()),
            transport_state: "{}".into(),
            client_prefix: None,
        };
        self.store()
            .create_session(&session, Timestamp::now())
            .await
            .unwrap();
    }

    pub async fn tool_calls(&self, calls: &[ToolCall]) {
        self.store().insert_tool_calls(calls).await.unwrap();
    }
}

/// A recorded call, `seconds_ago` in the past.
pub fn tool_call(
    tenant: &Tenant,
    server: &McpServer,
    tool: &str,
    is_error: bool,
    duration_us: i64,
    seconds_ago: i64,
) -> ToolCall {
    ToolCall {
        id: ToolCallId::generate(),
        org_id: tenant.org.clone(),
        server_id: server.id.clone(),
        session_id: None,
        end_user_id: None,
        tool_name: tool.into(),
        arguments: "{}".into(),
        result_summary: "ok".into(),
        is_error,
        error_code: None,
        duration_us,
        created_at: Timestamp::now().plus_seconds(-seconds_ago),
        upstream_id: None,
        is_test: false,
        refusal: None,
    }
}

/// The API answers in JSON (or not at all): the suite refuses any other body.
fn json_reply(reply: Reply) -> Reply {
    assert!(reply.is_json(), "not JSON: {}", reply.text);
    reply
}
