//! The endpoint's per-request metrics, each registered once per set of labels.
//!
//! `metrics::counter!(name, labels)` builds a key, its vector of labels and a lookup in
//! the recorder's registry on every use: about a dozen allocations per tool call for the
//! six metrics a call updates. A handle registered once is an `Arc` to the
//! same atomic. Handles are registered on first use, during a request, because the
//! process's recorder is installed after the endpoint is built (a handle registered
//! before would count nowhere). Every label here comes from a bounded set (method
//! labels, tool labels, outcomes, status codes), so the maps stay small.
//!
//! Besides Guidepost's own names, each request is recorded once under OpenTelemetry's
//! semantic conventions for MCP servers (`mcp.server.operation.duration`, exported to
//! Prometheus as `mcp_server_operation_duration_seconds` with `mcp_method_name`,
//! `gen_ai_tool_name` and `error_type`), so that generic MCP dashboards read it: a tool
//! call by the recording of the call (which knows the tool), anything else, and a call
//! refused before it ran, by the request.

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
    /// `guidepost_tool_calls_total` by tool label and outcome, with the call's
    /// `mcp_server_operation_duration_seconds` (its error type follows from the outcome):
    /// one lookup for both.
    tool_calls: Handles<(&'static str, &'static str), (Counter, Histogram)>,
    /// `guidepost_tool_call_duration_seconds` by tool label.
    tool_durations: Handles<&'static str, Histogram>,
    /// `mcp_server_operation_duration_seconds` by method, tool label and error type.
    operations: Handles<Operation, Histogram>,
}

/// The labels of one `mcp.server.operation.duration` series.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Operation {
    method: &'static str,
    tool: Option<&'static str>,
    error_type: Option<&'static str>,
}

impl Operation {
    fn histogram(&self) -> Histogram {
        let mut labels = vec![metrics::Label::new("mcp_method_name", self.method)];
        if let Some(tool) = self.tool {
            labels.push(metrics::Label::new("gen_ai_tool_name", tool));
        }
        if let Some(error_type) = self.error_type {
            labels.push(metrics::Label::new("error_type", error_type));
        }
        metrics::histogram!("mcp_server_operation_duration_seconds", labels)
    }
}

/// OpenTelemetry's `error.type` for an HTTP status that is not a success: the status
/// code's class name, from a fixed set.
fn status_error_type(status: u16) -> Option<&'static str> {
    match status {
        0..=399 => None,
        401 => Some("401"),
        403 => Some("403"),
        404 => Some("404"),
        413 => Some("413"),
        429 => Some("429"),
        400..=499 => Some("4xx"),
        _ => Some("5xx"),
    }
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
        // A tool call that ran is recorded with its tool by `tool_call`.
        if method != "tools/call" || status >= 400 {
            let operation = Operation {
                method,
                tool: None,
                error_type: status_error_type(status),
            };
            self.operations
                .get(operation, Operation::histogram)
                .record(seconds);
        }
    }

    pub fn tool_call(&self, tool: &'static str, outcome: &'static str, seconds: f64) {
        let (calls, operation) = self.tool_calls.get((tool, outcome), |(tool, outcome)| {
            let calls = metrics::counter!("guidepost_tool_calls_total", "tool" => *tool, "outcome" => *outcome);
            let error_type = match *outcome {
                "ok" => None,
                "error" => Some("tool_error"),
                _ => Some("rejected"),
            };
            let operation = Operation {
                method: "tools/call",
                tool: Some(tool),
                error_type,
            };
            (calls, operation.histogram())
        });
        calls.increment(1);
        operation.record(seconds);
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
