//! Launching an upstream: what to run (an npm package's entry point with `node`, fetched
//! into the cache first, or the operator's command), then the MCP handshake and the first
//! `tools/list`, whose definitions core stores.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use guidepost_core::Platform;
use guidepost_core::upstreams::record_tools;
use guidepost_domain::{LaunchSpec, Upstream};
use rmcp::service::RunningService;
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::{ClientCacheConfig, RoleClient, ServiceExt};

use crate::client::{ProgressRoutes, UpstreamClient};
use crate::fetch::{Toolchain, npm_entry_point};
use crate::process::{self, LogRing, UpstreamProcess};

/// The MCP handshake and the first `tools/list`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest stdout line (one JSON-RPC message) taken from an upstream.
const MAX_LINE: usize = 4 * 1024 * 1024;

/// A resolved launch: the program, its arguments and its environment.
#[derive(Clone)]
pub(crate) struct Launch {
    program: PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
}

impl Launch {
    pub fn program(&self) -> &std::path::Path {
        &self.program
    }

    pub fn args(&self) -> &[String] {
        &self.args
    }

    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }
}

/// A launched upstream: its process and the MCP client connected to it.
pub(crate) struct Running {
    pub process: UpstreamProcess,
    pub client: RunningService<RoleClient, UpstreamClient>,
}

/// What to run for `upstream`, fetching its package into the cache if it is not there.
pub(crate) async fn resolve(upstream: &Upstream, toolchain: &Toolchain) -> Result<Launch, String> {
    match &upstream.spec {
        LaunchSpec::Npm {
            package,
            version,
            bin,
            args,
            env,
        } => {
            let entry = npm_entry_point(toolchain, package, version, bin.as_deref()).await?;
            let mut argv = vec![entry.display().to_string()];
            argv.extend(args.iter().cloned());
            Ok(Launch {
                program: toolchain.node.clone(),
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

/// Starts the process, shakes hands and stores the tools it lists.
pub(crate) async fn launch(
    platform: &Platform,
    upstream: &Upstream,
    launch: &Launch,
    logs: &LogRing,
    progress: &ProgressRoutes,
) -> Result<Running, String> {
    let (process, stdout, stdin) =
        process::spawn(&launch.program, &launch.args, &launch.env, logs)?;
    let transport = AsyncRwTransport::new_client(stdout, stdin).with_max_line_length(MAX_LINE);
    let connect = async {
        let handler = UpstreamClient {
            platform: platform.clone(),
            upstream: upstream.clone(),
            progress: progress.clone(),
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
            let secs = HANDSHAKE_TIMEOUT.as_secs();
            return Err(format!("no answer to initialize within {secs} s"));
        }
    };
    let definitions = tools
        .iter()
        .filter_map(|tool| serde_json::to_value(tool).ok())
        .collect();
    if let Err(error) = record_tools(platform, upstream, definitions).await {
        tracing::warn!(upstream = %upstream.id, %error, "could not store an upstream's tools");
    }
    Ok(Running { process, client })
}
