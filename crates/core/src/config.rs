use std::time::Duration;

/// How the platform writes its public URLs and how long it keeps idle sessions.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// Servers are served at `{slug}.{base_domain}`.
    pub base_domain: String,
    /// `http` or `https`, as URLs are written in metadata and install snippets.
    pub public_scheme: String,
    /// The port written in public URLs; `None` for the scheme's default.
    pub public_port: Option<u16>,
    /// Slug of the server answering on the bare base domain, if any.
    pub default_server: Option<String>,
    /// Whether conformance fixture servers may be created.
    pub enable_fixtures: bool,
    pub session_idle_timeout: Duration,
    /// Seals the secrets the platform must read back (identity providers' client
    /// secrets). Without it, such secrets are refused.
    pub master_key: Option<crate::secrets::MasterKey>,
    /// How long recorded tool calls, unused client registrations and forgotten anonymous
    /// end users are kept.
    pub retention: Duration,
    /// How long the gateway's audit log is kept (`--audit-retention-days`).
    pub audit_retention: Duration,
    /// What organizations can install.
    pub catalog: std::sync::Arc<crate::upstreams::catalog::Catalog>,
    /// Whether organizations' private catalog entries may be npm packages, which run as
    /// processes of this host (containers and remote servers are always allowed).
    pub private_package_entries: bool,
    /// The container images organizations' private container entries and the registries'
    /// OCI entries may name, by exact reference (`--container-images`); empty, they may
    /// name none. The operator's own catalog file is not limited by it.
    pub container_images: Vec<String>,
    /// The registries whose `server.json` entries the catalog offers (`--registry-url`),
    /// base URLs in the order given: a server name belongs to the first that lists it.
    pub registries: Vec<String>,
    /// The most entries (server names) kept of one registry (`--registry-max-entries`):
    /// past it a sync skips new names and records them, while names it holds still take
    /// new versions and takedowns. A registry cannot fill the store.
    pub registry_max_entries: u64,
    /// The most tools a hosted server offers (built-in and attached); an attachment that
    /// would pass it is refused rather than truncated.
    pub max_server_tools: usize,
    /// The most processes one upstream may run on a node (`replicas`,
    /// `--upstream-max-replicas`); an install asking for more is refused.
    pub max_replicas: u32,
    /// How long a node keeps a server and what it offers in memory (`cache`): the bound
    /// on how long a lost change announcement leaves them stale. Announcements, not this
    /// bound, keep nodes current; a test sets it far above its wait to show just that.
    pub server_cache_expiry: Duration,
    /// The most sign-in codes one organization's servers mail in an hour, over every
    /// address and client (`--sign-in-codes-per-hour`): the bound on mail that many
    /// clients, each under its own cap, can make the platform send.
    pub sign_in_codes_per_hour: u32,
    /// Whether webhooks may be sent over plain http and to private addresses
    /// (`--webhook-allow-private`, for development and tests); else a webhook whose URL
    /// says either is refused when it is created, since no delivery could go out.
    pub webhooks_allow_private: bool,
    /// How long an approval of a call stays open to a decision and to its call
    /// (`--approval-expiry-minutes`, `guardrails::approvals`).
    pub approval_expiry: Duration,
    /// The interceptors the operator runs for every organization, asked before each
    /// organization's own (`--operator-interceptors`, `guardrails::interceptors`).
    pub operator_interceptors: Vec<guidepost_domain::OperatorInterceptor>,
}

/// The default of [`PlatformConfig::audit_retention`], in days.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 365;

/// The default of [`PlatformConfig::max_server_tools`]: what clients handle well.
pub const DEFAULT_MAX_SERVER_TOOLS: usize = 128;

/// The default of [`PlatformConfig::registry_max_entries`]: several times the official
/// registry's servers.
pub const DEFAULT_REGISTRY_MAX_ENTRIES: u64 = 50_000;

/// The default of [`PlatformConfig::max_replicas`].
pub const DEFAULT_MAX_REPLICAS: u32 = 4;

/// The default of [`PlatformConfig::sign_in_codes_per_hour`].
pub const DEFAULT_SIGN_IN_CODES_PER_HOUR: u32 = 1000;

/// The default of [`PlatformConfig::server_cache_expiry`].
pub const DEFAULT_SERVER_CACHE_EXPIRY: Duration = Duration::from_secs(10);

/// The default of [`PlatformConfig::approval_expiry`].
pub const DEFAULT_APPROVAL_EXPIRY: Duration = Duration::from_secs(15 * 60);

impl PlatformConfig {
    /// `scheme://host[:port]` for a host name.
    pub fn origin_for_host(&self, host: &str) -> String {
        match self.public_port {
            Some(port) if !self.is_default_port(port) => {
                format!("{}://{host}:{port}", self.public_scheme)
            }
            _ => format!("{}://{host}", self.public_scheme),
        }
    }

    fn is_default_port(&self, port: u16) -> bool {
        (self.public_scheme == "http" && port == 80)
            || (self.public_scheme == "https" && port == 443)
    }
}
