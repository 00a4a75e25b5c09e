//! Which hosted server a request is for: `/s/{slug}/mcp` on any host, else the Host
//! header — `{slug}.{base_domain}`, a custom domain, or the bare base domain when a
//! default server is configured.

use std::sync::Arc;

use guidepost_core::{CoreError, Platform};
use guidepost_domain::McpServer;
use http::request::Parts;

/// The server named by the request, if any (the rule is shared with the authorization
/// server: `guidepost_core::hosting::routing`).
pub(crate) async fn resolve_server(
    platform: &Platform,
    parts: &Parts,
) -> Result<Option<Arc<McpServer>>, CoreError> {
    let host = request_host(parts);
    let slug = path_slug(parts.uri.path());
    guidepost_core::hosting::routing::server_for_address(platform, host.as_deref(), slug).await
}

/// The slug of the path fallback, `/s/{slug}/mcp`.
pub(crate) fn path_slug(path: &str) -> Option<&str> {
    path.strip_prefix("/s/")?.strip_suffix("/mcp")
}

/// The request's host name, lowercased, without port.
pub(crate) fn request_host(parts: &Parts) -> Option<String> {
    host_of(parts.headers.get(http::header::HOST), &parts.uri)
}

/// The host name a request's `Host` header (else its URI) names, lowercased, without port.
pub(crate) fn host_of(host: Option<&http::HeaderValue>, uri: &http::Uri) -> Option<String> {
    let raw = host.and_then(|h| h.to_str().ok()).or(uri.host())?;
    Some(guidepost_core::hosting::routing::normalize_host(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, host: &str) -> Parts {
        let (parts, _) = http::Request::get(uri)
            .header("host", host)
            .body(())
            .unwrap()
            .into_parts();
        parts
    }

    #[test]
    fn hosts_lose_their_port_and_case() {
        assert_eq!(
            request_host(&parts("/mcp", "Acme.Localhost:8080")).as_deref(),
            Some("acme.localhost")
        );
        assert_eq!(
            request_host(&parts("/mcp", "acme.localhost")).as_deref(),
            Some("acme.localhost")
        );
        assert_eq!(
            request_host(&parts("/mcp", "[::1]:8080")).as_deref(),
            Some("[::1]")
        );
    }

    #[test]
    fn path_fallback_names_the_slug() {
        assert_eq!(path_slug("/s/acme/mcp"), Some("acme"));
        assert_eq!(path_slug("/mcp"), None);
    }
}
