//! Settings from flags, environment and the optional TOML file, in that order of
//! precedence, with defaults last. The flags declare every setting (`crate::cli`); the
//! file is a layer under them (`file`), so what arrives here is already resolved and
//! only needs checking and shaping into what the other crates take.

mod file;
mod paths;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use guidepost_auth::AuthOptions;
use guidepost_core::PlatformConfig;
use guidepost_core::secrets::MasterKey;
use guidepost_core::upstreams::catalog::Catalog;
use guidepost_gateway::confine::{Caps, ConfinementOptions, Limits};
use guidepost_mcp::{McpOptions, RateLimits, SessionCaps};

pub use file::{SettingsFile, parse_command_line};

use crate::cli::{
    ConfinementArgs, DEFAULT_DATABASE_URL, GlobalArgs, RegistryArgs, ServeArgs, ToolchainArgs,
    WebhookArgs,
};
use crate::registry_worker::RegistrySettings;
use crate::webhook_worker::WebhookSettings;

const DAY_SECONDS: u64 = 24 * 3600;

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub listen: SocketAddr,
    /// The public port when set explicitly; otherwise the port actually bound.
    pub public_port: Option<u16>,
    pub platform: PlatformConfig,
    pub mcp: McpOptions,
    /// The OAuth authorization server of servers that require sign-in.
    pub auth: AuthOptions,
    pub shutdown_grace: Duration,
    /// The bearer token `/metrics` requires, if any.
    pub metrics_token: Option<String>,
    /// How long a client may take to send a request's headers, and its body.
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The prefix of a client's address that every per-address limit keys on.
    pub address_prefixes: guidepost_core::rate_limit::AddressPrefixes,
    /// How long a request waits for the database before it fails.
    pub store_timeout: Duration,
    /// The DNS server custom-domain challenges are looked up at; the system's if unset.
    pub dns_resolver: Option<SocketAddr>,
    /// Where upstream packages are cached, and the `node` and `npm` that fetch and run them.
    pub gateway: guidepost_gateway::GatewayOptions,
    /// How this node sends webhooks.
    pub webhooks: crate::webhook_worker::WebhookSettings,
    /// How this node syncs the registries.
    pub registries: crate::registry_worker::RegistrySettings,
}

impl Settings {
    /// `serve`'s defaults on this database, listening on any free port of localhost: for
    /// tests and local runs.
    pub fn local(database_url: impl Into<String>) -> Self {
        let mut settings = serve_settings(database_url.into(), &ServeArgs::defaults())
            .expect("serve's defaults are valid settings");
        settings.listen.set_port(0);
        settings
    }
}

/// The database every command but `bench` opens, its file absolute (`config::paths`).
pub fn database_url(global: &GlobalArgs) -> String {
    global
        .database_url
        .clone()
        .unwrap_or_else(|| match std::env::current_dir() {
            Ok(start_dir) => paths::absolute_database_url(DEFAULT_DATABASE_URL, &start_dir),
            Err(_) => DEFAULT_DATABASE_URL.to_owned(),
        })
}

pub fn serve_settings(database_url: String, args: &ServeArgs) -> anyhow::Result<Settings> {
    anyhow::ensure!(
        matches!(args.public_url_scheme.as_str(), "http" | "https"),
        "--public-url-scheme must be http or https"
    );
    anyhow::ensure!(
        !args.base_domain.is_empty() && !args.base_domain.contains('/'),
        "--base-domain must be a host name"
    );
    anyhow::ensure!(
        args.retention_days > 0,
        "--retention-days must be at least 1"
    );
    anyhow::ensure!(
        (1..=7 * 24 * 60).contains(&args.approval_expiry_minutes),
        "--approval-expiry-minutes must be from 1 to 10080 (a week)"
    );
    anyhow::ensure!(
        args.audit_retention_days > 0,
        "--audit-retention-days must be at least 1"
    );
    anyhow::ensure!(
        args.header_read_timeout > 0 && args.body_read_timeout > 0,
        "--header-read-timeout and --body-read-timeout must be at least 1 second"
    );
    anyhow::ensure!(
        args.store_timeout > 0,
        "--store-timeout must be at least 1 second"
    );
    let platform = platform_config(args, Unreadable::Refused)?;
    let gateway = gateway_options(args, &database_url);
    Ok(Settings {
        database_url,
        listen: args.listen,
        public_port: args.public_port,
        auth: auth_options(args, &platform.base_domain),
        platform,
        mcp: McpOptions {
            body_limit: args.body_limit,
            rate_limits: RateLimits {
                per_user_per_minute: args.rate_limit_per_user,
                per_ip_per_minute: args.rate_limit_per_ip,
                ..RateLimits::default()
            },
            session_caps: session_caps(args)?,
        },
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
        metrics_token: args.metrics_token.clone().filter(|t| !t.is_empty()),
        header_read_timeout: Duration::from_secs(args.header_read_timeout),
        body_read_timeout: Duration::from_secs(args.body_read_timeout),
        trusted_proxies: trusted_proxies(&args.trusted_proxy)?,
        address_prefixes: guidepost_core::rate_limit::AddressPrefixes {
            v4: args.address_prefix_v4,
            v6: args.address_prefix_v6,
        },
        store_timeout: Duration::from_secs(args.store_timeout),
        dns_resolver: parse_dns_resolver(args.dns_resolver.clone())?,
        gateway,
        webhooks: webhook_settings(&args.webhooks),
        registries: registry_settings(&args.registries),
    })
}

/// How a node on `database_url` runs upstreams, by `serve`'s settings: `serve`'s own, and
/// those of a command that installs or tries one in its own process.
pub fn gateway_options(args: &ServeArgs, database_url: &str) -> guidepost_gateway::GatewayOptions {
    guidepost_gateway::GatewayOptions {
        toolchain: toolchain(&args.toolchain),
        supervision: guidepost_gateway::Supervision {
            idle_timeout: (args.upstream_idle_timeout > 0)
                .then(|| Duration::from_secs(args.upstream_idle_timeout)),
            ..Default::default()
        },
        http_allow_private: args.upstream_allow_private,
        container_socket: args.container_socket.clone(),
        deployment: deployment_of(database_url),
        confinement: confinement(&args.confinement),
    }
}

/// What becomes of a setting that does not read (the master key, the catalog file, a
/// container image, a registry URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unreadable {
    /// `serve` refuses to start, saying why.
    Refused,
    /// Other commands leave it out (as if it were not given), and go on: `serve` is what
    /// refuses it.
    LeftOut,
}

impl Unreadable {
    fn take<T>(self, read: anyhow::Result<T>, left_out: impl FnOnce() -> T) -> anyhow::Result<T> {
        match (read, self) {
            (Ok(value), _) => Ok(value),
            (Err(_), Self::LeftOut) => Ok(left_out()),
            (Err(error), Self::Refused) => Err(error),
        }
    }
}

/// `serve`'s platform settings, every command's the same.
fn platform_config(args: &ServeArgs, unreadable: Unreadable) -> anyhow::Result<PlatformConfig> {
    let images = container_images(&args.container_images);
    let registries = registry_urls(&args.registries.registry_url);
    Ok(PlatformConfig {
        base_domain: args.base_domain.to_ascii_lowercase(),
        public_scheme: args.public_url_scheme.clone(),
        public_port: args.public_port,
        default_server: args.default_server.clone(),
        enable_fixtures: args.enable_fixtures,
        session_idle_timeout: Duration::from_secs(args.session_idle_timeout),
        master_key: unreadable.take(master_key(args), || None)?,
        retention: Duration::from_secs(u64::from(args.retention_days) * DAY_SECONDS),
        audit_retention: Duration::from_secs(u64::from(args.audit_retention_days) * DAY_SECONDS),
        catalog: Arc::new(unreadable.take(catalog(args.catalog.as_ref()), Catalog::builtin)?),
        private_package_entries: args.private_package_entries,
        container_images: unreadable.take(images, Vec::new)?,
        registries: unreadable.take(registries, Vec::new)?,
        registry_max_entries: args.registries.registry_max_entries,
        max_server_tools: args.max_server_tools as usize,
        max_replicas: args.upstream_max_replicas,
        server_cache_expiry: guidepost_core::DEFAULT_SERVER_CACHE_EXPIRY,
        sign_in_codes_per_hour: args.sign_in_codes_per_hour,
        webhooks_allow_private: args.webhooks.webhook_allow_private,
        approval_expiry: Duration::from_secs(u64::from(args.approval_expiry_minutes) * 60),
        operator_interceptors: unreadable.take(operator_interceptors(args), Vec::new)?,
    })
}

/// The operator's interceptors from `--operator-interceptors`, checked as an
/// organization's are (their URLs under `--webhook-allow-private`).
fn operator_interceptors(
    args: &ServeArgs,
) -> anyhow::Result<Vec<guidepost_domain::OperatorInterceptor>> {
    let Some(path) = &args.operator_interceptors else {
        return Ok(Vec::new());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --operator-interceptors {}", path.display()))?;
    let allow_private = args.webhooks.webhook_allow_private;
    guidepost_core::guardrails::interceptors::operator_interceptors(&text, allow_private)
        .map_err(|invalid| anyhow::anyhow!("{}", invalid.message))
        .with_context(|| format!("--operator-interceptors {}", path.display()))
}

/// How this node syncs the registries.
pub fn registry_settings(args: &RegistryArgs) -> RegistrySettings {
    RegistrySettings {
        allow_private: args.registry_allow_private,
        interval: Duration::from_secs(args.registry_sync_interval),
        ..RegistrySettings::default()
    }
}

/// How this node sends webhooks.
fn webhook_settings(args: &WebhookArgs) -> WebhookSettings {
    WebhookSettings {
        allow_private: args.webhook_allow_private,
        timeout: Duration::from_secs(args.webhook_timeout),
        max_attempts: args.webhook_max_attempts,
        backoff: Duration::from_millis(args.webhook_backoff_ms),
        ..WebhookSettings::default()
    }
}

/// `--trusted-proxy` networks (an address is a network of one).
fn trusted_proxies(given: &[String]) -> anyhow::Result<Vec<ipnet::IpNet>> {
    given
        .iter()
        .map(|text| {
            let text = text.trim();
            text.parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .with_context(|| format!("--trusted-proxy {text:?} is not an address or network"))
        })
        .collect()
}

/// `--container-images`: the images organizations' private container entries may name.
fn container_images(given: &[String]) -> anyhow::Result<Vec<String>> {
    given
        .iter()
        .map(|text| text.trim())
        .filter(|text| !text.is_empty())
        .map(|text| {
            anyhow::ensure!(
                !text.starts_with('-')
                    && !text.chars().any(|c| c.is_whitespace() || c.is_control()),
                "--container-images {text:?} is not an image reference"
            );
            Ok(text.to_owned())
        })
        .collect()
}

/// The registries' base URLs, without a trailing slash: http or https, no credentials,
/// no query (the fence judges their addresses when they are reached).
fn registry_urls(given: &[String]) -> anyhow::Result<Vec<String>> {
    let mut urls = Vec::new();
    for text in given.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let url = url::Url::parse(text)
            .map_err(|e| anyhow::anyhow!("--registry-url {text:?} is not a URL: {e}"))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.username().is_empty()
                && url.password().is_none()
                && url.query().is_none()
                && url.fragment().is_none(),
            "--registry-url {text:?} must be an http(s) URL without credentials, query or fragment"
        );
        let base = text.trim_end_matches('/').to_owned();
        if !urls.contains(&base) {
            urls.push(base);
        }
    }
    Ok(urls)
}

fn session_caps(args: &ServeArgs) -> anyhow::Result<SessionCaps> {
    let caps = SessionCaps {
        per_ip: args.max_sessions_per_ip,
        per_server: args.max_sessions_per_server,
        per_node: args.max_sessions,
        stored_per_ip: args.max_stored_sessions_per_ip,
    };
    anyhow::ensure!(
        caps.per_ip > 0 && caps.per_server > 0 && caps.per_node > 0,
        "--max-sessions, --max-sessions-per-ip and --max-sessions-per-server must be at least 1"
    );
    anyhow::ensure!(
        caps.stored_per_ip as usize >= caps.per_ip,
        "--max-stored-sessions-per-ip ({}) must be at least --max-sessions-per-ip ({}): \
         a session held in memory must stay in the store",
        caps.stored_per_ip,
        caps.per_ip
    );
    Ok(caps)
}

/// Where upstream packages are cached and what fetches and runs them.
pub fn toolchain(args: &ToolchainArgs) -> guidepost_gateway::Toolchain {
    guidepost_gateway::Toolchain {
        cache_dir: args.upstream_cache.clone(),
        node: args.node.clone(),
        npm: args.npm.clone(),
        python: args.python.clone(),
        data_dir: args.upstream_data.clone(),
        npm_registry: args.npm_registry.clone(),
        pypi_index_url: args.pypi_index_url.clone(),
    }
}

/// How process upstreams are confined.
pub fn confinement(args: &ConfinementArgs) -> ConfinementOptions {
    ConfinementOptions {
        mode: args.upstream_confinement,
        user: args.upstream_user.clone(),
        uids: args.upstream_uids,
        limits: Limits {
            memory_mb: args.upstream_memory_mb,
            processes: args.upstream_processes,
            max_memory_mb: args.upstream_max_memory_mb,
            max_processes: args.upstream_max_processes,
            disk_mb: args.upstream_disk_mb,
            max_disk_mb: args.upstream_max_disk_mb,
        },
        caps: Caps {
            org_memory_mb: args.upstream_org_memory_mb,
            org_processes: args.upstream_org_processes,
            node_memory_mb: args.upstream_node_memory_mb,
            node_processes: args.upstream_node_processes,
        },
        platform_ports: Vec::new(),
    }
}

/// What names a deployment (the nodes that share one database) in upstreams' owner
/// markers: a short hash of its database URL.
pub fn deployment_of(database_url: &str) -> String {
    guidepost_domain::hash_secret(database_url)[..12].to_owned()
}

/// The catalog: the built-in entries and, with `--catalog FILE`, the operator's.
pub fn catalog(path: Option<&std::path::PathBuf>) -> anyhow::Result<Catalog> {
    let Some(path) = path else {
        return Ok(Catalog::builtin());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the catalog file {}", path.display()))?;
    Catalog::with_operator_entries(&text)
        .map_err(|e| anyhow::anyhow!("the catalog file {}: {e}", path.display()))
}

/// A DNS server address as given (`IP` or `IP:port`), port 53 by default.
pub fn parse_dns_resolver(text: Option<String>) -> anyhow::Result<Option<SocketAddr>> {
    let Some(text) = text else {
        return Ok(None);
    };
    let parsed = text.parse::<SocketAddr>().or_else(|_| {
        text.parse::<std::net::IpAddr>()
            .map(|ip| SocketAddr::new(ip, 53))
    });
    parsed.map(Some).with_context(|| {
        format!("--dns-resolver {text:?} is not an IP address (with an optional port)")
    })
}

/// The master key from `--master-key`, else from `--master-key-file`.
fn master_key(args: &ServeArgs) -> anyhow::Result<Option<MasterKey>> {
    let from_file = |path: &Path| -> anyhow::Result<String> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the master key file {}", path.display()))?;
        Ok(text.trim().to_owned())
    };
    let text = match (&args.master_key, &args.master_key_file) {
        (Some(key), _) => Some(key.clone()),
        (None, Some(path)) => Some(from_file(path)?),
        (None, None) => None,
    };
    text.as_deref()
        .map(MasterKey::parse)
        .transpose()
        .context("the master key (--master-key, --master-key-file)")
}

fn auth_options(args: &ServeArgs, base_domain: &str) -> AuthOptions {
    AuthOptions {
        access_token_ttl: Duration::from_secs(args.access_token_ttl),
        refresh_token_ttl: Duration::from_secs(args.refresh_token_ttl),
        refresh_grace: Duration::from_secs(args.refresh_grace),
        cimd_allow_private: args.cimd_allow_private,
        oidc_allow_private: args.oidc_allow_private,
        rate_limit_per_ip: args.rate_limit_auth_per_ip,
        smtp_url: args.smtp_url.clone(),
        mail_from: args
            .mail_from
            .clone()
            .unwrap_or_else(|| format!("Guidepost <no-reply@{base_domain}>")),
        mail_outbox: args.mail_outbox.clone(),
    }
}

/// The platform settings of commands other than `serve`: `serve`'s from the environment
/// and the config file (`SettingsFile::serve_args`), as `serve` would read them, but that a
/// setting that does not read is left out (`serve` refuses it), and that the public port
/// is the one `serve` listens on unless one is given (as `serve` learns when it binds).
pub fn offline_platform_config(serve: &ServeArgs) -> anyhow::Result<PlatformConfig> {
    let mut config = platform_config(serve, Unreadable::LeftOut)?;
    config.public_port = Some(serve.public_port.unwrap_or(serve.listen.port()));
    Ok(config)
}

#[cfg(test)]
mod tests;
