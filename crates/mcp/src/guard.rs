//! Call-time policies, asked after a call has found its tool and before the tool runs:
//! a refused call is answered with a tool error that names the policy and says why, so
//! that the agent can tell its user or pick another way.

use guidepost_core::guardrails::decide::{self, CallToDecide, Decision, PolicyCaller};
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock};

use crate::tools::{ResolvedTool, ToolCall};

/// The tool error a refused call is answered with, if the policies refuse it.
pub(crate) async fn refusal(
    tool: &dyn ResolvedTool,
    call: &ToolCall<'_>,
) -> Result<Option<CallToolResult>, ErrorData> {
    let signed_in = call.scope.signed_in_end_user();
    let caller = match (signed_in, call.end_user) {
        (Some(person), _) if person.email.is_some() => PolicyCaller::Person {
            id: person.id.as_str(),
            email: person.email.as_ref().map_or("", |email| email.as_str()),
        },
        (_, Some(user)) => PolicyCaller::EndUser {
            id: user.id.as_str(),
        },
        (_, None) => PolicyCaller::Anonymous,
    };
    let client = client_name(call);
    let decided = decide::decide(
        call.platform,
        &CallToDecide {
            server: &call.scope.server,
            caller,
            tool: tool.policy_facts(call.name),
            arguments: call.arguments,
            client: &client,
        },
    )
    .await;
    match decided {
        Ok(Decision::Allow) => Ok(None),
        Ok(Decision::Deny(denial)) => Ok(Some(CallToolResult::error(vec![ContentBlock::text(
            denial.message,
        )]))),
        Err(error) => {
            tracing::error!(%error, "could not read the organization's call-time policies");
            Err(ErrorData::internal_error(
                "could not read this organization's call-time policies; please retry",
                None,
            ))
        }
    }
}

/// The client's name: from its session, or from the request's `_meta` (2026-07-28).
fn client_name(call: &ToolCall<'_>) -> String {
    if let Some(name) = call
        .scope
        .session
        .as_ref()
        .and_then(|session| session.client_name.as_ref())
    {
        return name.clone();
    }
    call.request
        .meta
        .client_info()
        .map(|info| info.name)
        .unwrap_or_default()
}
