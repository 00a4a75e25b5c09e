//! The API suite's view of the application: `spawn_app(db)` starts the real application
//! (the same `crate::helpers::spawn_app` as every integration test), and `ApiApp` adds
//! typed helpers for the management API and for data a test sets up below the API.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use guidepost_core::Platform;
use guidepost_domain::*;
use guidepost_store::Store;
use guidepost_testkit::TestDatabase;
use serde_json::{Value, json};

pub struct ApiApp {
    pub app: crate::helpers::TestApp,
    /// The application's store, for data a test sets up below the API.
    pub store: Arc<dyn Store>,
    /// The application's platform, for tests that mount the API router themselves.
    pub platform: Platform,
}

/// An organization with a live API key.
pub struct Tenant {
    pub org: OrgId,
    pub key: String,
}

/// A response, its body parsed as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts an RFC 9457 problem document with this status, and returns it.
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status, body: {}",
            self.body
        );
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status, "body: {}", self.body);
        assert!(
            self.body["type"].is_string() && self.body["title"].is_string(),
            "body: {}",
            self.body
        );
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "body: {}",
            self.body
        );
        &self.body
    }

    /// The `field`s of a validation problem.
    pub fn error_fields(&self) -> Vec<String> {
        let errors = self.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors in {}", self.body));
        errors
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    }
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
    ApiApp {
        store: app.store.clone(),
        platform: app.app.platform.clone(),
        app,
    }
}

impl ApiApp {
    pub async fn tenant(&self, name: &str) -> Tenant {
        let org = self.store.create_organization(name).await.unwrap();
        let secret = ApiKeySecret::generate();
        self.store
            .create_api_key(&org.id, "test", &ApiKeyScopes::all(), &secret)
            .await
            .unwrap();
        Tenant {
            org: org.id,
            key: secret.plaintext,
        }
    }

    /// Sends a request with an optional bearer key and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&body).unwrap())),
            None => request.body(Body::empty()),
        };
        self.send(request.unwrap()).await
    }

    /// Sends a request built with axum's types to the running application over HTTP.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let url = format!("{}{}", self.app.url, parts.uri);
        let response = self
            .app
            .http
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .expect("the application answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        Reply {
            status,
            headers,
            body,
        }
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
        self.store.get_server(&tenant.org, &id).await.unwrap()
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
        self.store
            .create_support_request(&request, Timestamp::now())
            .await
            .unwrap()
    }

    pub async fn end_user(&self, tenant: &Tenant, tracking_id: &str) -> EndUser {
        self.store
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
        };
        self.store
            .create_session(&session, Timestamp::now())
            .await
            .unwrap();
    }

    pub async fn tool_calls(&self, calls: &[ToolCall]) {
        self.store.insert_tool_calls(calls).await.unwrap();
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
    }
}
