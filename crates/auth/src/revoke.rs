//! RFC 7009 token revocation. Revoking a refresh token revokes its whole family (the
//! grant); revoking an access token revokes that token. The answer is 200 whether or not
//! the token was known, so that it tells nothing about other clients' tokens.

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use guidepost_core::authorization::tokens;
use guidepost_domain::hash_secret;
use http::{HeaderMap, StatusCode};

use crate::error::{OAuthError, no_store};
use crate::tenant::Tenant;
use crate::token::{authenticate_client, form_params};

pub(crate) async fn revoke(
    state: crate::State,
    tenant: Tenant,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = form_params(&headers, &body)?;
    let client = authenticate_client(&state, &tenant, &headers, &params).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let hash = hash_secret(token);
    let record = tokens::find(&state.platform, &hash)
        .await
        .map_err(|e| OAuthError::server_error(&e))?;
    if let Some(record) = record {
        let grant = &record.grant;
        // Only the client the token was issued to may revoke it, and only here.
        if grant.client_id == client.client_id && grant.server_id == tenant.server.id {
            let done = tokens::revoke(&state.platform, &record, &hash).await;
            done.map_err(|e| OAuthError::server_error(&e))?;
            metrics::counter!("guidepost_oauth_revocations_total").increment(1);
        }
    }
    let mut response = StatusCode::OK.into_response();
    no_store(&mut response);
    Ok(response)
}
