//! Hosted MCP servers: creation and update rules, public URLs and install snippets.

use crate::{Caller, Permission};
use guidepost_domain::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::hosting::domains::{self, DomainChallenge};
pub use crate::hosting::urls::{mcp_url, path_mcp_url};
use crate::input::{optional_text, present};
use crate::revision::{merged_until_current, unless_changed};
use crate::{CoreError, Platform, PlatformConfig};

/// `POST /api/v1/servers` and `guidepost server create`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServer {
    pub name: String,
    pub slug: String,
    #[serde(default)]
    pub kind: Option<ServerKind>,
    #[serde(default)]
    pub auth_mode: Option<AuthMode>,
    #[serde(default)]
    pub walkthrough_tools_enabled: Option<bool>,
    #[serde(default)]
    pub support_tool_enabled: Option<bool>,
    /// Offer `send_feedback` (a rating from 1 to 5 and a text); off by default.
    #[serde(default)]
    pub feedback_tool_enabled: Option<bool>,
    #[serde(default)]
    pub custom_domain: Option<String>,
    #[serde(default)]
    pub product_name: Option<String>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
}

/// `PATCH /api/v1/servers/{id}`: absent fields stay; `null` clears a nullable one.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateServer {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub auth_mode: Option<AuthMode>,
    #[serde(default)]
    pub walkthrough_tools_enabled: Option<bool>,
    #[serde(default)]
    pub support_tool_enabled: Option<bool>,
    /// Offer `send_feedback` (a rating from 1 to 5 and a text); off by default.
    #[serde(default)]
    pub feedback_tool_enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub custom_domain: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub product_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub instructions: Option<Option<String>>,
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
}

/// A server as the API shows it: the record plus its public URLs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServerView {
    #[serde(flatten)]
    pub server: McpServer,
    /// The server's MCP endpoint on its virtual host.
    pub mcp_url: String,
    /// The same endpoint by the path fallback, for setups without wildcard DNS.
    pub path_mcp_url: String,
    /// A custom domain asked for and not verified yet: the DNS record that proves it
    /// (then `POST /api/v1/servers/{id}/custom-domain/verify`).
    pub custom_domain_pending: Option<DomainChallenge>,
}

pub fn view(config: &PlatformConfig, server: McpServer) -> ServerView {
    ServerView {
        mcp_url: mcp_url(config, &server),
        path_mcp_url: path_mcp_url(config, &server),
        custom_domain_pending: server.pending_domain.as_ref().map(domains::challenge),
        server,
    }
}

fn checked_domain(
    config: &PlatformConfig,
    domain: Option<String>,
) -> Result<Option<String>, ValidationError> {
    let Some(domain) = domain
        .map(|d| d.trim().to_lowercase())
        .filter(|d| !d.is_empty())
    else {
        return Ok(None);
    };
    validate_domain("custom_domain", &domain)?;
    let base = &config.base_domain;
    if domain == *base || domain.ends_with(&format!(".{base}")) {
        return Err(ValidationError::new(
            "custom_domain",
            format!("must not be under the platform's base domain {base}"),
        ));
    }
    Ok(Some(domain))
}

fn checked_origins(origins: Vec<String>) -> Result<Vec<String>, ValidationError> {
    if origins.len() > Limits::ALLOWED_ORIGINS {
        return Err(ValidationError::new(
            "allowed_origins",
            format!("at most {} origins", Limits::ALLOWED_ORIGINS),
        ));
    }
    let origins: Vec<String> = origins
        .into_iter()
        .map(|o| o.trim().trim_end_matches('/').to_lowercase())
        .collect();
    origins.iter().try_for_each(|o| validate_origin(o))?;
    Ok(origins)
}

fn settings_for_create(
    config: &PlatformConfig,
    input: CreateServer,
) -> Result<ServerSettings, ValidationError> {
    validate_text("name", &input.name, Limits::NAME)?;
    Ok(ServerSettings {
        name: input.name.trim().to_owned(),
        slug: Slug::parse(&input.slug)?,
        // Served only once verified (`domains`).
        custom_domain: None,
        pending_domain: checked_domain(config, input.custom_domain)?.map(domains::pending),
        auth_mode: input.auth_mode.unwrap_or(AuthMode::None),
        walkthrough_tools_enabled: input.walkthrough_tools_enabled.unwrap_or(true),
        support_tool_enabled: input.support_tool_enabled.unwrap_or(true),
        feedback_tool_enabled: input.feedback_tool_enabled.unwrap_or(false),
        product_name: optional_text("product_name", input.product_name, Limits::NAME)?,
        instructions: optional_text("instructions", input.instructions, Limits::INSTRUCTIONS)?,
        allowed_origins: checked_origins(input.allowed_origins.unwrap_or_default())?,
    })
}

fn apply_update(
    config: &PlatformConfig,
    current: McpServer,
    input: UpdateServer,
) -> Result<ServerSettings, ValidationError> {
    let name = match input.name {
        Some(name) => validate_text("name", &name, Limits::NAME).map(|_| name.trim().to_owned())?,
        None => current.name,
    };
    let (custom_domain, pending_domain) = match input.custom_domain {
        None => (current.custom_domain, current.pending_domain),
        Some(asked) => match checked_domain(config, asked)? {
            None => (None, None),
            // Asked again: whatever it is (verified or pending) stays.
            Some(domain)
                if current.custom_domain.as_ref() == Some(&domain)
                    || current.pending_domain.as_ref().map(|p| &p.domain) == Some(&domain) =>
            {
                (current.custom_domain, current.pending_domain)
            }
            // Another domain: it replaces the old one, and serves once verified.
            Some(domain) => (None, Some(domains::pending(domain))),
        },
    };
    Ok(ServerSettings {
        name,
        slug: input
            .slug
            .as_deref()
            .map(Slug::parse)
            .transpose()?
            .unwrap_or(current.slug),
        custom_domain,
        pending_domain,
        auth_mode: input.auth_mode.unwrap_or(current.auth_mode),
        walkthrough_tools_enabled: input
            .walkthrough_tools_enabled
            .unwrap_or(current.walkthrough_tools_enabled),
        support_tool_enabled: input
            .support_tool_enabled
            .unwrap_or(current.support_tool_enabled),
        feedback_tool_enabled: input
            .feedback_tool_enabled
            .unwrap_or(current.feedback_tool_enabled),
        product_name: match input.product_name {
            Some(value) => optional_text("product_name", value, Limits::NAME)?,
            None => current.product_name,
        },
        instructions: match input.instructions {
            Some(value) => optional_text("instructions", value, Limits::INSTRUCTIONS)?,
            None => current.instructions,
        },
        allowed_origins: match input.allowed_origins {
            Some(origins) => checked_origins(origins)?,
            None => current.allowed_origins,
        },
    })
}

pub async fn create(
    platform: &Platform,
    caller: &Caller,
    input: CreateServer,
) -> Result<McpServer, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let kind = input.kind.unwrap_or(ServerKind::Standard);
    if kind == ServerKind::ConformanceFixture && !platform.config.enable_fixtures {
        return Err(CoreError::Forbidden(
            "conformance_fixture servers can be created only when the platform runs with --enable-fixtures".into(),
        ));
    }
    let settings = settings_for_create(&platform.config, input)?;
    if settings.auth_mode == AuthMode::CustomOauth {
        // Its identity provider is a sub-resource of the server: it cannot exist yet.
        return Err(ValidationError::new(
            "auth_mode",
            "custom_oauth needs the organization's OpenID Connect provider first: create the \
             server with another auth_mode, PUT /api/v1/servers/{id}/oidc, then set auth_mode",
        )
        .into());
    }
    refuse_taken_domain(platform, None, &settings).await?;
    let server = platform.store.create_server(org, kind, &settings).await?;
    let detail = serde_json::json!({"slug": server.slug.as_str()});
    crate::audit::record_server(
        platform,
        caller,
        AuditAction::ServerCreated,
        &server,
        detail,
    )
    .await?;
    Ok(server)
}

/// The settings an update names, for the audit log.
fn named_fields(input: &UpdateServer) -> Vec<&'static str> {
    let named = [
        ("name", input.name.is_some()),
        ("slug", input.slug.is_some()),
        ("auth_mode", input.auth_mode.is_some()),
        (
            "walkthrough_tools_enabled",
            input.walkthrough_tools_enabled.is_some(),
        ),
        ("support_tool_enabled", input.support_tool_enabled.is_some()),
        (
            "feedback_tool_enabled",
            input.feedback_tool_enabled.is_some(),
        ),
        ("custom_domain", input.custom_domain.is_some()),
        ("product_name", input.product_name.is_some()),
        ("instructions", input.instructions.is_some()),
        ("allowed_origins", input.allowed_origins.is_some()),
    ];
    named
        .into_iter()
        .filter(|(_, named)| *named)
        .map(|(field, _)| field)
        .collect()
}

/// A domain another server verified cannot be asked for (it could never verify).
async fn refuse_taken_domain(
    platform: &Platform,
    asking: Option<&ServerId>,
    settings: &ServerSettings,
) -> Result<(), CoreError> {
    let Some(pending) = &settings.pending_domain else {
        return Ok(());
    };
    match platform
        .store
        .find_server_by_domain(&pending.domain)
        .await?
    {
        Some(holder) if Some(&holder.id) != asking => Err(CoreError::Conflict(format!(
            "{} is already verified for another server",
            pending.domain
        ))),
        _ => Ok(()),
    }
}

pub async fn get(
    platform: &Platform,
    caller: &Caller,
    id: &ServerId,
) -> Result<McpServer, CoreError> {
    let org = caller.org();
    Ok(platform.store.get_server(org, id).await?)
}

/// A server whose tools the caller may run from the dashboard's tool tester: a tool can
/// change things (open a support request, act at an upstream), so it takes `Edit`.
pub async fn for_tool_test(
    platform: &Platform,
    caller: &Caller,
    id: &ServerId,
) -> Result<McpServer, CoreError> {
    caller.require(Permission::Edit)?;
    get(platform, caller, id).await
}

pub async fn list(
    platform: &Platform,
    caller: &Caller,
    page: &PageRequest,
) -> Result<Page<McpServer>, CoreError> {
    let org = caller.org();
    Ok(platform.store.list_servers(org, page).await?)
}

/// Deletes a server with everything that belongs to it (assignments, progress,
/// sessions, sign-in records: the store cascades). Every deletion passes here, so that
/// what runs for a server can be stopped with it.
pub async fn delete(platform: &Platform, caller: &Caller, id: &ServerId) -> Result<(), CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let server = platform.store.get_server(org, id).await?;
    platform.store.delete_server(org, id).await?;
    let detail = serde_json::json!({"slug": server.slug.as_str()});
    crate::audit::record_server(
        platform,
        caller,
        AuditAction::ServerDeleted,
        &server,
        detail,
    )
    .await?;
    // Nodes forget it (their caches), and its clients hear its tools are gone.
    platform
        .announce_tools_changed(std::slice::from_ref(id))
        .await;
    Ok(())
}

pub async fn update(
    platform: &Platform,
    caller: &Caller,
    id: &ServerId,
    input: UpdateServer,
) -> Result<McpServer, CoreError> {
    update_seen_at(platform, caller, id, input, None).await
}

/// [`update`], from a form that showed the server at revision `seen` (its `updated_at`):
/// refused with a conflict if it changed since, so that a stale page does not write back
/// every field over someone else's change.
pub async fn update_seen_at(
    platform: &Platform,
    caller: &Caller,
    id: &ServerId,
    input: UpdateServer,
    seen: Option<Timestamp>,
) -> Result<McpServer, CoreError> {
    caller.require(Permission::Edit)?;
    let fields = named_fields(&input);
    let attempt = || merge_and_write(platform, caller.org(), id, input.clone(), seen);
    let updated = merged_until_current(attempt).await?;
    let detail = serde_json::json!({"fields": fields});
    crate::audit::record_server(
        platform,
        caller,
        AuditAction::ServerUpdated,
        &updated,
        detail,
    )
    .await?;
    // Every change is announced, not only those that change its tools: nodes keep
    // servers in their caches, and forget one when it is announced.
    platform
        .announce_tools_changed(std::slice::from_ref(id))
        .await;
    Ok(updated)
}

/// One attempt at an update: the server as stored, the input merged over it and checked,
/// and the result written only if nobody wrote the server since it was read (else `None`,
/// and the caller merges again over the newer row).
async fn merge_and_write(
    platform: &Platform,
    org: &OrgId,
    id: &ServerId,
    input: UpdateServer,
    seen: Option<Timestamp>,
) -> Result<Option<McpServer>, CoreError> {
    let current = platform.store.get_server(org, id).await?;
    crate::revision::unchanged_since_seen("server", seen, current.updated_at)?;
    let settings = apply_update(&platform.config, current.clone(), input)?;
    if settings.pending_domain != current.pending_domain {
        refuse_taken_domain(platform, Some(id), &settings).await?;
    }
    let to_custom =
        settings.auth_mode == AuthMode::CustomOauth && current.auth_mode != AuthMode::CustomOauth;
    if to_custom && let Some(why) = crate::accounts::oidc::readiness(platform, org, id).await? {
        return Err(ValidationError::new("auth_mode", why).into());
    }
    let read_at = Some(current.updated_at);
    unless_changed(
        platform
            .store
            .update_server(org, id, &settings, read_at)
            .await,
    )
}

/// Ready-to-paste configuration for the clients people use.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstallSnippets {
    pub url: String,
    /// The tracking id written into the URLs (given, or minted), if any.
    pub tracking_id: Option<String>,
    #[schema(value_type = Object)]
    pub cursor: serde_json::Value,
    #[schema(value_type = Object)]
    pub vscode: serde_json::Value,
    pub claude_code: String,
    #[schema(value_type = Object)]
    pub generic: serde_json::Value,
}

pub fn install_snippets(
    config: &PlatformConfig,
    server: &McpServer,
    tracking_id: Option<&TrackingId>,
) -> InstallSnippets {
    let mut url = mcp_url(config, server);
    if let Some(id) = tracking_id {
        url = format!("{url}?tracking_id={}", id.as_str());
    }
    let name = server.slug.as_str();
    InstallSnippets {
        cursor: json!({ "mcpServers": { name: { "url": url } } }),
        vscode: json!({ "servers": { name: { "type": "http", "url": url } } }),
        claude_code: format!("claude mcp add --transport http {name} '{url}'"),
        generic: json!({ "name": name, "transport": "streamable-http", "url": url }),
        tracking_id: tracking_id.map(|id| id.as_str().to_owned()),
        url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> PlatformConfig {
        PlatformConfig {
            base_domain: "example.com".into(),
            public_scheme: "https".into(),
            public_port: None,
            default_server: None,
            enable_fixtures: false,
            session_idle_timeout: Duration::from_secs(60),
            master_key: None,
            retention: std::time::Duration::from_secs(90 * 24 * 3600),
            audit_retention: std::time::Duration::from_secs(365 * 24 * 3600),
            catalog: Default::default(),
            private_package_entries: false,
            container_images: Vec::new(),
            registries: Vec::new(),
            registry_max_entries: crate::config::DEFAULT_REGISTRY_MAX_ENTRIES,
            max_server_tools: crate::config::DEFAULT_MAX_SERVER_TOOLS,
            max_replicas: crate::config::DEFAULT_MAX_REPLICAS,
            server_cache_expiry: crate::config::DEFAULT_SERVER_CACHE_EXPIRY,
            sign_in_codes_per_hour: crate::config::DEFAULT_SIGN_IN_CODES_PER_HOUR,
            webhooks_allow_private: false,
            approval_expiry: crate::config::DEFAULT_APPROVAL_EXPIRY,
            operator_interceptors: Vec::new(),
        }
    }

    fn create_input() -> CreateServer {
        serde_json::from_value(json!({"name": "Acme", "slug": "acme"})).unwrap()
    }

    #[test]
    fn defaults_follow_the_spec() {
        let settings = settings_for_create(&config(), create_input()).unwrap();
        assert_eq!(settings.auth_mode, AuthMode::None);
        assert!(settings.walkthrough_tools_enabled && settings.support_tool_enabled);
    }

    #[test]
    fn custom_domains_under_the_base_domain_are_refused() {
        let mut input = create_input();
        input.custom_domain = Some("x.example.com".into());
        assert_eq!(
            settings_for_create(&config(), input).unwrap_err().field,
            "custom_domain"
        );
    }

    #[test]
    fn origins_must_be_origins() {
        let mut input = create_input();
        input.allowed_origins = Some(vec!["https://app.example.org/path".into()]);
        assert!(settings_for_create(&config(), input).is_err());
    }

    #[test]
    fn patch_tells_null_from_absent() {
        let patch: UpdateServer = serde_json::from_value(json!({"product_name": null})).unwrap();
        assert_eq!(patch.product_name, Some(None));
        assert_eq!(patch.instructions, None);
    }
}
