//! Calling an upstream directly, as a client on the same host would without Guidepost:
//! the baseline of the proxy-overhead benchmark (`guidepost bench --gateway`).

use std::time::{Duration, Instant};

use guidepost_domain::Upstream;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::async_rw::AsyncRwTransport;
use serde_json::Value;

use crate::fetch::Toolchain;
use crate::launch;
use crate::process::{self, LogRing};

/// Starts `upstream` as its own process, calls `tool` `warmup` times untimed and then
/// `calls` times one after the other, and returns each timed call's latency.
pub async fn time_calls(
    toolchain: &Toolchain,
    upstream: &Upstream,
    tool: &str,
    arguments: &Value,
    warmup: usize,
    calls: usize,
) -> Result<Vec<Duration>, String> {
    let launch = launch::resolve(upstream, toolchain).await?;
    let (running, stdout, stdin) = process::spawn(
        launch.program(),
        launch.args(),
        launch.env(),
        &LogRing::default(),
    )?;
    let transport = AsyncRwTransport::new_client(stdout, stdin);
    let client = ().serve(transport).await.map_err(|e| format!("the MCP handshake failed: {e}"))?;
    let params = match arguments {
        Value::Object(arguments) => {
            CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments.clone())
        }
        _ => CallToolRequestParams::new(tool.to_owned()),
    };
    let mut latencies = Vec::with_capacity(calls);
    for n in 0..warmup + calls {
        let started = Instant::now();
        let result = client.peer().call_tool(params.clone()).await;
        let elapsed = started.elapsed();
        let result = result.map_err(|e| format!("calling {tool} directly failed: {e}"))?;
        if result.is_error == Some(true) {
            return Err(format!(
                "{tool} answered with an error: {:?}",
                result.content
            ));
        }
        if n >= warmup {
            latencies.push(elapsed);
        }
    }
    let _ = client.cancel().await;
    running.stop().await;
    Ok(latencies)
}
