//! The endpoint's per-request metrics, each registered once per set of labels.
//!
//! `metrics::counter!(name, labels)` builds a key, its vector of labels and a lookup in
//! the recorder's registry on every use: about a dozen allocations per tool call for the
//! six metrics a call updates. A handle registered once is an `Arc` to the
//! same atomic. Handles are registered on first use, during a request, because the
//! process's recorder is installed after the endpoint is built (a handle registered
//! before would count nowhere). Every label here comes from a bounded set (method
//! labels, tool labels, outcomes, status codes), so the maps stay small.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use metrics::{Counter, Histogram};

/// Handles by label set, registered by `register` the first time a set is seen.
pub(crate) struct Handles<K, H> {
    registered: Mutex<HashMap<K, H>>,
}

impl<K, H> Default for Handles<K, H> {
    fn default() -> Self {
        Self {
            registered: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq, H: Clone> Handles<K, H> {
    pub fn get(&self, labels: K, register: impl FnOnce(&K) -> H) -> H {
        // A panic while holding the lock leaves a map of valid handles.
        let mut registered = self
            .registered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(handle) = registered.get(&labels) {
            return handle.clone();
        }
        let handle = register(&labels);
        registered.insert(labels, handle.clone());
        handle
    }
}

/// The metrics of MCP requests and tool calls.
#[derive(Default)]
pub(crate) struct RequestMetrics {
    /// `guidepost_mcp_request_duration_seconds` by method.
    durations: Handles<&'static str, Histogram>,
    /// `guidepost_mcp_requests_total` by method and HTTP status.
    requests: Handles<(&'static str, u16), Counter>,
    /// `guidepost_tool_calls_total` by tool label and outcome.
    tool_calls: Handles<(&'static str, &'static str), Counter>,
    /// `guidepost_tool_call_duration_seconds` by tool label.
    tool_durations: Handles<&'static str, Histogram>,
}

impl std::fmt::Debug for RequestMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestMetrics").finish_non_exhaustive()
    }
}

impl RequestMetrics {
    pub fn request(&self, method: &'static str, status: u16, seconds: f64) {
        let duration = self.durations.get(method, |method| {
            metrics::histogram!("guidepost_mcp_request_duration_seconds", "method" => *method)
        });
        duration.record(seconds);
        let requests = self.requests.get((method, status), |(method, status)| {
            metrics::counter!("guidepost_mcp_requests_total", "method" => *method, "status" => status.to_string())
        });
        requests.increment(1);
    }

    pub fn tool_call(&self, tool: &'static str, outcome: &'static str, seconds: f64) {
        let calls = self.tool_calls.get((tool, outcome), |(tool, outcome)| {
            metrics::counter!("guidepost_tool_calls_total", "tool" => *tool, "outcome" => *outcome)
        });
        calls.increment(1);
        let duration = self.tool_durations.get(
            tool,
            |tool| metrics::histogram!("guidepost_tool_call_duration_seconds", "tool" => *tool),
        );
        duration.record(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::Handles;

    #[test]
    fn a_label_set_is_registered_once() {
        let handles: Handles<(&str, u16), String> = Handles::default();
        let mut registered = 0;
        for _ in 0..3 {
            let handle = handles.get(("tools/call", 200), |(method, status)| {
                registered += 1;
                format!("{method} {status}")
            });
            assert_eq!(handle, "tools/call 200");
        }
        assert_eq!(registered, 1);
        handles.get(("tools/call", 429), |_| {
            registered += 1;
            String::new()
        });
        assert_eq!(registered, 2);
    }
}
