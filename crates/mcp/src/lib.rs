//! Guidepost's MCP endpoint, built on the official Rust SDK (`rmcp`).
//!
//! A request passes the **gate** (`gate/`: which server, Origin, body limit, JSON,
//! session validity, rate limits) and then rmcp's `StreamableHttpService`, which speaks
//! both protocol eras and calls our `ServerHandler` (`handler.rs`). See `README.md` in
//! this crate for how the eras and sessions work.
//!
//! Architecture invariant: only this crate and `guidepost-fixture` (another surface,
//! built on [`surface`]) import `rmcp`.

mod bearer;
mod caller_client;
mod detached_call;
mod direct;
mod elicitation_watch;
mod features;
mod gate;
mod guard;
mod handler;
mod in_flight;
mod intercept;
mod json_answer;
mod jsonrpc;
mod listen_streams;
mod listened_resources;
mod live_sessions;
mod log_levels;
mod metric_handles;
mod new_sessions;
mod notifications;
mod param_headers;
mod rate_limit;
mod recording;
mod request_trace;
mod rounds;
mod routing;
mod scope;
mod session_store;
pub mod surface;
pub mod tasks;
mod tools;
mod url_elicitation;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::any;
use guidepost_core::Platform;
use guidepost_domain::ServerKind;
use rmcp::ServerHandler;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

pub use in_flight::InFlight;
pub use live_sessions::{LiveSessionCount, SessionCaps};
pub use rate_limit::RateLimits;

/// Marks a request the dashboard's tool tester hands to the endpoint in process: its
/// tool call is recorded as a test (`ToolCall::is_test`). A request extension, so no
/// client over the network can set it.
#[derive(Debug, Clone, Copy)]
pub struct TestCall;

/// The `tools` array of `tools/list` on `server` right now, exactly as an agent gets it
/// (the dashboard shows it).
pub async fn listed_tools(
    platform: &guidepost_core::Platform,
    server: &guidepost_domain::McpServer,
) -> Result<serde_json::Value, guidepost_core::CoreError> {
    let tools = tools::ToolSources::builtin().list(platform, server).await?;
    Ok(serde_json::to_value(tools).unwrap_or_default())
}

/// Settings of the MCP endpoint.
#[derive(Debug, Clone)]
pub struct McpOptions {
    /// Largest accepted request body (1 MiB by default).
    pub body_limit: usize,
    pub rate_limits: RateLimits,
    /// How many session-era sessions this node keeps in memory, and how many
    /// `subscriptions/listen` streams it holds open.
    pub session_caps: SessionCaps,
}

impl Default for McpOptions {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            rate_limits: RateLimits::default(),
            session_caps: SessionCaps::default(),
        }
    }
}

type Answer = Pin<Box<dyn Future<Output = Response> + Send>>;

/// One surface's transport, type-erased so that surfaces with different handlers sit
/// side by side.
type Serve = Arc<dyn Fn(Request) -> Answer + Send + Sync>;

/// A surface: rmcp's transport, and the calls the surface answers without it (`direct`).
struct Surface {
    rmcp: Serve,
    direct: Option<Arc<dyn Fn(direct::DirectCall, Request) -> Answer + Send + Sync>>,
}

/// The MCP endpoint: `/mcp` on a server's host and `/s/{slug}/mcp` on any host. Each
/// kind of server has its surface, a `ServerHandler` behind rmcp's transport; all of
/// them share one gate, one session manager, one configuration and the analytics.
/// Guidepost's own surface serves [`ServerKind::Standard`]; others are added with
/// [`McpEndpoint::serve_kind`].
pub struct McpEndpoint {
    platform: Platform,
    options: McpOptions,
    config: StreamableHttpServerConfig,
    sessions: Arc<LocalSessionManager>,
    live: Arc<live_sessions::LiveSessions>,
    surfaces: HashMap<ServerKind, Surface>,
    tools: tools::ToolSources,
    in_flight: InFlight,
}

impl McpEndpoint {
    /// Cancelling `shutdown` ends open sessions and streams, and gives up requests still
    /// being answered: cancel it once [`McpEndpoint::in_flight`] has drained.
    pub fn new(platform: Platform, options: McpOptions, shutdown: CancellationToken) -> Self {
        // Host and Origin are checked per tenant in the gate; rmcp's fixed lists would
        // refuse every virtual host.
        let mut config = StreamableHttpServerConfig::default()
            .disable_allowed_hosts()
            .with_json_response(true)
            .with_sse_keep_alive(Some(Duration::from_secs(15)))
            .with_max_request_body_bytes(options.body_limit)
            .with_cancellation_token(shutdown);
        config.session_store = Some(Arc::new(session_store::StoredSessions::new(
            platform.clone(),
        )));
        let mut sessions = LocalSessionManager::default();
        // In-memory sessions are only a cache of the stored ones: an evicted session is
        // restored from the store on its next request.
        sessions.session_config.keep_alive = Some(platform.config.session_idle_timeout);
        let sessions = Arc::new(sessions);
        let live = Arc::new(live_sessions::LiveSessions::new(
            options.session_caps,
            platform.config.session_idle_timeout,
            sessions.clone(),
        ));
        let tools = tools::ToolSources::builtin();
        let standard = handler::GuidepostServer::new(platform.clone(), tools.clone());
        let mut endpoint = Self {
            platform,
            options,
            config,
            sessions,
            live,
            surfaces: HashMap::new(),
            tools,
            in_flight: InFlight::default(),
        };
        // Guidepost's own tools send nothing to the client while they run, so their
        // stateless calls need not go through rmcp (`direct`).
        let direct = direct::DirectCalls::new(standard.clone());
        let surface = Surface {
            rmcp: endpoint.transport(standard),
            direct: Some(Arc::new(move |call, request| {
                let direct = direct.clone();
                Box::pin(async move { direct.answer(call, request).await })
            })),
        };
        endpoint.surfaces.insert(ServerKind::Standard, surface);
        endpoint
    }

    /// Serves servers of `kind` with `handler`. rmcp asks a handler for its
    /// capabilities without a request (to settle a `subscriptions/listen` filter), so
    /// each kind has its own handler; the gate has chosen the server before it runs.
    pub fn serve_kind<H>(mut self, kind: ServerKind, handler: H) -> Self
    where
        H: ServerHandler + Clone + Send + Sync + 'static,
    {
        let rmcp = self.transport(handler);
        self.surfaces.insert(kind, Surface { rmcp, direct: None });
        self
    }

    /// rmcp's transport in front of `handler`.
    fn transport<H>(&self, handler: H) -> Serve
    where
        H: ServerHandler + Clone + Send + Sync + 'static,
    {
        let transport = Arc::new(StreamableHttpService::new(
            move || Ok(handler.clone()),
            self.sessions.clone(),
            self.config.clone(),
        ));
        Arc::new(move |request| {
            let transport = transport.clone();
            Box::pin(async move { transport.handle(request).await.map(Body::new) })
        })
    }

    /// The requests this endpoint is answering (streams that only carry notifications,
    /// GET and `subscriptions/listen`, are not counted).
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.clone()
    }

    /// How many sessions this endpoint holds live, for `/metrics`.
    pub fn live_sessions(&self) -> LiveSessionCount {
        LiveSessionCount(self.live.clone())
    }

    pub fn into_router(self) -> Router {
        let gate_state = Arc::new(gate::GateState::new(
            self.platform,
            self.options,
            self.tools,
            self.live,
            self.in_flight,
        ));
        Router::new()
            .route("/mcp", any(serve))
            .route("/s/{slug}/mcp", any(serve))
            .with_state(Arc::new(self.surfaces))
            .layer(axum::middleware::from_fn_with_state(gate_state, gate::gate))
    }
}

async fn serve(
    State(surfaces): State<Arc<HashMap<ServerKind, Surface>>>,
    mut request: Request,
) -> Response {
    let kind = request
        .extensions()
        .get::<scope::RequestScope>()
        .map(|scope| scope.server.kind);
    let Some(surface) = kind.and_then(|kind| surfaces.get(&kind)) else {
        return gate::not_served();
    };
    if let Some(answer_directly) = &surface.direct
        && let Some(call) = direct::take(&mut request)
    {
        return answer_directly(call, request).await;
    }
    (surface.rmcp)(request).await
}
