//! Upstream calls in the 2026-07-28 era, where a server cannot send its client a request
//! mid-call: an upstream's sampling, elicitation or roots request becomes an
//! `input_required` round of the call (MRTR), and the answer comes back with the retried
//! `tools/call`, on any node (docs/GATEWAY.md).
//!
//! The call runs on in the background on the node that started it. At the upstream's
//! first request it is written to the store as a task (core's `tasks`, invisible to the
//! client as such) whose `input_required` holds the request; the first `tools/call` is
//! answered with that round and a `requestState` naming the task. A retry, on whichever
//! node, hands its `inputResponses` to the task and waits for the call's next round or
//! its end, which the node running it writes to the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use guidepost_core::Platform;
use guidepost_core::hosting::tasks::{
    self as core_tasks, Admission, TaskContext, TaskEnd, TaskOwner,
};
use guidepost_core::upstreams::{CallerClient, RelayError};
use guidepost_domain::{TaskId, TaskStatus};
use rmcp::ErrorData;
use rmcp::model::{CallToolResponse, CallToolResult, ClientCapabilities, InputRequiredResult};
use serde_json::{Map, Value, json};
use tokio::sync::{Mutex, oneshot};

use crate::caller_client::RelayRecorder;

/// What a `requestState` of Guidepost's rounds starts with; the rest is the task's id.
const STATE_PREFIX: &str = "guidepost-round:";
/// How long a retry waits for the call's next round or its end before it answers with
/// the same round again (the client then retries once more).
const RETRY_WAIT: Duration = Duration::from_secs(30);

/// The caller's client in the 2026-07-28 era: its requests become rounds.
pub(crate) struct RoundsClient {
    platform: Platform,
    owner: TaskOwner,
    address: Option<std::net::IpAddr>,
    tool: String,
    capabilities: Option<ClientCapabilities>,
    held: Mutex<Option<TaskContext>>,
    /// The call's end, for the task once there is one.
    end: std::sync::Mutex<Option<oneshot::Sender<TaskEnd>>>,
    /// Tells the first request's handler that a round began.
    first_round: std::sync::Mutex<Option<oneshot::Sender<InputRequiredResult>>>,
    asked: AtomicUsize,
    recorder: RelayRecorder,
}

/// The first request's view of a call that may ask: a round to answer with, if the
/// upstream asked before it ended.
pub(crate) type FirstRound = oneshot::Receiver<InputRequiredResult>;

impl RoundsClient {
    pub fn new(
        platform: &Platform,
        owner: TaskOwner,
        address: Option<std::net::IpAddr>,
        tool: &str,
        capabilities: Option<ClientCapabilities>,
        recorder: RelayRecorder,
    ) -> (Arc<Self>, FirstRound) {
        let (first_round, first) = oneshot::channel();
        let client = Arc::new(Self {
            platform: platform.clone(),
            owner,
            address,
            tool: tool.to_owned(),
            capabilities,
            held: Mutex::default(),
            end: std::sync::Mutex::default(),
            first_round: std::sync::Mutex::new(Some(first_round)),
            asked: AtomicUsize::new(0),
            recorder,
        });
        (client, first)
    }

    /// The call ended: if it had become a task, the task ends with it.
    pub fn finish(&self, result: &CallToolResult) {
        let end = self.end.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(end) = end {
            let _ = end.send(crate::tasks::task_end(Ok(result.clone())));
        }
    }

    /// The call's task, written to the store at its first request.
    async fn task(&self) -> Result<TaskContext, RelayError> {
        let mut held = self.held.lock().await;
        if let Some(context) = held.as_ref() {
            return Ok(context.clone());
        }
        let admission = core_tasks::admit(&self.platform, &self.owner, self.address, &self.tool)
            .await
            .map_err(|e| RelayError::Unanswered(e.to_string()))?;
        let admitted = match admission {
            Admission::Admitted(admitted) => admitted,
            Admission::Full(full) => {
                return Err(RelayError::Unanswered(format!(
                    "the call cannot wait for its caller's answer: {full}"
                )));
            }
        };
        let (context_sender, context) = oneshot::channel();
        let (end, ended) = oneshot::channel::<TaskEnd>();
        admitted.run(move |context: TaskContext| {
            let _ = context_sender.send(context);
            async move {
                ended.await.unwrap_or_else(|_| {
                    TaskEnd::Failed(
                        json!({"code": -32603, "message": "the call ended without an answer"}),
                    )
                })
            }
        });
        let context = context
            .await
            .map_err(|_| RelayError::Unanswered("the call's task did not start".into()))?;
        *self.end.lock().unwrap_or_else(|e| e.into_inner()) = Some(end);
        *held = Some(context.clone());
        Ok(context)
    }
}

#[async_trait]
impl CallerClient for RoundsClient {
    fn answers(&self, method: &str) -> bool {
        let Some(capabilities) = &self.capabilities else {
            return false;
        };
        match method {
            "sampling/createMessage" => capabilities.sampling.is_some(),
            "elicitation/create" => capabilities.elicitation.is_some(),
            #[allow(deprecated)] // roots are deprecated by SEP-2577; this era still has them
            "roots/list" => capabilities.roots.is_some(),
            _ => false,
        }
    }

    async fn request(&self, method: &str, params: Value) -> Result<Value, RelayError> {
        let started = std::time::Instant::now();
        let outcome = self.round_trip(method, params.clone()).await;
        self.recorder.record(method, &params, &outcome, started);
        outcome
    }

    async fn notify(&self, _method: &str, _params: Value) {
        // A log message has no way to a client between rounds in this era.
    }
}

impl RoundsClient {
    /// The request as a round: posted to the call's task, answered by a retry.
    async fn round_trip(&self, method: &str, params: Value) -> Result<Value, RelayError> {
        let context = self.task().await?;
        let key = format!("input-{}", self.asked.fetch_add(1, Ordering::Relaxed) + 1);
        let mut requests = Map::new();
        requests.insert(key.clone(), json!({"method": method, "params": params}));
        let posted = context
            .post(requests.clone())
            .await
            .map_err(|e| RelayError::Unanswered(e.to_string()))?;
        if !posted {
            return Err(RelayError::Unanswered("the call's task is gone".into()));
        }
        let first = self
            .first_round
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(first) = first {
            let _ = first.send(round(&requests, context.id()));
        }
        let answers = context
            .answers()
            .await
            .map_err(|e| RelayError::Unanswered(e.to_string()))?
            .ok_or_else(|| RelayError::Unanswered("the caller cancelled the call".into()))?;
        answers
            .get(&key)
            .cloned()
            .ok_or_else(|| RelayError::Unanswered(format!("no answer to {key}")))
    }
}

/// A round: the requests, and the state that names the task.
fn round(requests: &Map<String, Value>, task: &TaskId) -> InputRequiredResult {
    let requests = serde_json::from_value(Value::Object(requests.clone())).ok();
    InputRequiredResult::new(requests, Some(format!("{STATE_PREFIX}{task}")))
}

/// The task a `requestState` of Guidepost's names, if it is one.
pub(crate) fn task_of(state: &str) -> Option<TaskId> {
    TaskId::parse(state.strip_prefix(STATE_PREFIX)?)
}

/// A retried call: its answers go to the task, and the call's next round or its end is
/// the answer (the same round again if neither came within [`RETRY_WAIT`]).
pub(crate) async fn resume(
    platform: &Platform,
    owner: &TaskOwner,
    task: &TaskId,
    responses: Map<String, Value>,
) -> Result<CallToolResponse, ErrorData> {
    let unknown = || {
        ErrorData::invalid_params(
            "Unknown requestState: the call it belonged to ended or expired; call the tool again",
            None,
        )
    };
    let refused = |error: guidepost_core::CoreError| match error {
        guidepost_core::CoreError::NotFound => unknown(),
        other => {
            tracing::error!(error = %other, "a round could not be read or written");
            ErrorData::internal_error("the call could not be resumed; please retry", None)
        }
    };
    if !responses.is_empty() {
        core_tasks::answer(platform, owner, task, &responses)
            .await
            .map_err(refused)?;
    }
    let now = core_tasks::settled(platform, owner, task, RETRY_WAIT)
        .await
        .map_err(refused)?;
    match now.status {
        TaskStatus::Completed => {
            let outcome = now.outcome.unwrap_or(Value::Null);
            let result: CallToolResult = serde_json::from_value(outcome).map_err(|e| {
                ErrorData::internal_error(format!("the call's result is unreadable: {e}"), None)
            })?;
            Ok(result.into())
        }
        TaskStatus::Failed => {
            let error: ErrorData = now
                .outcome
                .and_then(|outcome| serde_json::from_value(outcome).ok())
                .unwrap_or_else(|| ErrorData::internal_error("the call failed", None));
            Err(error)
        }
        TaskStatus::Cancelled => Err(unknown()),
        _ => Ok(round(&now.input_requests, task).into()),
    }
}
