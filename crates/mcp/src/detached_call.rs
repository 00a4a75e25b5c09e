//! A tool call that may outlive its request (the tasks extension): answered within its
//! request if it ends within [`ANSWER_WITHIN`], else run on as a task on this node and
//! recorded when it ends, however it ends.

use std::time::{Duration, Instant};

use guidepost_core::hosting::tasks::Admission;
use rmcp::ErrorData;
use rmcp::model::CallToolResponse;
use serde_json::Value;

use crate::handler::GuidepostServer;
use crate::recording::{CallRecord, Recorded, record};
use crate::scope::RequestScope;
use crate::tasks;
use crate::tools::ToolAnswer;

/// How long a call that may run as a task is awaited before it becomes one: most calls
/// answer sooner, and their caller is spared the polling.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);

impl GuidepostServer {
    /// A call that may outlive its request: answered directly if it ends within
    /// [`ANSWER_WITHIN`], else run on as a task on this node (the store has it before
    /// the client hears of it) and recorded when it ends, however it ends. When the
    /// server, the caller or the caller's address has as many unfinished tasks as it may
    /// keep, the call is answered within its request instead.
    pub(crate) async fn call_as_task(
        &self,
        scope: &RequestScope,
        (name, label, arguments): (&str, &'static str, &Value),
        end_user: Option<guidepost_domain::EndUser>,
        mut detached: crate::tools::DetachedCall,
        started: Instant,
    ) -> Result<CallToolResponse, ErrorData> {
        let platform = self.platform.clone();
        let owner = tasks::owner(scope, end_user.as_ref().map(|user| user.id.clone()));
        // Records the call, however and whenever it ends: it may end in the task.
        let recorder = {
            let (scope, name, arguments) = (scope.clone(), name.to_owned(), arguments.clone());
            move |recorded: Recorded, upstream| {
                let call = CallRecord {
                    tool: &name,
                    label,
                    arguments: &arguments,
                    end_user: end_user.as_ref(),
                    upstream,
                };
                record(&platform, &scope, call, recorded);
            }
        };
        if let Ok(ToolAnswer {
            result,
            upstream,
            refusal,
            ..
        }) = tokio::time::timeout(ANSWER_WITHIN, &mut detached).await
        {
            recorder(
                Recorded::result(&result, started).refused_as(refusal),
                upstream,
            );
            return Ok(result.into());
        }
        let admission =
            guidepost_core::hosting::tasks::admit(&self.platform, &owner, scope.client_ip, name)
                .await;
        match admission {
            Ok(Admission::Admitted(admitted)) => {
                let task = admitted.run(move |ctx| async move {
                    let ToolAnswer {
                        result,
                        upstream,
                        refusal,
                        ..
                    } = tokio::select! {
                        answered = detached => answered,
                        () = ctx.cancelled() => cancelled_call().into(),
                    };
                    recorder(
                        Recorded::result(&result, started).refused_as(refusal),
                        upstream,
                    );
                    tasks::task_end(Ok(result))
                });
                Ok(tasks::created(&task))
            }
            Ok(Admission::Full(full)) => {
                // No room for another task: the call is answered within its request, as
                // for a client without the extension, and nobody else's task is refused.
                tracing::info!(%full, tool = name, "the call is answered within its request");
                let ToolAnswer {
                    result,
                    upstream,
                    refusal,
                    ..
                } = detached.await;
                recorder(
                    Recorded::result(&result, started).refused_as(refusal),
                    upstream,
                );
                Ok(result.into())
            }
            Err(error) => {
                // The call is given up with its task: it is recorded as refused.
                let error = tasks::not_started(error);
                recorder(Recorded::protocol_error(&error.message, started), None);
                Err(error)
            }
        }
    }
}

/// The recorded result of a call given up because its task was cancelled.
fn cancelled_call() -> rmcp::model::CallToolResult {
    rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(
        "the task was cancelled (tasks/cancel) before the call ended",
    )])
}
