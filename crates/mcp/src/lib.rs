//! Guidepost's MCP endpoint, built on the official Rust SDK (`rmcp`).
//!
//! A request passes the **gate** (`gate.rs`: which server, Origin, body limit, JSON,
//! session validity, rate limits) and then rmcp's `StreamableHttpService`, which speaks
//! both protocol eras and calls our `ServerHandler` (`handler.rs`). See `README.md` in
//! this crate for how the eras and sessions work.
//!
//! Architecture invariant: this is the only crate that imports `rmcp`.

mod gate;
mod handler;
mod jsonrpc;
mod notifications;
mod rate_limit;
mod routing;
mod scope;
mod session_store;
mod tools;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use guidepost_core::Platform;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

pub use rate_limit::RateLimits;

/// Settings of the MCP endpoint.
#[derive(Debug, Clone)]
pub struct McpOptions {
    /// Largest accepted request body (SPEC §2: 1 MiB by default).
    pub body_limit: usize,
    pub rate_limits: RateLimits,
}

impl Default for McpOptions {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            rate_limits: RateLimits::default(),
        }
    }
}

/// The MCP routes (`/mcp` on a server's host, `/s/{slug}/mcp` on any host). Cancelling
/// `shutdown` ends open sessions and streams.
pub fn router(platform: Platform, options: McpOptions, shutdown: CancellationToken) -> Router {
    let service = streamable_http_service(&platform, &options, shutdown);
    let gate_state = Arc::new(gate::GateState::new(platform, options));
    Router::new()
        .route_service("/mcp", service.clone())
        .route_service("/s/{slug}/mcp", service)
        .layer(axum::middleware::from_fn_with_state(gate_state, gate::gate))
}

fn streamable_http_service(
    platform: &Platform,
    options: &McpOptions,
    shutdown: CancellationToken,
) -> StreamableHttpService<handler::GuidepostServer, LocalSessionManager> {
    // Host and Origin are checked per tenant in the gate; rmcp's fixed lists would refuse
    // every virtual host.
    let mut config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_json_response(true)
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
        .with_max_request_body_bytes(options.body_limit)
        .with_cancellation_token(shutdown);
    config.session_store = Some(Arc::new(session_store::StoredSessions::new(
        platform.store.clone(),
    )));
    let mut sessions = LocalSessionManager::default();
    // In-memory sessions are only a cache of the stored ones: an evicted session is
    // restored from the store on its next request.
    sessions.session_config.keep_alive = Some(platform.config.session_idle_timeout);
    let handler = handler::GuidepostServer::new(platform.clone());
    StreamableHttpService::new(move || Ok(handler.clone()), Arc::new(sessions), config)
}
