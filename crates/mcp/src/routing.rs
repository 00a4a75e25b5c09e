//! Which hosted server a request is for: `/s/{slug}/mcp` on any host, else the Host
//! header — `{slug}.{base_domain}`, a custom domain, or the bare base domain when a
//! default server is configured.

use guidepost_core::{CoreError, Platform};
use guidepost_domain::McpServer;
use http::request::Parts;

/// The server named by the request, if any.
pub(crate) async fn resolve_server(
    platform: &Platform,
    parts: &Parts,
) -> Result<Option<McpServer>, CoreError> {
    let store = &platform.store;
    if let Some(slug) = path_slug(parts.uri.path()) {
        return Ok(store.find_server_by_slug(slug).await?);
    }
    let Some(host) = request_host(parts) else {
        return Ok(None);
    };
    let base = platform.config.base_domain.as_str();
    if host == base {
        return match &platform.config.default_server {
            Some(slug) => Ok(store.find_server_by_slug(slug).await?),
            None => Ok(None),
        };
    }
    if let Some(slug) = host
        .strip_suffix(base)
        .and_then(|rest| rest.strip_suffix('.'))
    {
        // Only one label below the base domain names a server.
        return if slug.contains('.') {
            Ok(None)
        } else {
            Ok(store.find_server_by_slug(slug).await?)
        };
    }
    Ok(store.find_server_by_domain(&host).await?)
}

fn path_slug(path: &str) -> Option<&str> {
    path.strip_prefix("/s/")?.strip_suffix("/mcp")
}

/// The request's host name, lowercased, without port.
pub(crate) fn request_host(parts: &Parts) -> Option<String> {
    let raw = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(parts.uri.host())?;
    let host = match raw.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(']') || port.chars().all(|c| c.is_ascii_digit()) => {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                raw
            }
        }
        _ => raw,
    };
    Some(host.trim_end_matches('.').to_ascii_lowercase())
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
