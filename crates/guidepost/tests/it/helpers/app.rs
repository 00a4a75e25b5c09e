//! `spawn_app()`: the real application on a free port against a test database, its
//! tenants, servers and custom domains.

use std::sync::Arc;
use std::time::Duration;

use guidepost::app::{self, RunningApp};
use guidepost::config::Settings;
use guidepost_domain::OrgId;
use guidepost_domain::{ApiKeyScopes, ApiKeySecret};
use guidepost_store::{KeyMaker, Store};
use guidepost_testkit::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ApiClient, RawMcp, STATELESS_ERA};
use crate::dns_server::TestDns;

pub struct TestApp {
    pub app: RunningApp,
    pub url: String,
    pub http: reqwest::Client,
    /// The management API's client for this application (base URL: `url`).
    pub client: ApiClient,
    /// The application's store, for what a test must set up or read below the API
    /// (statement counts, stored rows). The application itself reaches it only through
    /// core's services.
    pub store: Arc<dyn Store>,
    /// The DNS server the application looks custom-domain challenges up at.
    pub dns: TestDns,
}

/// An organization with its API key: the one tenant type of the integration tests.
pub struct Tenant {
    pub org: OrgId,
    pub key: String,
}

impl Tenant {
    /// The organization's id as text (CLI arguments, form fields, JSON).
    pub fn org_id(&self) -> &str {
        self.org.as_str()
    }
}

pub async fn spawn_app(db: &TestDatabase) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

pub async fn spawn_app_with(db: &TestDatabase, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = Settings::local(db.url.clone());
    let dns = TestDns::start().await;
    settings.dns_resolver = Some(dns.addr);
    // Upstreams' own directories, out of the source tree (named by upstream id).
    settings.gateway.toolchain.data_dir = std::env::temp_dir().join("guidepost-test-upstream-data");
    adjust(&mut settings);
    let store = guidepost_store::connect(&settings.database_url)
        .await
        .expect("the test database opens");
    let app = app::start_with_store(settings, store.clone())
        .await
        .expect("the application starts");
    let url = app.url();
    let http = reqwest::Client::new();
    TestApp {
        app,
        client: ApiClient::with_http(http.clone(), url.clone()),
        url,
        http,
        store,
        dns,
    }
}

impl TestApp {
    /// An unlabelled counter of the node's `/metrics` (0 before it is first counted).
    pub async fn counter(&self, name: &str) -> u64 {
        let metrics = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .map_or(0, |value| value.trim().parse().unwrap())
    }

    pub async fn create_tenant(&self, name: &str) -> Tenant {
        let store = &self.store;
        let org = store
            .create_organization(name)
            .await
            .expect("organization created");
        let secret = ApiKeySecret::generate();
        store
            .create_api_key(
                &org.id,
                KeyMaker::Platform,
                "test",
                &ApiKeyScopes::all(),
                &secret,
            )
            .await
            .expect("key created");
        Tenant {
            org: org.id,
            key: secret.plaintext,
        }
    }

    /// `method /api/v1{path}` with `key` and an optional JSON body, through
    /// [`TestApp::client`]: status and body.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.client
            .call(method, &format!("/api/v1{path}"), Some(key), body)
            .await
            .into_parts()
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.api(Method::GET, path, key, None).await
    }

    /// The id of the tenant's end user known by `tracking_id`.
    pub async fn end_user_id(&self, tenant: &Tenant, tracking_id: &str) -> String {
        let path = format!("/end-users?tracking_id={tracking_id}");
        let (_, users) = self.get(&path, &tenant.key).await;
        users["items"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no end user has the tracking id {tracking_id}: {users}"))
            .to_owned()
    }

    /// Makes a key named `name` with `scopes` as the key `maker`: its plaintext.
    pub async fn key_with(&self, maker: &str, name: &str, scopes: Value) -> String {
        let body = json!({"name": name, "scopes": scopes});
        let (status, created) = self.api(Method::POST, "/api-keys", maker, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["key"].as_str().expect("the new key").to_owned()
    }

    /// Sets the tenant's `tool_approval` to `trust_on_first_use`: new, clean upstream tools
    /// are offered when first seen (the gateway tests that are not about review).
    pub async fn trust_new_tools(&self, tenant: &Tenant) {
        let body = json!({"tool_approval": "trust_on_first_use"});
        let (status, org) = self
            .api(
                reqwest::Method::PATCH,
                "/organization",
                &tenant.key,
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{org}");
    }

    /// Creates a server through the API and returns its JSON.
    pub async fn create_server(&self, tenant: &Tenant, slug: &str, extra: Value) -> Value {
        let mut body = json!({"name": format!("Server {slug}"), "slug": slug});
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        let (status, server) = self
            .api(reqwest::Method::POST, "/servers", &tenant.key, Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "server created: {server}");
        server
    }

    /// Creates a server that serves at `domain`: asked for, its challenge published in the
    /// tests' DNS, and verified, as an organization would.
    pub async fn create_server_at_domain(
        &self,
        tenant: &Tenant,
        slug: &str,
        domain: &str,
        extra: Value,
    ) -> Value {
        let mut body = json!({"custom_domain": domain});
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        let server = self.create_server(tenant, slug, body).await;
        let (status, verified) = self.publish_and_verify(tenant, &server).await;
        assert_eq!(status, StatusCode::OK, "domain verified: {verified}");
        assert_eq!(verified["custom_domain"], domain);
        verified
    }

    /// Publishes the server's pending domain challenge in the tests' DNS and asks the API
    /// to verify it.
    pub async fn publish_and_verify(&self, tenant: &Tenant, server: &Value) -> (StatusCode, Value) {
        let challenge = &server["custom_domain_pending"];
        self.dns.publish(
            challenge["record_name"].as_str().expect("a pending domain"),
            challenge["record_value"].as_str().unwrap(),
        );
        self.verify_domain(tenant, server).await
    }

    /// `POST /servers/{id}/custom-domain/verify`.
    pub async fn verify_domain(&self, tenant: &Tenant, server: &Value) -> (StatusCode, Value) {
        let id = server["id"].as_str().unwrap();
        let path = format!("/servers/{id}/custom-domain/verify");
        self.api(reqwest::Method::POST, &path, &tenant.key, None)
            .await
    }

    /// The path-fallback MCP URL of a server, reachable without DNS.
    pub fn mcp_path_url(&self, slug: &str) -> String {
        format!("{}/s/{slug}/mcp", self.url)
    }

    /// Waits until the analytics writer has stored `count` tool calls for the tenant. The
    /// minute is a guard against a hang, not a promise of speed.
    pub async fn wait_for_tool_calls(&self, tenant: &Tenant, count: usize) -> Vec<Value> {
        for _ in 0..600 {
            let (_, calls) = self.get("/tool-calls", &tenant.key).await;
            let items = calls["items"].as_array().cloned().unwrap_or_default();
            if items.len() >= count {
                return items;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected {count} recorded tool calls; none came within a minute");
    }
}

/// An app without rate limits (tests that make dozens of calls as one person), a tenant,
/// and its server `slug` created with `extra` fields; returns the server's id.
pub async fn unlimited_app_with_server(
    db: &TestDatabase,
    slug: &str,
    extra: Value,
) -> (TestApp, Tenant, String) {
    let app = spawn_app_with(db, |s| {
        s.mcp.rate_limits.per_user_per_minute = 0;
        s.mcp.rate_limits.per_ip_per_minute = 0;
    })
    .await;
    let tenant = app.create_tenant("Acme").await;
    let server = app.create_server(&tenant, slug, extra).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (app, tenant, server)
}

/// A stateless-era client on the personal URL of `tracking_id` at server `slug`.
pub fn personal_client(app: &TestApp, slug: &str, tracking_id: &str) -> RawMcp {
    RawMcp::new(
        format!("{}?tracking_id={tracking_id}", app.mcp_path_url(slug)),
        STATELESS_ERA,
    )
}

/// The platform's operator acting for `org`: how tests that seed through core's services
/// act (as the CLI does).
pub fn operator(org: &guidepost_domain::OrgId) -> guidepost_core::Caller {
    guidepost_core::Caller::operator(org.clone())
}
