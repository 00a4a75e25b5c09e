//! The tools of upstream MCP servers attached to a hosted server, listed from
//! their stored definitions (no upstream is started to list them) under
//! `{prefix}__{tool}`, and called through the gateway's supervisor on this node.

use crate::url_elicitation::{Asking, UrlElicitation};
use std::sync::Arc;

use async_trait::async_trait;
use guidepost_core::guardrails::decide::{ToolFacts, ToolHints};
use guidepost_core::upstreams::{
    self, CallContext, CallProgress, CallingPerson, NotCallable, OfferedTool, UpstreamAnswer,
    UpstreamCallError,
};
use guidepost_core::{CoreError, Platform};
use guidepost_domain::{CallRefusal, McpServer, ToolState, UpstreamId, UpstreamSignIn};
use rmcp::RoleServer;
use rmcp::model::{
    CallToolResult, ContentBlock, ProgressNotificationParam, ProgressToken, ResultType, Tool,
};
use rmcp::service::RequestContext;
use serde_json::Value;

use super::{DetachedCall, ResolvedTool, ToolAnswer, ToolCall, ToolSource};
use crate::caller_client::RelayRecorder;
use crate::param_headers::{self, HeaderMismatch};
use crate::rounds::RoundsClient;
use crate::surface::is_stateless;

const LABEL: &str = "upstream";
/// Progress updates held for a caller that reads them slowly; more are dropped.
const PROGRESS_BACKLOG: usize = 32;

/// Every attached upstream's approved tools.
pub(crate) struct UpstreamTools;

/// The definition a client sees: the upstream's, under the exposed name.
fn definition(offered: &OfferedTool) -> Option<Tool> {
    let mut definition = offered.definition.clone();
    definition["name"] = Value::String(offered.exposed_name.clone());
    serde_json::from_value(definition).ok()
}

#[async_trait]
impl ToolSource for UpstreamTools {
    fn metrics_label(&self, name: &str) -> Option<&'static str> {
        // Upstream tool names are not ours to count one by one; `upstream` bounds them.
        upstreams::may_be_exposed(name).then_some(LABEL)
    }

    async fn list(&self, platform: &Platform, server: &McpServer) -> Result<Vec<Tool>, CoreError> {
        let offered = upstreams::offered(platform, server).await?;
        Ok(offered.iter().filter_map(|tool| definition(tool)).collect())
    }

    async fn resolve(
        &self,
        platform: &Platform,
        server: &McpServer,
        name: &str,
    ) -> Result<Option<Box<dyn ResolvedTool>>, CoreError> {
        if !upstreams::may_be_exposed(name) {
            return Ok(None);
        }
        let found = upstreams::offered_tool(platform, server, name).await?;
        Ok(found.map(|(offered, state)| Box::new(UpstreamTool { offered, state }) as _))
    }
}

/// An attached tool found for a call, whatever its approval state: the call says why it
/// may not be called, and the request's `Mcp-Param-*` headers are checked against it.
struct UpstreamTool {
    offered: Arc<OfferedTool>,
    state: ToolState,
}

#[async_trait]
impl ResolvedTool for UpstreamTool {
    fn metrics_label(&self) -> &'static str {
        LABEL
    }

    fn hints(&self) -> ToolHints {
        ToolHints::from_annotations(self.offered.definition.get("annotations"))
    }

    fn upstream(&self) -> Option<UpstreamId> {
        Some(self.offered.upstream_id.clone())
    }

    fn policy_facts<'a>(&'a self, called: &'a str) -> ToolFacts<'a> {
        ToolFacts {
            name: called,
            tool: &self.offered.tool,
            upstream: Some(&self.offered.prefix),
            hints: self.hints(),
        }
    }

    fn definition_hash(&self, _called: &str) -> String {
        guidepost_domain::definition_hash(&self.offered.definition)
    }

    async fn call(&self, call: &ToolCall<'_>) -> ToolAnswer {
        let offered = match upstreams::callable(&self.offered, self.state) {
            Ok(offered) => offered,
            Err(refused) => return refusal(refused).into(),
        };
        // A person who has not connected their account is asked to, whatever the era.
        let person = match person_connected(call, &offered).await {
            Ok(person) => person,
            Err(needs) => return asked_to_connect(call, offered.upstream_id.clone(), needs),
        };
        if asks_in_rounds(call) {
            return with_rounds(call, offered, person).await;
        }
        let outcome = proxied(call, &offered, person).await;
        ToolAnswer {
            refusal: refusal_of(&outcome),
            result: into_result(outcome),
            upstream: Some(offered.upstream_id.clone()),
            round: None,
            protocol_error: None,
        }
    }

    /// An upstream's definition may mirror arguments into `Mcp-Param-*` headers; they
    /// exist from 2026-07-28 on.
    async fn check_param_headers(&self, call: &ToolCall<'_>) -> Result<(), HeaderMismatch> {
        let parts = call.request.extensions.get::<http::request::Parts>();
        let Some(parts) = parts.filter(|_| is_stateless(call.request)) else {
            return Ok(());
        };
        let schema = &self.offered.definition["inputSchema"];
        param_headers::check(&parts.headers, schema, call.arguments)
    }

    /// Upstream calls may run as tasks: the call owns its tool, arguments and caller's
    /// client, relays no progress (its request is over) and is given up, which cancels it
    /// at the upstream, when the future is dropped.
    fn detached(&self, call: &ToolCall<'_>) -> Option<DetachedCall> {
        let platform = call.platform.clone();
        let callable = upstreams::callable(&self.offered, self.state);
        let arguments = call.arguments.clone();
        // In the session era the caller's session outlives the request: the upstream's
        // requests still reach it while the call runs on as a task.
        let context = CallContext {
            progress: None,
            caller: crate::caller_client::of(call.platform, call.request),
            person: calling_person(call),
        };
        Some(Box::pin(async move {
            let offered = match callable {
                Ok(offered) => offered,
                Err(refused) => return refusal(refused).into(),
            };
            let outcome = upstreams::call(&platform, &offered, arguments, context).await;
            ToolAnswer {
                refusal: refusal_of(&outcome),
                result: into_result(outcome),
                upstream: Some(offered.upstream_id.clone()),
                round: None,
                protocol_error: None,
            }
        }))
    }
}

/// Whether the upstream's requests would reach the caller as rounds of `input_required`:
/// a 2026-07-28 caller whose client answers sampling, elicitation or roots.
fn asks_in_rounds(call: &ToolCall<'_>) -> bool {
    let capabilities = call.request.client_capabilities();
    #[allow(deprecated)] // roots and sampling are deprecated by SEP-2577
    let answers = capabilities
        .is_some_and(|c| c.sampling.is_some() || c.elicitation.is_some() || c.roots.is_some());
    is_stateless(call.request) && answers
}

/// The call run on in the background, so that the upstream's first request can end
/// this request as a round (`rounds`); its end, if it comes first, is the answer.
async fn with_rounds(
    call: &ToolCall<'_>,
    offered: Arc<OfferedTool>,
    person: Option<CallingPerson>,
) -> ToolAnswer {
    let owner = crate::tasks::owner(call.scope, call.end_user.map(|user| user.id.clone()));
    let capabilities = call.request.client_capabilities();
    let recorder = RelayRecorder::new(call.platform, call.scope);
    let (client, first_round) = RoundsClient::new(
        call.platform,
        owner,
        call.scope.client_ip,
        call.name,
        capabilities,
        recorder,
    );
    let upstream = offered.upstream_id.clone();
    let platform = call.platform.clone();
    let arguments = call.arguments.clone();
    let runner = client.clone();
    let mut background = tokio::spawn(async move {
        let context = CallContext {
            progress: None,
            caller: Some(runner.clone()),
            person,
        };
        let result = into_result(upstreams::call(&platform, &offered, arguments, context).await);
        runner.finish(&result);
        result
    });
    let (result, round) = tokio::select! {
        joined = &mut background => {
            let result = joined.unwrap_or_else(|e| failure(UpstreamCallError::Failed(e.to_string()).to_string()));
            (result, None)
        }
        Ok(round) = first_round => (CallToolResult::default(), Some(round)),
        () = call.request.ct.cancelled() => {
            background.abort();
            (failure(UpstreamCallError::Cancelled.to_string()), None)
        }
    };
    ToolAnswer {
        result,
        upstream: Some(upstream),
        round,
        protocol_error: None,
        refusal: None,
    }
}

/// Whether the caller may call `offered` now: always, unless its upstream works with each
/// person's own account and theirs is not connected. The person behind the call, checked
/// as connected for a `person` upstream (so that core does not read it again).
async fn person_connected(
    call: &ToolCall<'_>,
    offered: &OfferedTool,
) -> Result<Option<CallingPerson>, UpstreamCallError> {
    let person = calling_person(call);
    if upstreams::connections::sign_in_of(&offered.upstream) != UpstreamSignIn::Person {
        return Ok(person);
    }
    let checked =
        upstreams::connections::person_connected(call.platform, &offered.upstream, person);
    checked.await.map(Some)
}

/// The answer to a call that needs the person's account connected first: a URL
/// elicitation for a client that opens URLs (the session era's error, the 2026-07-28
/// era's round), else the tool error with the link.
fn asked_to_connect(
    call: &ToolCall<'_>,
    upstream: UpstreamId,
    needs: UpstreamCallError,
) -> ToolAnswer {
    let (protocol_error, round) = match connect_elicitation(call.request, &needs) {
        Some(asked) if is_stateless(call.request) => (None, Some(asked.round())),
        Some(asked) => {
            watch_until_connected(call, &upstream, &asked);
            (Some(asked.error()), None)
        }
        None => (None, None),
    };
    ToolAnswer {
        result: into_result(Err(needs)),
        upstream: Some(upstream),
        round,
        protocol_error,
        refusal: None,
    }
}

/// The `request_state` of a connect round: opaque to the client; its retry is a call
/// afresh (not a task's round), which finds the person connected or asks again.
const CONNECT_ROUND_STATE: &str = "connect:";

/// A request (a tool call, a prompt, a resource read) that needs the person's account
/// connected, from a client that opens URLs (`elicitation.url`): the connect link as a URL
/// elicitation. Other clients get the error with the link in its text.
pub(crate) fn connect_elicitation(
    request: &RequestContext<RoleServer>,
    needs: &UpstreamCallError,
) -> Option<UrlElicitation> {
    let UpstreamCallError::NeedsConnection { url, upstream } = needs else {
        return None;
    };
    UrlElicitation::offered(
        request,
        Asking {
            url,
            message: format!("Connect your account at {upstream} to go on."),
            text: needs.to_string(),
            id_prefix: "conn_",
            state_prefix: CONNECT_ROUND_STATE,
        },
    )
}

/// In the session era, the session is told when the person has connected
/// (`notifications/elicitation/complete`).
fn watch_until_connected(call: &ToolCall<'_>, upstream: &UpstreamId, asked: &UrlElicitation) {
    let (Some(end_user), Some(id)) = (call.end_user, asked.id()) else {
        return;
    };
    let awaited = crate::elicitation_watch::Awaited {
        done: crate::elicitation_watch::Done::Connected {
            org: call.scope.server.org_id.clone(),
            upstream: upstream.clone(),
            end_user: end_user.id.clone(),
        },
        elicitation_id: id.to_owned(),
    };
    crate::elicitation_watch::watch(call.platform.clone(), call.request.peer.clone(), awaited);
}

/// The person behind the call, for an upstream with `person` sign-in.
fn calling_person(call: &ToolCall<'_>) -> Option<CallingPerson> {
    call.end_user.map(|user| call.scope.calling_person(user))
}

/// Why the tool may not be called, as a result an agent can act on.
fn refusal(refused: NotCallable) -> CallToolResult {
    failure(refused.to_string())
}

/// The upstream's answer as a result for the caller.
/// Arguments the upstream refused as invalid parameters (`-32602`): recorded as a refusal.
fn refusal_of(outcome: &Result<UpstreamAnswer, UpstreamCallError>) -> Option<CallRefusal> {
    let refused = matches!(
        outcome,
        Err(UpstreamCallError::Refused { code, .. }) if i64::from(*code) == crate::jsonrpc::INVALID_PARAMS
    );
    refused.then_some(CallRefusal::InvalidArguments)
}

fn into_result(outcome: Result<UpstreamAnswer, UpstreamCallError>) -> CallToolResult {
    let answer = match outcome {
        Ok(answer) => answer,
        Err(why) => return failure(why.to_string()),
    };
    let content = answer
        .content
        .into_iter()
        .map(serde_json::from_value::<ContentBlock>)
        .collect::<Result<Vec<_>, _>>();
    let content = match content {
        Ok(content) => content,
        Err(e) => return failure(UpstreamCallError::InvalidResult(e.to_string()).to_string()),
    };
    let mut result = CallToolResult::default();
    result.content = content;
    result.structured_content = answer.structured_content;
    result.is_error = answer.is_error;
    result.meta = answer.meta.map(rmcp::model::MetaObject);
    // The upstream may speak an older version, whose results carry no type; rmcp clears
    // it again for callers of those versions.
    result.result_type = Some(ResultType::COMPLETE);
    result
}

/// The call through the upstream, with its progress relayed under the caller's own
/// progress token, and given up (which cancels it at the upstream) when the caller
/// cancels or goes away.
async fn proxied(
    call: &ToolCall<'_>,
    offered: &OfferedTool,
    person: Option<CallingPerson>,
) -> Result<UpstreamAnswer, UpstreamCallError> {
    let request = call.request;
    let caller_token = request.meta.get_progress_token();
    let (sink, mut updates) = match caller_token {
        Some(_) => {
            let (sink, updates) = tokio::sync::mpsc::channel(PROGRESS_BACKLOG);
            (Some(sink), Some(updates))
        }
        None => (None, None),
    };
    let arguments = call.arguments.clone();
    let context = CallContext {
        progress: sink,
        caller: crate::caller_client::of(call.platform, request),
        person,
    };
    let result = upstreams::call(call.platform, offered, arguments, context);
    tokio::pin!(result);
    loop {
        let update = async {
            match updates.as_mut() {
                Some(updates) => updates.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            Some(update) = update => relay(request, caller_token.as_ref(), update).await,
            () = request.ct.cancelled() => return Err(UpstreamCallError::Cancelled),
            result = &mut result => {
                // Progress the upstream sent just before its answer goes first.
                while let Some(update) = updates.as_mut().and_then(|u| u.try_recv().ok()) {
                    relay(request, caller_token.as_ref(), update).await;
                }
                return result;
            }
        }
    }
}

async fn relay(
    request: &RequestContext<RoleServer>,
    token: Option<&ProgressToken>,
    update: CallProgress,
) {
    if let Some(token) = token {
        let _ = request
            .peer
            .notify_progress(relayed(token.clone(), update))
            .await;
    }
}

fn relayed(token: ProgressToken, update: CallProgress) -> ProgressNotificationParam {
    let mut param = ProgressNotificationParam::new(token, update.progress);
    param.total = update.total;
    param.message = update.message;
    param
}

fn failure(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}
