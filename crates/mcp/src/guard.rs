//! Guardrails at call time, asked after a call has found its tool and before the tool
//! runs: the organization's call-time policies, then its quotas (a call the policies
//! refuse is not counted). A refused call is answered with a tool error that says why
//! (the policy and its reason, or the quota and when it resets), so that the agent can
//! tell its user, wait, or pick another way.

use guidepost_core::CoreError;
use guidepost_core::guardrails::decide::{self, CallToDecide, Decision, PolicyCaller};
use guidepost_core::guardrails::quotas;
use guidepost_domain::{CallRefusal, Timestamp};
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock};

use crate::tools::{ResolvedTool, ToolCall};

/// The tool error a refused call is answered with, and why it was refused, if the
/// policies or the quotas refuse it.
pub(crate) async fn refusal(
    tool: &dyn ResolvedTool,
    call: &ToolCall<'_>,
) -> Result<Option<(CallToolResult, CallRefusal)>, ErrorData> {
    let caller = policy_caller(call);
    let client = || client_name(call);
    let facts = tool.policy_facts(call.name);
    let decided = decide::decide(
        call.platform,
        &CallToDecide {
            server: &call.scope.server,
            caller,
            tool: facts,
            arguments: call.arguments,
            client: &client,
        },
    )
    .await
    .map_err(unreadable)?;
    if let Decision::Deny(denial) = decided {
        return Ok(Some((tool_error(denial.message), CallRefusal::Policy)));
    }
    let counted = quotas::count_call(
        call.platform,
        &call.scope.server,
        &quota_caller(call, caller),
        &facts,
    )
    .await
    .map_err(unreadable)?;
    Ok(counted.map(|reached| {
        let message = reached.message(Timestamp::now());
        (tool_error(message), CallRefusal::Quota)
    }))
}

fn tool_error(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

fn unreadable(error: CoreError) -> ErrorData {
    tracing::error!(%error, "could not read or count the organization's guardrails");
    ErrorData::internal_error(
        "could not read this organization's call-time policies or quotas; please retry",
        None,
    )
}

/// Who calls, as policies see them: a person signed in (verified email), an end user
/// known by tracking id, or nobody known.
pub(crate) fn policy_caller<'a>(call: &'a ToolCall<'a>) -> PolicyCaller<'a> {
    match (call.scope.signed_in_end_user(), call.end_user) {
        (Some(person), _) if person.email.is_some() => PolicyCaller::Person {
            id: person.id.as_str(),
            email: person.email.as_ref().map_or("", |email| email.as_str()),
        },
        (_, Some(user)) => PolicyCaller::EndUser {
            id: user.id.as_str(),
        },
        (_, None) => PolicyCaller::Anonymous,
    }
}

/// Whose calls a quota counts together: the person's, the end user's, or an anonymous
/// caller's address (its prefix, as the rate limits key it).
fn quota_caller(call: &ToolCall<'_>, caller: PolicyCaller<'_>) -> String {
    match caller {
        PolicyCaller::Person { id, .. } | PolicyCaller::EndUser { id } => format!("user:{id}"),
        PolicyCaller::Anonymous => match call.scope.client_ip {
            Some(address) => format!("address:{address}"),
            None => "anonymous".to_owned(),
        },
    }
}

/// The client's name: from its session, or from the request's `_meta` (2026-07-28).
pub(crate) fn client_name(call: &ToolCall<'_>) -> String {
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
