//! Which hosted server an address names: the `/s/{slug}/…` path fallback on any
//! host, else the host — `{slug}.{base_domain}`, a custom domain, or the bare base domain
//! when a default server is configured. Shared by the MCP endpoint and the authorization
//! server, which must agree on it; callers pass the host and the path slug as text.

use std::sync::Arc;

use guidepost_domain::{McpServer, ServerKind};

use crate::{CoreError, Platform};

/// The server at this address, if any. `host` is already normalized ([`normalize_host`]).
/// Shared with the node cache, so that a request costs no copy of it.
pub async fn server_for_address(
    platform: &Platform,
    host: Option<&str>,
    path_slug: Option<&str>,
) -> Result<Option<Arc<McpServer>>, CoreError> {
    let found = find_server(platform, host, path_slug).await?;
    // A conformance fixture is a test surface: it is served only while the platform runs
    // with --enable-fixtures, like it can only be created then.
    Ok(found.filter(|server| {
        server.kind != ServerKind::ConformanceFixture || platform.config.enable_fixtures
    }))
}

/// How an address names a server.
enum Named<'a> {
    Slug(&'a str),
    Domain(&'a str),
}

fn named<'a>(
    platform: &'a Platform,
    host: Option<&'a str>,
    path_slug: Option<&'a str>,
) -> Option<Named<'a>> {
    if let Some(slug) = path_slug {
        return Some(Named::Slug(slug));
    }
    let host = host?;
    let base = platform.config.base_domain.as_str();
    if host == base {
        return platform.config.default_server.as_deref().map(Named::Slug);
    }
    if let Some(slug) = host
        .strip_suffix(base)
        .and_then(|rest| rest.strip_suffix('.'))
    {
        // Only one label below the base domain names a server.
        return (!slug.contains('.')).then_some(Named::Slug(slug));
    }
    Some(Named::Domain(host))
}

/// The server an address names, from this node's cache when it is there (servers almost
/// never change, and every change is announced; see `cache`). Unknown addresses are
/// not remembered, so that a new server answers at once.
async fn find_server(
    platform: &Platform,
    host: Option<&str>,
    path_slug: Option<&str>,
) -> Result<Option<Arc<McpServer>>, CoreError> {
    let Some(name) = named(platform, host, path_slug) else {
        return Ok(None);
    };
    let key = match name {
        Named::Slug(slug) => format!("slug:{slug}"),
        Named::Domain(domain) => format!("domain:{domain}"),
    };
    if let Some(server) = platform.cache.server(&key) {
        return Ok(Some(server));
    }
    let read_at = platform.cache.epoch();
    let found = match name {
        Named::Slug(slug) => platform.store.find_server_by_slug(slug).await?,
        Named::Domain(domain) => platform.store.find_server_by_domain(domain).await?,
    }
    .map(Arc::new);
    if let Some(server) = &found {
        platform.cache.keep_server(&key, server, read_at);
    }
    Ok(found)
}

/// Whether `host` (normalized) is the platform's own rather than a tenant's: the base
/// domain, or an address literal (how operators and scrapers reach a node) that is no
/// server's custom domain. Tenants' virtual hosts and custom domains are not.
pub async fn is_platform_host(platform: &Platform, host: &str) -> Result<bool, CoreError> {
    if host == platform.config.base_domain {
        return Ok(true);
    }
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if literal.parse::<std::net::IpAddr>().is_err() {
        return Ok(false);
    }
    Ok(platform.store.find_server_by_domain(host).await?.is_none())
}

/// A `Host` header value as a host name: lowercased, without port or trailing dot.
/// IPv6 literals keep their brackets.
pub fn normalize_host(raw: &str) -> String {
    let host = match raw.rsplit_once(':') {
        Some((name, port))
            if port.chars().all(|c| c.is_ascii_digit())
                && (!name.contains(':') || name.ends_with(']')) =>
        {
            name
        }
        _ => raw,
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_their_port_and_case() {
        assert_eq!(normalize_host("Acme.Localhost:8080"), "acme.localhost");
        assert_eq!(normalize_host("acme.localhost."), "acme.localhost");
        assert_eq!(normalize_host("[::1]:8080"), "[::1]");
        assert_eq!(normalize_host("[::1]"), "[::1]");
    }
}
