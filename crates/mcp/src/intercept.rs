//! The organization's interceptors around one tool call (`core::guardrails::intercept`):
//! asked before the guardrails' policies, with the arguments they may rewrite, and again
//! on the result they may rewrite or withhold. A refusal or a withheld result is a tool
//! error carrying the interceptor's reason, so that the agent can tell its user.

use std::sync::Arc;

use guidepost_core::guardrails::decide::{PolicyCaller, ToolFacts, ToolHints};
use guidepost_core::guardrails::intercept::{self, InterceptedCall, Verdict};
use guidepost_core::{CoreError, Platform};
use guidepost_domain::{CallRefusal, InterceptPhase, McpServer};
use rmcp::ErrorData;
use rmcp::model::CallToolResult;
use serde_json::Value;

use crate::guard::{client_name, policy_caller, stopped, tool_error};
use crate::tools::{DetachedCall, ResolvedTool, ToolAnswer, ToolCall};

/// What the interceptors make of a call before it runs.
pub(crate) enum Before {
    /// Go on with these arguments: the call's, or those an interceptor put instead.
    Go(Option<Value>),
    /// Refused: the answer, recorded as refused by an interceptor (boxed: large beside
    /// the arguments).
    Refused(Box<ToolAnswer>),
}

pub(crate) async fn before(
    tool: &dyn ResolvedTool,
    call: &ToolCall<'_>,
) -> Result<Before, ErrorData> {
    let client = || client_name(call);
    let asked = InterceptedCall {
        server: &call.scope.server,
        caller: policy_caller(call),
        tool: tool.policy_facts(call.name),
        client: &client,
    };
    let verdict = intercept::before(call.platform, &asked, call.arguments)
        .await
        .map_err(unreadable)?;
    Ok(match verdict {
        Verdict::Go(rewritten) => Before::Go(rewritten),
        Verdict::Refused(text) => {
            Before::Refused(Box::new(stopped(text, CallRefusal::Interceptor)))
        }
    })
}

/// `result` as the interceptors let it reach the agent.
pub(crate) async fn after(
    tool: &dyn ResolvedTool,
    call: &ToolCall<'_>,
    result: CallToolResult,
) -> Result<CallToolResult, ErrorData> {
    let client = || client_name(call);
    let asked = InterceptedCall {
        server: &call.scope.server,
        caller: policy_caller(call),
        tool: tool.policy_facts(call.name),
        client: &client,
    };
    judge_result(call.platform, &asked, call.arguments, result).await
}

async fn judge_result(
    platform: &Platform,
    asked: &InterceptedCall<'_>,
    arguments: &Value,
    result: CallToolResult,
) -> Result<CallToolResult, ErrorData> {
    let asks = intercept::asks(platform, asked.server, InterceptPhase::Result).await;
    if !asks.map_err(unreadable)? {
        return Ok(result);
    }
    let payload = serde_json::to_value(&result)
        .map_err(|error| ErrorData::internal_error(format!("unwritable result: {error}"), None))?;
    let verdict = intercept::after(platform, asked, arguments, payload)
        .await
        .map_err(unreadable)?;
    Ok(match verdict {
        Verdict::Go(None) => result,
        Verdict::Go(Some(rewritten)) => match serde_json::from_value(rewritten) {
            Ok(rewritten) => rewritten,
            Err(error) => tool_error(format!(
                "The result of {} was rewritten by the organization's interceptor into \
                 something that is not a tool result ({error}); tell the organization.",
                asked.tool.name
            )),
        },
        Verdict::Refused(text) => tool_error(text),
    })
}

fn unreadable(error: CoreError) -> ErrorData {
    tracing::error!(%error, "could not read the organization's interceptors");
    ErrorData::internal_error(
        "could not read this organization's interceptors; please retry",
        None,
    )
}

/// `detached` (a call that may end in a task, after its request) with its result put to
/// the interceptors when it ends: what the request's borrowed facts say, owned.
pub(crate) fn after_detached(
    tool: &dyn ResolvedTool,
    call: &ToolCall<'_>,
    detached: DetachedCall,
) -> DetachedCall {
    let facts = tool.policy_facts(call.name);
    let owned = OwnedCall {
        platform: call.platform.clone(),
        server: call.scope.server.clone(),
        caller: OwnedCaller::of(policy_caller(call)),
        name: facts.name.to_owned(),
        tool: facts.tool.to_owned(),
        upstream: facts.upstream.map(str::to_owned),
        hints: facts.hints,
        client: client_name(call),
        arguments: call.arguments.clone(),
    };
    Box::pin(async move {
        let mut answer = detached.await;
        if answer.protocol_error.is_none() {
            answer.result = owned.after(answer.result).await;
        }
        answer
    })
}

enum OwnedCaller {
    Person {
        id: String,
        email: String,
        identity_provider: String,
        groups: Vec<String>,
        role: Option<String>,
    },
    EndUser {
        id: String,
    },
    Anonymous,
}

impl OwnedCaller {
    fn of(caller: PolicyCaller<'_>) -> Self {
        match caller {
            PolicyCaller::Person {
                id,
                email,
                identity_provider,
                groups,
                role,
            } => Self::Person {
                id: id.to_owned(),
                email: email.to_owned(),
                identity_provider: identity_provider.to_owned(),
                groups: groups.to_vec(),
                role: role.map(str::to_owned),
            },
            PolicyCaller::EndUser { id } => Self::EndUser { id: id.to_owned() },
            PolicyCaller::Anonymous => Self::Anonymous,
        }
    }

    fn borrowed(&self) -> PolicyCaller<'_> {
        match self {
            Self::Person {
                id,
                email,
                identity_provider,
                groups,
                role,
            } => PolicyCaller::Person {
                id,
                email,
                identity_provider,
                groups,
                role: role.as_deref(),
            },
            Self::EndUser { id } => PolicyCaller::EndUser { id },
            Self::Anonymous => PolicyCaller::Anonymous,
        }
    }
}

struct OwnedCall {
    platform: Platform,
    server: Arc<McpServer>,
    caller: OwnedCaller,
    name: String,
    tool: String,
    upstream: Option<String>,
    hints: ToolHints,
    client: String,
    arguments: Value,
}

impl OwnedCall {
    async fn after(&self, result: CallToolResult) -> CallToolResult {
        let client = || self.client.clone();
        let asked = InterceptedCall {
            server: &self.server,
            caller: self.caller.borrowed(),
            tool: ToolFacts {
                name: &self.name,
                tool: &self.tool,
                upstream: self.upstream.as_deref(),
                hints: self.hints,
            },
            client: &client,
        };
        let judged = judge_result(&self.platform, &asked, &self.arguments, result).await;
        judged.unwrap_or_else(|error| tool_error(error.message.into_owned()))
    }
}
