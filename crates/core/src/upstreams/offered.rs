//! Which attached tools a hosted server offers, which may be called now, and the call
//! through the upstream: the gateway's rules as the MCP endpoint meets them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use guidepost_domain::*;
use serde_json::Value;

use super::names::exposed_name;
use super::runtime::{CallContext, UpstreamAnswer, UpstreamCallError};
use super::uris;
use crate::{CoreError, Platform};

/// A tool of an attached upstream as a hosted server offers it.
#[derive(Debug, Clone)]
pub struct OfferedTool {
    pub exposed_name: String,
    /// Its attachment's prefix.
    pub prefix: String,
    pub upstream_id: UpstreamId,
    /// The upstream as it was read with its attachment.
    pub upstream: Arc<Upstream>,
    /// The upstream's own name for it.
    pub tool: String,
    pub definition: Value,
    pub timeout: Duration,
}

/// The attached upstreams' approved tools on `server`, in attach order then each
/// upstream's order: what `tools/list` shows.
pub async fn offered(
    platform: &Platform,
    server: &McpServer,
) -> Result<Vec<Arc<OfferedTool>>, CoreError> {
    let attached = attached_tools(platform, server).await?;
    Ok(attached
        .tools
        .iter()
        .filter(|(_, state)| *state == ToolState::Approved)
        .map(|(tool, _)| tool.clone())
        .collect())
}

/// The attached tool exposed as `name` on `server`, whatever its approval state (a call
/// says why it may not be called; `Mcp-Param-*` headers are checked against it).
pub async fn offered_tool(
    platform: &Platform,
    server: &McpServer,
    name: &str,
) -> Result<Option<(Arc<OfferedTool>, ToolState)>, CoreError> {
    Ok(attached_tools(platform, server).await?.named(name))
}

/// A server's attached tools as calls look them up: built once from the store
/// (definitions parsed, their URIs exposed) and held in the node cache until a change of
/// the server's attachments, of an attached upstream or of its tools is announced. A
/// call costs a map lookup, not a read of every definition of every attachment.
pub(crate) struct AttachedTools {
    /// Within their attachments' allowlists, in attach order then each upstream's order.
    tools: Vec<(Arc<OfferedTool>, ToolState)>,
    /// Exposed name → index in `tools` (the first, should two ever share a name).
    by_name: HashMap<String, usize>,
}

impl AttachedTools {
    fn build(attached: Vec<guidepost_store::AttachedUpstream>) -> Self {
        let mut tools = Vec::new();
        for entry in attached {
            let attachment = entry.attachment;
            let upstream = Arc::new(entry.upstream);
            let allowed = |name: &str| {
                attachment
                    .allowed_tools
                    .as_ref()
                    .is_none_or(|list| list.iter().any(|a| a == name))
            };
            for tool in entry.tools {
                if !allowed(&tool.name) {
                    continue;
                }
                let mut definition = tool.definition;
                uris::expose_tool_definition(&attachment.prefix, &mut definition);
                let offered = OfferedTool {
                    exposed_name: exposed_name(&attachment.prefix, &tool.name),
                    prefix: attachment.prefix.clone(),
                    upstream_id: attachment.upstream_id.clone(),
                    upstream: upstream.clone(),
                    tool: tool.name,
                    definition,
                    timeout: Duration::from_millis(attachment.timeout_ms as u64),
                };
                tools.push((Arc::new(offered), tool.state));
            }
        }
        let mut by_name = HashMap::with_capacity(tools.len());
        for (index, (tool, _)) in tools.iter().enumerate() {
            by_name.entry(tool.exposed_name.clone()).or_insert(index);
        }
        Self { tools, by_name }
    }

    fn named(&self, name: &str) -> Option<(Arc<OfferedTool>, ToolState)> {
        let index = *self.by_name.get(name)?;
        let (tool, state) = &self.tools[index];
        Some((tool.clone(), *state))
    }
}

/// The server's attached tools: from the node cache, else read (one statement) and kept.
async fn attached_tools(
    platform: &Platform,
    server: &McpServer,
) -> Result<Arc<AttachedTools>, CoreError> {
    if let Some(attached) = platform.cache.attached_tools(&server.id) {
        return Ok(attached);
    }
    let read_at = platform.cache.epoch();
    let attached = platform
        .store
        .attached_upstream_tools(&server.org_id, &server.id)
        .await?;
    let attached = Arc::new(AttachedTools::build(attached));
    platform
        .cache
        .keep_attached_tools(&server.id, &attached, read_at);
    Ok(attached)
}

/// Why an attached tool may not be called now; each says, for an agent, what to do.
#[derive(Debug, thiserror::Error)]
pub enum NotCallable {
    #[error("{name} was rejected by the organization's administrators; it cannot be called.")]
    Rejected { name: String },
    #[error(
        "{name} is {state}: its definition is new, changed, or flagged by the scanner, and \
         awaits review by the organization's administrators (they approve it with POST \
         /api/v1/upstreams/{upstream}/tools/{tool}/approve). Try another tool meanwhile."
    )]
    AwaitsReview {
        name: String,
        state: ToolState,
        upstream: UpstreamId,
        tool: String,
    },
}

/// An attached tool found by [`offered_tool`], if it may be called now in its approval
/// `state`: only an approved definition is callable.
pub fn callable(
    offered: &Arc<OfferedTool>,
    state: ToolState,
) -> Result<Arc<OfferedTool>, NotCallable> {
    match state {
        ToolState::Approved => Ok(offered.clone()),
        ToolState::Rejected => Err(NotCallable::Rejected {
            name: offered.exposed_name.clone(),
        }),
        state => Err(NotCallable::AwaitsReview {
            name: offered.exposed_name.clone(),
            state,
            upstream: offered.upstream_id.clone(),
            tool: offered.tool.clone(),
        }),
    }
}

/// Calls an offered tool through its upstream; the answer as the organization lets it
/// reach the agent (`results`).
pub async fn call(
    platform: &Platform,
    offered: &OfferedTool,
    arguments: Value,
    context: CallContext,
) -> Result<UpstreamAnswer, UpstreamCallError> {
    let mut context = context;
    let checked = context
        .person
        .as_ref()
        .is_some_and(|p| p.connection_checked);
    if super::connections::sign_in_of(&offered.upstream) == UpstreamSignIn::Person && !checked {
        let person = context.person.take();
        let person = super::connections::person_connected(platform, &offered.upstream, person);
        context.person = Some(person.await?);
    }
    let person = context.person.clone();
    let answer = platform
        .upstreams
        .call(
            platform,
            &offered.upstream,
            &offered.tool,
            arguments,
            offered.timeout,
            context,
        )
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => {
            // A person's account that lacks the tool is named for them.
            let person = person.as_ref();
            let (called, tool) = (&offered.upstream, &offered.exposed_name);
            let named = super::connections::named_for_person(platform, called, tool, person, error);
            return Err(named.await);
        }
    };
    let mut answer =
        super::results::filter(platform, &offered.upstream, &offered.tool, answer).await;
    uris::expose_content(&offered.prefix, &mut answer.content);
    Ok(answer)
}
