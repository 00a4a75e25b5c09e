//! RFC 7591 dynamic client registration at a server's authorization server. Clients
//! register themselves without credentials, so everything is bounded: the body (16 KiB),
//! the number and length of redirect URIs, and every text field.

use axum::Json;
use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use guidepost_core::authorization::clients;
use guidepost_domain::{
    Limits, NewOAuthClient, TokenEndpointAuthMethod, hash_secret, random_token,
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::error::{OAuthError, no_store};
use crate::redirect_uris::{REDIRECT_URIS_MAX, check_redirect_uri};
use crate::tenant::Tenant;
use crate::verify::KNOWN_SCOPES;

/// The registration request; fields we do not use are ignored (RFC 7591 §2).
#[derive(Debug, Deserialize)]
struct Registration {
    #[serde(default)]
    redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    client_uri: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

const SUPPORTED_GRANTS: &[&str] = &["authorization_code", "refresh_token"];

pub(crate) async fn register(
    state: crate::State,
    tenant: Tenant,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let request: Registration = serde_json::from_slice(&body).map_err(|e| {
        OAuthError::invalid_client_metadata(format!("the body must be a JSON object: {e}"))
    })?;
    let redirect_uris = request.redirect_uris.unwrap_or_default();
    if redirect_uris.is_empty() || redirect_uris.len() > REDIRECT_URIS_MAX {
        return Err(OAuthError::invalid_redirect_uri(format!(
            "redirect_uris must list 1 to {REDIRECT_URIS_MAX} URIs"
        )));
    }
    for uri in &redirect_uris {
        check_redirect_uri(uri).map_err(OAuthError::invalid_redirect_uri)?;
    }
    // RFC 7591 §2: without a method the default is client_secret_basic.
    let method_text = request
        .token_endpoint_auth_method
        .as_deref()
        .unwrap_or("client_secret_basic");
    let method = TokenEndpointAuthMethod::parse(method_text).ok_or_else(|| {
        OAuthError::invalid_client_metadata(format!(
            "token_endpoint_auth_method {method_text:?} is not supported; use none, \
             client_secret_post or client_secret_basic"
        ))
    })?;
    let grant_types: Vec<String> = request
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".into()])
        .into_iter()
        .filter(|g| SUPPORTED_GRANTS.contains(&g.as_str()))
        .collect();
    if !grant_types.iter().any(|g| g == "authorization_code") {
        return Err(OAuthError::invalid_client_metadata(
            "grant_types must include authorization_code",
        ));
    }
    if let Some(types) = &request.response_types
        && types.iter().any(|t| t != "code")
    {
        return Err(OAuthError::invalid_client_metadata(
            "response_types may only be [\"code\"]",
        ));
    }
    let client_name = bounded("client_name", request.client_name, Limits::NAME)?;
    let client_uri = bounded("client_uri", request.client_uri, 2000)?;
    let scope = bounded("scope", request.scope, 1000)?.map(|scope| {
        scope
            .split_whitespace()
            .filter(|s| KNOWN_SCOPES.contains(s))
            .collect::<Vec<_>>()
            .join(" ")
    });
    let secret = (method != TokenEndpointAuthMethod::None).then(|| random_token("gps_"));
    let new = NewOAuthClient {
        org_id: tenant.server.org_id.clone(),
        server_id: tenant.server.id.clone(),
        client_name,
        client_uri,
        redirect_uris,
        grant_types,
        token_endpoint_auth_method: method,
        scope: scope.filter(|s| !s.is_empty()),
        secret_hash: secret.as_deref().map(hash_secret),
    };
    let client = clients::register(&state.platform, &new)
        .await
        .map_err(|e| OAuthError::server_error(&e))?;
    metrics::counter!("guidepost_oauth_clients_registered_total").increment(1);
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
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
        body["client_secret_expires_at"] = json!(0);
    }
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    no_store(&mut response);
    Ok(response)
}

fn bounded(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, OAuthError> {
    match value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => {
            Err(OAuthError::invalid_client_metadata(format!(
                "{field} must be at most {max} printable characters"
            )))
        }
        other => Ok(other),
    }
}
