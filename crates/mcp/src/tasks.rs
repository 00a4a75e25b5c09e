//! The tasks extension on the wire (SEP-2663): `CreateTaskResult` for a tool call that
//! runs on, and `tasks/get`, `tasks/update` and `tasks/cancel`, answered from the store
//! by whichever node a request reaches (`guidepost_core::hosting::tasks`). Every surface that
//! runs tools as tasks answers these methods through this module.

use guidepost_core::hosting::tasks::{self, TaskEnd, TaskOwner};
use guidepost_core::{CoreError, Platform};
use guidepost_domain::{EndUserId, TASK_POLL_INTERVAL, TASK_TTL, Task, TaskId, TaskStatus};
use rmcp::ErrorData;
use rmcp::RoleServer;
use rmcp::model::{
    CallToolResponse, CallToolResult, CreateTaskResult, DetailedTask, GetTaskResult, JsonObject,
    TaskPayload,
};
use rmcp::service::RequestContext;
use serde_json::Value;

use crate::scope::RequestScope;

/// Whether the request may be answered with a task: the client declared the extension,
/// for its session or for this request.
pub fn client_accepts_tasks(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.client_capabilities()
        .is_some_and(|capabilities| capabilities.supports_tasks())
}

/// The owner of the tasks a request starts or steers: its server and, where the
/// request identifies somebody, that person.
pub fn owner(scope: &RequestScope, end_user: Option<EndUserId>) -> TaskOwner {
    TaskOwner {
        org: scope.server.org_id.clone(),
        server: scope.server.id.clone(),
        end_user,
    }
}

/// How a call ended, as a task records it: a result (tool errors included) completes
/// it; a JSON-RPC error fails it.
pub fn task_end(outcome: Result<CallToolResult, ErrorData>) -> TaskEnd {
    match outcome {
        Ok(result) => TaskEnd::Completed(to_value(&result)),
        Err(error) => TaskEnd::Failed(to_value(&error)),
    }
}

/// The answer to a `tools/call` that started `task`.
pub fn created(task: &Task) -> CallToolResponse {
    CallToolResponse::Task(CreateTaskResult::new(wire_task(task)))
}

/// Starting a task was refused: too many unfinished ones, or the store failed.
pub fn not_started(error: CoreError) -> ErrorData {
    match error {
        CoreError::Conflict(message) => ErrorData::invalid_request(message, None),
        other => store_failed(other),
    }
}

pub async fn get(
    platform: &Platform,
    owner: &TaskOwner,
    task_id: &str,
) -> Result<GetTaskResult, ErrorData> {
    let id = parse_id(task_id)?;
    let task = tasks::get(platform, owner, &id)
        .await
        .map_err(|e| refused(e, task_id))?;
    Ok(GetTaskResult::new(detailed(&task)))
}

pub async fn cancel(
    platform: &Platform,
    owner: &TaskOwner,
    task_id: &str,
) -> Result<(), ErrorData> {
    let id = parse_id(task_id)?;
    tasks::cancel(platform, owner, &id)
        .await
        .map_err(|e| refused(e, task_id))
}

pub async fn update(
    platform: &Platform,
    owner: &TaskOwner,
    task_id: &str,
    responses: &serde_json::Map<String, Value>,
) -> Result<(), ErrorData> {
    let id = parse_id(task_id)?;
    tasks::answer(platform, owner, &id, responses)
        .await
        .map_err(|e| refused(e, task_id))
}

fn parse_id(task_id: &str) -> Result<TaskId, ErrorData> {
    TaskId::parse(task_id).ok_or_else(|| unknown(task_id))
}

fn unknown(task_id: &str) -> ErrorData {
    let shown: String = task_id.chars().take(64).collect();
    ErrorData::invalid_params(
        format!(
            "Unknown task: {shown:?}. A task is known only on the server that started it, to \
             the caller who started it, for {} minutes after it was created.",
            TASK_TTL.as_secs() / 60
        ),
        None,
    )
}

fn refused(error: CoreError, task_id: &str) -> ErrorData {
    match error {
        CoreError::NotFound => unknown(task_id),
        CoreError::Invalid(invalid) => ErrorData::invalid_params(invalid.to_string(), None),
        CoreError::Conflict(message) => ErrorData::invalid_request(message, None),
        other => store_failed(other),
    }
}

fn store_failed(error: CoreError) -> ErrorData {
    tracing::error!(%error, "a task could not be read or written");
    ErrorData::internal_error("the task could not be read or written; please retry", None)
}

fn wire_task(task: &Task) -> rmcp::model::Task {
    rmcp::model::Task::new(
        task.id.as_str(),
        wire_status(task.status),
        task.created_at.to_rfc3339(),
        task.updated_at.to_rfc3339(),
    )
    .with_ttl_ms(millis(TASK_TTL))
    .with_poll_interval_ms(millis(TASK_POLL_INTERVAL))
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn wire_status(status: TaskStatus) -> rmcp::model::TaskStatus {
    use rmcp::model::TaskStatus as Wire;
    match status {
        TaskStatus::Working => Wire::Working,
        TaskStatus::InputRequired => Wire::InputRequired,
        TaskStatus::Completed => Wire::Completed,
        TaskStatus::Failed => Wire::Failed,
        TaskStatus::Cancelled => Wire::Cancelled,
    }
}

/// The task with what its status carries: the pending requests, the result or the
/// error. A stored value that does not fit is reported as the task's failure rather
/// than hidden.
fn detailed(task: &Task) -> DetailedTask {
    let payload = match task.status {
        TaskStatus::Working => TaskPayload::Working,
        TaskStatus::Cancelled => TaskPayload::Cancelled,
        TaskStatus::InputRequired => {
            let requests = Value::Object(task.input_requests.clone());
            match serde_json::from_value(requests) {
                Ok(input_requests) => TaskPayload::InputRequired { input_requests },
                Err(e) => corrupt(&format!("its input requests do not parse: {e}")),
            }
        }
        TaskStatus::Completed => match object(task.outcome.as_ref()) {
            Some(result) => TaskPayload::Completed { result },
            None => corrupt("its result is missing"),
        },
        TaskStatus::Failed => match object(task.outcome.as_ref()) {
            Some(error) => TaskPayload::Failed { error },
            None => corrupt("its error is missing"),
        },
    };
    DetailedTask::new(wire_task(task), payload)
}

fn object(value: Option<&Value>) -> Option<JsonObject> {
    value.and_then(Value::as_object).cloned()
}

fn corrupt(why: &str) -> TaskPayload {
    tracing::error!(why, "a stored task does not fit the protocol");
    TaskPayload::Failed {
        error: object(Some(&to_value(&ErrorData::internal_error(
            format!("the task's record is damaged: {why}"),
            None,
        ))))
        .unwrap_or_default(),
    }
}

fn to_value(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
