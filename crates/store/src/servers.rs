//! Hosted MCP servers.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

#[async_trait]
pub trait ServerStore: Send + Sync {
    async fn create_server(
        &self,
        org: &OrgId,
        kind: ServerKind,
        settings: &ServerSettings,
    ) -> Result<McpServer>;
    async fn get_server(&self, org: &OrgId, id: &ServerId) -> Result<McpServer>;
    async fn list_servers(&self, org: &OrgId, page: &PageRequest) -> Result<Page<McpServer>>;
    /// Writes every setting; with `read_at` (the `updated_at` the settings were merged
    /// over), only if no other write came since, else `Changed`.
    async fn update_server(
        &self,
        org: &OrgId,
        id: &ServerId,
        settings: &ServerSettings,
        read_at: Option<Timestamp>,
    ) -> Result<McpServer>;
    /// Makes the server's pending domain, if it is still `pending`, its custom domain;
    /// `NotFound` if it is not pending any more, `Conflict` if another server has it.
    async fn verify_pending_domain(
        &self,
        org: &OrgId,
        id: &ServerId,
        pending: &PendingDomain,
    ) -> Result<McpServer>;
    /// Writes the server's switched-off tools if they are still `read`: the server as
    /// written, or `None` when they changed meanwhile (or there is no such server).
    async fn replace_disabled_tools(
        &self,
        org: &OrgId,
        id: &ServerId,
        read: &[String],
        disabled: &[String],
    ) -> Result<Option<McpServer>>;
    async fn delete_server(&self, org: &OrgId, id: &ServerId) -> Result<()>;
    /// Platform-wide (routing): the server with this slug.
    async fn find_server_by_slug(&self, slug: &str) -> Result<Option<McpServer>>;
    /// Platform-wide (routing): the server with this custom domain.
    async fn find_server_by_domain(&self, domain: &str) -> Result<Option<McpServer>>;
    /// Platform-wide (the public registry listing): the servers of organizations that
    /// opted in to being listed, by last change then id, after `after`, at most `limit`.
    async fn listed_servers(&self, query: &ListedServersQuery) -> Result<Vec<McpServer>>;
}

/// A page of [`ServerStore::listed_servers`].
#[derive(Debug, Clone, Default)]
pub struct ListedServersQuery {
    /// The (updated_at, id) of the last server of the page before.
    pub after: Option<(Timestamp, String)>,
    /// Only servers changed at or after this time.
    pub updated_since: Option<Timestamp>,
    /// Only servers whose name contains this text, in any case.
    pub search: Option<String>,
    pub limit: u32,
}
