//! The gateway at a glance, for the people who run it (the dashboard): each
//! upstream with its tools and the servers that attach it, the tools that wait for a
//! decision, and an upstream's attachments.

use crate::Caller;
use guidepost_domain::*;

use crate::{CoreError, Platform};

/// An installed upstream with its tools (as last discovered) and the hosted servers that
/// attach it.
#[derive(Debug, Clone)]
pub struct UpstreamOverview {
    pub upstream: Upstream,
    pub tools: Vec<UpstreamTool>,
    pub servers: Vec<ServerId>,
}

impl UpstreamOverview {
    /// Its tools that wait for an administrator: pending or quarantined.
    pub fn awaiting_review(&self) -> impl Iterator<Item = &UpstreamTool> {
        self.tools.iter().filter(|tool| awaits_review(tool.state))
    }
}

/// Whether a tool in this state waits for an administrator's decision.
pub fn awaits_review(state: ToolState) -> bool {
    matches!(state, ToolState::Pending | ToolState::Quarantined)
}

/// Every upstream of the organization, oldest first, with its tools and attaching
/// servers: three statements whatever their number.
pub async fn overview(
    platform: &Platform,
    caller: &Caller,
) -> Result<Vec<UpstreamOverview>, CoreError> {
    let org = caller.org();
    let upstreams = platform.store.list_upstreams(org).await?;
    let tools = platform.store.list_org_upstream_tools(org).await?;
    let attachments = platform.store.list_org_attachments(org).await?;
    Ok(upstreams
        .into_iter()
        .map(|upstream| {
            let own = tools
                .iter()
                .filter(|(of, tool)| *of == upstream.id && tool.kind == DefinitionKind::Tool)
                .map(|(_, tool)| tool.clone())
                .collect();
            let servers = attachments
                .iter()
                .filter(|a| a.upstream_id == upstream.id)
                .map(|a| a.server_id.clone())
                .collect();
            UpstreamOverview {
                upstream,
                tools: own,
                servers,
            }
        })
        .collect())
}

/// A tool that waits for a decision, with the upstream it belongs to.
#[derive(Debug, Clone)]
pub struct AwaitingTool {
    pub upstream_id: UpstreamId,
    pub upstream_name: String,
    pub tool: UpstreamTool,
}

/// The review queue: the pending and quarantined tools of every upstream of the
/// organization, by upstream (oldest first), then in each upstream's order: two
/// statements.
pub async fn review_queue(
    platform: &Platform,
    caller: &Caller,
) -> Result<Vec<AwaitingTool>, CoreError> {
    let org = caller.org();
    let upstreams = platform.store.list_upstreams(org).await?;
    let tools = platform.store.list_org_upstream_tools(org).await?;
    Ok(upstreams
        .iter()
        .flat_map(|upstream| {
            tools
                .iter()
                .filter(|(of, tool)| *of == upstream.id && awaits_review(tool.state))
                .map(|(_, tool)| AwaitingTool {
                    upstream_id: upstream.id.clone(),
                    upstream_name: upstream.name.clone(),
                    tool: tool.clone(),
                })
        })
        .collect())
}

/// The upstream's attachments to the organization's hosted servers: two statements.
pub async fn attachments(
    platform: &Platform,
    caller: &Caller,
    id: &UpstreamId,
) -> Result<Vec<Attachment>, CoreError> {
    let org = caller.org();
    platform.store.get_upstream(org, id).await?;
    let all = platform.store.list_org_attachments(org).await?;
    Ok(all.into_iter().filter(|a| a.upstream_id == *id).collect())
}

/// One tool as its reviewer sees it: its record, the definition last approved under its
/// name (`None` when none ever was), and what changed since.
#[derive(Debug, Clone)]
pub struct ToolReview {
    pub tool: UpstreamTool,
    pub approved: Option<serde_json::Value>,
    pub changes: Vec<super::diff::Change>,
}

/// The upstream's definition of `kind` named `name` for review; `NotFound` if the upstream is not the
/// organization's or lists no such tool.
pub async fn tool_review(
    platform: &Platform,
    caller: &Caller,
    id: &UpstreamId,
    kind: DefinitionKind,
    name: &str,
) -> Result<ToolReview, CoreError> {
    let org = caller.org();
    platform.store.get_upstream(org, id).await?;
    let tool = platform
        .store
        .list_upstream_tools(org, id)
        .await?
        .into_iter()
        .find(|tool| tool.kind == kind && tool.name == name)
        .ok_or(CoreError::NotFound)?;
    let approved = platform
        .store
        .approved_tool_definitions(org, id)
        .await?
        .remove(&(kind, name.to_owned()));
    let changes = approved
        .as_ref()
        .map(|before| super::diff::diff(before, &tool.definition))
        .unwrap_or_default();
    Ok(ToolReview {
        tool,
        approved,
        changes,
    })
}
