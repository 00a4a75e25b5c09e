//! Being discovered: each hosted server's Server Card (the MCP Server Card
//! draft, `modelcontextprotocol/experimental-ext-server-card`: name, title, description,
//! version, its Streamable HTTP endpoint and what signing in it asks for), the AI Catalog
//! of its host that points at the card, and the platform's registry listing of the hosted
//! servers of organizations that opted in (the generic MCP registry API, `GET
//! /v0.1/servers`, server.json documents whose `remotes` are the servers' MCP URLs).
//!
//! The documents are public by design: they name only what a client needs to connect.

use guidepost_domain::{McpServer, Timestamp};
use guidepost_store::ListedServersQuery;
use serde_json::{Value, json};

use crate::{CoreError, Platform, PlatformConfig, hosting::urls};

/// Where a server's card is served: appended to its MCP URL (the draft reserves
/// `GET <streamable-http-url>/server-card`), so `/mcp/server-card` on its own host and
/// `/s/{slug}/mcp/server-card` by the path fallback.
pub const SERVER_CARD_SUFFIX: &str = "/server-card";
/// The host-wide document that points at the cards of a host (the draft's discovery).
pub const AI_CATALOG_PATH: &str = "/.well-known/ai-catalog.json";
pub const SERVER_CARD_MEDIA_TYPE: &str = "application/mcp-server-card+json";
pub const AI_CATALOG_MEDIA_TYPE: &str = "application/ai-catalog+json";
const SERVER_CARD_SCHEMA: &str =
    "https://static.modelcontextprotocol.io/schemas/v1/server-card.schema.json";
const SERVER_JSON_SCHEMA: &str =
    "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";
/// Where the card says how signing in works, beside the draft's fields.
const AUTH_META: &str = "dev.guidepost/auth";
/// The registry API's metadata of a listed server (status, dates), as registries give it.
const REGISTRY_META: &str = "io.modelcontextprotocol.registry/official";
/// The longest title and description the draft's schemas take.
const TEXT_MAX: usize = 100;
/// How many servers a registry page holds by default, and at most.
pub(crate) const REGISTRY_PAGE_DEFAULT: u32 = 30;
pub(crate) const REGISTRY_PAGE_MAX: u32 = 100;
/// The longest `search` text taken.
const SEARCH_MAX: usize = 100;

/// The server's name in the registries' reverse-DNS form: the platform's domain, reversed,
/// then its slug (`example.guidepost/acme` for `acme.guidepost.example`).
pub(crate) fn registry_name(config: &PlatformConfig, server: &McpServer) -> String {
    let domain = config.base_domain.split(':').next().unwrap_or_default();
    let mut labels: Vec<&str> = domain
        .split('.')
        .filter(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .collect();
    labels.reverse();
    let namespace = if labels.is_empty() {
        "guidepost".to_owned()
    } else {
        labels.join(".")
    };
    format!("{namespace}/{}", server.slug)
}

fn title_of(server: &McpServer) -> String {
    bounded(server.product_name.as_deref().unwrap_or(&server.name))
}

/// What the server is for, in a line: the first line of its instructions, else its title.
fn description_of(server: &McpServer) -> String {
    let first_line = server
        .instructions
        .as_deref()
        .and_then(|text| text.lines().map(str::trim).find(|line| !line.is_empty()));
    match first_line {
        Some(line) => bounded(line),
        None => bounded(&format!("The {} MCP server", title_of(server))),
    }
}

/// At most [`TEXT_MAX`] characters, never empty.
fn bounded(text: &str) -> String {
    let text: String = text.trim().chars().take(TEXT_MAX).collect();
    if text.is_empty() {
        "MCP server".to_owned()
    } else {
        text
    }
}

/// The server's Server Card as reached at `mcp_url` (its own host or the path fallback).
pub fn server_card(config: &PlatformConfig, server: &McpServer, mcp_url: &str) -> Value {
    let signs_in = server.auth_mode.requires_token();
    let mut remote = json!({"type": "streamable-http", "url": mcp_url});
    let mut auth = json!({"required": signs_in, "mode": server.auth_mode});
    if signs_in {
        remote["headers"] = json!([{
            "name": "Authorization",
            "description": "An OAuth 2.1 bearer token from the server's own authorization \
                            server, found through its protected resource metadata",
            "isRequired": true,
            "isSecret": true,
        }]);
        auth["protectedResourceMetadata"] = json!(protected_resource_metadata(mcp_url));
    }
    json!({
        "$schema": SERVER_CARD_SCHEMA,
        "name": registry_name(config, server),
        "title": title_of(server),
        "description": description_of(server),
        "version": env!("CARGO_PKG_VERSION"),
        "remotes": [remote],
        "_meta": {AUTH_META: auth},
    })
}

/// RFC 9728's document of the MCP URL: the well-known prefix before its path.
fn protected_resource_metadata(mcp_url: &str) -> String {
    let Some((scheme, rest)) = mcp_url.split_once("://") else {
        return mcp_url.to_owned();
    };
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    format!("{scheme}://{host}/.well-known/oauth-protected-resource{path}")
}

/// The AI Catalog of a server's host: one entry, its card.
pub fn ai_catalog(config: &PlatformConfig, server: &McpServer, mcp_url: &str) -> Value {
    let domain = config.base_domain.split(':').next().unwrap_or_default();
    json!({
        "specVersion": "1.0",
        "entries": [{
            "identifier": format!("urn:air:{domain}:mcp:{}", server.slug),
            "type": SERVER_CARD_MEDIA_TYPE,
            "url": format!("{mcp_url}{SERVER_CARD_SUFFIX}"),
        }],
    })
}

/// `GET /v0.1/servers`: what a registry client asks for.
#[derive(Debug, Clone, Default)]
pub struct RegistryQuery {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
    pub search: Option<String>,
    /// RFC 3339.
    pub updated_since: Option<String>,
}

/// Why a registry query was refused (the API answers 400 with it).
#[derive(Debug, thiserror::Error)]
pub enum RegistryQueryError {
    #[error("cursor is not one this registry gave")]
    Cursor,
    #[error("limit must be 1 to {REGISTRY_PAGE_MAX}")]
    Limit,
    #[error("search is at most {SEARCH_MAX} characters")]
    Search,
    #[error("updated_since must be an RFC 3339 time, such as 2026-01-31T00:00:00Z")]
    UpdatedSince,
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// Platform-wide: a page of the registry listing (only organizations that opted in), in
/// the generic registry API's `ServerList` shape.
pub async fn registry_page(
    platform: &Platform,
    query: RegistryQuery,
) -> Result<Value, RegistryQueryError> {
    let limit = query.limit.unwrap_or(REGISTRY_PAGE_DEFAULT);
    if !(1..=REGISTRY_PAGE_MAX).contains(&limit) {
        return Err(RegistryQueryError::Limit);
    }
    let search = query.search.filter(|text| !text.is_empty());
    if search
        .as_ref()
        .is_some_and(|s| s.chars().count() > SEARCH_MAX)
    {
        return Err(RegistryQueryError::Search);
    }
    let updated_since = match query.updated_since.as_deref() {
        Some(text) => Some(Timestamp::parse_rfc3339(text).ok_or(RegistryQueryError::UpdatedSince)?),
        None => None,
    };
    let after = query.cursor.as_deref().map(parse_cursor).transpose()?;
    let servers = platform
        .store
        .listed_servers(&ListedServersQuery {
            after,
            updated_since,
            search,
            // One more than asked: whether there is a next page.
            limit: limit + 1,
        })
        .await
        .map_err(CoreError::from)?;
    let more = servers.len() > limit as usize;
    let page = &servers[..servers.len().min(limit as usize)];
    let next_cursor = page
        .last()
        .filter(|_| more)
        .map(|last| format!("{}.{}", last.updated_at.micros(), last.id));
    let entries: Vec<Value> = page
        .iter()
        .map(|server| registry_entry(&platform.config, server))
        .collect();
    let mut metadata = json!({"count": entries.len()});
    if let Some(cursor) = next_cursor {
        metadata["nextCursor"] = json!(cursor);
    }
    Ok(json!({"servers": entries, "metadata": metadata}))
}

fn parse_cursor(text: &str) -> Result<(Timestamp, String), RegistryQueryError> {
    let (micros, id) = text.split_once('.').ok_or(RegistryQueryError::Cursor)?;
    let micros: i64 = micros.parse().map_err(|_| RegistryQueryError::Cursor)?;
    let id_ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !id_ok {
        return Err(RegistryQueryError::Cursor);
    }
    Ok((Timestamp::from_micros(micros), id.to_owned()))
}

/// A listed server as the registry API gives it: its server.json, and the registry's
/// metadata.
fn registry_entry(config: &PlatformConfig, server: &McpServer) -> Value {
    let url = urls::mcp_url(config, server);
    json!({
        "server": {
            "$schema": SERVER_JSON_SCHEMA,
            "name": registry_name(config, server),
            "title": title_of(server),
            "description": description_of(server),
            "version": env!("CARGO_PKG_VERSION"),
            "remotes": [{"type": "streamable-http", "url": url}],
        },
        "_meta": {REGISTRY_META: {
            "status": "active",
            "publishedAt": server.created_at.to_rfc3339(),
            "updatedAt": server.updated_at.to_rfc3339(),
            "isLatest": true,
        }},
    })
}
