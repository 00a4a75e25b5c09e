//! OAuth clients registered at a server's authorization server (RFC 7591).

use guidepost_domain::*;

use crate::{CoreError, Platform};

pub async fn register(platform: &Platform, new: &NewOAuthClient) -> Result<OAuthClient, CoreError> {
    Ok(platform.store.create_oauth_client(new).await?)
}

/// A client registered at this server's authorization server, if any.
pub async fn find(
    platform: &Platform,
    server: &McpServer,
    client_id: &str,
) -> Result<Option<OAuthClient>, CoreError> {
    Ok(platform
        .store
        .get_oauth_client(&server.org_id, &server.id, client_id)
        .await?)
}
