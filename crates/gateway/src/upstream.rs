//! One upstream on this node: fetched, launched on demand, restarted with backoff when it
//! dies, up to a limit.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use guidepost_core::Platform;
use guidepost_core::upstreams::ProgressSink;
use guidepost_core::upstreams::{record_status, record_tools};
use guidepost_domain::{LaunchSpec, Upstream, UpstreamStatus};
use rmcp::model::{CallToolRequest, CallToolRequestParams, ClientRequest, ServerResult};
use rmcp::service::{PeerRequestOptions, RunningService};
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::{ClientCacheConfig, RoleClient, ServiceExt};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::client::{InFlight, ProgressRoutes, UpstreamClient};
use crate::fetch::{Toolchain, npm_entry_point};
use crate::process::{self, LogRing, UpstreamProcess};

/// Launches in a row before the upstream is `failed`.
const MAX_RESTARTS: i64 = 5;
/// The MCP handshake and the first `tools/list`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest stdout line (one JSON-RPC message) taken from an upstream.
const MAX_LINE: usize = 4 * 1024 * 1024;

struct Running {
    process: UpstreamProcess,
    client: RunningService<RoleClient, UpstreamClient>,
}

/// A resolved launch: the program, its arguments and its environment.
#[derive(Clone)]
struct Launch {
    program: PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
}

struct State {
    launch: Option<Launch>,
    running: Option<Running>,
    restarts: i64,
}

pub(crate) struct Instance {
    upstream: Upstream,
    toolchain: Toolchain,
    logs: LogRing,
    progress: ProgressRoutes,
    state: Mutex<State>,
}

impl Instance {
    pub fn new(upstream: Upstream, toolchain: Toolchain) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            upstream,
            toolchain,
            logs: LogRing::default(),
            progress: ProgressRoutes::default(),
            state: Mutex::new(State {
                launch: None,
                running: None,
                restarts: 0,
            }),
        })
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lines()
    }

    /// Fetches and starts it (at install): `installing` → `starting` → `ready`, or
    /// `failed` with the reason.
    pub async fn start(&self, platform: &Platform) {
        let mut state = self.state.lock().await;
        if let Err(error) = self.ensure_running(platform, &mut state).await {
            tracing::warn!(upstream = %self.upstream.id, %error, "an upstream failed to start");
        }
    }

    pub async fn stop(&self) {
        let mut state = self.state.lock().await;
        if let Some(running) = state.running.take() {
            let _ = running.client.cancel().await;
            running.process.stop().await;
        }
    }

    /// Calls `tool`; the upstream's progress goes to `progress`. Dropping the returned
    /// future (the caller cancelled or went away) cancels the call at the upstream, as
    /// does the timeout.
    pub async fn call(
        &self,
        platform: &Platform,
        tool: &str,
        arguments: Value,
        timeout: Duration,
        progress: Option<ProgressSink>,
    ) -> Result<Value, String> {
        let peer = {
            let mut state = self.state.lock().await;
            self.ensure_running(platform, &mut state).await?;
            let running = state
                .running
                .as_ref()
                .expect("ensure_running leaves it running");
            running.client.peer().clone()
        };
        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let Value::Object(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let handle = peer
            .send_cancellable_request(request, PeerRequestOptions::no_options())
            .await
            .map_err(|e| format!("the upstream server could not be reached: {e}"))?;
        let mut in_flight = InFlight::new(
            peer.clone(),
            handle.id.clone(),
            handle.progress_token.clone(),
            &self.progress,
            progress,
        );
        let answer = tokio::time::timeout(timeout, handle.await_response()).await;
        let Ok(answer) = answer else {
            return Err(format!(
                "the upstream server did not answer within {} s; try again or ask for less",
                timeout.as_secs()
            ));
        };
        in_flight.finished = true;
        match answer {
            Err(error) => Err(format!("the upstream server failed: {error}")),
            Ok(ServerResult::CallToolResult(result)) => {
                serde_json::to_value(result).map_err(|e| e.to_string())
            }
            Ok(_) => Err(
                "the upstream server asked for input or started a task, which this gateway does not relay yet"
                    .into(),
            ),
        }
    }

    /// Leaves the upstream running, launching it if it is not (again, if it died).
    async fn ensure_running(&self, platform: &Platform, state: &mut State) -> Result<(), String> {
        if let Some(running) = &mut state.running {
            if !running.client.is_closed() && !running.process.exited() {
                return Ok(());
            }
            let dead = state.running.take().expect("checked above");
            dead.process.stop().await;
            state.restarts += 1;
            self.status(
                platform,
                UpstreamStatus::Degraded,
                Some("the upstream process exited"),
                state.restarts,
            )
            .await;
        }
        if state.restarts >= MAX_RESTARTS {
            let why = format!("it exited {} times; restart it when fixed", state.restarts);
            self.status(platform, UpstreamStatus::Failed, Some(&why), state.restarts)
                .await;
            return Err(format!("the upstream server is failed: {why}"));
        }
        let launch = match &state.launch {
            Some(launch) => launch.clone(),
            None => {
                let launch = self.resolve().await.inspect_err(|why| {
                    tracing::warn!(upstream = %self.upstream.id, %why, "fetching an upstream failed");
                });
                let launch = match launch {
                    Ok(launch) => launch,
                    Err(why) => {
                        self.status(platform, UpstreamStatus::Failed, Some(&why), state.restarts)
                            .await;
                        return Err(format!("the upstream server could not be installed: {why}"));
                    }
                };
                state.launch = Some(launch.clone());
                launch
            }
        };
        self.status(platform, UpstreamStatus::Starting, None, state.restarts)
            .await;
        match self.launch(platform, &launch).await {
            Ok(running) => {
                state.running = Some(running);
                self.status(platform, UpstreamStatus::Ready, None, state.restarts)
                    .await;
                Ok(())
            }
            Err(why) => {
                state.restarts += 1;
                self.status(
                    platform,
                    UpstreamStatus::Degraded,
                    Some(&why),
                    state.restarts,
                )
                .await;
                Err(format!("the upstream server did not start: {why}"))
            }
        }
    }

    /// What to run: an npm package's entry point with `node` (fetched into the cache
    /// first if it is not there), or the operator's command.
    async fn resolve(&self) -> Result<Launch, String> {
        match &self.upstream.spec {
            LaunchSpec::Npm {
                package,
                version,
                bin,
                args,
                env,
            } => {
                let entry =
                    npm_entry_point(&self.toolchain, package, version, bin.as_deref()).await?;
                let mut argv = vec![entry.display().to_string()];
                argv.extend(args.iter().cloned());
                Ok(Launch {
                    program: self.toolchain.node.clone(),
                    args: argv,
                    env: env.clone(),
                })
            }
            LaunchSpec::Command { command, args, env } => Ok(Launch {
                program: command.into(),
                args: args.clone(),
                env: env.clone(),
            }),
        }
    }

    async fn launch(&self, platform: &Platform, launch: &Launch) -> Result<Running, String> {
        let (process, stdout, stdin) =
            process::spawn(&launch.program, &launch.args, &launch.env, &self.logs)?;
        let transport = AsyncRwTransport::new_client(stdout, stdin).with_max_line_length(MAX_LINE);
        let connect = async {
            let handler = UpstreamClient {
                platform: platform.clone(),
                upstream: self.upstream.clone(),
                progress: self.progress.clone(),
            };
            let client = handler
                .serve(transport)
                .await
                .map_err(|e| format!("the MCP handshake failed: {e}"))?;
            // A stale tools/list would hide a changed definition from discovery.
            client
                .peer()
                .set_response_cache_config(ClientCacheConfig::disabled())
                .await;
            let tools = client
                .peer()
                .list_all_tools()
                .await
                .map_err(|e| format!("tools/list failed: {e}"))?;
            Ok::<_, String>((client, tools))
        };
        let (client, tools) = match tokio::time::timeout(HANDSHAKE_TIMEOUT, connect).await {
            Ok(Ok(connected)) => connected,
            Ok(Err(why)) => {
                process.stop().await;
                return Err(why);
            }
            Err(_) => {
                process.stop().await;
                return Err(format!(
                    "no answer to initialize within {} s",
                    HANDSHAKE_TIMEOUT.as_secs()
                ));
            }
        };
        let definitions = tools
            .iter()
            .filter_map(|tool| serde_json::to_value(tool).ok())
            .collect();
        if let Err(error) = record_tools(platform, &self.upstream, definitions).await {
            tracing::warn!(upstream = %self.upstream.id, %error, "could not store an upstream's tools");
        }
        Ok(Running { process, client })
    }

    async fn status(
        &self,
        platform: &Platform,
        status: UpstreamStatus,
        error: Option<&str>,
        restarts: i64,
    ) {
        if let Err(e) = record_status(platform, &self.upstream, status, error, restarts).await {
            tracing::warn!(upstream = %self.upstream.id, error = %e, "could not store an upstream's status");
        }
    }
}
