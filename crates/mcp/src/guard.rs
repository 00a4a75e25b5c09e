//! Guardrails at call time, asked after a call has found its tool (and its interceptors
//! have seen it) and before the tool runs: the organization's call-time policies, the
//! approval a policy may ask for, then its quotas (a call the policies refuse or that
//! waits for approval is not counted). A refused call is answered with a tool error that
//! says why (the policy and its reason, the approval and how to give it, or the quota and
//! when it resets), so that the agent can tell its user, wait, or pick another way.

use guidepost_core::CoreError;
use guidepost_core::guardrails::approvals::{self, AskedCall, Gate};
use guidepost_core::guardrails::decide::{self, CallToDecide, Decision, PolicyCaller};
use guidepost_core::guardrails::quotas;
use guidepost_domain::{CallApproval, CallRefusal, Role, Timestamp};
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock};

use crate::elicitation_watch::{Awaited, Done};
use crate::surface::is_stateless;
use crate::tools::{ResolvedTool, ToolAnswer, ToolCall};
use crate::url_elicitation::{Asking, UrlElicitation};

/// What a call the guardrails stop is answered with (a tool error, or for an approval
/// the person opens, a URL elicitation), and why it was stopped; `None` when it may run.
pub(crate) async fn refusal(
    tool: &dyn ResolvedTool,
    call: &ToolCall<'_>,
) -> Result<Option<ToolAnswer>, ErrorData> {
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
    let caller_key = quota_caller(call, caller);
    match decided.decision {
        Decision::Allow => {}
        Decision::Deny(denial) => return Ok(Some(stopped(denial.message, CallRefusal::Policy))),
        Decision::Ask(asked) => {
            let asking = AskedCall {
                server: &call.scope.server,
                caller: &caller_key,
                caller_name: &caller_name(caller),
                caller_is_known: !matches!(caller, PolicyCaller::Anonymous),
                tool: call.name,
                arguments: call.arguments,
                definition_hash: tool.definition_hash(call.name),
                policy_version: decided.version,
                asked: &asked,
            };
            let gate = approvals::gate(call.platform, &asking)
                .await
                .map_err(unreadable)?;
            match gate {
                Gate::Go => {}
                Gate::Refused(text) => return Ok(Some(stopped(text, CallRefusal::Approval))),
                Gate::Waiting { approval, link } => {
                    return Ok(Some(waiting(call, &approval, link.as_deref())));
                }
            }
        }
    }
    let counted = quotas::count_call(call.platform, &call.scope.server, &caller_key, &facts)
        .await
        .map_err(unreadable)?;
    Ok(counted.map(|reached| {
        let message = reached.message(Timestamp::now());
        stopped(message, CallRefusal::Quota)
    }))
}

/// A call the guardrails stop: a tool error saying why, recorded as refused for `why`.
pub(crate) fn stopped(message: String, why: CallRefusal) -> ToolAnswer {
    ToolAnswer {
        refusal: Some(why),
        ..ToolAnswer::from(tool_error(message))
    }
}

/// A call waiting for its approval: a person whose client opens URLs is asked to open
/// their approval page (and, in the session era, told when they have decided); anyone
/// else reads where the approval stands in a tool error.
fn waiting(call: &ToolCall<'_>, approval: &CallApproval, link: Option<&str>) -> ToolAnswer {
    let text = approvals::waiting_text(approval, link);
    let mut answer = stopped(text.clone(), CallRefusal::Approval);
    let Some(link) = link else { return answer };
    let asking = Asking {
        url: link,
        message: format!("Approve this call of {} to go on.", approval.tool),
        text,
        id_prefix: "apr_",
        state_prefix: APPROVAL_ROUND_STATE,
    };
    let Some(asked) = UrlElicitation::offered(call.request, asking) else {
        return answer;
    };
    if is_stateless(call.request) {
        answer.round = Some(asked.round());
        return answer;
    }
    if let Some(id) = asked.id() {
        let awaited = Awaited {
            done: Done::Decided {
                org: approval.binding.org_id.clone(),
                approval: approval.id.clone(),
            },
            elicitation_id: id.to_owned(),
        };
        crate::elicitation_watch::watch(call.platform.clone(), call.request.peer.clone(), awaited);
    }
    answer.protocol_error = Some(asked.error());
    answer
}

/// The `requestState` of an approval round: its retry is a call afresh, which finds the
/// approval decided or asks again.
const APPROVAL_ROUND_STATE: &str = "approve:";

/// How the approval page and the queue name the caller.
fn caller_name(caller: PolicyCaller<'_>) -> String {
    match caller {
        PolicyCaller::Person { email, .. } => email.to_owned(),
        PolicyCaller::EndUser { id } => format!("the end user {id}"),
        PolicyCaller::Anonymous => "an anonymous caller".to_owned(),
    }
}

pub(crate) fn tool_error(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

fn unreadable(error: CoreError) -> ErrorData {
    tracing::error!(%error, "could not read or count the organization's guardrails");
    ErrorData::internal_error(
        "could not read this organization's call-time policies or quotas; please retry",
        None,
    )
}

/// Who calls, as policies see them: a person signed in (verified email, with how they
/// signed in and their role if they are a member), an end user known by tracking id, or
/// nobody known.
pub(crate) fn policy_caller<'a>(call: &'a ToolCall<'a>) -> PolicyCaller<'a> {
    let token = call.scope.token.as_ref();
    let person = token.filter(|token| token.end_user.email.is_some());
    match (person, call.end_user) {
        (Some(token), _) => PolicyCaller::Person {
            id: token.end_user.id.as_str(),
            email: token
                .end_user
                .email
                .as_ref()
                .map_or("", |email| email.as_str()),
            identity_provider: token.sign_in.provider_name(),
            groups: &token.sign_in.groups,
            role: token.member_role.map(Role::as_str),
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
