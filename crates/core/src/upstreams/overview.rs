//! The gateway at a glance, for the people who run it (the dashboard, SPEC §12): each
//! upstream with its tools and the servers that attach it, the tools that wait for a
//! decision, and an upstream's attachments.

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
/// servers: two statements per upstream (at most `Limits::UPSTREAMS` of them).
pub async fn overview(
    platform: &Platform,
    org: &OrgId,
) -> Result<Vec<UpstreamOverview>, CoreError> {
    let upstreams = platform.store.list_upstreams(org).await?;
    let mut all = Vec::with_capacity(upstreams.len());
    for upstream in upstreams {
        let tools = platform
            .store
            .list_upstream_tools(org, &upstream.id)
            .await?;
        let servers = platform.store.servers_attaching(org, &upstream.id).await?;
        all.push(UpstreamOverview {
            upstream,
            tools,
            servers,
        });
    }
    Ok(all)
}

/// A tool that waits for a decision, with the upstream it belongs to.
#[derive(Debug, Clone)]
pub struct AwaitingTool {
    pub upstream_id: UpstreamId,
    pub upstream_name: String,
    pub tool: UpstreamTool,
}

/// The review queue: the pending and quarantined tools of every upstream of the
/// organization, by upstream (oldest first), then in each upstream's order.
pub async fn review_queue(
    platform: &Platform,
    org: &OrgId,
) -> Result<Vec<AwaitingTool>, CoreError> {
    let mut queue = Vec::new();
    for upstream in platform.store.list_upstreams(org).await? {
        let tools = platform
            .store
            .list_upstream_tools(org, &upstream.id)
            .await?;
        queue.extend(
            tools
                .into_iter()
                .filter(|tool| awaits_review(tool.state))
                .map(|tool| AwaitingTool {
                    upstream_id: upstream.id.clone(),
                    upstream_name: upstream.name.clone(),
                    tool,
                }),
        );
    }
    Ok(queue)
}

/// The upstream's attachments to the organization's hosted servers: one statement, then
/// one per attaching server.
pub async fn attachments(
    platform: &Platform,
    org: &OrgId,
    id: &UpstreamId,
) -> Result<Vec<Attachment>, CoreError> {
    platform.store.get_upstream(org, id).await?;
    let mut found = Vec::new();
    for server in platform.store.servers_attaching(org, id).await? {
        let attached = platform.store.attached_upstreams(org, &server).await?;
        found.extend(
            attached
                .into_iter()
                .map(|entry| entry.attachment)
                .filter(|attachment| attachment.upstream_id == *id),
        );
    }
    Ok(found)
}

/// One tool as its reviewer sees it: its record, the definition last approved under its
/// name (`None` when none ever was), and what changed since.
#[derive(Debug, Clone)]
pub struct ToolReview {
    pub tool: UpstreamTool,
    pub approved: Option<serde_json::Value>,
    pub changes: Vec<super::diff::Change>,
}

/// The upstream's tool `name` for review; `NotFound` if the upstream is not the
/// organization's or lists no such tool.
pub async fn tool_review(
    platform: &Platform,
    org: &OrgId,
    id: &UpstreamId,
    name: &str,
) -> Result<ToolReview, CoreError> {
    platform.store.get_upstream(org, id).await?;
    let tool = platform
        .store
        .list_upstream_tools(org, id)
        .await?
        .into_iter()
        .find(|tool| tool.name == name)
        .ok_or(CoreError::NotFound)?;
    let approved = platform
        .store
        .approved_tool_definitions(org, id)
        .await?
        .remove(name);
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
