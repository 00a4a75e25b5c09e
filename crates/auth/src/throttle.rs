//! A per-client-IP budget on the authorization server's endpoints, so that one address
//! cannot flood registration, token or sign-in requests (sign-in codes have their own,
//! tighter attempt limits). Well-known metadata stays unlimited: it is static and cheap.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use guidepost_core::rate_limit::retry_after_secs;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::AuthState;

pub(crate) async fn limit_by_ip(
    State(state): State<Arc<AuthState>>,
    request: Request,
    next: Next,
) -> Response {
    let (Some(limiter), Some(ip)) = (&state.ip_limiter, client_ip(&request)) else {
        return next.run(request).await;
    };
    match limiter.check(&ip) {
        Ok(()) => next.run(request).await,
        Err(wait) => too_many(
            retry_after_secs(wait),
            request.uri().path().contains("/login/"),
        ),
    }
}

fn client_ip(request: &Request) -> Option<String> {
    limit_key(request.extensions()).map(|ip| ip.to_string())
}

/// The client as per-address limits key it: the prefix of its address (the peer, or the
/// client a trusted proxy named), so that one IPv6 client's /64 is one budget.
fn limit_key(extensions: &http::Extensions) -> Option<IpAddr> {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    guidepost_core::rate_limit::client_key(extensions.get(), peer)
}

/// The client's address as per-address limits key it ([`limit_key`]), when the server
/// knows it.
pub(crate) struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(limit_key(&parts.extensions)))
    }
}

/// 429 with `Retry-After`: a page for people on the sign-in pages, OAuth error JSON for
/// clients elsewhere.
fn too_many(retry_after: u64, for_a_person: bool) -> Response {
    let text = format!("Too many requests from this address. Try again in {retry_after} s.");
    let mut response = if for_a_person {
        crate::pages::error_page(StatusCode::TOO_MANY_REQUESTS, "Sign in", &text)
    } else {
        let body = json!({"error": "temporarily_unavailable", "error_description": text});
        (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}
