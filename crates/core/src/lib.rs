//! Guidepost's services: the operations that the MCP endpoint, the management API and
//! the CLI share. Each one validates its input, applies the rules and calls the store.
//!
//! Architecture invariant: no HTTP, no MCP and no SQL here. Management services take a
//! [`Caller`] (made only after authentication) and decide here what it may do; the MCP
//! side's services take the server a request was routed to.

pub mod accounts;
pub mod audit;
mod cache;
mod caller;
mod config;
mod error;
#[cfg(test)]
mod fuzz_tests;
pub mod guardrails;
pub mod hosting;
mod input;
pub mod insights;
pub mod mail;
pub mod privacy;
pub mod rate_limit;
pub mod revision;
pub mod search;
pub mod secrets;
pub mod support;
pub mod text_diff;
pub mod trace_context;
pub mod upstreams;
pub mod walkthroughs;

use std::sync::Arc;

pub use caller::{Caller, Permission};
pub use config::{
    DEFAULT_APPROVAL_EXPIRY, DEFAULT_AUDIT_RETENTION_DAYS, DEFAULT_MAX_REPLICAS,
    DEFAULT_MAX_SERVER_TOOLS, DEFAULT_REGISTRY_MAX_ENTRIES, DEFAULT_SERVER_CACHE_EXPIRY,
    DEFAULT_SIGN_IN_CODES_PER_HOUR, PlatformConfig,
};
pub use error::CoreError;
use guidepost_store::Store;

/// What `/metrics` shows about the store.
#[derive(Debug, Clone, Copy)]
pub struct StoreFigures {
    /// Statements run since start (per process).
    pub statements_executed: u64,
    pub pool_size: u32,
    pub pool_idle: usize,
    /// Each hot writer's time waiting for its turn to write and holding it (SQLite).
    pub write_turns: Option<[(guidepost_store::Writer, guidepost_store::TurnTime); 2]>,
}

/// Everything a request needs: the store, the configuration, the analytics recorder, and
/// the check of organizations' identity providers (which makes outbound requests, so it
/// is provided by the authorization server).
#[derive(Clone)]
pub struct Platform {
    /// Private: core's services are the only way to the store.
    store: Arc<dyn Store>,
    pub config: Arc<PlatformConfig>,
    pub analytics: insights::analytics::Recorder,
    pub identity_providers: Arc<dyn accounts::oidc::ProviderCheck>,
    /// DNS, for custom-domain challenges.
    pub domain_records: Arc<dyn hosting::domains::TxtRecords>,
    /// What runs upstream MCP servers on this node (the gateway's supervisor).
    pub upstreams: Arc<dyn upstreams::UpstreamRuntime>,
    /// The OAuth client side toward upstreams' authorization servers (`auth`).
    pub connections: Arc<dyn upstreams::connections::Authorizer>,
    /// What this node keeps in memory between calls (`cache`).
    cache: Arc<cache::NodeCache>,
    /// The tasks whose calls run on this node (`tasks`).
    running_tasks: Arc<hosting::tasks::RunningTasks>,
    /// When this node last recorded each upstream's result finding (`upstreams::results`).
    result_findings: Arc<upstreams::results::FindingGate>,
    /// How interceptors are asked (`guardrails::intercept`); none until `with_hooks`.
    hooks: Arc<dyn guardrails::intercept::HookTransport>,
    /// What tells members of work waiting for them (an approval to give); none until
    /// `with_mail`.
    mail: Option<Arc<dyn mail::Mail>>,
}

impl Platform {
    /// The one way to build a platform: starts the analytics writer over `store` and
    /// returns it beside the platform, for the caller to flush at shutdown.
    pub fn new(
        store: Arc<dyn Store>,
        config: PlatformConfig,
        identity_providers: Arc<dyn accounts::oidc::ProviderCheck>,
        domain_records: Arc<dyn hosting::domains::TxtRecords>,
        upstreams: Arc<dyn upstreams::UpstreamRuntime>,
        connections: Arc<dyn upstreams::connections::Authorizer>,
    ) -> (Self, insights::analytics::AnalyticsWriter) {
        let (recorder, writer) = insights::analytics::start(store.clone());
        let cache = Arc::new(cache::NodeCache::new(config.server_cache_expiry));
        tokio::spawn(forget_what_changed(
            Arc::downgrade(&cache),
            store.tools_changed_feed(),
        ));
        let platform = Self {
            store,
            config: Arc::new(config),
            analytics: recorder,
            identity_providers,
            domain_records,
            upstreams,
            connections,
            cache,
            running_tasks: Default::default(),
            result_findings: Default::default(),
            hooks: Arc::new(guardrails::intercept::NoHooks),
            mail: None,
        };
        (platform, writer)
    }

    /// The platform asking interceptors through `hooks` (a node that serves tool calls).
    pub fn with_hooks(mut self, hooks: Arc<dyn guardrails::intercept::HookTransport>) -> Self {
        self.hooks = hooks;
        self
    }

    /// The platform mailing members through `mail` when work waits for them.
    pub fn with_mail(mut self, mail: Arc<dyn mail::Mail>) -> Self {
        self.mail = Some(mail);
        self
    }

    /// Changes of servers' tool lists, announced on any node (PostgreSQL) or this one
    /// (SQLite), from now on.
    pub fn tool_changes(&self) -> tokio::sync::broadcast::Receiver<guidepost_domain::ServerId> {
        self.store.tools_changed_feed()
    }

    /// Whether the store answers (readiness).
    pub async fn ping(&self) -> Result<(), CoreError> {
        Ok(self.store.ping().await?)
    }

    /// Figures about the store for `/metrics`.
    pub fn store_figures(&self) -> StoreFigures {
        let (size, idle) = self.store.pool_connections();
        StoreFigures {
            statements_executed: self.store.statements_executed(),
            pool_size: size,
            pool_idle: idle,
            write_turns: self.store.write_turns(),
        }
    }

    /// Tells connected clients on every node that these servers' tool lists may have
    /// changed. A failure is logged, not returned: the change itself is already saved.
    pub async fn announce_tools_changed(&self, servers: &[guidepost_domain::ServerId]) {
        if servers.is_empty() {
            return;
        }
        // This node forgets at once, so that the caller's next request sees its change;
        // the others when the announcement reaches them.
        for server in servers {
            self.cache.server_changed(server);
        }
        if let Err(error) = self.store.announce_tools_changed(servers).await {
            tracing::warn!(%error, "could not announce a tool list change");
        }
    }
}

/// Drops the cache entries of every server whose change is announced, on any node, until
/// the platform is gone.
async fn forget_what_changed(
    cache: std::sync::Weak<cache::NodeCache>,
    mut changes: tokio::sync::broadcast::Receiver<guidepost_domain::ServerId>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let change = changes.recv().await;
        let Some(cache) = cache.upgrade() else { return };
        match change {
            Ok(server) => cache.server_changed(&server),
            Err(RecvError::Lagged(_)) => cache.forget_servers(),
            Err(RecvError::Closed) => return,
        }
    }
}
