//! How a server was reached, and the URLs that follow from it: the issuer, the endpoints
//! under it, the protected resource (the MCP URL) and its metadata document.

use guidepost_core::PlatformConfig;
use guidepost_domain::McpServer;

/// A server as reached by one request: an origin, and `/s/{slug}` for the path fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    origin: String,
    prefix: String,
}

impl Address {
    /// The address of a request for `server`: by path when `path_slug` is set, else by
    /// host. Without a host, the server's canonical host.
    pub fn of_request(
        config: &PlatformConfig,
        server: &McpServer,
        host: Option<&str>,
        path_slug: Option<&str>,
    ) -> Self {
        let host = host.map(str::to_owned).unwrap_or_else(|| {
            server
                .custom_domain
                .clone()
                .unwrap_or_else(|| format!("{}.{}", server.slug, config.base_domain))
        });
        Self {
            origin: config.origin_for_host(&host),
            prefix: path_slug
                .map(|slug| format!("/s/{slug}"))
                .unwrap_or_default(),
        }
    }

    /// An address from its parts, for tests.
    #[cfg(test)]
    pub(crate) fn from_parts(origin: &str, prefix: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            prefix: prefix.to_owned(),
        }
    }

    /// RFC 8414 issuer identifier: the origin, plus `/s/{slug}` by the path fallback.
    pub fn issuer(&self) -> String {
        format!("{}{}", self.origin, self.prefix)
    }

    /// An endpoint under the issuer, `path` starting with `/`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}{path}", self.origin, self.prefix)
    }

    /// The protected resource: the server's MCP endpoint as reached (RFC 8707 audience).
    pub fn resource(&self) -> String {
        self.endpoint("/mcp")
    }

    /// RFC 9728 §3.1: the well-known document of the resource, with the resource's path
    /// appended.
    pub fn protected_resource_metadata(&self) -> String {
        format!(
            "{}/.well-known/oauth-protected-resource{}/mcp",
            self.origin, self.prefix
        )
    }

    /// Whether the page is served over HTTPS (cookies are then `Secure`).
    /// `/s/{slug}` when reached by the path fallback, else empty.
    pub fn path_prefix(&self) -> &str {
        &self.prefix
    }

    pub fn is_https(&self) -> bool {
        self.origin.starts_with("https://")
    }
}

/// The slug of the path fallback in a request path: `/s/{slug}/…`, also after a
/// well-known prefix (`/.well-known/{document}/s/{slug}/…`).
pub(crate) fn path_slug(path: &str) -> Option<&str> {
    let rest = match path.strip_prefix("/.well-known/") {
        Some(after) => &after[after.find('/')?..],
        None => path,
    };
    let slug = rest.strip_prefix("/s/")?.split('/').next()?;
    (!slug.is_empty()).then_some(slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_found_in_every_path_form() {
        assert_eq!(path_slug("/s/acme/authorize"), Some("acme"));
        assert_eq!(path_slug("/s/acme/mcp"), Some("acme"));
        assert_eq!(
            path_slug("/.well-known/oauth-protected-resource/s/acme/mcp"),
            Some("acme")
        );
        assert_eq!(
            path_slug("/.well-known/oauth-authorization-server/s/acme"),
            Some("acme")
        );
        assert_eq!(
            path_slug("/s/acme/.well-known/openid-configuration"),
            Some("acme")
        );
        assert_eq!(path_slug("/.well-known/oauth-protected-resource/mcp"), None);
        assert_eq!(path_slug("/authorize"), None);
        assert_eq!(path_slug("/s//x"), None);
    }
}
