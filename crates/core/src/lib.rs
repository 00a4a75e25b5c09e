//! Guidepost's services: the operations that the MCP endpoint, the management API and
//! the CLI share. Each one validates its input, applies the rules and calls the store.
//!
//! Architecture invariant: no HTTP, no MCP and no SQL here. Callers hand in already
//! authenticated organization ids; every service passes them on to the store.

pub mod analytics;
mod config;
mod error;
pub mod identity;
mod input;
pub mod oidc;
pub mod rate_limit;
pub mod routing;
pub mod secrets;
pub mod servers;
pub mod support;
pub mod walkthroughs;

use std::sync::Arc;

pub use config::PlatformConfig;
pub use error::CoreError;
pub use guidepost_store::{Store, StoreError};

/// Everything a request needs: the store, the configuration, the analytics recorder, and
/// the check of organizations' identity providers (which makes outbound requests, so it
/// is provided by the authorization server).
#[derive(Clone)]
pub struct Platform {
    pub store: Arc<dyn Store>,
    pub config: Arc<PlatformConfig>,
    pub analytics: analytics::Recorder,
    pub identity_providers: Arc<dyn oidc::ProviderCheck>,
}

impl Platform {
    /// The one way to build a platform: starts the analytics writer over `store` and
    /// returns it beside the platform, for the caller to flush at shutdown.
    pub fn new(
        store: Arc<dyn Store>,
        config: PlatformConfig,
        identity_providers: Arc<dyn oidc::ProviderCheck>,
    ) -> (Self, analytics::AnalyticsWriter) {
        let (recorder, writer) = analytics::start(store.clone());
        let platform = Self {
            store,
            config: Arc::new(config),
            analytics: recorder,
            identity_providers,
        };
        (platform, writer)
    }

    /// Tells connected clients on every node that these servers' tool lists may have
    /// changed. A failure is logged, not returned: the change itself is already saved.
    pub async fn announce_tools_changed(&self, servers: &[guidepost_domain::ServerId]) {
        if servers.is_empty() {
            return;
        }
        if let Err(error) = self.store.announce_tools_changed(servers).await {
            tracing::warn!(%error, "could not announce a tool list change");
        }
    }
}
