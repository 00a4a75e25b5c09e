//! Tasks (the MCP tasks extension): tool calls that outlive their request.
//!
//! [`admit`] writes the task to the store before it admits it, so that any node can
//! answer for it at once, and [`AdmittedTask::run`] runs the call on this node. The call
//! ends in the store too (`completed` with its result, `failed` with a JSON-RPC error);
//! `tasks/cancel` and `tasks/update` may reach any node, which writes the change to the
//! store and wakes the call at once if it runs there. A call on another node sees the
//! change on its next look at the store ([`REMOTE_POLL`]): the feed that crosses nodes
//! carries tool-list changes only, and a task that waits half a second longer costs
//! nothing.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use guidepost_domain::{
    EndUserId, MAX_TASK_INPUTS, OrgId, ServerId, Task, TaskId, TaskRefusal, TaskStatus, TasksFull,
    Timestamp,
};
use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::{CoreError, Platform};

/// How often a running call looks in the store for a cancellation or answers that
/// reached another node.
const REMOTE_POLL: Duration = Duration::from_millis(250);
/// Writes retried when another node changed the task between our read and write.
const RACE_RETRIES: usize = 8;

/// Whose task: the server it runs on and, where known, the person who started it.
#[derive(Debug, Clone)]
pub struct TaskOwner {
    pub org: OrgId,
    pub server: ServerId,
    pub end_user: Option<EndUserId>,
}

/// How a call that runs as a task ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskEnd {
    /// The tool's result (a tool error too: it is a result with `isError`).
    Completed(Value),
    /// A protocol error: a JSON-RPC error object.
    Failed(Value),
}

/// The tasks running on this node, so that a cancellation or an answer reaching this
/// node wakes its call at once.
#[derive(Default)]
pub(crate) struct RunningTasks {
    wakers: Mutex<HashMap<TaskId, Arc<Notify>>>,
}

impl RunningTasks {
    fn register(&self, id: &TaskId) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        self.lock().insert(id.clone(), notify.clone());
        notify
    }

    fn forget(&self, id: &TaskId) {
        self.lock().remove(id);
    }

    fn wake(&self, id: &TaskId) {
        if let Some(notify) = self.lock().get(id) {
            notify.notify_waiters();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TaskId, Arc<Notify>>> {
        self.wakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a call running as a task can do besides its work.
#[derive(Clone)]
pub struct TaskContext {
    platform: Platform,
    owner: TaskOwner,
    id: TaskId,
    wake: Arc<Notify>,
}

impl TaskContext {
    /// Asks the client for input (`input_required`, with these requests by key) and
    /// waits until every request is answered: the answers, or `None` if the task was
    /// cancelled or is gone meanwhile.
    pub async fn ask(
        &self,
        requests: Map<String, Value>,
    ) -> Result<Option<Map<String, Value>>, CoreError> {
        if !self.post(requests).await? {
            return Ok(None);
        }
        self.answers().await
    }

    /// The task's id.
    pub fn id(&self) -> &TaskId {
        &self.id
    }

    /// Writes the requests the client is to answer (`input_required`); false if the task
    /// is gone.
    pub async fn post(&self, requests: Map<String, Value>) -> Result<bool, CoreError> {
        let now = Timestamp::now();
        let asked = update(&self.platform, &self.owner, &self.id, |task| {
            task.ask(requests.clone(), now).map(|()| true)
        })
        .await;
        match asked {
            Ok(()) => Ok(true),
            Err(CoreError::NotFound) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Waits until every posted request is answered: the answers, or `None` if the task
    /// was cancelled or is gone meanwhile.
    pub async fn answers(&self) -> Result<Option<Map<String, Value>>, CoreError> {
        loop {
            let mut task = match get(&self.platform, &self.owner, &self.id).await {
                Ok(task) => task,
                Err(CoreError::NotFound) => return Ok(None),
                Err(error) => return Err(error),
            };
            if task.status.is_terminal() {
                return Ok(None);
            }
            if let Some(answers) = task.take_answers(Timestamp::now()) {
                if self.platform.store.replace_task(&task).await? {
                    return Ok(Some(answers));
                }
                // Another node wrote first (a cancellation, say): read again.
                continue;
            }
            self.pause().await;
        }
    }

    /// Resolves once the task is cancelled (or gone), on whichever node that happened.
    pub async fn cancelled(&self) {
        loop {
            self.pause().await;
            match get(&self.platform, &self.owner, &self.id).await {
                Ok(task) if task.status == TaskStatus::Cancelled => return,
                Ok(_) => {}
                Err(CoreError::NotFound) => return,
                // A store outage is not a cancellation: look again later.
                Err(error) => tracing::warn!(%error, task = %self.id, "could not read a task"),
            }
        }
    }

    /// Until this node is told of a change, or it is time to look in the store.
    async fn pause(&self) {
        let woken = self.wake.notified();
        let _ = tokio::time::timeout(REMOTE_POLL, woken).await;
    }
}

/// Whether a call may run on as a task.
#[must_use = "an admitted task is in the store: run it"]
pub enum Admission {
    /// The task is in the store, working; [`AdmittedTask::run`] runs its call.
    Admitted(Box<AdmittedTask>),
    /// A cap of unfinished tasks is reached (the server's, its person's or its client
    /// address's): nothing was written, and the call is the caller's to answer some
    /// other way (within its request, as for a client without the tasks extension).
    Full(TasksFull),
}

/// A task written to the store whose call has not started yet.
#[must_use = "an admitted task is in the store: run it"]
pub struct AdmittedTask {
    platform: Platform,
    owner: TaskOwner,
    task: Task,
}

/// Creates a task for `tool` on the owner's server, started from `client_address`,
/// unless the server, its person or that address has as many unfinished tasks as it
/// may keep ([`guidepost_domain::OpenTasks::full`]): one client cannot take the tasks
/// of a whole server. The task is in the store when this admits it.
pub async fn admit(
    platform: &Platform,
    owner: &TaskOwner,
    client_address: Option<IpAddr>,
    tool: &str,
) -> Result<Admission, CoreError> {
    let task = Task::new(
        owner.org.clone(),
        owner.server.clone(),
        owner.end_user.clone(),
        tool,
        Timestamp::now(),
    )
    .from_address(client_address);
    if let Err(full) = platform.store.create_task(&task).await? {
        metrics::counter!("guidepost_tasks_refused_total", "cap" => full.cap()).increment(1);
        return Ok(Admission::Full(full));
    }
    Ok(Admission::Admitted(Box::new(AdmittedTask {
        platform: platform.clone(),
        owner: owner.clone(),
        task,
    })))
}

impl AdmittedTask {
    /// Runs `work` for the task on this node and answers the task as it was written.
    /// `work` is told of a cancellation through [`TaskContext::cancelled`] (and
    /// [`TaskContext::ask`]), so that it can stop and say how far it got; how it ends is
    /// not recorded over a cancellation.
    pub fn run<W, F>(self: Box<Self>, work: W) -> Task
    where
        W: FnOnce(TaskContext) -> F,
        F: Future<Output = TaskEnd> + Send + 'static,
    {
        let Self {
            platform,
            owner,
            task,
        } = *self;
        let context = TaskContext {
            wake: platform.running_tasks.register(&task.id),
            platform,
            owner,
            id: task.id.clone(),
        };
        let watcher = context.clone();
        let running = work(context);
        tokio::spawn(async move {
            let end = running.await;
            record_end(&watcher, end).await;
            watcher.platform.running_tasks.forget(&watcher.id);
        });
        task
    }
}

/// Writes how the call ended, unless the task was cancelled meanwhile.
async fn record_end(context: &TaskContext, end: TaskEnd) {
    let (status, outcome) = match end {
        TaskEnd::Completed(result) => (TaskStatus::Completed, result),
        TaskEnd::Failed(error) => (TaskStatus::Failed, error),
    };
    let now = Timestamp::now();
    let written = update(&context.platform, &context.owner, &context.id, |task| {
        Ok(task.finish(status, Some(outcome.clone()), now))
    })
    .await;
    if let Err(error) = written {
        tracing::error!(%error, task = %context.id, "could not record how a task ended");
    }
}

/// The owner's task: `NotFound` if it is unknown, expired, another server's, or another
/// person's.
pub async fn get(platform: &Platform, owner: &TaskOwner, id: &TaskId) -> Result<Task, CoreError> {
    let task = platform
        .store
        .get_task(&owner.org, &owner.server, id, Timestamp::now())
        .await?;
    if !task.belongs_to(owner.end_user.as_ref()) {
        return Err(CoreError::NotFound);
    }
    Ok(task)
}

/// Waits, up to `within`, until the owner's task ends or asks the client for input: the
/// task as it then is (still `working` when the time ran out).
pub async fn settled(
    platform: &Platform,
    owner: &TaskOwner,
    id: &TaskId,
    within: Duration,
) -> Result<Task, CoreError> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let task = get(platform, owner, id).await?;
        let waits = task.status == TaskStatus::InputRequired && !task.input_requests.is_empty();
        if task.status.is_terminal() || waits || tokio::time::Instant::now() >= deadline {
            return Ok(task);
        }
        tokio::time::sleep(REMOTE_POLL).await;
    }
}

/// Cancels the task unless it is finished (then nothing changes).
pub async fn cancel(platform: &Platform, owner: &TaskOwner, id: &TaskId) -> Result<(), CoreError> {
    let now = Timestamp::now();
    update(platform, owner, id, |task| Ok(task.cancel(now))).await?;
    platform.running_tasks.wake(id);
    Ok(())
}

/// The client answers some of the task's requests. Answers to requests it does not
/// wait for, or to a task that waits for none, change nothing.
pub async fn answer(
    platform: &Platform,
    owner: &TaskOwner,
    id: &TaskId,
    responses: &Map<String, Value>,
) -> Result<(), CoreError> {
    if responses.len() > MAX_TASK_INPUTS {
        return Err(CoreError::Invalid(guidepost_domain::ValidationError::new(
            "inputResponses",
            format!("at most {MAX_TASK_INPUTS} answers at a time"),
        )));
    }
    let now = Timestamp::now();
    update(platform, owner, id, |task| {
        match task.answer(responses, now) {
            Ok(()) => Ok(true),
            Err(TaskRefusal::NotWaitingForInput(_)) => Ok(false),
            Err(refusal) => Err(refusal),
        }
    })
    .await?;
    platform.running_tasks.wake(id);
    Ok(())
}

/// Reads the task, applies `change` (which says whether it changed anything) and writes
/// it if it did, again from a fresh read whenever another node wrote first.
async fn update(
    platform: &Platform,
    owner: &TaskOwner,
    id: &TaskId,
    change: impl Fn(&mut Task) -> Result<bool, TaskRefusal>,
) -> Result<(), CoreError> {
    for _ in 0..RACE_RETRIES {
        let mut task = get(platform, owner, id).await?;
        let changed =
            change(&mut task).map_err(|refusal| CoreError::Conflict(refusal.to_string()))?;
        if !changed || platform.store.replace_task(&task).await? {
            return Ok(());
        }
    }
    Err(CoreError::Conflict(
        "the task kept changing while it was being updated; try again".into(),
    ))
}
