//! Organizations and their API keys.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// Who adds an API key, looked at again in the transaction that adds it: a key revoked,
/// or a member removed or no longer an owner, in the same instant adds none.
#[derive(Debug, Clone, Copy)]
pub enum KeyMaker<'a> {
    Key(&'a ApiKeyId),
    Member(&'a MemberId),
    /// The operator's command line, or the platform making an organization's first key.
    Platform,
}

#[async_trait]
pub trait OrganizationStore: Send + Sync {
    /// Platform-wide: creates a tenant.
    async fn create_organization(&self, name: &str) -> Result<Organization>;
    async fn get_organization(&self, org: &OrgId) -> Result<Organization>;
    /// Sets the organization's rule for new, clean upstream tools.
    async fn set_tool_approval(&self, org: &OrgId, rule: ToolApproval) -> Result<Organization>;
    /// Whether upstream tool results reach agents as sent (hidden characters kept).
    async fn set_raw_tool_results(&self, org: &OrgId, raw: bool) -> Result<Organization>;
    /// Whether the organization's hosted servers are listed in the platform's registry
    /// API.
    async fn set_registry_listed(&self, org: &OrgId, listed: bool) -> Result<Organization>;
    /// Adds a key, at most `Limits::API_KEYS` not revoked, made by `maker` as it is now.
    async fn create_api_key(
        &self,
        org: &OrgId,
        maker: KeyMaker<'_>,
        name: &str,
        scopes: &ApiKeyScopes,
        secret: &ApiKeySecret,
    ) -> Result<ApiKey>;
    async fn list_api_keys(&self, org: &OrgId) -> Result<Vec<ApiKey>>;
    /// One page of the organization's keys, oldest first (revoked ones too).
    async fn page_api_keys(&self, org: &OrgId, page: &PageRequest) -> Result<Page<ApiKey>>;
    async fn revoke_api_key(&self, org: &OrgId, key: &ApiKeyId) -> Result<ApiKey>;
    /// Platform-wide: finds the live key with this hash, whatever its organization.
    async fn find_api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>>;
}
