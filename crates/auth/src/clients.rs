//! Who a `client_id` is: a client registered at this server (RFC 7591), or the URL of a
//! client metadata document (CIMD) that is fetched. And what redirect URIs are allowed.

use guidepost_core::authorization::clients;

use crate::AuthState;
use crate::cimd::CimdError;
use crate::tenant::Tenant;
/// A client, whichever way it is known.
#[derive(Debug, Clone)]
pub(crate) struct ClientInfo {
    pub client_id: String,
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Set for confidential clients, which must authenticate with their secret.
    pub secret_hash: Option<String>,
}

impl ClientInfo {
    pub fn may_refresh(&self) -> bool {
        self.grant_types.iter().any(|g| g == "refresh_token")
    }
}

/// Why a client could not be looked up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientProblem {
    #[error("{0}")]
    Document(#[from] CimdError),
    #[error("storage failed: {0}")]
    Store(#[from] guidepost_core::CoreError),
}

/// Whether a `client_id` names a metadata document rather than a registration.
pub(crate) fn is_document_url(state: &AuthState, client_id: &str) -> bool {
    client_id.starts_with("https://")
        || (state.options.cimd_allow_private && client_id.starts_with("http://"))
}

/// The client `client_id` names for this server; `None` when it is not registered here.
pub(crate) async fn find_client(
    state: &AuthState,
    tenant: &Tenant,
    client_id: &str,
) -> Result<Option<ClientInfo>, ClientProblem> {
    if is_document_url(state, client_id) {
        let document = state.cimd.fetch(client_id).await?;
        return Ok(Some(ClientInfo {
            client_id: document.client_id.clone(),
            name: document.client_name.clone(),
            redirect_uris: document.redirect_uris.clone(),
            grant_types: document.grant_types.clone(),
            secret_hash: None,
        }));
    }
    if client_id.len() > 64 {
        return Ok(None);
    }
    let server = &tenant.server;
    let stored = clients::find(&state.platform, server, client_id).await?;
    Ok(stored.map(|client| ClientInfo {
        client_id: client.id.to_string(),
        name: client.client_name,
        redirect_uris: client.redirect_uris,
        grant_types: client.grant_types,
        secret_hash: client.secret_hash,
    }))
}
