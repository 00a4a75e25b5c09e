//! Guidepost's MCP endpoint, built on the official Rust SDK (`rmcp`).
//!
//! A request passes the **gate** (`gate.rs`: which server, Origin, body limit, JSON,
//! session validity, rate limits) and then rmcp's `StreamableHttpService`, which speaks
//! both protocol eras and calls our `ServerHandler` (`handler.rs`). See `README.md` in
//! this crate for how the eras and sessions work.
//!
//! Architecture invariant: this is the only crate that imports `rmcp`.

mod bearer;
mod fixture;
mod gate;
mod handler;
mod jsonrpc;
mod notifications;
mod rate_limit;
mod recording;
mod routing;
mod scope;
mod session_store;
mod tools;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::any;
use guidepost_core::Platform;
use guidepost_domain::ServerKind;
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
    let transports = Arc::new(Transports::new(&platform, &options, shutdown));
    let gate_state = Arc::new(gate::GateState::new(platform, options));
    Router::new()
        .route("/mcp", any(serve))
        .route("/s/{slug}/mcp", any(serve))
        .with_state(transports)
        .layer(axum::middleware::from_fn_with_state(gate_state, gate::gate))
}

type Transport = StreamableHttpService<handler::GuidepostServer, LocalSessionManager>;

/// rmcp's transport, once per server kind. rmcp asks a handler for its capabilities
/// without a request (to settle a `subscriptions/listen` filter), so each kind gets its
/// own handler instance; both share one configuration and one session manager, and the
/// gate has already chosen the server.
struct Transports {
    standard: Transport,
    fixture: Transport,
}

impl Transports {
    fn new(platform: &Platform, options: &McpOptions, shutdown: CancellationToken) -> Self {
        // Host and Origin are checked per tenant in the gate; rmcp's fixed lists would
        // refuse every virtual host.
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
        let sessions = Arc::new(sessions);
        let fixture = Arc::new(fixture::Fixture::new());
        let transport = |kind| {
            let handler = handler::GuidepostServer::new(platform.clone(), kind, fixture.clone());
            StreamableHttpService::new(
                move || Ok(handler.clone()),
                sessions.clone(),
                config.clone(),
            )
        };
        Self {
            standard: transport(ServerKind::Standard),
            fixture: transport(ServerKind::ConformanceFixture),
        }
    }
}

async fn serve(State(transports): State<Arc<Transports>>, request: Request) -> Response {
    let kind = request
        .extensions()
        .get::<scope::RequestScope>()
        .map(|scope| scope.server.kind);
    let transport = match kind {
        Some(ServerKind::ConformanceFixture) => &transports.fixture,
        _ => &transports.standard,
    };
    transport.handle(request).await.map(Body::new)
}
