//! The tools of upstream MCP servers attached to a hosted server (SPEC §8), listed from
//! their stored definitions (no upstream is started to list them) under
//! `{prefix}__{tool}`, and called through the gateway's supervisor on this node.

use async_trait::async_trait;
use guidepost_core::upstreams::{self, CallProgress, OfferedTool};
use guidepost_core::{CoreError, Platform};
use guidepost_domain::{McpServer, ToolState};
use rmcp::RoleServer;
use rmcp::model::{
    CallToolResult, ContentBlock, ProgressNotificationParam, ProgressToken, ResultType, Tool,
};
use rmcp::service::RequestContext;
use serde_json::Value;

use super::{DetachedCall, ToolCall, ToolSource};
use crate::param_headers;
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

async fn find(
    platform: &Platform,
    server: &McpServer,
    name: &str,
) -> Result<Option<(OfferedTool, ToolState)>, CoreError> {
    upstreams::attached_tool(platform, server, name).await
}

#[async_trait]
impl ToolSource for UpstreamTools {
    fn metrics_label(&self, name: &str) -> Option<&'static str> {
        // Upstream tool names are not ours to count one by one; `upstream` bounds them.
        name.contains("__").then_some(LABEL)
    }

    async fn list(&self, platform: &Platform, server: &McpServer) -> Result<Vec<Tool>, CoreError> {
        let offered = upstreams::offered(platform, server).await?;
        Ok(offered.iter().filter_map(definition).collect())
    }

    async fn offers(
        &self,
        platform: &Platform,
        server: &McpServer,
        name: &str,
    ) -> Result<bool, CoreError> {
        if !name.contains("__") {
            return Ok(false);
        }
        Ok(find(platform, server, name).await?.is_some())
    }

    async fn call(&self, call: &ToolCall<'_>) -> CallToolResult {
        let offered = match approved(call.platform, &call.scope.server, call.name).await {
            Ok(offered) => offered,
            Err(refused) => return refused,
        };
        *call.upstream.lock().expect("tool call lock") = Some(offered.upstream_id.clone());
        into_result(proxied(call, &offered).await)
    }

    /// An upstream's definition may mirror arguments into `Mcp-Param-*` headers; they
    /// exist from 2026-07-28 on.
    async fn check_param_headers(&self, call: &ToolCall<'_>) -> Result<(), String> {
        let parts = call.request.extensions.get::<http::request::Parts>();
        let Some(parts) = parts.filter(|_| is_stateless(call.request)) else {
            return Ok(());
        };
        match find(call.platform, &call.scope.server, call.name).await {
            Ok(Some((offered, _))) => {
                let schema = &offered.definition["inputSchema"];
                param_headers::check(&parts.headers, schema, call.arguments)
            }
            // Not offered, or unreadable: the call itself says so.
            _ => Ok(()),
        }
    }

    /// Upstream calls may run as tasks: the call owns its server, name and arguments,
    /// relays no progress (its request is over) and is given up, which cancels it at
    /// the upstream, when the future is dropped.
    fn detached(&self, call: &ToolCall<'_>) -> Option<DetachedCall> {
        let platform = call.platform.clone();
        let server = call.scope.server.clone();
        let name = call.name.to_owned();
        let arguments = call.arguments.clone();
        Some(Box::pin(async move {
            let offered = match approved(&platform, &server, &name).await {
                Ok(offered) => offered,
                Err(refused) => return (refused, None),
            };
            let outcome = upstreams::call(&platform, &offered, arguments, None).await;
            (into_result(outcome), Some(offered.upstream_id))
        }))
    }
}

/// The attached tool `name`, if it may be called now; else the result that says why not.
async fn approved(
    platform: &Platform,
    server: &McpServer,
    name: &str,
) -> Result<OfferedTool, CallToolResult> {
    match find(platform, server, name).await {
        Ok(Some((offered, ToolState::Approved))) => Ok(offered),
        Ok(Some((offered, state))) => Err(failure(awaits_review(&offered, state))),
        Ok(None) => Err(failure(format!("{name} is not offered here any more"))),
        Err(error) => {
            tracing::error!(%error, "could not look up an upstream tool");
            Err(failure(
                "The tool could not be reached; try again in a moment.".into(),
            ))
        }
    }
}

/// The upstream's answer as a result for the caller.
fn into_result(outcome: Result<Value, String>) -> CallToolResult {
    match outcome {
        Ok(result) => match serde_json::from_value::<CallToolResult>(result) {
            Ok(mut result) => {
                // The upstream may speak an older version, whose results carry no type;
                // rmcp clears it again for callers of those versions.
                result.result_type = Some(ResultType::COMPLETE);
                result
            }
            Err(e) => failure(format!(
                "the upstream server answered with an invalid result: {e}"
            )),
        },
        Err(why) => failure(why),
    }
}

/// The call through the upstream, with its progress relayed under the caller's own
/// progress token, and given up (which cancels it at the upstream) when the caller
/// cancels or goes away.
async fn proxied(call: &ToolCall<'_>, offered: &OfferedTool) -> Result<Value, String> {
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
    let result = upstreams::call(call.platform, offered, arguments, sink);
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
            () = request.ct.cancelled() => return Err("the call was cancelled".into()),
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

/// Why a tool that is attached but not approved cannot be called, for an agent.
fn awaits_review(offered: &OfferedTool, state: ToolState) -> String {
    let (upstream, tool) = (&offered.upstream_id, &offered.tool);
    match state {
        ToolState::Rejected => format!(
            "{} was rejected by the organization's administrators; it cannot be called.",
            offered.exposed_name
        ),
        _ => format!(
            "{} is {state}: its definition is new, changed, or flagged by the scanner, and awaits \
             review by the organization's administrators (they approve it with POST \
             /api/v1/upstreams/{upstream}/tools/{tool}/approve). Try another tool meanwhile.",
            offered.exposed_name
        ),
    }
}

fn failure(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}
