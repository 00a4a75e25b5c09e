//! The token endpoint (OAuth 2.1 §3.2): the authorization code grant (PKCE verified, the
//! code single-use — a second use revokes what the first one issued) and the refresh
//! token grant (rotated on every use — presenting a rotated token revokes the whole
//! family). Tokens are opaque random strings; only their hashes are stored.

use axum::Json;
use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use guidepost_core::authorization::tokens;
use guidepost_domain::{
    CodeRedemption, NewToken, Rotation, Timestamp, TokenKind, hash_secret, random_token,
};
use http::HeaderMap;
use serde_json::json;

use crate::AuthState;
use crate::clients::{ClientInfo, ClientProblem, find_client};
use crate::crypto::{constant_time_eq, pkce_s256_matches};
use crate::error::{OAuthError, Params, no_store};
use crate::tenant::Tenant;

pub(crate) async fn token(
    state: crate::State,
    tenant: Tenant,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = form_params(&headers, &body)?;
    let client = authenticate_client(&state, &tenant, &headers, &params).await?;
    match params.get("grant_type") {
        Some("authorization_code") => authorization_code(&state, &tenant, &client, &params).await,
        Some("refresh_token") => refresh_token(&state, &tenant, &client, &params).await,
        Some(other) => Err(OAuthError::unsupported_grant_type(format!(
            "grant_type {other:?} is not supported; use authorization_code or refresh_token"
        ))),
        None => Err(OAuthError::invalid_request("grant_type is required")),
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
    Params::parse(body).map_err(OAuthError::invalid_request)
}

/// RFC 6749 §2.3: the client, authenticated as it registered — HTTP Basic or
/// `client_secret` in the body for confidential clients, just `client_id` for public ones.
pub(crate) async fn authenticate_client(
    state: &AuthState,
    tenant: &Tenant,
    headers: &HeaderMap,
    params: &Params,
) -> Result<ClientInfo, OAuthError> {
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
        Err(ClientProblem::Store(e)) => return Err(OAuthError::server_error(&e)),
    };
    if let Some(expected) = &client.secret_hash {
        let presented = secret.as_deref().map(hash_secret).unwrap_or_default();
        if !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return Err(OAuthError::invalid_client(
                "client authentication failed",
                used_basic,
            ));
        }
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

async fn authorization_code(
    state: &AuthState,
    tenant: &Tenant,
    client: &ClientInfo,
    params: &Params,
) -> Result<Response, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
    let now = Timestamp::now();
    let redeemed = tokens::redeem_code(&state.platform, &hash_secret(code))
        .await
        .map_err(|e| OAuthError::server_error(&e))?;
    let code = match redeemed {
        CodeRedemption::Fresh(code) => code,
        CodeRedemption::Replayed => {
            metrics::counter!("guidepost_oauth_code_replays_total").increment(1);
            tracing::warn!(client = %client.client_id, "an authorization code was used twice; its tokens are revoked");
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used; every token issued from it is now revoked",
            ));
        }
        CodeRedemption::Unknown => {
            return Err(OAuthError::invalid_grant("unknown authorization code"));
        }
    };
    let grant = &code.grant;
    if grant.server_id != tenant.server.id || grant.org_id != tenant.server.org_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued by another server",
        ));
    }
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if code.expires_at <= now {
        return Err(OAuthError::invalid_grant("the authorization code expired"));
    }
    match params.get("redirect_uri") {
        Some(uri) if uri == code.redirect_uri => {}
        None if client.redirect_uris.len() == 1 => {}
        _ => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
    }
    if !pkce_s256_matches(verifier, &code.code_challenge) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    check_resource(params, &grant.resource)?;
    let (tokens, body) = new_tokens(state, client, &grant.scope, now);
    let issued = tokens::issue(&state.platform, grant, &tokens, now)
        .await
        .map_err(|e| OAuthError::server_error(&e))?;
    if !issued {
        return Err(OAuthError::invalid_grant("the authorization was revoked"));
    }
    metrics::counter!("guidepost_oauth_tokens_issued_total", "grant" => "authorization_code")
        .increment(1);
    Ok(token_response(body))
}

async fn refresh_token(
    state: &AuthState,
    tenant: &Tenant,
    client: &ClientInfo,
    params: &Params,
) -> Result<Response, OAuthError> {
    let presented = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let hash = hash_secret(presented);
    let record = tokens::find(&state.platform, &hash)
        .await
        .map_err(|e| OAuthError::server_error(&e))?
        .filter(|r| r.kind == TokenKind::Refresh)
        .ok_or_else(|| OAuthError::invalid_grant("unknown refresh token"))?;
    let grant = &record.grant;
    if grant.server_id != tenant.server.id || grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client or server",
        ));
    }
    check_resource(params, &grant.resource)?;
    if let Some(scope) = params.get("scope") {
        let granted: Vec<&str> = grant.scope.split_whitespace().collect();
        if scope.split_whitespace().any(|s| !granted.contains(&s)) {
            return Err(OAuthError::invalid_scope(
                "a refresh cannot add scopes that were not granted",
            ));
        }
    }
    let now = Timestamp::now();
    let (tokens, body) = new_tokens(state, client, &grant.scope, now);
    let rotation = tokens::rotate_refresh(&state.platform, &hash, &tokens, now)
        .await
        .map_err(|e| OAuthError::server_error(&e))?;
    match rotation {
        Rotation::Rotated => {
            metrics::counter!("guidepost_oauth_tokens_issued_total", "grant" => "refresh_token")
                .increment(1);
            Ok(token_response(body))
        }
        Rotation::Reused => {
            metrics::counter!("guidepost_oauth_refresh_reuse_total").increment(1);
            tracing::warn!(client = %client.client_id, grant = %grant.id, "a rotated refresh token was presented again; the family is revoked");
            Err(OAuthError::invalid_grant(
                "the refresh token was already used; every token of this authorization is now revoked",
            ))
        }
        Rotation::Invalid => Err(OAuthError::invalid_grant(
            "the refresh token expired or was revoked",
        )),
    }
}

/// RFC 8707 §2.2: a `resource` at the token endpoint must be the one that was granted.
fn check_resource(params: &Params, granted: &str) -> Result<(), OAuthError> {
    match params.get("resource") {
        Some(resource) if resource != granted => Err(OAuthError::invalid_target(format!(
            "resource must be {granted}, the resource of this authorization"
        ))),
        _ => Ok(()),
    }
}

/// A new access token (and refresh token when the client may refresh): what to store
/// (hashes) and what to answer (the plain tokens, shown this once).
fn new_tokens(
    state: &AuthState,
    client: &ClientInfo,
    scope: &str,
    now: Timestamp,
) -> (Vec<NewToken>, serde_json::Value) {
    let options = &state.options;
    let access = random_token("gpa_");
    let access_ttl = options.access_token_ttl.as_secs() as i64;
    let mut stored = vec![NewToken {
        hash: hash_secret(&access),
        kind: TokenKind::Access,
        expires_at: now.plus_seconds(access_ttl),
    }];
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": access_ttl,
        "scope": scope,
    });
    if client.may_refresh() {
        let refresh = random_token("gpr_");
        stored.push(NewToken {
            hash: hash_secret(&refresh),
            kind: TokenKind::Refresh,
            expires_at: now.plus_seconds(options.refresh_token_ttl.as_secs() as i64),
        });
        body["refresh_token"] = json!(refresh);
    }
    (stored, body)
}

fn token_response(body: serde_json::Value) -> Response {
    let mut response = Json(body).into_response();
    no_store(&mut response);
    response
}
