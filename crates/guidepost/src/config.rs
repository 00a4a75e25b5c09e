//! Settings from flags, environment and the optional TOML file, merged in that order of
//! precedence, with defaults last.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use guidepost_auth::AuthOptions;
use guidepost_core::PlatformConfig;
use guidepost_core::secrets::MasterKey;
use guidepost_core::upstreams::catalog::Catalog;
use guidepost_mcp::{McpOptions, RateLimits, SessionCaps};
use serde::Deserialize;

use crate::cli::{GlobalArgs, LogFormat, ServeArgs};
use crate::webhook_worker::WebhookSettings;

pub const DEFAULT_DATABASE_URL: &str = "sqlite:guidepost.db";
const DAY_SECONDS: u64 = 24 * 3600;

/// The TOML file: the same names as the long flags, with '_' for '-'.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database_url: Option<String>,
    pub log_format: Option<LogFormat>,
    pub listen: Option<SocketAddr>,
    pub base_domain: Option<String>,
    pub public_url_scheme: Option<String>,
    pub public_port: Option<u16>,
    pub default_server: Option<String>,
    pub enable_fixtures: Option<bool>,
    pub rate_limit_per_user: Option<u32>,
    pub rate_limit_per_ip: Option<u32>,
    pub session_idle_timeout: Option<u64>,
    pub body_limit: Option<usize>,
    pub header_read_timeout: Option<u64>,
    pub body_read_timeout: Option<u64>,
    pub trusted_proxy: Option<Vec<String>>,
    pub store_timeout: Option<u64>,
    pub retention_days: Option<u32>,
    pub max_sessions: Option<usize>,
    pub max_sessions_per_ip: Option<usize>,
    pub max_sessions_per_server: Option<usize>,
    pub shutdown_grace: Option<u64>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub mail_outbox: Option<std::path::PathBuf>,
    pub access_token_ttl: Option<u64>,
    pub refresh_token_ttl: Option<u64>,
    pub refresh_grace: Option<u64>,
    pub cimd_allow_private: Option<bool>,
    pub oidc_allow_private: Option<bool>,
    pub rate_limit_auth_per_ip: Option<u32>,
    pub master_key: Option<String>,
    pub master_key_file: Option<std::path::PathBuf>,
    pub metrics_token: Option<String>,
    pub dns_resolver: Option<String>,
    pub upstream_cache: Option<std::path::PathBuf>,
    pub catalog: Option<std::path::PathBuf>,
    pub upstream_idle_timeout: Option<u64>,
    pub upstream_allow_private: Option<bool>,
    pub private_package_entries: Option<bool>,
    pub container_images: Option<Vec<String>>,
    pub max_server_tools: Option<usize>,
    pub container_socket: Option<std::path::PathBuf>,
    pub upstream_confinement: Option<guidepost_gateway::confine::Mode>,
    pub upstream_user: Option<String>,
    pub upstream_memory_mb: Option<u32>,
    pub upstream_processes: Option<u32>,
    pub upstream_max_memory_mb: Option<u32>,
    pub upstream_max_processes: Option<u32>,
    pub upstream_org_memory_mb: Option<u64>,
    pub upstream_org_processes: Option<u64>,
    pub upstream_node_memory_mb: Option<u64>,
    pub upstream_node_processes: Option<u64>,
    pub node: Option<std::path::PathBuf>,
    pub npm: Option<std::path::PathBuf>,
    pub python: Option<std::path::PathBuf>,
    pub upstream_data: Option<std::path::PathBuf>,
    pub webhook_allow_private: Option<bool>,
    pub webhook_timeout: Option<u64>,
    pub webhook_max_attempts: Option<u32>,
    pub webhook_backoff_ms: Option<u64>,
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

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
    /// How long a request waits for the database before it fails.
    pub store_timeout: Duration,
    /// The DNS server custom-domain challenges are looked up at; the system's if unset.
    pub dns_resolver: Option<SocketAddr>,
    /// Where upstream packages are cached, and the `node` and `npm` that fetch and run them.
    pub gateway: guidepost_gateway::GatewayOptions,
    /// How this node sends webhooks.
    pub webhooks: crate::webhook_worker::WebhookSettings,
}

impl Settings {
    /// Defaults suitable for tests and local runs: SQLite file, localhost, port 0.
    pub fn local(database_url: impl Into<String>) -> Self {
        let database_url = database_url.into();
        let deployment = deployment_of(&database_url);
        Self {
            database_url,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_port: None,
            platform: PlatformConfig {
                base_domain: "localhost".into(),
                public_scheme: "http".into(),
                public_port: None,
                default_server: None,
                enable_fixtures: false,
                session_idle_timeout: Duration::from_secs(1800),
                master_key: None,
                retention: Duration::from_secs(90 * DAY_SECONDS),
                catalog: Default::default(),
                private_package_entries: false,
                container_images: Vec::new(),
                max_server_tools: guidepost_core::DEFAULT_MAX_SERVER_TOOLS,
            },
            mcp: McpOptions::default(),
            auth: AuthOptions::default(),
            shutdown_grace: Duration::from_secs(10),
            metrics_token: None,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
            store_timeout: guidepost_store::StoreOptions::default().timeout,
            dns_resolver: None,
            gateway: guidepost_gateway::GatewayOptions {
                toolchain: toolchain(
                    &crate::cli::ToolchainArgs::default(),
                    &FileConfig::default(),
                ),
                supervision: Default::default(),
                http_allow_private: false,
                container_socket: None,
                deployment,
                confinement: Default::default(),
            },
            webhooks: Default::default(),
        }
    }
}

pub fn database_url(global: &GlobalArgs, file: &FileConfig) -> String {
    global
        .database_url
        .clone()
        .or_else(|| file.database_url.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

pub fn serve_settings(
    global: &GlobalArgs,
    args: &ServeArgs,
    file: &FileConfig,
) -> anyhow::Result<Settings> {
    let scheme = args
        .public_url_scheme
        .clone()
        .or_else(|| file.public_url_scheme.clone())
        .unwrap_or_else(|| "http".into());
    anyhow::ensure!(
        matches!(scheme.as_str(), "http" | "https"),
        "--public-url-scheme must be http or https"
    );
    let base_domain = args
        .base_domain
        .clone()
        .or_else(|| file.base_domain.clone())
        .unwrap_or_else(|| "localhost".into());
    anyhow::ensure!(
        !base_domain.is_empty() && !base_domain.contains('/'),
        "--base-domain must be a host name"
    );
    let defaults = RateLimits::default();
    let mut settings = Settings::local(database_url(global, file));
    settings.listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    settings.public_port = args.public_port.or(file.public_port);
    settings.platform = PlatformConfig {
        base_domain: base_domain.to_ascii_lowercase(),
        public_scheme: scheme,
        public_port: settings.public_port,
        default_server: args
            .default_server
            .clone()
            .or_else(|| file.default_server.clone()),
        enable_fixtures: flag(args.enable_fixtures, file.enable_fixtures),
        session_idle_timeout: Duration::from_secs(
            args.session_idle_timeout
                .or(file.session_idle_timeout)
                .unwrap_or(1800),
        ),
        master_key: master_key(args, file)?,
        retention: Duration::from_secs(
            u64::from(args.retention_days.or(file.retention_days).unwrap_or(90)) * DAY_SECONDS,
        ),
        catalog: Arc::new(catalog(args.catalog.as_ref().or(file.catalog.as_ref()))?),
        private_package_entries: flag(args.private_package_entries, file.private_package_entries),
        container_images: container_images(args, file)?,
        max_server_tools: args
            .max_server_tools
            .map(|n| n as usize)
            .or(file.max_server_tools)
            .unwrap_or(guidepost_core::DEFAULT_MAX_SERVER_TOOLS),
    };
    anyhow::ensure!(
        !settings.platform.retention.is_zero(),
        "--retention-days must be at least 1"
    );
    settings.dns_resolver = dns_resolver(args, file)?;
    settings.gateway.toolchain = toolchain(&args.toolchain, file);
    let idle = args
        .upstream_idle_timeout
        .or(file.upstream_idle_timeout)
        .unwrap_or(900);
    settings.gateway.supervision.idle_timeout = (idle > 0).then(|| Duration::from_secs(idle));
    settings.gateway.http_allow_private =
        flag(args.upstream_allow_private, file.upstream_allow_private);
    settings.gateway.container_socket = args
        .container_socket
        .clone()
        .or_else(|| file.container_socket.clone());
    settings.gateway.confinement = confinement(&args.confinement, file);
    settings.metrics_token = args
        .metrics_token
        .clone()
        .or_else(|| file.metrics_token.clone())
        .filter(|t| !t.is_empty());
    settings.mcp = McpOptions {
        body_limit: args.body_limit.or(file.body_limit).unwrap_or(1024 * 1024),
        rate_limits: RateLimits {
            per_user_per_minute: args
                .rate_limit_per_user
                .or(file.rate_limit_per_user)
                .unwrap_or(defaults.per_user_per_minute),
            per_user_burst: defaults.per_user_burst,
            per_ip_per_minute: args
                .rate_limit_per_ip
                .or(file.rate_limit_per_ip)
                .unwrap_or(defaults.per_ip_per_minute),
        },
        session_caps: session_caps(args, file)?,
    };
    let seconds =
        |given: Option<u64>, default: Duration| given.map_or(default, Duration::from_secs);
    settings.header_read_timeout = seconds(
        args.header_read_timeout.or(file.header_read_timeout),
        settings.header_read_timeout,
    );
    settings.body_read_timeout = seconds(
        args.body_read_timeout.or(file.body_read_timeout),
        settings.body_read_timeout,
    );
    anyhow::ensure!(
        !settings.header_read_timeout.is_zero() && !settings.body_read_timeout.is_zero(),
        "--header-read-timeout and --body-read-timeout must be at least 1 second"
    );
    settings.trusted_proxies = trusted_proxies(args, file)?;
    settings.store_timeout = seconds(
        args.store_timeout.or(file.store_timeout),
        settings.store_timeout,
    );
    anyhow::ensure!(
        !settings.store_timeout.is_zero(),
        "--store-timeout must be at least 1 second"
    );
    settings.shutdown_grace =
        Duration::from_secs(args.shutdown_grace.or(file.shutdown_grace).unwrap_or(10));
    settings.auth = auth_options(args, file, &settings.platform.base_domain);
    settings.webhooks = webhook_settings(&args.webhooks, file);
    Ok(settings)
}

/// How this node sends webhooks: flags (or their environment variables), else the file,
/// else the defaults.
fn webhook_settings(args: &crate::cli::WebhookArgs, file: &FileConfig) -> WebhookSettings {
    let defaults = WebhookSettings::default();
    WebhookSettings {
        allow_private: args
            .webhook_allow_private
            .or(file.webhook_allow_private)
            .unwrap_or(false),
        timeout: args
            .webhook_timeout
            .or(file.webhook_timeout)
            .map_or(defaults.timeout, Duration::from_secs),
        max_attempts: args
            .webhook_max_attempts
            .or(file.webhook_max_attempts)
            .unwrap_or(defaults.max_attempts),
        backoff: args
            .webhook_backoff_ms
            .or(file.webhook_backoff_ms)
            .map_or(defaults.backoff, Duration::from_millis),
        poll: defaults.poll,
    }
}

/// `--trusted-proxy` networks (an address is a network of one).
fn trusted_proxies(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Vec<ipnet::IpNet>> {
    let given = if args.trusted_proxy.is_empty() {
        file.trusted_proxy.clone().unwrap_or_default()
    } else {
        args.trusted_proxy.clone()
    };
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
fn container_images(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Vec<String>> {
    let given = if args.container_images.is_empty() {
        file.container_images.clone().unwrap_or_default()
    } else {
        args.container_images.clone()
    };
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

fn session_caps(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<SessionCaps> {
    let defaults = SessionCaps::default();
    let caps = SessionCaps {
        per_ip: args
            .max_sessions_per_ip
            .or(file.max_sessions_per_ip)
            .unwrap_or(defaults.per_ip),
        per_server: args
            .max_sessions_per_server
            .or(file.max_sessions_per_server)
            .unwrap_or(defaults.per_server),
        per_node: args
            .max_sessions
            .or(file.max_sessions)
            .unwrap_or(defaults.per_node),
    };
    anyhow::ensure!(
        caps.per_ip > 0 && caps.per_server > 0 && caps.per_node > 0,
        "--max-sessions, --max-sessions-per-ip and --max-sessions-per-server must be at least 1"
    );
    Ok(caps)
}

/// A boolean setting: the flag or its environment variable if given (either way, true or
/// false), else the file, else off.
fn flag(given: Option<bool>, file: Option<bool>) -> bool {
    given.or(file).unwrap_or(false)
}

/// A boolean as clap reads it from the environment for `serve`.
fn boolish(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "y" => Some(true),
        "false" | "0" | "no" | "off" | "n" => Some(false),
        _ => None,
    }
}

/// Where upstream packages are cached and what fetches and runs them: flag (or its
/// environment variable), else file, else the default (`node` and `npm` from PATH).
pub fn toolchain(
    args: &crate::cli::ToolchainArgs,
    file: &FileConfig,
) -> guidepost_gateway::Toolchain {
    let pick = |flag: &Option<std::path::PathBuf>,
                in_file: &Option<std::path::PathBuf>,
                fallback: &str| {
        flag.clone()
            .or(in_file.clone())
            .unwrap_or_else(|| fallback.into())
    };
    guidepost_gateway::Toolchain {
        cache_dir: pick(
            &args.upstream_cache,
            &file.upstream_cache,
            "guidepost-cache",
        ),
        node: pick(&args.node, &file.node, "node"),
        npm: pick(&args.npm, &file.npm, "npm"),
        python: pick(&args.python, &file.python, "python3"),
        data_dir: pick(&args.upstream_data, &file.upstream_data, "guidepost-data"),
    }
}

/// How process upstreams are confined: flags over the file over the defaults of
/// `ConfinementOptions` (written there once).
pub fn confinement(
    args: &crate::cli::ConfinementArgs,
    file: &FileConfig,
) -> guidepost_gateway::confine::ConfinementOptions {
    use guidepost_gateway::confine::{Caps, ConfinementOptions, Limits};
    let defaults = ConfinementOptions::default();
    let (limits, caps) = (Limits::default(), Caps::default());
    ConfinementOptions {
        mode: args
            .upstream_confinement
            .or(file.upstream_confinement)
            .unwrap_or(defaults.mode),
        user: pick_text(&args.upstream_user, &file.upstream_user, &defaults.user),
        limits: Limits {
            memory_mb: args
                .upstream_memory_mb
                .or(file.upstream_memory_mb)
                .unwrap_or(limits.memory_mb),
            processes: args
                .upstream_processes
                .or(file.upstream_processes)
                .unwrap_or(limits.processes),
            max_memory_mb: args
                .upstream_max_memory_mb
                .or(file.upstream_max_memory_mb)
                .unwrap_or(limits.max_memory_mb),
            max_processes: args
                .upstream_max_processes
                .or(file.upstream_max_processes)
                .unwrap_or(limits.max_processes),
        },
        caps: Caps {
            org_memory_mb: args
                .upstream_org_memory_mb
                .or(file.upstream_org_memory_mb)
                .unwrap_or(caps.org_memory_mb),
            org_processes: args
                .upstream_org_processes
                .or(file.upstream_org_processes)
                .unwrap_or(caps.org_processes),
            node_memory_mb: args
                .upstream_node_memory_mb
                .or(file.upstream_node_memory_mb)
                .unwrap_or(caps.node_memory_mb),
            node_processes: args
                .upstream_node_processes
                .or(file.upstream_node_processes)
                .unwrap_or(caps.node_processes),
        },
        platform_ports: Vec::new(),
    }
}

fn pick_text(flag: &Option<String>, file: &Option<String>, default: &str) -> String {
    flag.clone()
        .or_else(|| file.clone())
        .unwrap_or_else(|| default.to_owned())
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

/// `--dns-resolver`: an address, with port 53 unless one is given.
fn dns_resolver(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Option<SocketAddr>> {
    parse_dns_resolver(args.dns_resolver.clone().or(file.dns_resolver.clone()))
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

/// The master key from `--master-key`, else `--master-key-file`, else the file's keys.
fn master_key(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Option<MasterKey>> {
    let from_file = |path: &Path| -> anyhow::Result<String> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the master key file {}", path.display()))?;
        Ok(text.trim().to_owned())
    };
    let text = match (&args.master_key, &args.master_key_file) {
        (Some(key), _) => Some(key.clone()),
        (None, Some(path)) => Some(from_file(path)?),
        (None, None) => match (&file.master_key, &file.master_key_file) {
            (Some(key), _) => Some(key.clone()),
            (None, Some(path)) => Some(from_file(path)?),
            (None, None) => None,
        },
    };
    text.as_deref()
        .map(MasterKey::parse)
        .transpose()
        .context("the master key (--master-key, --master-key-file)")
}

fn auth_options(args: &ServeArgs, file: &FileConfig, base_domain: &str) -> AuthOptions {
    let defaults = AuthOptions::default();
    let seconds =
        |value: Option<u64>, default: Duration| value.map_or(default, Duration::from_secs);
    AuthOptions {
        access_token_ttl: seconds(
            args.access_token_ttl.or(file.access_token_ttl),
            defaults.access_token_ttl,
        ),
        refresh_token_ttl: seconds(
            args.refresh_token_ttl.or(file.refresh_token_ttl),
            defaults.refresh_token_ttl,
        ),
        refresh_grace: args
            .refresh_grace
            .or(file.refresh_grace)
            .map_or(defaults.refresh_grace, Duration::from_secs),
        cimd_allow_private: flag(args.cimd_allow_private, file.cimd_allow_private),
        oidc_allow_private: flag(args.oidc_allow_private, file.oidc_allow_private),
        rate_limit_per_ip: args
            .rate_limit_auth_per_ip
            .or(file.rate_limit_auth_per_ip)
            .unwrap_or(defaults.rate_limit_per_ip),
        smtp_url: args.smtp_url.clone().or_else(|| file.smtp_url.clone()),
        mail_from: args
            .mail_from
            .clone()
            .or_else(|| file.mail_from.clone())
            .unwrap_or_else(|| format!("Guidepost <no-reply@{base_domain}>")),
        mail_outbox: args
            .mail_outbox
            .clone()
            .or_else(|| file.mail_outbox.clone())
            .unwrap_or(defaults.mail_outbox),
    }
}

/// How commands other than `serve` write public URLs: from the config file (and the
/// `GUIDEPOST_*` environment), as `serve` would with the same file.
pub fn offline_platform_config(file: &FileConfig) -> PlatformConfig {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut config = Settings::local("unused").platform;
    config.base_domain = env("GUIDEPOST_BASE_DOMAIN")
        .or_else(|| file.base_domain.clone())
        .unwrap_or(config.base_domain);
    config.public_scheme = env("GUIDEPOST_PUBLIC_URL_SCHEME")
        .or_else(|| file.public_url_scheme.clone())
        .unwrap_or(config.public_scheme);
    let listen_port = env("GUIDEPOST_LISTEN")
        .and_then(|l| l.parse::<SocketAddr>().ok())
        .or(file.listen)
        .map(|a| a.port());
    config.public_port = env("GUIDEPOST_PUBLIC_PORT")
        .and_then(|p| p.parse().ok())
        .or(file.public_port)
        .or(listen_port)
        .or(Some(8080));
    let env_flag = env("GUIDEPOST_ENABLE_FIXTURES").and_then(|v| boolish(&v));
    config.enable_fixtures = flag(env_flag, file.enable_fixtures);
    config.max_server_tools = env("GUIDEPOST_MAX_SERVER_TOOLS")
        .and_then(|n| n.parse().ok())
        .or(file.max_server_tools)
        .unwrap_or(config.max_server_tools);
    // An invalid or unreadable key is ignored here; `serve` refuses it.
    let key_file = env("GUIDEPOST_MASTER_KEY_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| file.master_key_file.clone());
    config.master_key = env("GUIDEPOST_MASTER_KEY")
        .or_else(|| file.master_key.clone())
        .or_else(|| key_file.and_then(|path| std::fs::read_to_string(path).ok()))
        .and_then(|k| MasterKey::parse(k.trim()).ok());
    // An unreadable catalog file leaves the built-in entries here; `serve` refuses it.
    let catalog_file = env("GUIDEPOST_CATALOG")
        .map(std::path::PathBuf::from)
        .or_else(|| file.catalog.clone());
    if let Ok(catalog) = catalog(catalog_file.as_ref()) {
        config.catalog = Arc::new(catalog);
    }
    config
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn settings(args: &[&str], file: &str) -> anyhow::Result<Settings> {
        let cli = Cli::try_parse_from([&["guidepost", "serve"], args].concat()).unwrap();
        let Command::Serve(serve) = &cli.command else {
            unreachable!("parsed a serve command")
        };
        let file: FileConfig = toml::from_str(file).unwrap();
        serve_settings(&cli.global, serve, &file)
    }

    #[test]
    fn a_boolean_flag_set_to_false_overrides_true_in_the_file() {
        let on_in_file = "enable_fixtures = true\ncimd_allow_private = true";
        let overridden = settings(
            &["--enable-fixtures=false", "--cimd-allow-private=false"],
            on_in_file,
        )
        .unwrap();
        assert!(!overridden.platform.enable_fixtures);
        assert!(!overridden.auth.cimd_allow_private);
        let from_file = settings(&[], on_in_file).unwrap();
        assert!(from_file.platform.enable_fixtures && from_file.auth.cimd_allow_private);
        let bare = settings(&["--enable-fixtures"], "").unwrap();
        assert!(bare.platform.enable_fixtures);
        assert!(!settings(&[], "").unwrap().platform.enable_fixtures);
    }

    #[test]
    fn the_master_key_can_come_from_a_file() {
        let dir = std::env::temp_dir().join(format!("gp-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("master.key");
        let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        std::fs::write(&path, format!("{key}\n")).unwrap();
        let from_flag = settings(&["--master-key", key], "").unwrap();
        let from_file = settings(&["--master-key-file", path.to_str().unwrap()], "").unwrap();
        let id = |s: &Settings| s.platform.master_key.as_ref().map(|k| k.id().to_owned());
        assert!(id(&from_file).is_some());
        assert_eq!(id(&from_file), id(&from_flag));
        let missing = settings(&["--master-key-file", "/nonexistent/master.key"], "");
        assert!(format!("{:#}", missing.unwrap_err()).contains("/nonexistent/master.key"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn container_images_are_listed_by_flag_or_file_and_none_by_default() {
        let images =
            |args: &[&str], file: &str| settings(args, file).map(|s| s.platform.container_images);
        assert!(images(&[], "").unwrap().is_empty());
        let flags = [
            "--container-images",
            "a.example/x:1,b.example/y:2",
            "--container-images",
            "c:3",
        ];
        assert_eq!(
            images(&flags, "").unwrap(),
            ["a.example/x:1", "b.example/y:2", "c:3"]
        );
        let file = "container_images = [\"d.example/z:4\"]";
        assert_eq!(images(&[], file).unwrap(), ["d.example/z:4"]);
        assert_eq!(
            images(&["--container-images", "c:3"], file).unwrap(),
            ["c:3"],
            "the flag wins"
        );
        assert!(images(&["--container-images=-x"], "").is_err());
    }
}
