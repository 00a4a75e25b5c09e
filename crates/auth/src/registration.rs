//! RFC 7591 dynamic client registration at a server's authorization server: the JSON in
//! and out. What a client may register is core's (`core::accounts::authorization::registration`).

use axum::Json;
use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use guidepost_core::CoreError;
use guidepost_core::accounts::authorization::registration::{self, ClientMetadata};
use http::StatusCode;
use serde_json::json;

use crate::error::{OAuthError, no_store};
use crate::tenant::Tenant;

pub(crate) async fn register(
    state: crate::State,
    tenant: Tenant,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let metadata: ClientMetadata = serde_json::from_slice(&body).map_err(|e| {
        OAuthError::invalid_client_metadata(format!("the body must be a JSON object: {e}"))
    })?;
    let registered = registration::register(&state.platform, &tenant.server, metadata)
        .await
        .map_err(refused)?;
    let client = &registered.client;
    let mut body = json!({
        "client_id": client.id,
        "client_id_issued_at": client.created_at.micros() / 1_000_000,
        "redirect_uris": client.redirect_uris,
        "grant_types": client.grant_types,
        "response_types": ["code"],
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
    });
    for (key, value) in [
        ("client_name", &client.client_name),
        ("client_uri", &client.client_uri),
        ("scope", &client.scope),
    ] {
        if let Some(value) = value {
            body[key] = json!(value);
        }
    }
    if let Some(secret) = registered.client_secret {
        body["client_secret"] = json!(secret);
        body["client_secret_expires_at"] = json!(0);
    }
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    no_store(&mut response);
    Ok(response)
}

/// RFC 7591 §3.2.2: redirect URIs are refused apart from the rest of the metadata.
fn refused(error: CoreError) -> OAuthError {
    match error {
        CoreError::Invalid(invalid) if invalid.field == "redirect_uris" => {
            OAuthError::invalid_redirect_uri(invalid.message)
        }
        CoreError::Invalid(invalid) => OAuthError::invalid_client_metadata(invalid.message),
        other => other.into(),
    }
}
