//! The token endpoint (the code grant with its PKCE verifier, the refresh grant, both with
//! RFC 8707's `resource`) and RFC 7009 revocation.
//!
//! The client authenticates with HTTP Basic (`client_secret_basic`, the default of RFC
//! 6749 and RFC 8414) when it has a secret, else names itself with `client_id` in the body
//! (a public client: a metadata document, dynamic registration with `none`).
//!
//! An OAuth error (400 or 401 with a JSON `error`) is a refusal: the grant or the client
//! is no good, and trying again will not help. Anything else unusable (no answer, 5xx,
//! not JSON, `temporarily_unavailable`) is a failure, tried again later.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use guidepost_core::upstreams::connections::{AuthorizerError, IssuedTokens};
use guidepost_domain::UpstreamAuthorization;
use serde::Deserialize;

use super::{Answer, UpstreamAuthorizer, failed};

/// The longest account label and error text kept from an answer.
const SHOWN_MAX: usize = 200;

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    access_token: String,
    token_type: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorAnswer {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

pub(super) async fn exchange(
    client: &UpstreamAuthorizer,
    server: &UpstreamAuthorization,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<IssuedTokens, AuthorizerError> {
    let form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
        ("resource", server.resource.as_str()),
    ];
    token_request(client, server, form).await
}

pub(super) async fn refresh(
    client: &UpstreamAuthorizer,
    server: &UpstreamAuthorization,
    refresh_token: &str,
) -> Result<IssuedTokens, AuthorizerError> {
    if refresh_token.is_empty() {
        return Err(AuthorizerError::Refused(
            "the connection has no refresh token".into(),
        ));
    }
    let form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("resource", server.resource.as_str()),
    ];
    token_request(client, server, form).await
}

/// RFC 7009: the server answers 200 whether or not it knew the token; no endpoint, nothing
/// to call.
pub(super) async fn revoke(
    client: &UpstreamAuthorizer,
    server: &UpstreamAuthorization,
    token: &str,
) -> Result<(), AuthorizerError> {
    const WHAT: &str = "the revocation endpoint";
    let Some(endpoint) = &server.revocation_endpoint else {
        return Ok(());
    };
    let url = client.check_url(endpoint, WHAT)?;
    let form = vec![("token", token)];
    let answer = client
        .send(&url, WHAT, |http, url| {
            authenticated(http.post(url), server, form)
        })
        .await?;
    if answer.status.is_success() {
        return Ok(());
    }
    Err(oauth_error(&answer, WHAT))
}

async fn token_request(
    client: &UpstreamAuthorizer,
    server: &UpstreamAuthorization,
    form: Vec<(&str, &str)>,
) -> Result<IssuedTokens, AuthorizerError> {
    const WHAT: &str = "the token endpoint";
    let url = client.check_url(&server.token_endpoint, WHAT)?;
    let answer = client
        .send(&url, WHAT, |http, url| {
            authenticated(http.post(url), server, form)
        })
        .await?;
    if !answer.status.is_success() {
        return Err(oauth_error(&answer, WHAT));
    }
    let tokens: TokenAnswer = answer.json("the token endpoint's answer")?;
    if !tokens.token_type.eq_ignore_ascii_case("bearer") {
        return Err(failed(format!(
            "the token endpoint issued a {:?} token; only Bearer tokens are supported",
            shown(&tokens.token_type)
        )));
    }
    if tokens.access_token.is_empty() {
        return Err(failed("the token endpoint issued an empty access token"));
    }
    Ok(IssuedTokens {
        expires_in: tokens.expires_in.as_ref().and_then(seconds),
        account: tokens.id_token.as_deref().and_then(account_of),
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token.filter(|t| !t.is_empty()),
    })
}

/// The form, with the client's authentication: HTTP Basic with a secret (RFC 6749
/// §2.3.1: id and secret form-encoded first), else `client_id` in the body.
fn authenticated<'a>(
    request: reqwest::RequestBuilder,
    server: &'a UpstreamAuthorization,
    mut form: Vec<(&'a str, &'a str)>,
) -> reqwest::RequestBuilder {
    let request = request.header(http::header::ACCEPT, "application/json");
    match &server.client_secret {
        Some(secret) => {
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", encode(&server.client_id), encode(secret));
            request
                .header(
                    http::header::AUTHORIZATION,
                    format!("Basic {}", STANDARD.encode(pair)),
                )
                .form(&form)
        }
        None => {
            form.push(("client_id", server.client_id.as_str()));
            request.form(&form)
        }
    }
}

/// What a non-success answer means: a refusal when it is an OAuth error the server means
/// (400 or 401 with a JSON `error`), else a failure.
pub(super) fn oauth_error(answer: &Answer, what: &str) -> AuthorizerError {
    let status = answer.status;
    let oauth = matches!(status.as_u16(), 400 | 401)
        .then(|| serde_json::from_slice::<ErrorAnswer>(&answer.body).ok())
        .flatten();
    let Some(error) = oauth else {
        return failed(format!("{what} answered HTTP {status}"));
    };
    let mut why = shown(&error.error);
    if let Some(description) = error.error_description.as_deref().map(shown)
        && !description.is_empty()
    {
        why = format!("{why}: {description}");
    }
    // Errors that say "later", not "never".
    if matches!(
        error.error.as_str(),
        "temporarily_unavailable" | "server_error" | "slow_down"
    ) {
        return failed(format!("{what} answered {why}"));
    }
    AuthorizerError::Refused(why)
}

/// `expires_in` as a number of seconds (some servers send it as a string).
fn seconds(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.is_finite())
                .map(|f| f as u64)
        }),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Which account the tokens are for, from the ID token's `email`, else its `sub`.
///
/// The ID token is decoded WITHOUT checking its signature, audience or expiry: the result
/// is only a label shown to the person ("connected as …") and decides nothing. The
/// platform does not sign anyone in with it and never sends it anywhere; the access
/// token is what the upstream checks.
fn account_of(id_token: &str) -> Option<String> {
    let payload = id_token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let label = ["email", "sub"].iter().find_map(|claim| {
        claims
            .get(*claim)?
            .as_str()
            .map(shown)
            .filter(|s| !s.is_empty())
    })?;
    Some(label)
}

/// Text from an answer, fit to show: no control characters, at most [`SHOWN_MAX`].
fn shown(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(SHOWN_MAX)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn accounts_come_from_the_id_token_payload() {
        let token = |claims: &str| format!("h.{}.s", URL_SAFE_NO_PAD.encode(claims));
        let both = token(r#"{"sub":"u1","email":"ada@example.com"}"#);
        assert_eq!(account_of(&both).as_deref(), Some("ada@example.com"));
        assert_eq!(account_of(&token(r#"{"sub":"u1"}"#)).as_deref(), Some("u1"));
        assert_eq!(account_of(&token(r#"{"email":5}"#)), None);
        assert_eq!(account_of("not a jwt"), None);
        assert_eq!(account_of("a.!!!.c"), None);
    }

    #[test]
    fn lifetimes_are_numbers_or_numeric_strings() {
        assert_eq!(seconds(&serde_json::json!(3600)), Some(3600));
        assert_eq!(seconds(&serde_json::json!("3600")), Some(3600));
        assert_eq!(seconds(&serde_json::json!(3599.5)), Some(3599));
        assert_eq!(seconds(&serde_json::json!(-1)), None);
        assert_eq!(seconds(&serde_json::json!(null)), None);
    }
}
