//! The public URLs of hosted servers: by virtual host (or custom domain) and by the path
//! fallback. Used by the server views, the authorization server's metadata and the
//! identity providers' redirect URIs; and the rule every URL a caller gives keeps (no
//! credentials in it).

use guidepost_domain::McpServer;

use crate::PlatformConfig;

/// The canonical MCP URL: the custom domain if there is one, else `{slug}.{base_domain}`.
pub fn mcp_url(config: &PlatformConfig, server: &McpServer) -> String {
    let host = server
        .custom_domain
        .clone()
        .unwrap_or_else(|| format!("{}.{}", server.slug, config.base_domain));
    format!("{}/mcp", config.origin_for_host(&host))
}

pub fn path_mcp_url(config: &PlatformConfig, server: &McpServer) -> String {
    format!(
        "{}/s/{}/mcp",
        config.origin_for_host(&config.base_domain),
        server.slug
    )
}

/// Whether `url` carries a user name or a password (`https://:token@host` too): a URL
/// someone gives is shown to whoever reads what it belongs to, so it must hold no secret.
pub(crate) fn carries_credentials(url: &url::Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}
