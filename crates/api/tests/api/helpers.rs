//! One `TestApp` per test: a fresh SQLite database, the real router, and typed helpers.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use guidepost_core::analytics::AnalyticsWriter;
use guidepost_core::{Platform, PlatformConfig};
use guidepost_domain::*;
use guidepost_store::SqliteStore;
use guidepost_store::Store;
use serde_json::{Value, json};
use tower::ServiceExt;

pub struct TestApp {
    pub router: Router,
    pub store: Arc<dyn Store>,
    pub platform: Platform,
    _writer: AnalyticsWriter,
    db_path: PathBuf,
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

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

pub async fn spawn_app() -> TestApp {
    spawn_app_with(false).await
}

pub async fn spawn_app_with(enable_fixtures: bool) -> TestApp {
    let db_path = std::env::temp_dir().join(format!(
        "guidepost-api-test-{}-{}.db",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    ));
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::connect(&format!("sqlite:{}", db_path.display()))
            .await
            .expect("test database opens"),
    );
    let config = PlatformConfig {
        base_domain: "localhost".into(),
        public_scheme: "http".into(),
        public_port: Some(8080),
        default_server: None,
        enable_fixtures,
        session_idle_timeout: Duration::from_secs(30 * 60),
        master_key: None,
    };
    let (platform, writer) = Platform::new(
        store.clone(),
        config,
        Arc::new(guidepost_auth::IdentityProviders::new(false)),
    );
    TestApp {
        router: guidepost_api::router(platform.clone()),
        store,
        platform,
        _writer: writer,
        db_path,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db_path.display()));
        }
    }
}

impl TestApp {
    pub async fn tenant(&self, name: &str) -> Tenant {
        let org = self.store.create_organization(name).await.unwrap();
        let secret = ApiKeySecret::generate();
        self.store
            .create_api_key(&org.id, "test", &secret)
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

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router never fails");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
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
    }
}
