//! OAuth error responses (RFC 6749 §5.2, RFC 7591 §3.2.2) and the parameters they come
//! from: form or query parameters, each at most once (RFC 6749 §3.1).

use std::collections::HashMap;

use axum::Json;
use axum::response::{IntoResponse, Response};
use guidepost_core::CoreError;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

/// An error of the token, revocation or registration endpoint, as JSON.
#[derive(Debug)]
pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// The client tried HTTP Basic authentication (RFC 6749 §5.2: answer with a challenge).
    basic_challenge: bool,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            basic_challenge: false,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn invalid_client(description: impl Into<String>, basic: bool) -> Self {
        Self {
            basic_challenge: basic,
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
        }
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            description,
        )
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    pub fn invalid_target(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_target", description)
    }

    pub fn invalid_client_metadata(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            description,
        )
    }

    pub fn invalid_redirect_uri(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_redirect_uri", description)
    }

    pub fn server_error(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "the authorization server failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "The authorization server failed; please retry",
        )
    }
}

/// A failure on our side (the store), logged; the client may retry.
impl From<CoreError> for OAuthError {
    fn from(error: CoreError) -> Self {
        Self::server_error(&error)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, Json(body)).into_response();
        no_store(&mut response);
        if self.basic_challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"guidepost\""),
            );
        }
        response
    }
}

/// RFC 6749 §5.1: responses with tokens or credentials are never cached.
pub(crate) fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Longest value of any one parameter.
const PARAM_MAX: usize = 4096;

/// Why form or query parameters are refused, naming the parameter.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ParamsError {
    #[error("parameter {0} is too long")]
    TooLong(String),
    #[error("parameter {0} is repeated")]
    Repeated(String),
}

/// Form or query parameters, each present at most once.
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text; a repeated or oversized
    /// parameter is refused.
    pub fn parse(encoded: &[u8]) -> Result<Self, ParamsError> {
        let mut params = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(encoded) {
            if value.len() > PARAM_MAX || name.len() > 100 {
                return Err(ParamsError::TooLong(name.into_owned()));
            }
            if params.insert(name.to_string(), value.to_string()).is_some() {
                return Err(ParamsError::Repeated(name.into_owned()));
            }
        }
        Ok(Self(params))
    }

    /// A parameter; empty counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_decoded_and_repeats_refused() {
        let params = Params::parse(b"a=1&b=x%20y&c=").unwrap();
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("b"), Some("x y"));
        assert_eq!(params.get("c"), None);
        assert!(Params::parse(b"a=1&a=2").is_err());
    }
}
