//! The gateway's half of the store: installed upstreams, the tools each lists,
//! and their attachments to hosted servers. Everything is organization-scoped; the
//! supervisor's status writes name the organization too.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// The most definitions [`UpstreamStore::list_org_upstream_tools`] reads: every upstream
/// an organization may install with every definition of each kind one upstream may list.
pub const ORG_UPSTREAM_TOOLS_MAX: usize =
    Limits::UPSTREAMS * Limits::UPSTREAM_TOOLS * DefinitionKind::ALL.len();

/// An attachment of a server with its upstream's status and tools, for `tools/list`.
#[derive(Debug, Clone)]
pub struct AttachedUpstream {
    pub attachment: Attachment,
    pub upstream: Upstream,
    /// Its tools, in the order the upstream listed them.
    pub tools: Vec<UpstreamTool>,
    /// Its prompts, resources and resource templates, by kind, each kind in its order.
    pub features: Vec<UpstreamTool>,
}

/// What an update of an upstream writes (`UpstreamStore::update_upstream`).
#[derive(Debug, Clone, Copy)]
pub struct UpstreamSettings<'a> {
    pub name: &'a str,
    pub start: StartMode,
    pub spec: &'a LaunchSpec,
    pub replicas: u32,
    pub result_guard: ResultGuard,
    /// The sign-in the update ends with, checked against the servers that attach it
    /// before anything is written: an update that also changes how it is launched writes
    /// `spec` as it was and the new launch after, and must not be half applied.
    pub sign_in: UpstreamSignIn,
}

#[async_trait]
pub trait UpstreamStore: Send + Sync {
    async fn create_upstream(&self, org: &OrgId, upstream: &NewUpstream) -> Result<Upstream>;
    async fn get_upstream(&self, org: &OrgId, id: &UpstreamId) -> Result<Upstream>;
    /// The organization's upstreams, oldest first (at most `Limits::UPSTREAMS`).
    async fn list_upstreams(&self, org: &OrgId) -> Result<Vec<Upstream>>;
    /// Platform-wide: every upstream (a node's supervisor at start).
    async fn list_all_upstreams(&self) -> Result<Vec<Upstream>>;
    /// Writes the supervisor's view: status, last error, restarts; `NotFound` if the
    /// upstream is gone (uninstalled meanwhile) or not the organization's.
    async fn set_upstream_status(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        status: UpstreamStatus,
        last_error: Option<&str>,
        last_fault: Option<&UpstreamFault>,
        restarts: i64,
    ) -> Result<()>;
    /// Records a restart on request at `at`: every node that runs the upstream starts it
    /// afresh once it sees it (`Upstream::restarted_at`); `NotFound` if it is gone.
    async fn mark_upstream_restarted(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        at: Timestamp,
    ) -> Result<()>;
    /// Uninstalls: the upstream, its tools and its attachments.
    async fn delete_upstream(&self, org: &OrgId, id: &UpstreamId) -> Result<()>;
    /// Replaces the definitions of `kind` the upstream lists, in its order.
    async fn replace_upstream_tools(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        kind: DefinitionKind,
        tools: &[UpstreamTool],
    ) -> Result<()>;
    /// [`replace_upstream_tools`](Self::replace_upstream_tools) if the stored definitions of
    /// `kind` are still `seen` (each name with its hash and state, as read before they were
    /// judged); else nothing is written and the answer is `false`: another discovery (on
    /// any node) or a decision changed them meanwhile, and they are to be read and judged
    /// afresh. Two such replacements of one upstream run one after the other.
    async fn replace_upstream_tools_if_unchanged(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        kind: DefinitionKind,
        seen: &[UpstreamTool],
        tools: &[UpstreamTool],
    ) -> Result<bool>;
    /// Every (name, definition hash) of `kind` ever approved for the upstream.
    async fn approved_definitions(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        kind: DefinitionKind,
    ) -> Result<Vec<(String, String)>>;
    /// An administrator's decision on a definition; approving also remembers it.
    async fn decide_tool(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        kind: DefinitionKind,
        name: &str,
        state: ToolState,
    ) -> Result<UpstreamTool>;
    /// Approves at once the definitions named (kind, name, definition hash) that are still
    /// pending with that hash, remembering each approval, in one transaction; returns
    /// those it approved (one that changed or was decided meanwhile is left alone).
    async fn approve_pending_tools(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        chosen: &[(DefinitionKind, String, String)],
    ) -> Result<Vec<UpstreamTool>>;
    /// Every definition the upstream lists: its tools first, in its order, then its
    /// prompts, resources and resource templates.
    async fn list_upstream_tools(&self, org: &OrgId, id: &UpstreamId) -> Result<Vec<UpstreamTool>>;
    /// Every definition (tools first, then the other kinds) of every upstream of the organization, with its upstream's id, by
    /// upstream then in the upstream's order: one statement, at most
    /// [`ORG_UPSTREAM_TOOLS_MAX`] rows (as many as the gateway ever keeps: `Limits::UPSTREAMS`
    /// upstreams of `Limits::UPSTREAM_TOOLS` tools each).
    async fn list_org_upstream_tools(&self, org: &OrgId)
    -> Result<Vec<(UpstreamId, UpstreamTool)>>;
    /// Every attachment of the organization's upstreams, in attach order: one statement.
    async fn list_org_attachments(&self, org: &OrgId) -> Result<Vec<Attachment>>;
    /// The definition last approved of each of the upstream's definitions, by kind and
    /// name.
    async fn approved_tool_definitions(
        &self,
        org: &OrgId,
        id: &UpstreamId,
    ) -> Result<std::collections::BTreeMap<(DefinitionKind, String), serde_json::Value>>;
    /// Quarantines the tool (a tool, no other kind) with these findings, if its definition is still `hash`;
    /// returns whether it was.
    async fn quarantine_tool(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        name: &str,
        hash: &str,
        findings: &[Finding],
    ) -> Result<bool>;
    /// Platform-wide: how many upstream tools are in each state (for `/metrics`).
    async fn count_upstream_tools_by_state(&self) -> Result<Vec<(ToolState, i64)>>;
    /// Attaches (or re-attaches with new settings); `NotFound` if the server or the
    /// upstream is not the organization's, `Conflict` if the prefix is taken on the server.
    async fn attach_upstream(&self, org: &OrgId, attachment: &Attachment) -> Result<Attachment>;
    async fn detach_upstream(&self, org: &OrgId, server: &ServerId, id: &UpstreamId) -> Result<()>;
    /// Renames it, sets when nodes start it, how it is launched (its sign-in mode) and
    /// how many processes each node runs; with `read_at` (the `updated_at` the settings
    /// were merged over), only if no other write came since, else `Changed`.
    async fn update_upstream(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        settings: &UpstreamSettings<'_>,
        read_at: Option<Timestamp>,
    ) -> Result<Upstream>;
    /// Sets how it is launched (an upgrade, new settings or secrets, a rollback) and the
    /// release a rollback would restore, with that release's version as shown (`None`:
    /// nothing to restore).
    async fn change_upstream_launch(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        launch: &UpstreamLaunch,
        previous: Option<(&UpstreamRelease, &str)>,
    ) -> Result<Upstream>;
    /// The release its last upgrade replaced, if a rollback can restore one.
    async fn previous_release(
        &self,
        org: &OrgId,
        id: &UpstreamId,
    ) -> Result<Option<UpstreamRelease>>;
    /// Adds a private catalog entry; `Conflict` on `id` if the organization has one.
    async fn create_catalog_entry(&self, org: &OrgId, entry: &CatalogEntry) -> Result<()>;
    /// The organization's private entries, oldest first (at most `Limits::CATALOG_ENTRIES`).
    async fn list_catalog_entries(&self, org: &OrgId) -> Result<Vec<CatalogEntry>>;
    async fn get_catalog_entry(&self, org: &OrgId, id: &str) -> Result<CatalogEntry>;
    /// The hosted servers that attach the upstream: one statement.
    async fn servers_attaching(&self, org: &OrgId, id: &UpstreamId) -> Result<Vec<ServerId>>;
    /// The server's attachments in attach order, each with its upstream and its tools:
    /// one statement whatever their number. The upstreams come without their registry
    /// entry's latest version (`latest_version` `None`): the listings read that.
    async fn attached_upstreams(
        &self,
        org: &OrgId,
        server: &ServerId,
    ) -> Result<Vec<AttachedUpstream>>;
    /// [`UpstreamStore::attached_upstreams`] with their tools only (no prompts or
    /// resources read): what the node cache's view of a server's attached tools is built
    /// from.
    async fn attached_upstream_tools(
        &self,
        org: &OrgId,
        server: &ServerId,
    ) -> Result<Vec<AttachedUpstream>>;
}
