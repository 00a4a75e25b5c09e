//! RFC 7591 dynamic client registration. Clients register themselves without
//! credentials, so every field is bounded; a confidential client gets a secret that is
//! shown once and stored only as its hash.

use guidepost_domain::*;
use serde::Deserialize;

use super::redirect_uris::check_redirect_uris;
use super::scopes;
use crate::{CoreError, Platform};

const SUPPORTED_GRANTS: &[&str] = &["authorization_code", "refresh_token"];
const CLIENT_URI_MAX: usize = 2000;
const SCOPE_MAX: usize = 1000;

/// The registration request; fields we do not use are ignored (RFC 7591 §2).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ClientMetadata {
    pub redirect_uris: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub scope: Option<String>,
}

/// A client just registered, with its secret in plain text (confidential clients only):
/// the one time it is shown.
#[derive(Debug)]
pub struct Registered {
    pub client: OAuthClient,
    pub client_secret: Option<String>,
}

/// Registers a client at `server`. A refusal is `CoreError::Invalid` naming the field
/// (`redirect_uris` for the redirect URIs, whose errors RFC 7591 reports apart).
pub async fn register(
    platform: &Platform,
    server: &McpServer,
    metadata: ClientMetadata,
) -> Result<Registered, CoreError> {
    let redirect_uris = metadata.redirect_uris.unwrap_or_default();
    check_redirect_uris(&redirect_uris)
        .map_err(|why| ValidationError::new("redirect_uris", why.to_string()))?;
    // RFC 7591 §2: without a method the default is client_secret_basic.
    let method_text = metadata
        .token_endpoint_auth_method
        .as_deref()
        .unwrap_or("client_secret_basic");
    let method = TokenEndpointAuthMethod::parse(method_text).ok_or_else(|| {
        ValidationError::new(
            "token_endpoint_auth_method",
            format!(
                "token_endpoint_auth_method {method_text:?} is not supported; use none, \
                 client_secret_post or client_secret_basic"
            ),
        )
    })?;
    let grant_types: Vec<String> = metadata
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".into()])
        .into_iter()
        .filter(|g| SUPPORTED_GRANTS.contains(&g.as_str()))
        .collect();
    if !grant_types.iter().any(|g| g == "authorization_code") {
        return Err(ValidationError::new(
            "grant_types",
            "grant_types must include authorization_code",
        )
        .into());
    }
    if let Some(types) = &metadata.response_types
        && types.iter().any(|t| t != "code")
    {
        return Err(ValidationError::new(
            "response_types",
            "response_types may only be [\"code\"]",
        )
        .into());
    }
    let client_name = bounded("client_name", metadata.client_name, Limits::NAME)?;
    let client_uri = bounded("client_uri", metadata.client_uri, CLIENT_URI_MAX)?;
    let scope = bounded("scope", metadata.scope, SCOPE_MAX)?
        .map(|scope| scopes::known_among(&scope))
        .filter(|s| !s.is_empty());
    let client_secret = (method != TokenEndpointAuthMethod::None).then(|| random_token("gps_"));
    let new = NewOAuthClient {
        org_id: server.org_id.clone(),
        server_id: server.id.clone(),
        client_name,
        client_uri,
        redirect_uris,
        grant_types,
        token_endpoint_auth_method: method,
        scope,
        secret_hash: client_secret.as_deref().map(hash_secret),
    };
    let client = platform.store.create_oauth_client(&new).await?;
    metrics::counter!("guidepost_oauth_clients_registered_total").increment(1);
    Ok(Registered {
        client,
        client_secret,
    })
}

/// A free-text field: trimmed, blank counts as absent, at most `max` printable characters.
fn bounded(
    field: &'static str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, ValidationError> {
    match value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => {
            Err(ValidationError::new(
                field,
                format!("{field} must be at most {max} printable characters"),
            ))
        }
        other => Ok(other),
    }
}
