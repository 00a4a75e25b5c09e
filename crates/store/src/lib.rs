//! Guidepost's storage.
//!
//! One trait, [`Store`], made of one trait per concept (`OrganizationStore`,
//! `ServerStore`, …, one file each), with two implementations: SQLite (the embedded
//! default) and PostgreSQL (for many stateless nodes). Both run the same SQL, written once
//! in the `sql/` module tree that each backend compiles as its child; the backend modules
//! (`sqlite.rs`, `postgres.rs`) hold only what their dialects do differently.
//!
//! Architecture invariant: this is the only crate that runs SQL. Every method that reads
//! or writes tenant data takes an organization id, or is documented as platform-wide.

pub mod analytics_file;
mod approvals;
mod attention;
mod audit;
mod auth;
pub mod backup;
mod bulk;
mod connections;
mod end_users;
mod error;
mod feedback;
mod funnel;
mod group_commit;
mod held;
mod interceptors;
mod members;
mod oidc;
mod organizations;
mod personal_data;
mod policies;
mod postgres;
mod quotas;
mod registry;
mod schema;
mod servers;
mod sessions;
mod sqlite;
mod support;
mod support_messages;
mod tasks;
mod tool_calls;
mod traced;
mod upstreams;
mod walkthroughs;
mod webhooks;
mod write_turn;

use std::sync::Arc;

use async_trait::async_trait;
use guidepost_domain::*;

pub use approvals::{ApprovalStore, NewApproval};
pub use attention::{Attention, AttentionStore};
pub use audit::{AuditFilter, AuditStore};
pub use auth::AuthStore;
pub use bulk::BulkStore;
pub use connections::ConnectionStore;
pub use end_users::{EndUserFilter, EndUserStore};
pub use error::StoreError;
pub use feedback::{FeedbackFilter, FeedbackStore, MAX_FEEDBACK_DAYS};
pub use funnel::{FunnelCounts, FunnelStore, StepCount, StuckAt, StuckPerson};
pub use interceptors::{InterceptorStore, NewInterceptor, SealedInterceptor};
pub use members::MemberStore;
pub use oidc::OidcStore;
pub use organizations::{KeyMaker, OrganizationStore};
pub use personal_data::{
    Erasure, ExportCursor, ExportPage, ExportedRow, ExportedTable, PersonalDataStore,
};
pub use policies::{MAX_POLICY_VERSIONS, PolicyStore};
pub use postgres::PgStore;
pub use quotas::{QuotaCounter, QuotaStore};
pub use registry::RegistryStore;
pub use servers::{ListedServersQuery, ServerStore};
pub use sessions::{MAX_SERVER_CLIENTS, ServerClient, SessionStore};
pub use sqlite::SqliteStore;
pub use support::{SupportRequestFilter, SupportStore};
pub use support_messages::{MAX_SUPPORT_MESSAGES, NewSupportMessage, SupportMessageStore};
pub use tasks::TaskStore;
pub use tool_calls::{
    ROLLUP_MICROS, RefusedTool, ToolCallBucket, ToolCallFilter, ToolCallStore, ToolRollup,
};
pub use traced::{statement_limit, within_statement_limit};
pub use upstreams::{AttachedUpstream, UpstreamSettings, UpstreamStore};
pub use walkthroughs::{
    DraftBesidePublished, NewWalkthrough, ProgressKey, VersionSummary, WalkthroughEditorStore,
    WalkthroughStore,
};
pub use webhooks::{NewWebhook, WebhookStore};
pub use write_turn::{TurnTime, Writer};

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
    pub(crate) fn new() -> Self {
        Self {
            sender: tokio::sync::broadcast::channel(1024).0,
        }
    }

    pub(crate) fn publish(&self, server: ServerId) {
        // No subscriber is not an error: nobody is listening for changes right now.
        let _ = self.sender.send(server);
    }

    pub(crate) fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ServerId> {
        self.sender.subscribe()
    }
}

#[async_trait]
pub trait Store:
    OrganizationStore
    + ServerStore
    + EndUserStore
    + SessionStore
    + SupportStore
    + ToolCallStore
    + WalkthroughStore
    + WalkthroughEditorStore
    + FunnelStore
    + AuthStore
    + OidcStore
    + UpstreamStore
    + ConnectionStore
    + AuditStore
    + AttentionStore
    + SupportMessageStore
    + FeedbackStore
    + PolicyStore
    + QuotaStore
    + InterceptorStore
    + ApprovalStore
    + WebhookStore
    + TaskStore
    + MemberStore
    + PersonalDataStore
    + RegistryStore
    + BulkStore
    + Send
    + Sync
    + 'static
{
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

    /// How long each hot writer waited for its turn to write and held it, since the
    /// store opened (SQLite, whose one writer at a time is taken in turns); `None` where
    /// the database orders its writers itself (PostgreSQL).
    fn write_turns(&self) -> Option<[(Writer, TurnTime); 2]>;

    /// Whether the database answers (readiness).
    async fn ping(&self) -> Result<()>;

    /// The benchmark's floor (`guidepost bench --floor`): one single-row UPDATE in its own
    /// transaction, an end user's `last_seen_at`, the least a durable tool call can cost.
    async fn floor_write(&self, org: &OrgId, end_user: &EndUserId, now: Timestamp) -> Result<()>;

    /// Transactions the database has committed since it started, where it counts them
    /// (PostgreSQL's `pg_stat_database`); `None` on SQLite.
    async fn commits(&self) -> Result<Option<u64>>;
}

/// How the store waits on its database.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// The longest a request waits for a PostgreSQL connection before it fails (an
    /// outage fails requests quickly and cleanly, never a long hang). The binary bounds
    /// each statement of a request by the same figure (`within_statement_limit`).
    pub timeout: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            timeout: std::time::Duration::from_secs(2),
        }
    }
}

/// Opens the store named by `url` (`sqlite:…` or `postgres://…`) and applies migrations.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    connect_with(url, StoreOptions::default()).await
}

/// [`connect`] with options.
pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect_with(url, options).await?))
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
