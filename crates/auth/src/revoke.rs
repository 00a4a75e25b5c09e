//! RFC 7009 token revocation. Revoking a refresh token revokes its whole family (the
//! grant); revoking an access token revokes that token. The answer is 200 whether or not
//! the token was known, so that it tells nothing about other clients' tokens.

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use guidepost_core::accounts::authorization::tokens;
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
    tokens::revoke(&state.platform, &tenant.server, &client, token).await?;
    let mut response = StatusCode::OK.into_response();
    no_store(&mut response);
    Ok(response)
}
