//! Launching an upstream: what to run or reach (an npm package's entry point with `node`,
//! fetched into the cache first; the operator's command; or a remote server's URL), then
//! the MCP handshake and the first `tools/list`, whose definitions core stores.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use guidepost_core::Platform;
use guidepost_domain::{Upstream, UpstreamFault};
// The gateway speaks the 2025 era to its upstreams, where resources/subscribe exists.
#[allow(deprecated)]
use rmcp::model::{ClientRequest, SubscribeRequest, SubscribeRequestParams};
use rmcp::service::{Peer, RunningService, Service};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientCacheConfig, RoleClient, ServiceExt};

use crate::GatewayOptions;
use crate::client::{Refusal, Routes, UpstreamClient, discover};
use crate::confine::{Confiner, Declaration, Prepared};
use crate::container::{self, Container, ContainerSpec};
use crate::process::{self, LogRing, UpstreamProcess};
use crate::subscriptions::Subscriptions;

mod resolve;
pub(crate) use resolve::{declaration_of, resolve};

/// The MCP handshake and the first `tools/list`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest stdout line (one JSON-RPC message) taken from an upstream; a longer one
/// is dropped and the connection kept.
const MAX_LINE: usize = 4 * 1024 * 1024;
/// How long closing a connection may take once its child is gone.
const SHUT_GRACE: Duration = Duration::from_secs(5);
/// How long an HTTP upstream may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A resolved launch.
#[derive(Clone)]
pub(crate) enum Launch {
    /// A process of this host, spoken to over its stdio.
    Process {
        program: PathBuf,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        workdir: PathBuf,
        /// What it may reach besides its directory and runtime, from its entry.
        declaration: Declaration,
        /// Its upstream and organization: its cgroup's name, and whose caps it counts on.
        upstream: String,
        org: String,
    },
    /// A remote server over Streamable HTTP.
    Http {
        url: String,
        headers: BTreeMap<String, String>,
        /// The connection its requests speak as, when it signs in; boxed, as
        /// it is the largest part of a launch.
        signed_in: Option<Box<SignedInAs>>,
    },
    /// A container, spoken to over its stdio.
    Container(ContainerSpec),
}

/// Whose connection an HTTP upstream's requests speak as.
#[derive(Clone)]
pub(crate) struct SignedInAs {
    pub platform: guidepost_core::Platform,
    pub upstream: Upstream,
    pub owner: guidepost_domain::ConnectionOwner,
}

/// What runs an upstream of this host: a process group or a container.
pub(crate) enum Child {
    Process(UpstreamProcess),
    Container(Container),
}

impl Child {
    /// How a process ended, once it has (a container: none).
    pub fn ended(&self) -> Option<UpstreamFault> {
        match self {
            Child::Process(process) => process.ended(),
            Child::Container(_) => None,
        }
    }

    pub fn exited(&self) -> bool {
        match self {
            Child::Process(process) => process.exited(),
            Child::Container(container) => container.exited(),
        }
    }

    pub fn exit(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        match self {
            Child::Process(process) => Box::pin(process.exit()),
            Child::Container(container) => Box::pin(container.exit()),
        }
    }

    pub async fn stop(self) {
        match self {
            Child::Process(process) => process.stop().await,
            Child::Container(container) => container.stop().await,
        }
    }
}

/// A launched upstream: the MCP client connected to it, and its process if it has one.
pub(crate) struct Running {
    pub process: Option<Child>,
    pub client: RunningService<RoleClient, UpstreamClient>,
    /// Set when the launch is given up on from its connection (`client::Refusal`).
    pub refusal: Refusal,
}

/// Why a launch failed.
#[derive(Debug)]
pub(crate) enum LaunchError {
    /// It did not start, or did not answer as it should: another try may start it.
    Failed(String),
    /// As `Failed`, for a fault Guidepost observed itself, kept typed for the diagnosis.
    Faulted(UpstreamFault),
    /// It started, and what it listed went past Guidepost's bounds (`listing`): it would
    /// list the same on every try, so none is made until it is restarted.
    PastBounds(String),
}

impl From<String> for LaunchError {
    fn from(why: String) -> Self {
        Self::Failed(why)
    }
}

impl LaunchError {
    /// What to say, and the fault behind it when Guidepost observed one.
    pub fn words_and_fault(self) -> (String, Option<UpstreamFault>) {
        match self {
            Self::Failed(why) | Self::PastBounds(why) => (why, None),
            Self::Faulted(fault) => (fault.to_string(), Some(fault)),
        }
    }
}

impl std::fmt::Display for LaunchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Failed(why) | Self::PastBounds(why) => f.write_str(why),
            Self::Faulted(fault) => fault.fmt(f),
        }
    }
}

impl From<UpstreamFault> for LaunchError {
    fn from(fault: UpstreamFault) -> Self {
        Self::Faulted(fault)
    }
}

impl Running {
    /// Whether the process exited or the connection closed.
    pub fn is_gone(&self) -> bool {
        self.client.is_closed() || self.process.as_ref().is_some_and(Child::exited)
    }

    /// Stops the whole process group (or container), then closes the MCP connection: a
    /// hung child with a full stdin pipe could otherwise hold the connection's close
    /// forever.
    pub async fn shut(self) {
        if let Some(child) = self.process {
            child.stop().await;
        }
        let _ = tokio::time::timeout(SHUT_GRACE, self.client.cancel()).await;
    }

    /// How its process ended, once it has.
    pub fn ended(&self) -> Option<UpstreamFault> {
        self.process.as_ref().and_then(Child::ended)
    }

    /// Resolves when its process exits (never, for a remote server: pings watch it).
    pub fn exit(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        match &self.process {
            Some(child) => child.exit(),
            None => Box::pin(std::future::pending()),
        }
    }
}

/// Starts the process (or reaches the server) and shakes hands with `handler`. A
/// process is confined by `confiner`; without one (the benchmark's direct baseline) it
/// runs as Guidepost's own child, unconfined.
pub(crate) async fn connect<S: Service<RoleClient>>(
    handler: S,
    launch: &Launch,
    logs: &LogRing,
    options: &GatewayOptions,
    confiner: Option<&Confiner>,
) -> Result<(Option<Child>, RunningService<RoleClient, S>), LaunchError> {
    match launch {
        Launch::Process {
            program,
            args,
            env,
            workdir,
            declaration,
            upstream,
            org,
        } => {
            let owner = crate::orphans::marker(&options.deployment);
            let process = match confiner {
                Some(confiner) => {
                    let (memory_mb, processes) =
                        confiner.limits_of(declaration).map_err(over_maximum)?;
                    let reservation = confiner
                        .budget()
                        .reserve(org, memory_mb, processes)
                        .map_err(|cap| cap.fault())?;
                    let started = Instant::now();
                    let allow_private = options.http_allow_private;
                    let prepared = confiner
                        .prepare(upstream, program, workdir, declaration, allow_private)
                        .map_err(|e| e.to_string())?;
                    let prepared_at = Instant::now();
                    let (mut process, stdout, stdin) =
                        process::spawn(program, args, env, workdir, &owner, logs, prepared)?;
                    record_launch_steps(upstream, started, prepared_at);
                    process.reservation = Some(reservation);
                    (process, stdout, stdin)
                }
                None => process::spawn(
                    program,
                    args,
                    env,
                    workdir,
                    &owner,
                    logs,
                    Prepared::unconfined(),
                )?,
            };
            let (process, stdout, stdin) = process;
            let transport =
                AsyncRwTransport::new_client(stdout, stdin).with_max_line_length(MAX_LINE);
            Ok(shake_hands(handler, transport, Child::Process(process)).await?)
        }
        Launch::Container(spec) => {
            let socket = options
                .container_socket
                .as_deref()
                .ok_or_else(|| "no container engine".to_owned())?;
            // Its memory and processes count on the same caps as a process's.
            let reservation = match confiner {
                Some(confiner) => Some(
                    confiner
                        .budget()
                        .reserve(&spec.org, spec.limits.memory_mb, spec.limits.pids)
                        .map_err(|cap| cap.fault())?,
                ),
                None => None,
            };
            let (mut container, stdout, stdin) = container::start(socket, spec, logs)
                .await
                .map_err(|e| e.to_string())?;
            container.reservation = reservation;
            let transport =
                AsyncRwTransport::new_client(stdout, stdin).with_max_line_length(MAX_LINE);
            Ok(shake_hands(handler, transport, Child::Container(container)).await?)
        }
        Launch::Http {
            url,
            headers,
            signed_in,
        } => {
            let http = guidepost_outbound::fenced_builder(options.http_allow_private)
                .connect_timeout(CONNECT_TIMEOUT)
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
            let config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
                .custom_headers(header_map(headers)?)
                .max_sse_event_size(crate::signed_in::MAX_EVENT);
            let client = match signed_in {
                None => {
                    let http = crate::traced::TraceHeader(http);
                    let transport = StreamableHttpClientTransport::with_client(http, config);
                    apart(handler.serve(transport)).await
                }
                Some(as_owner) => {
                    let signed_in = crate::signed_in::SignedIn {
                        http,
                        platform: as_owner.platform.clone(),
                        upstream: std::sync::Arc::new(as_owner.upstream.clone()),
                        owner: as_owner.owner.clone(),
                    };
                    let signed_in = crate::traced::TraceHeader(signed_in);
                    let transport = StreamableHttpClientTransport::with_client(signed_in, config);
                    apart(handler.serve(transport)).await
                }
            }
            .map_err(|e| UpstreamFault::RemoteHandshakeFailed {
                url: url.to_string(),
                error: e.to_string(),
            })?;
            Ok((None, client))
        }
    }
}

/// What a confined launch spent before the program ran: preparing its confinement (its
/// cgroup, ruleset and directory, in Guidepost) and the fork, the confinement steps in
/// the child and the exec (`spawn` returns once the exec succeeded). A histogram per
/// step, so an operator sees what confinement adds to a cold start.
fn record_launch_steps(upstream: &str, started: Instant, prepared_at: Instant) {
    let (prepare, spawn) = (prepared_at - started, prepared_at.elapsed());
    metrics::histogram!("guidepost_upstream_launch_seconds", "step" => "prepare")
        .record(prepare.as_secs_f64());
    metrics::histogram!("guidepost_upstream_launch_seconds", "step" => "spawn")
        .record(spawn.as_secs_f64());
    tracing::debug!(
        upstream,
        prepare_us = prepare.as_micros() as u64,
        spawn_us = spawn.as_micros() as u64,
        "process upstream launched"
    );
}

/// Runs rmcp's `handshake` on a task of its own, which starts in no span. rmcp makes the
/// span of a connection's service loop (`serve_inner`, at `info`) in the current span,
/// and the loop lives as long as the connection: made in the span of the call that
/// started the upstream, it would hold that call's span, and with it the call's whole
/// trace, open and unexported for the connection's life. (Entering `Span::none()` would
/// not do: it leaves the call's span current.) Dropped, as when the handshake times out,
/// it stops the task.
async fn apart<F>(handshake: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    struct Aborting<T>(tokio::task::JoinHandle<T>);
    impl<T> Drop for Aborting<T> {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut task = Aborting(tokio::spawn(handshake));
    match (&mut task.0).await {
        Ok(output) => output,
        // Only the guard aborts the task, once nothing awaits it: an error is a panic.
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

/// An entry past the operator's maximums is a typed fault; anything else, words.
fn over_maximum(refused: crate::confine::Refused) -> LaunchError {
    match refused.fault() {
        Some(fault) => fault.into(),
        None => refused.to_string().into(),
    }
}

/// How long a failed handshake waits for its child's exit code.
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// The MCP handshake over a child's stdio; the child is stopped if it fails.
async fn shake_hands<S, R, W>(
    handler: S,
    transport: AsyncRwTransport<RoleClient, R, W>,
    child: Child,
) -> Result<(Option<Child>, RunningService<RoleClient, S>), UpstreamFault>
where
    S: Service<RoleClient>,
    R: tokio::io::AsyncRead + Send + Unpin + 'static,
    W: tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    match apart(handler.serve(transport)).await {
        Ok(client) => Ok((Some(child), client)),
        Err(e) => {
            // A child that died is why, most often: its exit code says how.
            let _ = tokio::time::timeout(EXIT_WAIT, child.exit()).await;
            let (code, signal) = match child.ended() {
                Some(UpstreamFault::Exited { code, signal }) => (code, signal),
                _ => (None, None),
            };
            child.stop().await;
            Err(UpstreamFault::HandshakeFailed {
                error: e.to_string(),
                code,
                signal,
            })
        }
    }
}

fn header_map(
    headers: &BTreeMap<String, String>,
) -> Result<HashMap<http::HeaderName, http::HeaderValue>, String> {
    headers
        .iter()
        .map(|(name, value)| {
            let name = http::HeaderName::try_from(name.as_str())
                .map_err(|_| format!("{name:?} is not a header name"))?;
            let mut value = http::HeaderValue::try_from(value.as_str())
                .map_err(|_| format!("the value of header {name} is not valid"))?;
            value.set_sensitive(true);
            Ok((name, value))
        })
        .collect()
}

/// A new launch is subscribed again to what this node's clients are subscribed to.
#[allow(deprecated)] // resources/subscribe: the 2025 era the gateway speaks to upstreams
fn resubscribe(upstream: &Upstream, peer: &Peer<RoleClient>, subscriptions: &Subscriptions) {
    let uris = subscriptions.uris();
    if uris.is_empty() {
        return;
    }
    let (peer, id) = (peer.clone(), upstream.id.clone());
    tokio::spawn(async move {
        for uri in uris {
            let params = SubscribeRequestParams::new(uri);
            let request = ClientRequest::SubscribeRequest(SubscribeRequest::new(params));
            if let Err(error) = peer.send_request(request).await {
                tracing::warn!(upstream = %id, %error, "could not subscribe a relaunched upstream again");
            }
        }
    });
}

/// Launches, shakes hands and stores what it offers (`client::discover`), unless it is a
/// `replica` of the upstream's primary instance or speaks as a person.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn launch(
    platform: &Platform,
    upstream: &Upstream,
    launch: &Launch,
    logs: &LogRing,
    routes: &Routes,
    options: &GatewayOptions,
    confiner: &Confiner,
    replica: bool,
) -> Result<Running, LaunchError> {
    let personal = matches!(
        launch,
        Launch::Http { signed_in: Some(as_owner), .. }
            if as_owner.owner != guidepost_domain::ConnectionOwner::Organization
    );
    let handler = UpstreamClient {
        platform: platform.clone(),
        upstream: upstream.clone(),
        progress: routes.progress.clone(),
        relays: routes.relays.clone(),
        subscriptions: routes.subscriptions.clone(),
        relisting: Default::default(),
        account_tools: personal.then(|| routes.account_tools.clone()),
        discovers: !replica,
        refusal: Refusal::default(),
    };
    let refusal = handler.refusal.clone();
    if personal {
        // A new session of the person's: what it offers is asked again.
        routes.account_tools.forget();
    }
    let handshake = async {
        let (process, client) = connect(handler, launch, logs, options, Some(confiner)).await?;
        // A stale tools/list would hide a changed definition from discovery.
        client
            .peer()
            .set_response_cache_config(ClientCacheConfig::disabled())
            .await;
        let running = Running {
            process,
            client,
            refusal,
        };
        // A person's connection lists what their account sees, and a replica what the
        // primary lists; the upstream's definitions are discovered, pinned and reviewed
        // through the organization's primary.
        if personal || replica {
            return Ok(running);
        }
        match discover(platform, upstream, running.client.peer()).await {
            Ok(()) => Ok(running),
            Err(e) => {
                running.shut().await;
                if e.is_past_bounds() {
                    Err(LaunchError::PastBounds(e.to_string()))
                } else {
                    Err(LaunchError::Failed(e.to_string()))
                }
            }
        }
    };
    let running = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(result) => result?,
        Err(_) => {
            let secs = HANDSHAKE_TIMEOUT.as_secs();
            return Err(UpstreamFault::HandshakeTimeout { secs }.into());
        }
    };
    resubscribe(upstream, running.client.peer(), &routes.subscriptions);
    Ok(running)
}
