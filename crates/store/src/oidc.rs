//! The organization's own OpenID Connect provider of a `custom_oauth` server: one per
//! server, with its client secret sealed by the caller before it gets here.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

#[async_trait]
pub trait OidcStore: Send + Sync {
    /// Creates or replaces the server's provider; `NotFound` if the server is not the
    /// organization's.
    async fn put_oidc_provider(
        &self,
        org: &OrgId,
        server: &ServerId,
        provider: &NewOidcProvider,
    ) -> Result<OidcProvider>;
    async fn get_oidc_provider(
        &self,
        org: &OrgId,
        server: &ServerId,
    ) -> Result<Option<OidcProvider>>;
    /// Removes the server's provider: `NotFound` if it has none, `Conflict` while the
    /// server signs people in with it (`auth_mode` `custom_oauth`).
    async fn delete_oidc_provider(&self, org: &OrgId, server: &ServerId) -> Result<()>;
}
