//! Guidepost's storage.
//!
//! One trait, [`Store`], with two implementations: SQLite (the embedded default) and
//! PostgreSQL (for many stateless nodes). Both run the same SQL text, written once in
//! `queries.rs` and compiled into each backend's module (see `sqlite.rs`); where the
//! dialects differ, the backend module says so.
//!
//! Architecture invariant: this is the only crate that runs SQL. Every method that reads
//! or writes tenant data takes an organization id, or is documented as platform-wide.

mod auth;
mod error;
mod oidc;
mod postgres;
mod sqlite;
mod walkthroughs;

use std::sync::Arc;

use async_trait::async_trait;
use guidepost_domain::*;

pub use auth::AuthStore;
pub use error::StoreError;
pub use oidc::OidcStore;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use walkthroughs::{NewWalkthrough, ProgressKey, WalkthroughStore};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Local fan-out of tool-list changes to the sessions and subscriptions on this node.
#[derive(Clone)]
pub(crate) struct ChangeFeed {
    sender: tokio::sync::broadcast::Sender<ServerId>,
}

impl ChangeFeed {
    fn new() -> Self {
        Self {
            sender: tokio::sync::broadcast::channel(1024).0,
        }
    }

    fn publish(&self, server: ServerId) {
        // No subscriber is not an error: nobody is listening for changes right now.
        let _ = self.sender.send(server);
    }

    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ServerId> {
        self.sender.subscribe()
    }
}

/// Filters for listing tool calls.
#[derive(Debug, Clone, Default)]
pub struct ToolCallFilter {
    pub server_id: Option<ServerId>,
    pub end_user_id: Option<EndUserId>,
    pub tool_name: Option<String>,
}

/// Filters for listing support requests.
#[derive(Debug, Clone, Default)]
pub struct SupportRequestFilter {
    pub server_id: Option<ServerId>,
    pub status: Option<SupportStatus>,
}

/// Filters for listing end users.
#[derive(Debug, Clone, Default)]
pub struct EndUserFilter {
    pub email: Option<String>,
    pub tracking_id: Option<String>,
}

#[async_trait]
pub trait Store: WalkthroughStore + AuthStore + OidcStore + Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Statements executed since start; tests and the benchmark read it to count the
    /// statements one operation costs.
    fn statements_executed(&self) -> u64;

    /// Tells every node sharing this store that what `tools/list` returns for these
    /// servers may have changed (PostgreSQL: NOTIFY; SQLite: this process only).
    async fn announce_tools_changed(&self, servers: &[ServerId]) -> Result<()>;

    /// Announcements from every node, this one included.
    fn tools_changed_feed(&self) -> tokio::sync::broadcast::Receiver<ServerId>;

    /// Connections in the pool: `(open, idle)`.
    fn pool_connections(&self) -> (u32, usize);

    /// Whether the database answers (readiness).
    async fn ping(&self) -> Result<()>;

    // --- organizations and API keys -------------------------------------------------

    /// Platform-wide: creates a tenant.
    async fn create_organization(&self, name: &str) -> Result<Organization>;
    async fn get_organization(&self, org: &OrgId) -> Result<Organization>;
    async fn create_api_key(
        &self,
        org: &OrgId,
        name: &str,
        secret: &ApiKeySecret,
    ) -> Result<ApiKey>;
    async fn list_api_keys(&self, org: &OrgId) -> Result<Vec<ApiKey>>;
    async fn revoke_api_key(&self, org: &OrgId, key: &ApiKeyId) -> Result<ApiKey>;
    /// Platform-wide: finds the live key with this hash, whatever its organization.
    async fn find_api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>>;

    // --- servers --------------------------------------------------------------------

    async fn create_server(
        &self,
        org: &OrgId,
        kind: ServerKind,
        settings: &ServerSettings,
    ) -> Result<McpServer>;
    async fn get_server(&self, org: &OrgId, id: &ServerId) -> Result<McpServer>;
    async fn list_servers(&self, org: &OrgId, page: &PageRequest) -> Result<Page<McpServer>>;
    async fn update_server(
        &self,
        org: &OrgId,
        id: &ServerId,
        settings: &ServerSettings,
    ) -> Result<McpServer>;
    async fn delete_server(&self, org: &OrgId, id: &ServerId) -> Result<()>;
    /// Platform-wide (routing): the server with this slug.
    async fn find_server_by_slug(&self, slug: &str) -> Result<Option<McpServer>>;
    /// Platform-wide (routing): the server with this custom domain.
    async fn find_server_by_domain(&self, domain: &str) -> Result<Option<McpServer>>;

    // --- end users ------------------------------------------------------------------

    /// The end user with this tracking id, created on first sight; `last_seen_at` is
    /// brought up to `now`.
    async fn end_user_for_tracking_id(
        &self,
        org: &OrgId,
        tracking_id: &str,
        now: Timestamp,
    ) -> Result<EndUser>;
    /// A new anonymous end user (known only by its session).
    async fn create_anonymous_end_user(&self, org: &OrgId, now: Timestamp) -> Result<EndUser>;
    async fn get_end_user(&self, org: &OrgId, id: &EndUserId) -> Result<EndUser>;
    async fn set_end_user_email(
        &self,
        org: &OrgId,
        id: &EndUserId,
        email: &Email,
        verified: bool,
    ) -> Result<EndUser>;
    async fn list_end_users(
        &self,
        org: &OrgId,
        filter: &EndUserFilter,
        page: &PageRequest,
    ) -> Result<Page<EndUser>>;

    // --- sessions -------------------------------------------------------------------

    async fn create_session(&self, session: &NewSession, now: Timestamp) -> Result<McpSession>;
    /// Platform-wide: the session with this transport id (a random, unguessable value).
    async fn find_session(&self, transport_id: &str) -> Result<Option<McpSession>>;
    /// Platform-wide: the transport's handshake record, for replay on another node.
    async fn session_transport_state(&self, transport_id: &str) -> Result<Option<String>>;
    async fn touch_session(&self, transport_id: &str, now: Timestamp) -> Result<()>;
    async fn set_session_end_user(
        &self,
        org: &OrgId,
        transport_id: &str,
        end_user: &EndUserId,
    ) -> Result<()>;
    async fn delete_session(&self, transport_id: &str) -> Result<()>;
    /// Platform-wide housekeeping: deletes sessions idle since before `cutoff`.
    async fn delete_idle_sessions(&self, cutoff: Timestamp) -> Result<u64>;
    async fn list_sessions_of_end_user(
        &self,
        org: &OrgId,
        end_user: &EndUserId,
    ) -> Result<Vec<McpSession>>;

    // --- support --------------------------------------------------------------------

    async fn create_support_request(
        &self,
        request: &NewSupportRequest,
        now: Timestamp,
    ) -> Result<SupportRequest>;
    async fn list_support_requests(
        &self,
        org: &OrgId,
        filter: &SupportRequestFilter,
        page: &PageRequest,
    ) -> Result<Page<SupportRequest>>;
    async fn get_support_request(
        &self,
        org: &OrgId,
        id: &SupportRequestId,
    ) -> Result<SupportRequest>;
    async fn update_support_request_status(
        &self,
        org: &OrgId,
        id: &SupportRequestId,
        status: SupportStatus,
        now: Timestamp,
    ) -> Result<SupportRequest>;

    // --- analytics ------------------------------------------------------------------

    /// Writes a batch of tool calls in one transaction.
    async fn insert_tool_calls(&self, calls: &[ToolCall]) -> Result<()>;
    async fn list_tool_calls(
        &self,
        org: &OrgId,
        filter: &ToolCallFilter,
        page: &PageRequest,
    ) -> Result<Page<ToolCall>>;
    /// Per-tool report over `[since, until)`.
    async fn tool_call_durations(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<ToolCallSample>>;
}

/// One call's tool name, error flag and duration: the raw material of the tool report.
#[derive(Debug, Clone)]
pub struct ToolCallSample {
    pub tool_name: String,
    pub is_error: bool,
    pub duration_us: i64,
}

/// Opens the store named by `url` (`sqlite:…` or `postgres://…`) and applies migrations.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::Config(format!(
            "unsupported database URL {:?}: use sqlite:PATH or postgres://…",
            redact(url)
        )))
    }
}

/// A URL with any password replaced, safe to log.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
