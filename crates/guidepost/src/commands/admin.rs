//! The administrative commands: migrate, org, server and api-key.

use std::sync::Arc;

use anyhow::{Context, bail};
use guidepost_core::hosting::servers::{self, CreateServer, UpdateServer};
use guidepost_core::{Caller, CoreError, Platform, PlatformConfig, accounts::organizations};
use guidepost_domain::{AuthMode, Id, OrgId, PageRequest, ServerKind};
use guidepost_store::Store;
use serde_json::json;

use crate::cli::{ApiKeyCommand, Command, OrgCommand, ServerCommand};
use crate::output;

pub async fn run(command: Command, platform: &Platform, json: bool) -> anyhow::Result<()> {
    match command {
        Command::Serve(_) | Command::Bench(_) | Command::Backup(_) | Command::Restore(_) => {
            unreachable!("serve is dispatched before the store is opened here")
        }
        Command::Walkthrough(_)
        | Command::Upstream(_)
        | Command::Tools(_)
        | Command::Webhook(_)
        | Command::Catalog(_) => {
            unreachable!("dispatched in commands::run")
        }
        Command::Migrate => {
            output::print(json, &json!({"migrated": true}), |_| {
                "Database is up to date.".into()
            });
            Ok(())
        }
        Command::Org(OrgCommand::Create { name, owner_email }) => {
            create_org(platform, &name, owner_email.as_deref(), json).await
        }
        Command::Server(command) => server(platform, command, json).await,
        Command::ApiKey(command) => api_key(platform, command, json).await,
    }
}

pub(super) fn org_id(text: &str) -> anyhow::Result<OrgId> {
    Id::parse(text).with_context(|| format!("{text:?} is not an organization id (org_…)"))
}

/// The platform's operator, acting for the organization `text` names.
pub(super) fn operator(text: &str) -> anyhow::Result<Caller> {
    Ok(Caller::operator(org_id(text)?))
}

async fn create_org(
    platform: &Platform,
    name: &str,
    owner_email: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    // The email is checked before anything is created.
    let owner = owner_email
        .map(guidepost_domain::Email::parse)
        .transpose()?;
    let (org, created) = organizations::create(platform, name).await?;
    let sign_in = match &owner {
        Some(email) => {
            guidepost_core::accounts::members::add(
                platform,
                &Caller::operator(org.id.clone()),
                email,
                guidepost_domain::Role::Owner,
            )
            .await?;
            Some(dashboard_sign_in_url(platform, email))
        }
        None => None,
    };
    let result = json!({"organization": org, "api_key": created.plaintext,
        "api_key_id": created.key.id, "dashboard_sign_in_url": sign_in});
    output::print(json, &result, |_| {
        let mut text = format!(
            "Organization {} created.\nAPI key (shown once): {}",
            org.id, created.plaintext
        );
        if let Some(url) = &sign_in {
            text.push_str(&format!("\nDashboard: sign in at {url}"));
        }
        text
    });
    Ok(())
}

/// The dashboard's sign-in page with the email filled in.
pub(crate) fn dashboard_sign_in_url(
    platform: &Platform,
    email: &guidepost_domain::Email,
) -> String {
    let origin = platform
        .config
        .origin_for_host(&platform.config.base_domain);
    let query = serde_urlencoded::to_string([("email", email.as_str())]).unwrap_or_default();
    format!("{origin}/app/sign-in?{query}")
}

/// A platform for commands that need service rules (validation, URLs) outside `serve`.
pub(super) fn offline_platform(
    store: Arc<dyn Store>,
    config: PlatformConfig,
    serve: &crate::cli::ServeArgs,
    dns_resolver: Option<std::net::SocketAddr>,
    upstreams: Arc<guidepost_gateway::Supervisor>,
) -> (
    Platform,
    guidepost_core::insights::analytics::AnalyticsWriter,
) {
    // Private addresses only where `serve`'s settings allow them, as `serve` does.
    let identity_providers = Arc::new(guidepost_auth::IdentityProviders::new(
        serve.oidc_allow_private,
    ));
    let dns = Arc::new(crate::dns::Dns::new(dns_resolver));
    let connections = Arc::new(guidepost_auth::UpstreamAuthorizer::new(
        serve.upstream_allow_private,
    ));
    Platform::new(
        store,
        config,
        identity_providers,
        dns,
        upstreams,
        connections,
    )
}

async fn server(platform: &Platform, command: ServerCommand, json: bool) -> anyhow::Result<()> {
    match command {
        ServerCommand::Create {
            org,
            name,
            slug,
            auth_mode,
            kind,
            custom_domain,
            product_name,
            instructions,
        } => {
            let kind = match kind.as_deref() {
                Some(text) => Some(ServerKind::parse(text).with_context(|| {
                    format!("--kind must be standard or conformance_fixture (got {text:?})")
                })?),
                None => None,
            };
            let auth_mode = auth_mode.as_deref().map(parse_auth_mode).transpose()?;
            let input = CreateServer {
                name,
                slug,
                kind,
                auth_mode,
                walkthrough_tools_enabled: None,
                support_tool_enabled: None,
                feedback_tool_enabled: None,
                custom_domain,
                product_name,
                instructions,
                allowed_origins: None,
            };
            let server = servers::create(platform, &operator(&org)?, input)
                .await
                .map_err(anyhow::Error::new)?;
            let view = servers::view(&platform.config, server);
            output::print(json, &view, |v| {
                let mut text = format!("Server {} created: {}", v.server.id, v.mcp_url);
                if let Some(pending) = &v.custom_domain_pending {
                    text.push_str(&format!(
                        "\nTo serve it at {}, publish the DNS record {} TXT \"{}\", then run \
                         `guidepost server verify-domain --org {} {}`.",
                        pending.domain,
                        pending.record_name,
                        pending.record_value,
                        v.server.org_id,
                        v.server.id
                    ));
                }
                text
            });
            Ok(())
        }
        ServerCommand::Update {
            org,
            id,
            name,
            slug,
            auth_mode,
            walkthrough_tools,
            support_tool,
            feedback_tool,
            custom_domain,
            product_name,
            instructions,
            allowed_origins,
            clear_allowed_origins,
        } => {
            let id = Id::parse(&id).with_context(|| format!("{id:?} is not a server id (ms_…)"))?;
            // "" clears an optional text; leaving a flag out leaves the field alone.
            let clearable =
                |given: Option<String>| given.map(|t| Some(t).filter(|t| !t.is_empty()));
            let input = UpdateServer {
                name,
                slug,
                auth_mode: auth_mode.as_deref().map(parse_auth_mode).transpose()?,
                walkthrough_tools_enabled: walkthrough_tools,
                support_tool_enabled: support_tool,
                feedback_tool_enabled: feedback_tool,
                custom_domain: clearable(custom_domain),
                product_name: clearable(product_name),
                instructions: clearable(instructions),
                allowed_origins: (clear_allowed_origins || !allowed_origins.is_empty())
                    .then_some(allowed_origins),
            };
            let caller = operator(&org)?;
            let server = servers::update(platform, &caller, &id, input)
                .await
                .map_err(|e| match e {
                    CoreError::NotFound => {
                        anyhow::anyhow!("no server {id} in organization {org}")
                    }
                    other => anyhow::Error::new(other),
                })?;
            let view = servers::view(&platform.config, server);
            output::print(json, &view, |v| {
                format!("Server {} updated: {}", v.server.id, v.mcp_url)
            });
            Ok(())
        }
        ServerCommand::List { org } => list_servers(platform, &operator(&org)?, json).await,
        ServerCommand::VerifyDomain { org, id, .. } => {
            let id = Id::parse(&id).with_context(|| format!("{id:?} is not a server id (ms_…)"))?;
            let server = guidepost_core::hosting::domains::verify(platform, &operator(&org)?, &id)
                .await
                .map_err(anyhow::Error::new)?;
            let view = servers::view(&platform.config, server);
            output::print(json, &view, |v| {
                let domain = v.server.custom_domain.as_deref().unwrap_or_default();
                format!("Verified: server {} now answers at {domain}.", v.server.id)
            });
            Ok(())
        }
    }
}

fn parse_auth_mode(text: &str) -> anyhow::Result<AuthMode> {
    AuthMode::parse(text).with_context(|| {
        format!("--auth-mode must be one of none, collect_email, platform_oauth, custom_oauth (got {text:?})")
    })
}

async fn list_servers(platform: &Platform, caller: &Caller, json: bool) -> anyhow::Result<()> {
    let mut views = Vec::new();
    let mut page = PageRequest {
        after: None,
        limit: guidepost_domain::Limits::PAGE_SIZE_MAX,
    };
    loop {
        let found = servers::list(platform, caller, &page).await?;
        views.extend(
            found
                .items
                .into_iter()
                .map(|s| servers::view(&platform.config, s)),
        );
        match found
            .next_cursor
            .as_deref()
            .and_then(guidepost_domain::Cursor::decode)
        {
            Some(cursor) => page.after = Some(cursor),
            None => break,
        }
    }
    output::print(json, &views, |views| {
        if views.is_empty() {
            return "No servers.".into();
        }
        views
            .iter()
            .map(|v| format!("{}  {:<20} {}", v.server.id, v.server.slug, v.mcp_url))
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

async fn api_key(platform: &Platform, command: ApiKeyCommand, json: bool) -> anyhow::Result<()> {
    match command {
        ApiKeyCommand::Create { org, name, scopes } => {
            let created =
                organizations::create_api_key(platform, &operator(&org)?, &name, Some(scopes))
                    .await
                    .map_err(not_found_org)?;
            let (key, plaintext) = (created.key, created.plaintext);
            let result = json!({"api_key": plaintext, "id": key.id, "name": key.name,
                "scopes": key.scopes});
            output::print(json, &result, |_| {
                format!(
                    "API key {} ({}), shown once: {plaintext}",
                    key.id,
                    key.scopes.to_list()
                )
            });
        }
        ApiKeyCommand::Revoke { org, id } => {
            let Some(key_id) = Id::parse(&id) else {
                bail!("{id:?} is not an API key id (key_…)")
            };
            let key = organizations::revoke_api_key(platform, &operator(&org)?, &key_id)
                .await
                .map_err(not_found_org)?;
            output::print(json, &key, |k| format!("API key {} revoked.", k.id));
        }
    }
    Ok(())
}

fn not_found_org(error: CoreError) -> anyhow::Error {
    match error {
        CoreError::NotFound => anyhow::anyhow!("no such organization or key"),
        other => other.into(),
    }
}
