//! One upstream on this node: launched at install or on first use, watched while it runs
//! (`watch`), restarted with backoff when it dies, up to a limit, then `failed`.
//!
//! Every launch has a generation. A watcher, a restart after backoff or an idle stop acts
//! only if the generation it saw is still the current one, so that a stop, a restart by
//! an administrator or a newer launch is never undone by an older event.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use guidepost_core::Platform;
use guidepost_core::upstreams::{
    CallContext, Subscriber, UpstreamAnswer, UpstreamCallError, UpstreamRequest,
};
use guidepost_domain::{ConnectionOwner, Upstream, UpstreamFault};
use rmcp::RoleClient;
// resources/subscribe is of the 2025 era, which the gateway speaks to its upstreams.
#[allow(deprecated)]
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, ClientRequest, CompleteRequest,
    CompleteRequestParams, GetPromptRequest, GetPromptRequestParams, ReadResourceRequest,
    ReadResourceRequestParams, ServerResult, SubscribeRequest, SubscribeRequestParams,
    UnsubscribeRequest, UnsubscribeRequestParams,
};
use rmcp::service::{Peer, RequestHandle, ServiceError};
use serde_json::Value;
use tokio::sync::Mutex;
use tracing::Instrument;

use crate::client::{InFlight, Routes};
use crate::confine::Confiner;
use crate::last_words;
use crate::launch::{Launch, Running};
use crate::process::LogRing;
use crate::subscriptions::Added;
use crate::traced;
use crate::watch::backoff;
use crate::{GatewayOptions, Supervision};

mod lifecycle;

pub(crate) struct State {
    launch: Option<Launch>,
    pub running: Option<Running>,
    pub restarts: i64,
    pub generation: u64,
    /// When the current launch became ready.
    pub up_since: Option<Instant>,
    /// Set by `stop`: nothing starts it again on this node.
    pub stopped: bool,
    /// Why it cannot be launched at all (its package could not be fetched, the fence
    /// refused it, …): no retry helps, so calls say this until it is restarted.
    unlaunchable: Option<String>,
}

pub(crate) struct Instance {
    pub upstream: Upstream,
    /// Whose connection it speaks as: the organization's (the shared instance, which
    /// discovers and reports status), or one person's (calls only).
    pub owner: ConnectionOwner,
    /// Its place in its upstream's pool (`pool`): 0 is the primary, which discovers,
    /// reports status and holds subscriptions; a replica (1 and up) only calls.
    pub replica: usize,
    /// Whether a launch of it runs now (read without the state's lock, to pick the
    /// least busy replica).
    pub up: AtomicBool,
    gateway: GatewayOptions,
    confiner: Arc<Confiner>,
    pub options: Supervision,
    logs: LogRing,
    /// The secret values its launch was given, kept out of what its stderr shows.
    secrets: std::sync::Mutex<Vec<String>>,
    routes: Routes,
    pub state: Mutex<State>,
    /// When a call last came in, and how many are in flight (for idle shutdown).
    pub last_used: std::sync::Mutex<Instant>,
    pub calls_in_flight: AtomicUsize,
}

impl Instance {
    pub fn new(upstream: Upstream, gateway: GatewayOptions, confiner: Arc<Confiner>) -> Arc<Self> {
        Self::speaking_as(upstream, ConnectionOwner::Organization, gateway, confiner)
    }

    /// Replica `replica` of the organization's instance: calls only, no status of its own.
    pub fn replica(
        upstream: Upstream,
        replica: usize,
        gateway: GatewayOptions,
        confiner: Arc<Confiner>,
    ) -> Arc<Self> {
        Self::made(
            upstream,
            ConnectionOwner::Organization,
            replica,
            gateway,
            confiner,
        )
    }

    pub fn speaking_as(
        upstream: Upstream,
        owner: ConnectionOwner,
        gateway: GatewayOptions,
        confiner: Arc<Confiner>,
    ) -> Arc<Self> {
        Self::made(upstream, owner, 0, gateway, confiner)
    }

    fn made(
        upstream: Upstream,
        owner: ConnectionOwner,
        replica: usize,
        gateway: GatewayOptions,
        confiner: Arc<Confiner>,
    ) -> Arc<Self> {
        Arc::new(Self {
            upstream,
            owner,
            replica,
            up: AtomicBool::new(false),
            options: gateway.supervision.clone(),
            gateway,
            confiner,
            logs: LogRing::default(),
            secrets: std::sync::Mutex::default(),
            routes: Routes::default(),
            state: Mutex::new(State {
                launch: None,
                running: None,
                restarts: 0,
                generation: 0,
                up_since: None,
                stopped: false,
                unlaunchable: None,
            }),
            last_used: std::sync::Mutex::new(Instant::now()),
            calls_in_flight: AtomicUsize::new(0),
        })
    }

    pub fn is_personal(&self) -> bool {
        self.owner != ConnectionOwner::Organization
    }

    /// Whether a launch of it runs now.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Calls and requests in flight on it now.
    pub fn busy(&self) -> usize {
        self.calls_in_flight.load(Ordering::Relaxed)
    }

    /// Its recent stderr lines, its secrets redacted.
    pub fn logs(&self) -> Vec<String> {
        let secrets = self.secrets.lock().expect("secrets lock");
        self.logs
            .lines()
            .iter()
            .map(|line| last_words::redacted(line, &secrets))
            .collect()
    }

    /// The last line it wrote to stderr, as it may be shown (`last_words`).
    fn last_words(&self) -> Option<String> {
        let line = self.logs.last()?;
        Some(last_words::shown(
            &line,
            &self.secrets.lock().expect("secrets lock"),
        ))
    }

    /// Fetches and starts it (at install): `installing` → `starting` → `ready`, trying
    /// again after a backoff while it fails, up to the limit (then `failed`).
    pub async fn start(self: &Arc<Self>, platform: &Platform) {
        self.keep_trying(platform).await;
    }

    /// Launches until it runs, backing off between attempts, until the limit, a stop, or
    /// another launch.
    pub async fn keep_trying(self: &Arc<Self>, platform: &Platform) {
        loop {
            let (result, restarts, generation) = {
                let mut state = self.state.lock().await;
                if state.stopped || state.running.is_some() {
                    return;
                }
                let result = self.ensure_running(platform, &mut state).await;
                (result, state.restarts, state.generation)
            };
            let Err(error) = result else { return };
            tracing::warn!(upstream = %self.upstream.id, %error, "an upstream failed to start");
            let hopeless = self.state.lock().await.unlaunchable.is_some();
            if hopeless || restarts >= self.options.max_restarts {
                return;
            }
            tokio::time::sleep(backoff(self.options.backoff, restarts)).await;
            if self.state.lock().await.generation != generation {
                return;
            }
        }
    }

    /// Whether a launch of it runs now.
    pub async fn is_running(&self) -> bool {
        self.state.lock().await.running.is_some()
    }

    /// Stops it for good on this node (uninstall, restart by an administrator, shutdown).
    pub async fn stop(&self) {
        let mut state = self.state.lock().await;
        state.stopped = true;
        state.generation += 1;
        self.up.store(false, Ordering::Relaxed);
        if let Some(running) = state.running.take() {
            running.shut().await;
        }
    }

    /// Calls `tool`; the upstream's progress goes to the context's sink and its requests
    /// to the context's caller (`relay`), the call holding the connection as its tool
    /// needs (waiting for it counts against `timeout`). Dropping the returned
    /// future (the caller cancelled or went away) cancels the call at the upstream, as
    /// does the timeout.
    pub async fn call(
        self: &Arc<Self>,
        platform: &Platform,
        tool: &str,
        arguments: Value,
        timeout: Duration,
        context: CallContext,
    ) -> Result<UpstreamAnswer, UpstreamCallError> {
        let span = traced::call_span(&self.upstream, "tools/call", Some(tool));
        self.call_in_span(platform, tool, arguments, timeout, context)
            .instrument(span)
            .await
    }

    async fn call_in_span(
        self: &Arc<Self>,
        platform: &Platform,
        tool: &str,
        arguments: Value,
        timeout: Duration,
        context: CallContext,
    ) -> Result<UpstreamAnswer, UpstreamCallError> {
        let _counted = self.in_use();
        let deadline = Instant::now() + timeout;
        let entering = self.routes.relays.enter(tool, context.caller);
        let Ok(entered) = tokio::time::timeout(timeout, entering).await else {
            return Err(UpstreamCallError::TimedOut(timeout));
        };
        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let Value::Object(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let (peer, handle) = self.send(platform, request, (deadline, timeout)).await?;
        self.routes.relays.sent(&entered, handle.id.clone());
        let timeout = deadline.saturating_duration_since(Instant::now());
        let mut in_flight = InFlight::new(
            peer.clone(),
            handle.id.clone(),
            handle.progress_token.clone(),
            &self.routes.progress,
            context.progress,
        );
        let answer = tokio::time::timeout(timeout, handle.await_response()).await;
        let Ok(answer) = answer else {
            return Err(UpstreamCallError::TimedOut(timeout));
        };
        in_flight.finished = true;
        if self.is_personal() {
            let account_tools = &self.routes.account_tools;
            let lacking = account_tools.lacking(&peer, &self.upstream.name, tool, &answer);
            if let Some(error) = lacking.await {
                return Err(error);
            }
        }
        match answer {
            // Arguments the upstream refused: the agent can correct them, and the refusal
            // is recorded as such (the missing-capabilities report).
            Err(ServiceError::McpError(error))
                if error.code == rmcp::model::ErrorCode::INVALID_PARAMS =>
            {
                Err(UpstreamCallError::Refused {
                    code: error.code.0,
                    message: format!(
                        "the upstream server refused the arguments: {}. Check the tool's \
                         inputSchema and call again",
                        error.message
                    ),
                    data: error.data,
                })
            }
            Err(error) => Err(UpstreamCallError::Failed(error.to_string())),
            Ok(ServerResult::CallToolResult(result)) => answer_of(result),
            Ok(_) => Err(UpstreamCallError::Unrelayed(
                "asked for input or started a task",
            )),
        }
    }

    /// Sends a prompt, resource or completion request; its result as the upstream gave
    /// it. Given up (and cancelled at the upstream) after `timeout`, or when dropped.
    pub async fn request(
        self: &Arc<Self>,
        platform: &Platform,
        request: UpstreamRequest,
        timeout: Duration,
    ) -> Result<Value, UpstreamCallError> {
        let request = client_request(request)?;
        let span = traced::call_span(&self.upstream, request.method(), None);
        self.request_in_span(platform, request, timeout)
            .instrument(span)
            .await
    }

    async fn request_in_span(
        self: &Arc<Self>,
        platform: &Platform,
        request: ClientRequest,
        timeout: Duration,
    ) -> Result<Value, UpstreamCallError> {
        let _counted = self.in_use();
        let deadline = Instant::now() + timeout;
        let (peer, handle) = self.send(platform, request, (deadline, timeout)).await?;
        let timeout = deadline.saturating_duration_since(Instant::now());
        let mut in_flight = InFlight::new(
            peer,
            handle.id.clone(),
            handle.progress_token.clone(),
            &self.routes.progress,
            None,
        );
        let answer = tokio::time::timeout(timeout, handle.await_response()).await;
        let Ok(answer) = answer else {
            return Err(UpstreamCallError::TimedOut(timeout));
        };
        in_flight.finished = true;
        match answer {
            Ok(result) => serde_json::to_value(result)
                .map_err(|e| UpstreamCallError::InvalidResult(e.to_string())),
            Err(ServiceError::McpError(error)) => Err(UpstreamCallError::Refused {
                code: error.code.0,
                message: error.message.into_owned(),
                data: error.data,
            }),
            Err(error) => Err(UpstreamCallError::Failed(error.to_string())),
        }
    }

    /// Subscribes `subscriber` to `uri`: the upstream itself only for the first one.
    pub async fn subscribe(
        self: &Arc<Self>,
        platform: &Platform,
        uri: &str,
        subscriber: Subscriber,
        timeout: Duration,
    ) -> Result<(), UpstreamCallError> {
        let id = subscriber.id.clone();
        let subscriptions = &self.routes.subscriptions;
        let added = subscriptions
            .add(uri, subscriber)
            .map_err(|e| UpstreamCallError::NotStarted(e.to_string()))?;
        if added == Added::Joined {
            return Ok(());
        }
        let request = UpstreamRequest::Subscribe {
            uri: uri.to_owned(),
        };
        if let Err(error) = self.request(platform, request, timeout).await {
            subscriptions.remove(uri, &id);
            return Err(error);
        }
        Ok(())
    }

    /// Ends `id`'s subscription to `uri`: the upstream's too when nobody is left.
    pub async fn unsubscribe(
        self: &Arc<Self>,
        platform: &Platform,
        uri: &str,
        id: &str,
        timeout: Duration,
    ) -> Result<(), UpstreamCallError> {
        if !self.routes.subscriptions.remove(uri, id) {
            return Ok(());
        }
        let request = UpstreamRequest::Unsubscribe {
            uri: uri.to_owned(),
        };
        self.request(platform, request, timeout).await.map(drop)
    }

    /// Whether a call or request is in flight, or a client is subscribed to one of its
    /// resources: a subscription keeps it up as a call does, since its updates come only
    /// while it runs (an idle stop would silence them until the next call).
    pub fn is_busy(&self) -> bool {
        self.calls_in_flight.load(Ordering::Relaxed) > 0 || self.routes.subscriptions.has_live()
    }

    /// Counts a call or request in flight until the guard drops (for idle shutdown).
    fn in_use(&self) -> impl Drop + '_ {
        *self.last_used.lock().expect("last used lock") = Instant::now();
        self.calls_in_flight.fetch_add(1, Ordering::Relaxed);
        scopeguard(|| {
            self.calls_in_flight.fetch_sub(1, Ordering::Relaxed);
            *self.last_used.lock().expect("last used lock") = Instant::now();
        })
    }

    /// Sends `request` on the running launch, launching it first if needed, by
    /// `deadline` (the end of the caller's `timeout`).
    async fn send(
        self: &Arc<Self>,
        platform: &Platform,
        request: ClientRequest,
        (deadline, timeout): (Instant, Duration),
    ) -> Result<(Peer<RoleClient>, RequestHandle<RoleClient>), UpstreamCallError> {
        let (peer, generation) = self.running_peer_by(platform, deadline, timeout).await?;
        match peer
            .send_cancellable_request(request.clone(), traced::request_options())
            .await
        {
            Ok(handle) => Ok((peer, handle)),
            Err(ServiceError::TransportClosed) => {
                // It died before anyone noticed, and nothing was sent: launch it again and
                // send once more.
                self.forget_dead(platform, generation).await;
                let (peer, _) = self.running_peer_by(platform, deadline, timeout).await?;
                let handle = peer
                    .send_cancellable_request(request, traced::request_options())
                    .await
                    .map_err(|e| UpstreamCallError::Unreachable(e.to_string()))?;
                Ok((peer, handle))
            }
            Err(e) => Err(UpstreamCallError::Unreachable(e.to_string())),
        }
    }

    /// The running launch's peer and generation by `deadline`, launching it first if
    /// needed. A launch still under way then (a package fetch, a slow handshake, behind
    /// another caller's) goes on by itself for the calls after, and this caller is told
    /// the upstream is still starting instead of being kept past its timeout.
    async fn running_peer_by(
        self: &Arc<Self>,
        platform: &Platform,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(Peer<RoleClient>, u64), UpstreamCallError> {
        if let Ok(state) = self.state.try_lock()
            && let Some(running) = state.running.as_ref().filter(|r| !r.is_gone())
        {
            return Ok((running.client.peer().clone(), state.generation));
        }
        let instance = Arc::clone(self);
        let platform = platform.clone();
        let launching = tokio::spawn(
            async move { instance.running_peer(&platform).await }
                .instrument(tracing::Span::current()),
        );
        match tokio::time::timeout_at(deadline.into(), launching).await {
            Ok(Ok(found)) => found.map_err(UpstreamCallError::NotStarted),
            Ok(Err(failed)) => Err(UpstreamCallError::NotStarted(failed.to_string())),
            Err(_) => Err(UpstreamCallError::StillStarting(timeout)),
        }
    }

    /// The running launch's peer and generation, launching it first if needed.
    async fn running_peer(
        self: &Arc<Self>,
        platform: &Platform,
    ) -> Result<(Peer<RoleClient>, u64), String> {
        let mut state = self.state.lock().await;
        self.ensure_running(platform, &mut state).await?;
        let running = state
            .running
            .as_ref()
            .expect("ensure_running leaves it running");
        Ok((running.client.peer().clone(), state.generation))
    }

    /// The launch of `generation` turned out dead: counted as an exit, unless something
    /// else already replaced it.
    async fn forget_dead(&self, platform: &Platform, generation: u64) {
        let mut state = self.state.lock().await;
        if state.generation == generation && state.running.is_some() {
            self.record_exit(platform, &mut state, UpstreamFault::EXITED)
                .await;
        }
    }
}

/// A request of core's as rmcp sends it.
#[allow(deprecated)] // resources/subscribe: the 2025 era the gateway speaks to upstreams
fn client_request(request: UpstreamRequest) -> Result<ClientRequest, UpstreamCallError> {
    Ok(match request {
        UpstreamRequest::GetPrompt { name, arguments } => {
            let mut params = GetPromptRequestParams::new(name);
            if let Some(arguments) = arguments {
                params = params.with_arguments(arguments);
            }
            ClientRequest::GetPromptRequest(GetPromptRequest::new(params))
        }
        UpstreamRequest::ReadResource { uri } => ClientRequest::ReadResourceRequest(
            ReadResourceRequest::new(ReadResourceRequestParams::new(uri)),
        ),
        UpstreamRequest::Subscribe { uri } => {
            ClientRequest::SubscribeRequest(SubscribeRequest::new(SubscribeRequestParams::new(uri)))
        }
        UpstreamRequest::Unsubscribe { uri } => ClientRequest::UnsubscribeRequest(
            UnsubscribeRequest::new(UnsubscribeRequestParams::new(uri)),
        ),
        UpstreamRequest::Complete { params } => {
            let params: CompleteRequestParams =
                serde_json::from_value(params).map_err(|e| UpstreamCallError::Refused {
                    code: rmcp::model::ErrorCode::INVALID_PARAMS.0,
                    message: format!("invalid completion request: {e}"),
                    data: None,
                })?;
            ClientRequest::CompleteRequest(CompleteRequest::new(params))
        }
    })
}

/// A tool result as core carries it: the blocks in the protocol's own shapes.
fn answer_of(result: CallToolResult) -> Result<UpstreamAnswer, UpstreamCallError> {
    let invalid = |e: serde_json::Error| UpstreamCallError::InvalidResult(e.to_string());
    let content = result
        .content
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()
        .map_err(invalid)?;
    Ok(UpstreamAnswer {
        content,
        structured_content: result.structured_content,
        is_error: result.is_error,
        meta: result.meta.map(|meta| meta.0),
    })
}

/// Runs `f` when dropped.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}
