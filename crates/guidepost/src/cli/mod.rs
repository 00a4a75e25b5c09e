//! The command line. Every option can also come from a `GUIDEPOST_*`
//! environment variable or from the TOML file named by `--config` (`config::file`); flags
//! win over the environment, which wins over the file. A setting is declared once, as a
//! field here: its flag, variable, help, default and file key all come from it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, FromArgMatches, Parser, Subcommand, ValueEnum};
use guidepost_auth::AuthOptions;
use guidepost_core::rate_limit::AddressPrefixes;
use guidepost_core::{
    DEFAULT_APPROVAL_EXPIRY, DEFAULT_AUDIT_RETENTION_DAYS, DEFAULT_MAX_SERVER_TOOLS,
};
use guidepost_gateway::Supervision;
use guidepost_gateway::confine::{Caps, ConfinementOptions, Limits, Mode};
use guidepost_mcp::{McpOptions, RateLimits, SessionCaps};
use guidepost_store::StoreOptions;

use crate::webhook_worker::WebhookSettings;

mod admin;
mod bench;
pub use admin::*;
pub use bench::*;
#[cfg(test)]
mod readme;

#[derive(Debug, Parser)]
#[command(
    name = "guidepost",
    version,
    about = "A multi-tenant MCP platform: hosted MCP servers with walkthroughs, support and analytics."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The database of every command but `bench`, which without `--database-url` starts on a
/// temporary one.
pub const DEFAULT_DATABASE_URL: &str = "sqlite:guidepost.db";

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    // Not a clap default: `bench` needs to tell a URL given from none.
    #[arg(long, global = true, env = "GUIDEPOST_DATABASE_URL",
          help = format!("Database URL: sqlite:PATH or postgres://… [default: {DEFAULT_DATABASE_URL}]"))]
    pub database_url: Option<String>,
    /// Print results as JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// A TOML file with settings (keys as the long flags, with '_' for '-').
    #[arg(long, global = true, env = "GUIDEPOST_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, env = "GUIDEPOST_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Send traces to this OpenTelemetry collector over OTLP/HTTP (protobuf), e.g.
    /// http://127.0.0.1:4318 (`/v1/traces` is added unless the path already ends so).
    /// Without it, no trace is recorded.
    #[arg(long, global = true, env = "GUIDEPOST_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<url::Url>,
    /// The share of traces recorded, from 0 to 1, for traces that start here; a
    /// client's `traceparent` decides for its own trace (parent-based).
    #[arg(long, global = true, env = "GUIDEPOST_OTLP_SAMPLE_RATIO", default_value_t = 1.0,
          value_parser = sample_ratio)]
    pub otlp_sample_ratio: f64,
}

fn sample_ratio(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err(format!("{value:?} is not a ratio from 0 to 1")),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server: hosted MCP servers, the management API and operations endpoints.
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage organizations (tenants).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage hosted MCP servers.
    #[command(subcommand)]
    Server(ServerCommand),
    /// Manage an organization's API keys.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Author walkthroughs as code: import and export directories, publish, list, assign.
    #[command(subcommand)]
    Walkthrough(WalkthroughCommand),
    /// Install upstream MCP servers from the catalog and attach them to hosted servers
    /// (the gateway).
    Upstream(UpstreamArgs),
    /// The catalog's registry entries: sync the registries now, or import server.json
    /// files.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Review upstream tools the gateway holds back: list the quarantined and pending
    /// ones with their findings, approve or reject them.
    #[command(subcommand)]
    Tools(ToolsCommand),
    /// List an organization's webhooks, and try one with a signed `ping` delivery.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Copy a SQLite database while it serves (`--to FILE`), or confirm that a database's
    /// schema version is the one this binary expects (`--check`, e.g. PostgreSQL after
    /// pg_restore). PostgreSQL is copied with pg_dump (see the README).
    Backup(BackupArgs),
    /// Put a SQLite backup in place of the database: the copy is checked (integrity, a
    /// schema no newer than this binary's) and moved in atomically. Stop the server first.
    Restore(RestoreArgs),
    /// Load-test the walkthrough tools: U simulated end users run list → select → next × N
    /// → status → reset for D seconds; prints throughput and latency per tool. With
    /// --pages: seed a year of data and time every dashboard page and its API twin.
    Bench(BenchArgs),
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Where to write the copy; the file must not exist.
    #[arg(long, required_unless_present = "check", conflicts_with = "check")]
    pub to: Option<PathBuf>,
    /// Only compare the database's schema version with this binary's; exits non-zero
    /// unless they are the same.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// The backup to restore (a file `guidepost backup --to` wrote).
    #[arg(long)]
    pub from: PathBuf,
    /// Restore even though the database's write-ahead log is present (a server may be
    /// using it). Only when the server is stopped and the log is left from a crash.
    #[arg(long)]
    pub force: bool,
}

/// `serve`'s settings. Each is declared once, here: its flag, environment variable, help,
/// default and key in the `--config` file (the long flag with '_' for '-') all come from
/// its field. A default taken from another crate's `Default` is written only there.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GUIDEPOST_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Servers are served at {slug}.{base-domain}.
    #[arg(long, env = "GUIDEPOST_BASE_DOMAIN", default_value = "localhost")]
    pub base_domain: String,
    /// Scheme written in public URLs: http or https.
    #[arg(long, env = "GUIDEPOST_PUBLIC_URL_SCHEME", default_value = "http")]
    pub public_url_scheme: String,
    /// Port written in public URLs [default: the listen port].
    #[arg(long, env = "GUIDEPOST_PUBLIC_PORT")]
    pub public_port: Option<u16>,
    /// Slug of the server that answers on the bare base domain.
    #[arg(long, env = "GUIDEPOST_DEFAULT_SERVER")]
    pub default_server: Option<String>,
    /// Allow creating conformance_fixture servers (`--enable-fixtures=false` turns off
    /// what the file or environment turned on).
    #[arg(long, env = "GUIDEPOST_ENABLE_FIXTURES", num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub enable_fixtures: bool,
    /// Seed a demo organization, server and API key, and print how to connect.
    #[arg(long, env = "GUIDEPOST_DEMO")]
    pub demo: bool,
    /// Tool calls per minute per end user; 0 turns the limit off.
    #[arg(long, env = "GUIDEPOST_RATE_LIMIT_PER_USER",
          default_value_t = RateLimits::default().per_user_per_minute)]
    pub rate_limit_per_user: u32,
    /// MCP requests (of any kind, not only tool calls) per minute per client IP; 0 turns
    /// the limit off.
    #[arg(long, env = "GUIDEPOST_RATE_LIMIT_PER_IP",
          default_value_t = RateLimits::default().per_ip_per_minute)]
    pub rate_limit_per_ip: u32,
    /// Requests per minute per client IP to the sign-in, registration, token and
    /// revocation endpoints; 0 turns the limit off.
    #[arg(long, env = "GUIDEPOST_RATE_LIMIT_AUTH_PER_IP",
          default_value_t = AuthOptions::default().rate_limit_per_ip)]
    pub rate_limit_auth_per_ip: u32,
    /// Seconds after which an idle MCP session expires.
    #[arg(long, env = "GUIDEPOST_SESSION_IDLE_TIMEOUT", default_value_t = 1800)]
    pub session_idle_timeout: u64,
    /// Session-era sessions this node keeps in memory; past it, the longest idle is
    /// closed in memory and restored from the store when it is used again. Also the
    /// subscriptions/listen streams (2026-07-28 era) open on this node: past it, a new
    /// one is refused with 429.
    #[arg(long, env = "GUIDEPOST_MAX_SESSIONS", default_value_t = SessionCaps::default().per_node)]
    pub max_sessions: usize,
    /// Sessions one client address may keep in this node's memory, and listen streams
    /// it may hold open.
    #[arg(long, env = "GUIDEPOST_MAX_SESSIONS_PER_IP", default_value_t = SessionCaps::default().per_ip)]
    pub max_sessions_per_ip: usize,
    /// Sessions one hosted server may keep in this node's memory, and listen streams
    /// open to it.
    #[arg(long, env = "GUIDEPOST_MAX_SESSIONS_PER_SERVER",
          default_value_t = SessionCaps::default().per_server)]
    pub max_sessions_per_server: usize,
    /// Sessions one client address (its prefix) may keep in the store, across nodes;
    /// past it, the least recently seen is forgotten and its client opens another.
    #[arg(long, env = "GUIDEPOST_MAX_STORED_SESSIONS_PER_IP",
          value_parser = clap::value_parser!(u32).range(1..),
          default_value_t = SessionCaps::default().stored_per_ip)]
    pub max_stored_sessions_per_ip: u32,
    /// A proxy (address or network, e.g. 10.0.0.0/8; repeat or separate with commas)
    /// whose X-Forwarded-For names the client. Rate limits and logs then key on that
    /// client instead of the proxy. Without it the header is ignored.
    #[arg(long, env = "GUIDEPOST_TRUSTED_PROXY", value_delimiter = ',')]
    pub trusted_proxy: Vec<String>,
    /// Leading bits of a client's IPv4 address that every per-address limit (rate,
    /// sessions, listen streams, tasks, sign-in codes) keys on: 32 counts each address
    /// apart; less counts a whole network as one client.
    #[arg(long, env = "GUIDEPOST_ADDRESS_PREFIX_V4",
          value_parser = clap::value_parser!(u8).range(8..=32),
          default_value_t = AddressPrefixes::default().v4)]
    pub address_prefix_v4: u8,
    /// Leading bits of a client's IPv6 address that every per-address limit keys on: 64
    /// by default, since one client is given a whole /64 and may send from any address in
    /// it; 128 would give it a fresh budget per address.
    #[arg(long, env = "GUIDEPOST_ADDRESS_PREFIX_V6",
          value_parser = clap::value_parser!(u8).range(16..=128),
          default_value_t = AddressPrefixes::default().v6)]
    pub address_prefix_v6: u8,
    /// Days that recorded tool calls and forgotten anonymous end users are kept.
    #[arg(long, env = "GUIDEPOST_RETENTION_DAYS", default_value_t = 90)]
    pub retention_days: u32,
    /// Days that the gateway's audit log (installs, attachments, tool discoveries,
    /// quarantines, decisions) is kept.
    #[arg(long, env = "GUIDEPOST_AUDIT_RETENTION_DAYS",
          default_value_t = DEFAULT_AUDIT_RETENTION_DAYS)]
    pub audit_retention_days: u32,
    /// Minutes an approval of a call, asked by a call-time policy, stays open to a
    /// decision and then to its call (1 to 10080).
    #[arg(long, env = "GUIDEPOST_APPROVAL_EXPIRY_MINUTES",
          default_value_t = (DEFAULT_APPROVAL_EXPIRY.as_secs() / 60) as u32)]
    pub approval_expiry_minutes: u32,
    /// A JSON file of the interceptors the operator runs for every organization, asked
    /// before each organization's own: an array of objects with the fields of `POST
    /// /api/v1/interceptors` and the `secret` (32 to 512 characters) requests are signed
    /// with (docs/user/interceptors.md).
    #[arg(long, env = "GUIDEPOST_OPERATOR_INTERCEPTORS")]
    pub operator_interceptors: Option<PathBuf>,
    /// Seconds a request waits for a PostgreSQL connection, and for each statement it
    /// runs, before it fails cleanly, as during a database outage.
    #[arg(long, env = "GUIDEPOST_STORE_TIMEOUT",
          default_value_t = StoreOptions::default().timeout.as_secs())]
    pub store_timeout: u64,
    /// Seconds a client may take to send a request's headers.
    #[arg(long, env = "GUIDEPOST_HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub header_read_timeout: u64,
    /// Seconds a client may take to send a request's body.
    #[arg(long, env = "GUIDEPOST_BODY_READ_TIMEOUT", default_value_t = 30)]
    pub body_read_timeout: u64,
    /// Largest MCP request body in bytes.
    #[arg(long, env = "GUIDEPOST_BODY_LIMIT", default_value_t = McpOptions::default().body_limit)]
    pub body_limit: usize,
    /// Seconds to let in-flight requests finish on shutdown.
    #[arg(long, env = "GUIDEPOST_SHUTDOWN_GRACE", default_value_t = 10)]
    pub shutdown_grace: u64,
    /// SMTP server for sign-in codes: smtp://host:port, smtps://user:pass@host, or
    /// smtp://host:587?tls=required. Without it, mail goes to --mail-outbox.
    #[arg(long, env = "GUIDEPOST_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// Sender of sign-in mail [default: Guidepost <no-reply@{base-domain}>].
    #[arg(long, env = "GUIDEPOST_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Without --smtp-url: directory where each mail is written as an .eml file (and
    /// logged, code included), for development.
    #[arg(long, env = "GUIDEPOST_MAIL_OUTBOX",
          default_value_os_t = AuthOptions::default().mail_outbox)]
    pub mail_outbox: PathBuf,
    /// Seconds an OAuth access token lives.
    #[arg(long, env = "GUIDEPOST_ACCESS_TOKEN_TTL",
          default_value_t = AuthOptions::default().access_token_ttl.as_secs())]
    pub access_token_ttl: u64,
    /// Seconds an OAuth refresh token lives; each use replaces it.
    #[arg(long, env = "GUIDEPOST_REFRESH_TOKEN_TTL",
          default_value_t = AuthOptions::default().refresh_token_ttl.as_secs())]
    pub refresh_token_ttl: u64,
    /// Seconds in which a rotated refresh token presented again (two refreshes racing)
    /// gets the same successors instead of revoking them all; 0 turns it off.
    #[arg(long, env = "GUIDEPOST_REFRESH_GRACE", value_parser = clap::value_parser!(u64).range(0..=60),
          default_value_t = AuthOptions::default().refresh_grace.as_secs())]
    pub refresh_grace: u64,
    /// Fetch OAuth client metadata documents (CIMD) from private and loopback addresses,
    /// and over plain http there. Development and tests only.
    #[arg(long, env = "GUIDEPOST_CIMD_ALLOW_PRIVATE", num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub cimd_allow_private: bool,
    /// Reach organizations' OpenID Connect providers (custom_oauth) on private and
    /// loopback addresses, and over plain http. Development and tests only.
    #[arg(long, env = "GUIDEPOST_OIDC_ALLOW_PRIVATE", num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub oidc_allow_private: bool,
    /// 32 random bytes, as 64 hex digits or base64 (`openssl rand -base64 32`): encrypts
    /// the secrets the platform must read back, such as identity providers' client
    /// secrets. Without it such secrets are refused. Keep it stable: secrets sealed with
    /// one key do not open with another.
    #[arg(long, env = "GUIDEPOST_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// A file holding the master key (as --master-key), so that the key does not show in
    /// the process list.
    #[arg(long, env = "GUIDEPOST_MASTER_KEY_FILE", conflicts_with = "master_key")]
    pub master_key_file: Option<PathBuf>,
    /// A bearer token that `/metrics` requires (`Authorization: Bearer …`). `/metrics`
    /// answers only on the platform's own host in any case.
    #[arg(long, env = "GUIDEPOST_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// The DNS server (IP, optionally with a port) that custom-domain TXT challenges are
    /// looked up at; without it, the system's resolvers (/etc/resolv.conf).
    #[arg(long, env = "GUIDEPOST_DNS_RESOLVER")]
    pub dns_resolver: Option<String>,
    /// A TOML file of the operator's own catalog entries (`[[entry]]` tables as in the
    /// built-in catalog), offered after the built-in ones. Only this file may hold
    /// `runtime = "command"` entries, which run a program of this host.
    #[arg(long, env = "GUIDEPOST_CATALOG")]
    pub catalog: Option<PathBuf>,
    /// Seconds without a call after which an upstream is stopped on this node (the next
    /// call starts it again); 0 keeps upstreams running.
    #[arg(long, env = "GUIDEPOST_UPSTREAM_IDLE_TIMEOUT",
          value_parser = clap::value_parser!(u64).range(0..=604_800),
          default_value_t = Supervision::default().idle_timeout.map_or(0, |idle| idle.as_secs()))]
    pub upstream_idle_timeout: u64,
    /// Reach HTTP upstream MCP servers on private and loopback addresses, and over plain
    /// http there. Development and tests only.
    #[arg(long, env = "GUIDEPOST_UPSTREAM_ALLOW_PRIVATE", num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub upstream_allow_private: bool,
    /// Let organizations add npm and PyPI packages to their private catalogs. Such a
    /// package runs as a process of this host, with this host's user; without this flag,
    /// organizations' own servers run in containers or as remote servers only.
    #[arg(long, env = "GUIDEPOST_PRIVATE_PACKAGE_ENTRIES", num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub private_package_entries: bool,
    /// A container image that organizations' private container entries, and the OCI
    /// entries of the registries (--registry-url), may name (the exact reference, e.g.
    /// `registry.example.com/team/server:1.2`; repeat or separate with commas). Without
    /// any, organizations cannot add container entries nor install a registry's images;
    /// the operator's own --catalog file is not limited by it.
    #[arg(long, env = "GUIDEPOST_CONTAINER_IMAGES", value_delimiter = ',')]
    pub container_images: Vec<String>,
    /// The most tools a hosted server may offer, its built-in tools included; attaching an
    /// upstream that would pass it is refused with an error saying so.
    #[arg(long, env = "GUIDEPOST_MAX_SERVER_TOOLS",
          value_parser = clap::value_parser!(u64).range(8..=1024),
          default_value_t = DEFAULT_MAX_SERVER_TOOLS as u64)]
    pub max_server_tools: u64,
    /// The most processes one upstream may run on each node (its `replicas`); only a
    /// stateless catalog entry may run more than one.
    #[arg(long, env = "GUIDEPOST_UPSTREAM_MAX_REPLICAS",
          value_parser = clap::value_parser!(u32).range(1..=64),
          default_value_t = guidepost_core::DEFAULT_MAX_REPLICAS)]
    pub upstream_max_replicas: u32,
    /// The most sign-in codes one organization's servers mail in an hour, over every
    /// address and client (each address also gets at most 10, each client 30); past it,
    /// people asking for a code are told to try again later.
    #[arg(long, env = "GUIDEPOST_SIGN_IN_CODES_PER_HOUR",
          value_parser = clap::value_parser!(u32).range(10..=1_000_000),
          default_value_t = guidepost_core::DEFAULT_SIGN_IN_CODES_PER_HOUR)]
    pub sign_in_codes_per_hour: u32,
    /// The Docker Engine API socket that runs container upstreams (Docker's, or Podman's
    /// `podman system service`); without it, container upstreams fail to start.
    #[arg(long, env = "GUIDEPOST_CONTAINER_SOCKET")]
    pub container_socket: Option<PathBuf>,
    #[command(flatten)]
    pub confinement: ConfinementArgs,
    #[command(flatten)]
    pub toolchain: ToolchainArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub registries: RegistryArgs,
}

impl ServeArgs {
    /// The declared defaults, as `serve` with no flag, no environment and no file.
    pub fn defaults() -> Self {
        let command = Self::augment_args(clap::Command::new("serve")).mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from(["serve"])
            .expect("every serve setting has a default or is optional");
        Self::from_arg_matches(&matches).expect("the defaults are serve settings")
    }
}

/// `serve`'s webhook flags.
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Deliver webhooks to private and loopback addresses too. Development and tests only.
    #[arg(long, env = "GUIDEPOST_WEBHOOK_ALLOW_PRIVATE", num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub webhook_allow_private: bool,
    /// Seconds a webhook receiver has to answer one delivery.
    #[arg(long, env = "GUIDEPOST_WEBHOOK_TIMEOUT", value_parser = clap::value_parser!(u64).range(1..=60),
          default_value_t = WebhookSettings::default().timeout.as_secs())]
    pub webhook_timeout: u64,
    /// Attempts at one delivery before it is marked failed.
    #[arg(long, env = "GUIDEPOST_WEBHOOK_MAX_ATTEMPTS", value_parser = clap::value_parser!(u32).range(1..=50),
          default_value_t = WebhookSettings::default().max_attempts)]
    pub webhook_max_attempts: u32,
    /// Milliseconds before the first retry; each later wait doubles, to at most an hour.
    #[arg(long, env = "GUIDEPOST_WEBHOOK_BACKOFF_MS",
          value_parser = clap::value_parser!(u64).range(10..=3_600_000),
          default_value_t = WebhookSettings::default().backoff.as_millis() as u64)]
    pub webhook_backoff_ms: u64,
}

/// `serve`'s registry flags: where the catalog's `server.json` entries come from.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// The base URL of a registry that speaks the MCP Registry API (`GET /v0.1/servers`),
    /// e.g. https://registry.modelcontextprotocol.io; repeat or separate with commas. Its
    /// servers join the catalog; a server name belongs to the first registry listing it.
    #[arg(long, env = "GUIDEPOST_REGISTRY_URL", value_delimiter = ',')]
    pub registry_url: Vec<String>,
    /// Seconds between syncs of the registries (one node syncs each at a time; each sync
    /// asks only for what changed since the last).
    #[arg(long, env = "GUIDEPOST_REGISTRY_SYNC_INTERVAL",
          value_parser = clap::value_parser!(u64).range(10..=604_800), default_value_t = 3600)]
    pub registry_sync_interval: u64,
    /// The most entries (server names) kept of one registry. Past it a sync skips new names
    /// and records them in the sync's `last_skipped`; names already kept still take new
    /// versions and takedowns. Bounds what a registry can write to the store.
    #[arg(long, env = "GUIDEPOST_REGISTRY_MAX_ENTRIES",
          value_parser = clap::value_parser!(u64).range(1..=10_000_000),
          default_value_t = guidepost_core::DEFAULT_REGISTRY_MAX_ENTRIES)]
    pub registry_max_entries: u64,
    /// Reach registries on private and loopback addresses and over plain http too.
    /// Development and tests only.
    #[arg(long, env = "GUIDEPOST_REGISTRY_ALLOW_PRIVATE", num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub registry_allow_private: bool,
}

/// How process upstreams (npm, PyPI, command) are confined, and what they may use.
#[derive(Debug, Clone, Args)]
pub struct ConfinementArgs {
    /// `strict`: refuse process upstreams where the kernel lacks a feature SECURITY.md
    /// promises (Landlock ABI 6, writable cgroups, network namespaces, seccomp);
    /// `best-effort`: apply what the kernel offers and say what is missing in /readyz;
    /// `off`: run them unconfined (measurement only).
    #[arg(long, env = "GUIDEPOST_UPSTREAM_CONFINEMENT",
          default_value = confinement_mode_name(ConfinementOptions::default().mode))]
    pub upstream_confinement: Mode,
    /// The unprivileged user upstreams run as when Guidepost runs as root.
    #[arg(long, env = "GUIDEPOST_UPSTREAM_USER", default_value_t = ConfinementOptions::default().user)]
    pub upstream_user: String,
    /// Memory of one process upstream's whole tree, in MiB, unless its entry asks for
    /// another amount.
    #[arg(long, env = "GUIDEPOST_UPSTREAM_MEMORY_MB",
          value_parser = clap::value_parser!(u32).range(16..=1_048_576),
          default_value_t = Limits::default().memory_mb)]
    pub upstream_memory_mb: u32,
    /// Processes (and threads) of one process upstream's tree, unless its entry asks for
    /// another number.
    #[arg(long, env = "GUIDEPOST_UPSTREAM_PROCESSES",
          value_parser = clap::value_parser!(u32).range(2..=65_536),
          default_value_t = Limits::default().processes)]
    pub upstream_processes: u32,
    /// The most memory an entry may ask for, in MiB.
    #[arg(long, env = "GUIDEPOST_UPSTREAM_MAX_MEMORY_MB",
          value_parser = clap::value_parser!(u32).range(16..=1_048_576),
          default_value_t = Limits::default().max_memory_mb)]
    pub upstream_max_memory_mb: u32,
    /// The most processes an entry may ask for.
    #[arg(long, env = "GUIDEPOST_UPSTREAM_MAX_PROCESSES",
          value_parser = clap::value_parser!(u32).range(2..=65_536),
          default_value_t = Limits::default().max_processes)]
    pub upstream_max_processes: u32,
    /// uids reserved for upstreams, as FIRST-LAST (e.g. 200000-265535): each process
    /// upstream then runs as a uid of its own from the range instead of --upstream-user.
    /// No account of the host may use them (reserve the range as for /etc/subuid); a
    /// program that looks its user up (Node's os.userInfo) finds no name for it.
    #[arg(long, env = "GUIDEPOST_UPSTREAM_UIDS")]
    pub upstream_uids: Option<guidepost_gateway::confine::UidRange>,
    /// The size of each process upstream's own directory, in MiB: a file system of its
    /// own (a sparse image beside it), so that writing past it fails inside with ENOSPC
    /// and the host's disk is unharmed. 0 leaves directories bounded by the host's disk.
    #[arg(long, env = "GUIDEPOST_UPSTREAM_DISK_MB",
          value_parser = clap::value_parser!(u32).range(0..=16_777_216),
          default_value_t = Limits::default().disk_mb)]
    pub upstream_disk_mb: u32,
    /// The largest directory an entry may ask for (`limits.disk_mb`), in MiB.
    #[arg(long, env = "GUIDEPOST_UPSTREAM_MAX_DISK_MB",
          value_parser = clap::value_parser!(u32).range(8..=16_777_216),
          default_value_t = Limits::default().max_disk_mb)]
    pub upstream_max_disk_mb: u32,
    /// Memory all of one organization's process upstreams may reserve on this node, in
    /// MiB; a start past it is refused with this cap named.
    #[arg(long, env = "GUIDEPOST_UPSTREAM_ORG_MEMORY_MB", value_parser = clap::value_parser!(u64).range(16..),
          default_value_t = Caps::default().org_memory_mb)]
    pub upstream_org_memory_mb: u64,
    /// Processes all of one organization's process upstreams may reserve on this node.
    #[arg(long, env = "GUIDEPOST_UPSTREAM_ORG_PROCESSES", value_parser = clap::value_parser!(u64).range(2..),
          default_value_t = Caps::default().org_processes)]
    pub upstream_org_processes: u64,
    /// Memory all process upstreams may reserve on this node, in MiB.
    #[arg(long, env = "GUIDEPOST_UPSTREAM_NODE_MEMORY_MB", value_parser = clap::value_parser!(u64).range(16..),
          default_value_t = Caps::default().node_memory_mb)]
    pub upstream_node_memory_mb: u64,
    /// Processes all process upstreams may reserve on this node.
    #[arg(long, env = "GUIDEPOST_UPSTREAM_NODE_PROCESSES", value_parser = clap::value_parser!(u64).range(2..),
          default_value_t = Caps::default().node_processes)]
    pub upstream_node_processes: u64,
}

/// How `--upstream-confinement` spells a mode (as `Mode`'s `FromStr` reads it).
fn confinement_mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Strict => "strict",
        Mode::BestEffort => "best-effort",
        Mode::Off => "off",
    }
}

/// Where upstream MCP servers' packages are cached, and what fetches and runs them.
#[derive(Debug, Clone, Args)]
pub struct ToolchainArgs {
    /// The directory upstream MCP servers' packages are fetched into at install time.
    #[arg(
        long,
        env = "GUIDEPOST_UPSTREAM_CACHE",
        default_value = "guidepost-cache"
    )]
    pub upstream_cache: PathBuf,
    /// The `node` that runs npm-packaged upstreams (a bare name is looked up in PATH).
    #[arg(long, env = "GUIDEPOST_NODE", default_value = "node")]
    pub node: PathBuf,
    /// The `npm` that fetches them (a bare name is looked up in PATH).
    #[arg(long, env = "GUIDEPOST_NPM", default_value = "npm")]
    pub npm: PathBuf,
    /// The Python (with pip) that fetches and runs PyPI-packaged upstreams (a bare name
    /// is looked up in PATH).
    #[arg(long, env = "GUIDEPOST_PYTHON", default_value = "python3")]
    pub python: PathBuf,
    /// Where each upstream process gets a directory of its own (its working directory,
    /// HOME and TMPDIR, and `${DATA_DIR}` in its entry).
    #[arg(
        long,
        env = "GUIDEPOST_UPSTREAM_DATA",
        default_value = "guidepost-data"
    )]
    pub upstream_data: PathBuf,
    /// The npm registry upstream packages are fetched from, such as a company mirror
    /// (npm's default registry when unset).
    #[arg(long, env = "GUIDEPOST_NPM_REGISTRY")]
    pub npm_registry: Option<String>,
    /// The PyPI index (PEP 503 simple API) upstream packages are fetched from, such as a
    /// company mirror (pip's default index when unset).
    #[arg(long, env = "GUIDEPOST_PYPI_INDEX_URL")]
    pub pypi_index_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
