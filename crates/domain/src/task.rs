//! Tasks (the MCP tasks extension, SEP-2663): a tool call that outlives its request. The
//! node that runs the call keeps it running; its state lives in the store, so that any
//! node answers `tasks/get`, `tasks/update` and `tasks/cancel` for it.
//!
//! The rules of a task's life are here, as pure transitions on [`Task`]; the store
//! writes a changed task only if nobody changed it since it was read (its `revision`),
//! so two nodes racing on one task cannot lose an answer or undo a cancellation.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::Timestamp;
use crate::id::*;

/// How long a task can be read after it was created (its `ttlMs`); then it is gone.
pub const TASK_TTL: Duration = Duration::from_secs(60 * 60);
/// How often a client is asked to poll (`pollIntervalMs`).
pub const TASK_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Tasks that are not finished, per server: one client cannot fill a node with them.
pub const MAX_OPEN_TASKS_PER_SERVER: u32 = 200;
/// Tasks that are not finished, per end user on a server: one person cannot take the
/// server's share from everyone else.
pub const MAX_OPEN_TASKS_PER_END_USER: u32 = 20;
/// Tasks that are not finished, per client address on a server: an anonymous client
/// (a new end user per tracking id, or none) cannot take the server's share either.
pub const MAX_OPEN_TASKS_PER_ADDRESS: u32 = 50;
/// The most input requests or responses one task holds at a time.
pub const MAX_TASK_INPUTS: usize = 16;

string_enum! {
    /// Where a task is in its life; the last three are final.
    TaskStatus {
        Working => "working",
        InputRequired => "input_required",
        Completed => "completed",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

impl TaskStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// A task as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: TaskId,
    pub org_id: OrgId,
    pub server_id: ServerId,
    /// Who started it, where the request identified somebody: only they may see it.
    pub end_user_id: Option<EndUserId>,
    /// The tool the task runs.
    pub tool: String,
    pub status: TaskStatus,
    /// Requests to the client that are not answered yet, by the server's keys.
    pub input_requests: Map<String, Value>,
    /// Answers the client gave that the running call has not taken yet.
    pub input_responses: Map<String, Value>,
    /// The tool's result (`completed`) or the JSON-RPC error (`failed`).
    pub outcome: Option<Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub expires_at: Timestamp,
    /// Bumped by every write: a write that read an older revision is refused.
    pub revision: i64,
    /// The client address the call came from, where known: the caps count by it.
    pub client_address: Option<IpAddr>,
}

/// The unfinished tasks a new task would join: on its server, of its end user there and
/// from its client address there.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OpenTasks {
    pub on_server: u32,
    pub of_end_user: u32,
    pub from_address: u32,
}

impl OpenTasks {
    /// The cap a new task would pass, if any.
    pub fn full(&self) -> Option<TasksFull> {
        if self.on_server >= MAX_OPEN_TASKS_PER_SERVER {
            Some(TasksFull::Server(self.on_server))
        } else if self.of_end_user >= MAX_OPEN_TASKS_PER_END_USER {
            Some(TasksFull::EndUser(self.of_end_user))
        } else if self.from_address >= MAX_OPEN_TASKS_PER_ADDRESS {
            Some(TasksFull::Address(self.from_address))
        } else {
            None
        }
    }
}

/// Which cap of unfinished tasks a new task would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TasksFull {
    #[error("this server has {0} unfinished tasks, the most it keeps")]
    Server(u32),
    #[error("this person has {0} unfinished tasks on this server, the most one person keeps")]
    EndUser(u32),
    #[error(
        "this client address has {0} unfinished tasks on this server, the most one address keeps"
    )]
    Address(u32),
}

impl TasksFull {
    /// A fixed label per cap (metrics).
    pub fn cap(&self) -> &'static str {
        match self {
            Self::Server(_) => "server",
            Self::EndUser(_) => "end_user",
            Self::Address(_) => "address",
        }
    }
}

/// Why a task refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskRefusal {
    #[error("the task asks for no input now (it is {0})")]
    NotWaitingForInput(TaskStatus),
    #[error("a task holds at most {MAX_TASK_INPUTS} inputs at a time")]
    TooManyInputs,
}

impl Task {
    /// A new task, working, created now and kept for [`TASK_TTL`].
    pub fn new(
        org_id: OrgId,
        server_id: ServerId,
        end_user_id: Option<EndUserId>,
        tool: &str,
        now: Timestamp,
    ) -> Self {
        Self {
            id: TaskId::generate(),
            org_id,
            server_id,
            end_user_id,
            tool: tool.to_owned(),
            status: TaskStatus::Working,
            input_requests: Map::new(),
            input_responses: Map::new(),
            outcome: None,
            created_at: now,
            updated_at: now,
            expires_at: now.plus(TASK_TTL),
            revision: 0,
            client_address: None,
        }
    }

    /// The task, as started from `address`.
    pub fn from_address(mut self, address: Option<IpAddr>) -> Self {
        self.client_address = address;
        self
    }

    /// Whether `caller` may see and steer this task: a task started by an identified
    /// person is theirs alone.
    pub fn belongs_to(&self, caller: Option<&EndUserId>) -> bool {
        match &self.end_user_id {
            Some(owner) => caller == Some(owner),
            None => true,
        }
    }

    /// The running call asks the client for input; the task waits for every answer.
    pub fn ask(&mut self, requests: Map<String, Value>, now: Timestamp) -> Result<(), TaskRefusal> {
        if self.status != TaskStatus::Working {
            return Err(TaskRefusal::NotWaitingForInput(self.status));
        }
        if requests.len() > MAX_TASK_INPUTS {
            return Err(TaskRefusal::TooManyInputs);
        }
        self.input_requests = requests;
        self.status = TaskStatus::InputRequired;
        self.touch(now);
        Ok(())
    }

    /// The client answers some or all of the pending requests. Answers to keys that
    /// are not pending are ignored (a late or repeated answer changes nothing); once
    /// nothing is pending, the task works again.
    pub fn answer(
        &mut self,
        responses: &Map<String, Value>,
        now: Timestamp,
    ) -> Result<(), TaskRefusal> {
        if self.status != TaskStatus::InputRequired {
            return Err(TaskRefusal::NotWaitingForInput(self.status));
        }
        for (key, response) in responses {
            if self.input_requests.remove(key).is_some() {
                self.input_responses.insert(key.clone(), response.clone());
            }
        }
        if self.input_requests.is_empty() {
            self.status = TaskStatus::Working;
        }
        self.touch(now);
        Ok(())
    }

    /// The running call takes every answer, once all are in.
    pub fn take_answers(&mut self, now: Timestamp) -> Option<Map<String, Value>> {
        if self.status != TaskStatus::Working || self.input_responses.is_empty() {
            return None;
        }
        self.touch(now);
        Some(std::mem::take(&mut self.input_responses))
    }

    /// Cancels the task unless it is finished; whether anything changed.
    pub fn cancel(&mut self, now: Timestamp) -> bool {
        self.finish(TaskStatus::Cancelled, None, now)
    }

    /// The call ended: its result or error. A finished task (cancelled meanwhile, say)
    /// stays as it is; whether anything changed.
    pub fn finish(&mut self, status: TaskStatus, outcome: Option<Value>, now: Timestamp) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        debug_assert!(status.is_terminal(), "a task finishes in a final status");
        self.status = status;
        self.outcome = outcome;
        self.input_requests.clear();
        self.input_responses.clear();
        self.touch(now);
        true
    }

    fn touch(&mut self, now: Timestamp) {
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn task() -> Task {
        Task::new(
            OrgId::generate(),
            ServerId::generate(),
            None,
            "slow",
            Timestamp::from_micros(0),
        )
    }

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn a_task_waits_until_every_request_is_answered_and_ignores_unknown_keys() {
        let now = Timestamp::from_micros(1);
        let mut task = task();
        task.ask(map(json!({"a": {}, "b": {}})), now).unwrap();
        task.answer(&map(json!({"a": 1, "zzz": 9})), now).unwrap();
        assert_eq!(task.status, TaskStatus::InputRequired);
        assert_eq!(task.input_requests.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(task.take_answers(now), None, "not before all are in");
        task.answer(&map(json!({"b": 2})), now).unwrap();
        assert_eq!(task.status, TaskStatus::Working);
        assert_eq!(task.take_answers(now), Some(map(json!({"a": 1, "b": 2}))));
        assert!(task.input_responses.is_empty());
    }

    #[test]
    fn a_finished_task_stays_finished() {
        let now = Timestamp::from_micros(1);
        let mut task = task();
        assert!(task.cancel(now));
        assert!(!task.finish(TaskStatus::Completed, Some(json!({})), now));
        assert_eq!(task.status, TaskStatus::Cancelled);
        assert_eq!(task.outcome, None);
        assert!(!task.cancel(now), "cancelling twice changes nothing");
        assert_eq!(
            task.answer(&Map::new(), now),
            Err(TaskRefusal::NotWaitingForInput(TaskStatus::Cancelled))
        );
    }

    #[test]
    fn a_task_of_a_person_is_theirs_alone() {
        let owner = EndUserId::generate();
        let mut task = task();
        assert!(task.belongs_to(None) && task.belongs_to(Some(&owner)));
        task.end_user_id = Some(owner.clone());
        assert!(task.belongs_to(Some(&owner)));
        assert!(!task.belongs_to(Some(&EndUserId::generate())));
        assert!(!task.belongs_to(None));
    }

    #[test]
    fn a_task_asks_for_a_bounded_number_of_inputs() {
        let mut task = task();
        let many: Map<String, Value> = (0..=MAX_TASK_INPUTS)
            .map(|i| (i.to_string(), json!({})))
            .collect();
        assert_eq!(
            task.ask(many, Timestamp::from_micros(1)),
            Err(TaskRefusal::TooManyInputs)
        );
    }

    #[test]
    fn each_cap_of_unfinished_tasks_refuses_on_its_own() {
        let room = OpenTasks {
            on_server: MAX_OPEN_TASKS_PER_SERVER - 1,
            of_end_user: MAX_OPEN_TASKS_PER_END_USER - 1,
            from_address: MAX_OPEN_TASKS_PER_ADDRESS - 1,
        };
        assert_eq!(room.full(), None);
        let server = OpenTasks {
            on_server: MAX_OPEN_TASKS_PER_SERVER,
            ..room
        };
        assert_eq!(
            server.full(),
            Some(TasksFull::Server(MAX_OPEN_TASKS_PER_SERVER))
        );
        let person = OpenTasks {
            of_end_user: MAX_OPEN_TASKS_PER_END_USER,
            ..room
        };
        assert_eq!(person.full().map(|f| f.cap()), Some("end_user"));
        let address = OpenTasks {
            from_address: MAX_OPEN_TASKS_PER_ADDRESS,
            ..room
        };
        assert_eq!(address.full().map(|f| f.cap()), Some("address"));
    }
}
