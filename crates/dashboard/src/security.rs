//! What every dashboard response and request goes through: the platform host only, a
//! strict Content-Security-Policy and companions, and no state-changing request from
//! another origin.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use guidepost_core::hosting::routing::{is_platform_host, normalize_host};
use http::{HeaderMap, HeaderValue, Method, header};

use crate::Dashboard;
use crate::page;

/// No inline script or style anywhere, so no nonces: scripts and styles come from our
/// own asset paths only, forms post only to us, and no page may be framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) async fn guard(
    State(state): State<Dashboard>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(normalize_host)
        .unwrap_or_default();
    // Tenants' virtual hosts and custom domains never serve the dashboard.
    match is_platform_host(&state.platform, &host).await {
        Ok(true) => {}
        Ok(false) => return secured(page::not_found().await.into_response()),
        Err(error) => return secured(page::PageError::from(error).into_response()),
    }
    if is_state_changing(request.method()) && crosses_origin(request.headers()) {
        return secured(page::PageError::CrossOrigin.into_response());
    }
    secured(next.run(request).await)
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A browser says where a request comes from: `Sec-Fetch-Site` (modern browsers), else
/// `Origin`. Either naming another origin refuses the request; a request with neither
/// (not from a browser) still needs the form token.
fn crosses_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    !origin_host.eq_ignore_ascii_case(host)
}

fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
