//! The HTTP application: hosted MCP servers, the management API and the operations
//! endpoints on one listener, with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::response::IntoResponse;
use guidepost_core::{Platform, privacy::retention};
use guidepost_domain::ServerKind;
use guidepost_store::Store;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::config::Settings;
use crate::{http_server, ops, request_span};

/// A running application; [`RunningApp::shutdown`] stops it gracefully.
pub struct RunningApp {
    pub addr: SocketAddr,
    pub platform: Platform,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningApp {
    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish (bounded), flushes analytics.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await.context("the server task panicked")?
    }

    /// A token that stops the application when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the application stops (after its shutdown token is cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("the server task panicked")?
    }
}

/// The platform's own ports, which the egress fence never lets an upstream reach: this
/// node's listener and, for PostgreSQL, the database's.
pub(crate) fn platform_ports(listener: u16, database_url: &str) -> Vec<u16> {
    let mut ports = vec![listener];
    if let Ok(url) = url::Url::parse(database_url)
        && matches!(url.scheme(), "postgres" | "postgresql")
    {
        ports.push(url.port().unwrap_or(5432));
    }
    ports
}

/// Connects the store (applying migrations), binds the listener and starts serving.
pub async fn start(settings: Settings) -> anyhow::Result<RunningApp> {
    let options = guidepost_store::StoreOptions {
        timeout: settings.store_timeout,
    };
    let store = guidepost_store::connect_with(&settings.database_url, options)
        .await
        .with_context(|| {
            format!(
                "opening the database {}",
                guidepost_store::redact(&settings.database_url)
            )
        })?;
    start_with_store(settings, store).await
}

pub async fn start_with_store(
    settings: Settings,
    store: Arc<dyn Store>,
) -> anyhow::Result<RunningApp> {
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let mut config = settings.platform.clone();
    config.public_port = settings.public_port.or(Some(addr.port()));
    // One flag decides both ends of a webhook: what its creation accepts, what is sent.
    config.webhooks_allow_private = settings.webhooks.allow_private;
    if config.master_key.is_none() {
        tracing::info!("no master key: identity provider client secrets cannot be stored");
    }
    let identity_providers = Arc::new(guidepost_auth::IdentityProviders::new(
        settings.auth.oidc_allow_private,
    ));
    let dns = Arc::new(crate::dns::Dns::new(settings.dns_resolver));
    let mut gateway = settings.gateway.clone();
    gateway.confinement.platform_ports = platform_ports(addr.port(), &settings.database_url);
    let supervisor = guidepost_gateway::Supervisor::new(gateway);
    supervisor.reap_orphans().await;
    if settings.gateway.container_socket.is_some() {
        sweep_volumes(&store, &supervisor).await;
    }
    let confinement = supervisor.confinement();
    if confinement.complete {
        tracing::info!(landlock_abi = confinement.landlock_abi, cgroups = %confinement.cgroups, "process upstreams are confined");
    } else {
        tracing::warn!(mode = ?confinement.mode, missing = ?confinement.missing, "process upstreams are not fully confined on this node");
    }
    let connections = Arc::new(guidepost_auth::UpstreamAuthorizer::new(
        settings.gateway.http_allow_private,
    ));
    let (platform, writer) = Platform::new(
        store.clone(),
        config,
        identity_providers,
        dns,
        supervisor.clone(),
        connections,
    );
    let hooks = crate::hooks::FencedHooks::new(settings.webhooks.allow_private);
    let mailer: Arc<dyn guidepost_core::mail::Mail> =
        Arc::new(guidepost_auth::Mailer::new(&settings.auth).context("setting up the mailer")?);
    let platform = platform
        .with_hooks(Arc::new(hooks))
        .with_mail(mailer.clone());
    match guidepost_core::upstreams::start_eager(&platform).await {
        Ok(0) => {}
        Ok(started) => tracing::info!(started, "starting the eager upstreams"),
        Err(error) => tracing::warn!(%error, "could not list the upstreams to start"),
    }
    let shutdown = CancellationToken::new();
    let (mcp, live_sessions) = mcp_endpoint(&platform, &settings, &shutdown);
    let router = Router::new()
        .merge(mcp.clone())
        .merge(
            guidepost_auth::router(platform.clone(), settings.auth.clone())
                .context("starting the authorization server")?,
        )
        .merge(guidepost_api::router(platform.clone(), mailer.clone()))
        .merge(guidepost_api::discovery::router(platform.clone()))
        .merge(guidepost_auth::connect_router(platform.clone()))
        .merge(guidepost_dashboard::router(platform.clone(), mailer, mcp))
        .merge(ops::router(
            platform.clone(),
            settings.metrics_token.clone(),
            live_sessions,
        ))
        .fallback(not_found)
        .layer(crate::panic_answer::answer_panics())
        .layer(RequestBodyTimeoutLayer::new(settings.body_read_timeout))
        .layer(axum::middleware::from_fn_with_state(
            settings.store_timeout,
            bounded_statements,
        ))
        .layer(axum::middleware::from_fn(crate::nul_guard::refuse_nul))
        .layer(axum::middleware::from_fn(request_span::request_span));
    tokio::spawn(sweep_expired_records(platform.clone(), shutdown.clone()));
    tokio::spawn(follow_other_nodes(
        supervisor.clone(),
        platform.clone(),
        settings.gateway.supervision.ping_interval,
        shutdown.clone(),
    ));
    tokio::spawn(crate::webhook_worker::run(
        platform.clone(),
        settings.webhooks.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(crate::registry_worker::run(
        platform.clone(),
        settings.registries.clone(),
        shutdown.clone(),
    ));
    let grace = settings.shutdown_grace;
    let stop = shutdown.clone();
    let options = http_server::ServeOptions {
        header_read_timeout: settings.header_read_timeout,
        trusted_proxies: settings.trusted_proxies.clone(),
        address_prefixes: settings.address_prefixes,
    };
    let task = tokio::spawn(async move {
        let serving = http_server::serve(listener, router, options, stop.clone());
        let result = tokio::select! {
            () = serving => Ok(()),
            () = deadline_after(stop, grace) => {
                tracing::warn!(grace_secs = grace.as_secs(), "in-flight requests did not finish in time; stopping anyway");
                Ok(())
            }
        };
        writer.shutdown().await;
        supervisor.shutdown().await;
        tracing::info!("stopped");
        result
    });
    tracing::info!(%addr, "listening");
    Ok(RunningApp {
        addr,
        platform,
        shutdown,
        task,
    })
}

/// Each PostgreSQL statement a request runs may take `--store-timeout` (a
/// request the store cannot serve fails within it, never a longer hang); background work
/// is not bounded so.
async fn bounded_statements(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    guidepost_store::within_statement_limit(limit, next.run(request)).await
}

/// The MCP endpoint with a surface for each kind of server this node serves (the
/// conformance fixture only under `--enable-fixtures`), and its count of live sessions.
///
/// At a stop, the requests it is answering finish first (within the grace); only then
/// are its streams (and anything still running) cancelled, since rmcp answers a request
/// it is made to give up with an empty error although the call went through.
fn mcp_endpoint(
    platform: &Platform,
    settings: &Settings,
    shutdown: &CancellationToken,
) -> (Router, guidepost_mcp::LiveSessionCount) {
    let streams = CancellationToken::new();
    let endpoint =
        guidepost_mcp::McpEndpoint::new(platform.clone(), settings.mcp.clone(), streams.clone());
    let in_flight = endpoint.in_flight();
    let live_sessions = endpoint.live_sessions();
    let (stop, grace) = (shutdown.clone(), settings.shutdown_grace);
    tokio::spawn(async move {
        stop.cancelled().await;
        if tokio::time::timeout(grace, in_flight.drained())
            .await
            .is_err()
        {
            tracing::warn!("MCP requests still running at the end of the grace period");
        }
        streams.cancel();
    });
    let endpoint = if platform.config.enable_fixtures {
        let fixture = guidepost_fixture::FixtureServer::new(platform.clone());
        endpoint.serve_kind(ServerKind::ConformanceFixture, fixture)
    } else {
        endpoint
    };
    (endpoint.into_router(), live_sessions)
}

async fn deadline_after(stop: CancellationToken, grace: Duration) {
    stop.cancelled().await;
    tokio::time::sleep(grace).await;
}

async fn not_found() -> impl IntoResponse {
    (
        axum::http::StatusCode::NOT_FOUND,
        axum::Json(
            serde_json::json!({"error": "not_found", "message": "Nothing is served at this path"}),
        ),
    )
}

/// Deletes what has outlived its retention (`core::privacy::retention`), once a minute.
async fn sweep_expired_records(platform: Platform, stop: CancellationToken) {
    // The first sweep a minute after start, not at once: a node that restarts in a loop
    // does not sweep in a loop, and a fresh node's first requests do not wait on it.
    let every = Duration::from_secs(60);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let swept = retention::sweep(&platform).await;
        if swept != retention::Swept::default() {
            tracing::info!(?swept, "deleted what outlived its retention");
        }
    }
}

/// Every ping interval, what other nodes did to the upstreams running here: one restarted
/// on request starts afresh, one uninstalled stops (`Supervisor::reconcile`).
async fn follow_other_nodes(
    supervisor: Arc<guidepost_gateway::Supervisor>,
    platform: Platform,
    every: Duration,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => supervisor.reconcile(&platform).await,
        }
    }
}

/// Removes the volumes of container upstreams uninstalled while this node was down or by
/// another node (each node's engine holds its own).
async fn sweep_volumes(store: &Arc<dyn Store>, supervisor: &guidepost_gateway::Supervisor) {
    match store.list_all_upstreams().await {
        Ok(all) => {
            let installed = all.into_iter().map(|u| u.id).collect();
            let swept = supervisor.sweep_volumes(&installed).await;
            if swept > 0 {
                tracing::info!(
                    swept,
                    "removed the volumes of uninstalled container upstreams"
                );
            }
        }
        Err(error) => tracing::warn!(%error, "could not list the upstreams to sweep their volumes"),
    }
}
