//! Who a `client_id` is: a client registered at this server (RFC 7591, looked up through
//! core), or the URL of a client metadata document (CIMD), fetched here.

use guidepost_core::CoreError;
use guidepost_core::accounts::authorization::clients::{self, Client};

use crate::AuthState;
use crate::cimd::CimdError;
use crate::tenant::Tenant;

/// Why a client could not be looked up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientProblem {
    #[error("{0}")]
    Document(#[from] CimdError),
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// Whether a `client_id` names a metadata document rather than a registration.
fn is_document_url(state: &AuthState, client_id: &str) -> bool {
    client_id.starts_with("https://")
        || (state.options.cimd_allow_private && client_id.starts_with("http://"))
}

/// The client `client_id` names for this server; `None` when it is not registered here.
pub(crate) async fn find_client(
    state: &AuthState,
    tenant: &Tenant,
    client_id: &str,
) -> Result<Option<Client>, ClientProblem> {
    // The platform's own connect pages, checking who a person is: known without a fetch.
    let platform_client =
        guidepost_core::upstreams::connections::platform_client(&state.platform.config);
    if client_id == platform_client.client_id {
        return Ok(Some(platform_client));
    }
    if is_document_url(state, client_id) {
        let document = state.cimd.fetch(client_id).await?;
        return Ok(Some(Client::clone(&document)));
    }
    Ok(clients::registered(&state.platform, &tenant.server, client_id).await?)
}
