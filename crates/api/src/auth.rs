//! API key authentication: `Authorization: Bearer gp_…`, looked up by its hash.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use guidepost_core::{Caller, Platform, accounts::organizations};

use crate::error::ApiError;

/// Who an API request acts as: the caller core made from its live API key. Handlers pass
/// `caller` to every service; nothing else names the tenant, and core decides what it may do.
#[derive(Debug, Clone)]
pub struct OrgAuth {
    pub caller: Caller,
}

const KEY_PREFIX: &str = "gp_";

impl FromRequestParts<Platform> for OrgAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, platform: &Platform) -> Result<Self, ApiError> {
        let Some(token) = bearer_token(&parts.headers).filter(|t| t.starts_with(KEY_PREFIX)) else {
            return Err(refused());
        };
        match organizations::authenticate(platform, token).await? {
            Some(caller) => {
                tracing::Span::current().record("org", tracing::field::display(caller.org()));
                Ok(OrgAuth { caller })
            }
            None => Err(refused()),
        }
    }
}

fn refused() -> ApiError {
    metrics::counter!("guidepost_api_auth_failures_total").increment(1);
    ApiError::Unauthorized
}

/// The credentials of `Authorization: Bearer …`; the scheme is case-insensitive (RFC 9110).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn reads_bearer_tokens_only() {
        assert_eq!(bearer_token(&headers("Bearer gp_abc")), Some("gp_abc"));
        assert_eq!(bearer_token(&headers("bearer gp_abc")), Some("gp_abc"));
        assert_eq!(bearer_token(&headers("Basic Z3A6eA==")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
