//! The token endpoint (OAuth 2.1 §3.2): client authentication, the authorization code
//! grant and the refresh token grant, as HTTP. What makes a code or refresh token good
//! (single use, PKCE, rotation, family revocation) is core's
//! (`core::accounts::authorization::tokens`); this file parses the request and renders the answer.

use axum::Json;
use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use guidepost_core::accounts::authorization::clients::Client;
use guidepost_core::accounts::authorization::tokens::{
    self, CodeExchange, GrantRefusal, Issued, Lifetimes, Refresh,
};
use http::HeaderMap;
use serde_json::json;

use crate::clients::{ClientProblem, find_client};
use crate::error::{OAuthError, Params, no_store};
use crate::tenant::Tenant;
use crate::{AuthOptions, AuthState};

pub(crate) async fn token(
    state: crate::State,
    tenant: Tenant,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = form_params(&headers, &body)?;
    let client = authenticate_client(&state, &tenant, &headers, &params).await?;
    let lifetimes = lifetimes(&state.options);
    let platform = &state.platform;
    let server = &tenant.server;
    let issued = match params.get("grant_type") {
        Some("authorization_code") => {
            let exchange = CodeExchange {
                code: required(&params, "code", "code is required")?,
                verifier: required(&params, "code_verifier", "code_verifier is required (PKCE)")?,
                redirect_uri: params.get("redirect_uri"),
                resource: params.get("resource"),
            };
            tokens::exchange_code(platform, server, &client, &exchange, lifetimes).await?
        }
        Some("refresh_token") => {
            let refresh = Refresh {
                refresh_token: required(&params, "refresh_token", "refresh_token is required")?,
                scope: params.get("scope"),
                resource: params.get("resource"),
            };
            tokens::refresh(platform, server, &client, &refresh, lifetimes).await?
        }
        Some(other) => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "grant_type {other:?} is not supported; use authorization_code or refresh_token"
            )));
        }
        None => return Err(OAuthError::invalid_request("grant_type is required")),
    };
    Ok(token_response(issued.map_err(refused)?))
}

fn lifetimes(options: &AuthOptions) -> Lifetimes {
    Lifetimes {
        access: options.access_token_ttl,
        refresh: options.refresh_token_ttl,
        refresh_grace: options.refresh_grace,
    }
}

fn required<'a>(params: &'a Params, name: &str, why: &str) -> Result<&'a str, OAuthError> {
    params
        .get(name)
        .ok_or_else(|| OAuthError::invalid_request(why))
}

/// RFC 6749 §5.2 (and RFC 8707 for the resource): the error a refused grant is.
fn refused(refusal: GrantRefusal) -> OAuthError {
    let description = refusal.to_string();
    match refusal {
        GrantRefusal::OtherResource(_) => OAuthError::invalid_target(description),
        GrantRefusal::ScopeWidened => OAuthError::invalid_scope(description),
        _ => OAuthError::invalid_grant(description),
    }
}

/// The parameters of a form post (`application/x-www-form-urlencoded`).
pub(crate) fn form_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    Params::parse(body).map_err(|why| OAuthError::invalid_request(why.to_string()))
}

/// RFC 6749 §2.3: the client, authenticated as it registered — HTTP Basic or
/// `client_secret` in the body for confidential clients, just `client_id` for public ones.
pub(crate) async fn authenticate_client(
    state: &AuthState,
    tenant: &Tenant,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Client, OAuthError> {
    let basic = basic_credentials(headers)?;
    let used_basic = basic.is_some();
    let (client_id, secret) = match basic {
        Some((id, secret)) => {
            if params.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            if params.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::invalid_client("client_id does not match", true));
            }
            (id, Some(secret))
        }
        None => {
            let Some(id) = params.get("client_id") else {
                return Err(OAuthError::invalid_client(
                    "client authentication is required (client_id)",
                    false,
                ));
            };
            (
                id.to_owned(),
                params.get("client_secret").map(str::to_owned),
            )
        }
    };
    let client = match find_client(state, tenant, &client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => {
            return Err(OAuthError::invalid_client(
                "unknown client for this server",
                used_basic,
            ));
        }
        Err(ClientProblem::Document(why)) => {
            return Err(OAuthError::invalid_client(why.to_string(), used_basic));
        }
        Err(ClientProblem::Core(e)) => return Err(OAuthError::server_error(&e)),
    };
    if !client.authenticates(secret.as_deref()) {
        return Err(OAuthError::invalid_client(
            "client authentication failed",
            used_basic,
        ));
    }
    Ok(client)
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`, if present.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::invalid_client("malformed Basic credentials", true);
    let text = value.to_str().map_err(|_| bad())?;
    let Some(encoded) = text
        .strip_prefix("Basic ")
        .or_else(|| text.strip_prefix("basic "))
    else {
        return Ok(None);
    };
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// RFC 6749 §5.1: the tokens, shown this once, never cached.
fn token_response(issued: Issued) -> Response {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    });
    if let Some(refresh) = issued.refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    let mut response = Json(body).into_response();
    no_store(&mut response);
    response
}
