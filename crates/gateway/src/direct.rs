//! Calling an upstream directly, as a client on the same host would without Guidepost:
//! the baseline of the proxy-overhead benchmark (`guidepost bench --gateway`).

use std::time::{Duration, Instant};

use guidepost_domain::Upstream;
use rmcp::model::CallToolRequestParams;
use serde_json::Value;

use crate::GatewayOptions;
use crate::launch;
use crate::process::LogRing;

/// Starts (or reaches) `upstream` on its own, calls `tool` `warmup` times untimed and
/// then `calls` times one after the other, and returns each timed call's latency.
pub async fn time_calls(
    options: &GatewayOptions,
    upstream: &Upstream,
    tool: &str,
    arguments: &Value,
    warmup: usize,
    calls: usize,
) -> Result<Vec<Duration>, String> {
    let launch = launch::resolve(upstream, options, &Default::default()).await?;
    let (process, client) =
        launch::connect((), &launch, &LogRing::default(), options, None).await?;
    let params = match arguments {
        Value::Object(arguments) => {
            CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments.clone())
        }
        _ => CallToolRequestParams::new(tool.to_owned()),
    };
    let mut latencies = Vec::with_capacity(calls);
    let mut failure = None;
    for n in 0..warmup + calls {
        let started = Instant::now();
        let result = client.peer().call_tool(params.clone()).await;
        let elapsed = started.elapsed();
        match result {
            Ok(result) if result.is_error != Some(true) => {}
            Ok(result) => {
                failure = Some(format!(
                    "{tool} answered with an error: {:?}",
                    result.content
                ))
            }
            Err(e) => failure = Some(format!("calling {tool} directly failed: {e}")),
        }
        if failure.is_some() {
            break;
        }
        if n >= warmup {
            latencies.push(elapsed);
        }
    }
    let _ = client.cancel().await;
    if let Some(child) = process {
        child.stop().await;
    }
    failure.map_or(Ok(latencies), Err)
}
