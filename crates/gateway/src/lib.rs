//! The gateway's supervisor (SPEC §8): on each node, one process per upstream MCP server
//! that a hosted server needs, shared by every session. It fetches the upstream's package
//! at install time (`fetch`), runs it as the leader of its own process group with its
//! stderr drained into a bounded ring (`process`), talks to it as an MCP client over its
//! stdio (rmcp), and writes what it sees (status, restarts, discovered tools) through
//! core's `upstreams` service.
//!
//! Architecture invariant: this is the only crate besides `mcp` and `fixture` that
//! imports `rmcp`, and it uses only rmcp's client side.

mod client;
mod fetch;
mod process;
mod upstream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use guidepost_core::Platform;
use guidepost_core::upstreams::{ProgressSink, UpstreamRuntime};
use guidepost_domain::{Upstream, UpstreamId};
use serde_json::Value;

pub use fetch::Toolchain;
use upstream::Instance;

/// Every upstream this node runs.
pub struct Supervisor {
    toolchain: Toolchain,
    instances: Mutex<HashMap<UpstreamId, Arc<Instance>>>,
}

impl Supervisor {
    pub fn new(toolchain: Toolchain) -> Arc<Self> {
        Arc::new(Self {
            toolchain,
            instances: Mutex::default(),
        })
    }

    fn instance(&self, upstream: &Upstream) -> Arc<Instance> {
        let mut instances = self.instances.lock().expect("supervisor lock");
        instances
            .entry(upstream.id.clone())
            .or_insert_with(|| Instance::new(upstream.clone(), self.toolchain.clone()))
            .clone()
    }

    /// Stops every upstream of this node (at shutdown), whole process groups.
    pub async fn shutdown(&self) {
        let all: Vec<Arc<Instance>> = {
            let mut instances = self.instances.lock().expect("supervisor lock");
            instances.drain().map(|(_, instance)| instance).collect()
        };
        for instance in all {
            instance.stop().await;
        }
    }
}

#[async_trait]
impl UpstreamRuntime for Supervisor {
    fn start(&self, platform: &Platform, upstream: &Upstream) {
        let instance = self.instance(upstream);
        let platform = platform.clone();
        tokio::spawn(async move { instance.start(&platform).await });
    }

    async fn stop(&self, upstream: &UpstreamId) {
        let instance = self
            .instances
            .lock()
            .expect("supervisor lock")
            .remove(upstream);
        if let Some(instance) = instance {
            instance.stop().await;
        }
    }

    async fn call(
        &self,
        platform: &Platform,
        upstream: &Upstream,
        tool: &str,
        arguments: Value,
        timeout: Duration,
        progress: Option<ProgressSink>,
    ) -> Result<Value, String> {
        let instance = self.instance(upstream);
        let started = std::time::Instant::now();
        let result = instance
            .call(platform, tool, arguments, timeout, progress)
            .await;
        metrics::histogram!("guidepost_upstream_call_seconds", "upstream" => upstream.id.to_string())
            .record(started.elapsed().as_secs_f64());
        result
    }

    fn logs(&self, upstream: &UpstreamId) -> Vec<String> {
        let instances = self.instances.lock().expect("supervisor lock");
        instances
            .get(upstream)
            .map(|instance| instance.logs())
            .unwrap_or_default()
    }
}
