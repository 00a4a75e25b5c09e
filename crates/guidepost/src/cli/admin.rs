//! The subcommands that manage an organization's data: organizations, servers, API keys,
//! walkthroughs, upstreams, tool review and webhooks.

use std::path::PathBuf;

use anyhow::Context;
use clap::builder::BoolishValueParser;
use clap::{Args, Subcommand};
use guidepost_domain::ApiKeyScopes;

use super::ToolchainArgs;

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization and its first API key.
    Create {
        /// The organization's display name.
        #[arg(long)]
        name: String,
        /// The first owner's email: they sign in to the dashboard (/app) with a code
        /// sent to this address.
        #[arg(long)]
        owner_email: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Sync the registries now (--registry-url, from the environment or the config file),
    /// whether or not they are due; each asks only for what changed since its last sync.
    Sync,
    /// Import registry entries from a file, for machines without a registry: a
    /// server.json, a JSON array of them, or a registry's `/v0.1/servers` answer.
    Import {
        /// The file (at most 64 MiB).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Create a hosted MCP server.
    Create {
        /// The organization that owns the server (org_…).
        #[arg(long)]
        org: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Slug: 3-40 of a-z, 0-9, '-'; the server's host is {slug}.{base-domain}.
        #[arg(long)]
        slug: String,
        /// none, collect_email, platform_oauth or custom_oauth.
        #[arg(long)]
        auth_mode: Option<String>,
        /// standard (default) or conformance_fixture (needs enable_fixtures in the
        /// config file or GUIDEPOST_ENABLE_FIXTURES=true).
        #[arg(long)]
        kind: Option<String>,
        /// A custom domain that also serves this server, once verified: publish the DNS
        /// TXT record printed, then run `server verify-domain`.
        #[arg(long)]
        custom_domain: Option<String>,
        /// Product name shown to agents.
        #[arg(long)]
        product_name: Option<String>,
        /// Instructions shown to agents when they connect.
        #[arg(long)]
        instructions: Option<String>,
    },
    /// Change a server: only the fields given change. An empty text clears an optional
    /// field (`--instructions ""`).
    Update {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The server (ms_…).
        id: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// A new slug; the server's host changes with it.
        #[arg(long)]
        slug: Option<String>,
        /// none, collect_email, platform_oauth or custom_oauth.
        #[arg(long)]
        auth_mode: Option<String>,
        /// Offer the walkthrough tools (true or false).
        #[arg(long, value_parser = BoolishValueParser::new())]
        walkthrough_tools: Option<bool>,
        /// Offer `get_support` (true or false).
        #[arg(long, value_parser = BoolishValueParser::new())]
        support_tool: Option<bool>,
        /// Offer `send_feedback`, a rating from 1 to 5 and a text (true or false).
        #[arg(long, value_parser = BoolishValueParser::new())]
        feedback_tool: Option<bool>,
        /// A custom domain (verify it with `server verify-domain`); "" removes it.
        #[arg(long)]
        custom_domain: Option<String>,
        /// Product name shown to agents; "" removes it.
        #[arg(long)]
        product_name: Option<String>,
        /// Instructions shown to agents when they connect; "" removes them.
        #[arg(long)]
        instructions: Option<String>,
        /// A browser origin allowed to call the server (repeat it); replaces the list.
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
        /// Remove every allowed browser origin.
        #[arg(long, conflicts_with = "allowed_origins")]
        clear_allowed_origins: bool,
    },
    /// List an organization's servers.
    List {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
    },
    /// Verify a server's pending custom domain by its DNS TXT record; once verified, the
    /// server answers at the domain.
    VerifyDomain {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The server (ms_…).
        id: String,
        /// The DNS server (IP, optionally with a port) to ask; the system's otherwise.
        #[arg(long, env = "GUIDEPOST_DNS_RESOLVER")]
        dns_resolver: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key; the key is printed once.
    Create {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// A name to recognize the key by.
        #[arg(long, default_value = "cli")]
        name: String,
        /// What the key may do, comma-separated: read (every key), write, gateway, admin.
        #[arg(long, default_value = "read,write", value_parser = ApiKeyScopes::parse_list)]
        scopes: ApiKeyScopes,
    },
    /// Revoke an API key.
    Revoke {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The key's id (key_…).
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum WalkthroughCommand {
    /// Import a walkthrough directory: walkthrough.toml and one NN-name.md file per step.
    ///
    /// The directory's name is the walkthrough's key: importing the same directory again
    /// updates that walkthrough, and changes nothing when the files have not changed.
    /// Steps are matched by title in order, and a retitled step by its place between two
    /// matched ones: each keeps its id (analytics count steps by id), a new file becomes a
    /// new step where it stands, a removed file deletes its step. Files that do not start
    /// with a digit (other than walkthrough.toml) are ignored.
    Import {
        /// The walkthrough directory.
        dir: PathBuf,
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// Publish a new version if the steps or title differ from the newest one (or it
        /// was never published).
        #[arg(long)]
        publish: bool,
        /// The key to find the walkthrough by [default: the directory's name].
        #[arg(long)]
        key: Option<String>,
    },
    /// Export a walkthrough's draft as a directory in the import format.
    Export {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The walkthrough (wt_…).
        #[arg(long)]
        id: String,
        /// The directory to write; created if missing. Name it after the walkthrough's key
        /// so that importing it again updates the same walkthrough.
        #[arg(long)]
        out: PathBuf,
        /// Write into a non-empty directory, replacing its walkthrough.toml and step files
        /// (other files are left alone).
        #[arg(long)]
        force: bool,
    },
    /// Publish the draft as a new version.
    Publish {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The walkthrough (wt_…).
        #[arg(long)]
        id: String,
    },
    /// List an organization's walkthroughs.
    List {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
    },
    /// Offer a walkthrough on a server (or change its order or whether it is enabled).
    Assign {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The server (ms_…).
        #[arg(long)]
        server: String,
        /// The walkthrough (wt_…).
        #[arg(long)]
        id: String,
        /// Position among the server's walkthroughs (lower first) [default: 0, or unchanged].
        #[arg(long, allow_negative_numbers = true)]
        display_order: Option<i64>,
        /// Assign it disabled (hidden from end users); without this flag it is enabled.
        #[arg(long)]
        disabled: bool,
    },
}

#[derive(Debug, Args)]
pub struct UpstreamArgs {
    #[command(subcommand)]
    pub command: UpstreamCommand,
    #[command(flatten)]
    pub toolchain: ToolchainArgs,
}

#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// List the catalog of installable MCP servers.
    Catalog,
    /// Install an upstream from the catalog, or as a file describes it (`--spec`): fetches
    /// its package into the cache, starts it once to discover its tools, and prints its
    /// status.
    Install {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The catalog entry's id (`guidepost upstream catalog`).
        #[arg(required_unless_present = "spec")]
        entry: Option<String>,
        /// Instead of a catalog entry: a JSON file that describes the server as an
        /// organization's own entry's `spec` does, e.g. `{"runtime": "http", "url":
        /// "https://mcp.example.com/mcp"}` or `{"runtime": "npm", "package": "…",
        /// "version": "1.2.3"}`, checked by the same rules (`POST /api/v1/upstreams`
        /// without a catalog entry). Needs --name; takes no --setting, --sign-in,
        /// --replicas or --network.
        #[arg(long, value_name = "FILE", requires = "name",
              conflicts_with_all = ["entry", "settings", "sign_in", "replicas", "network"])]
        spec: Option<std::path::PathBuf>,
        /// A name for this installation [default: the entry's name].
        #[arg(long)]
        name: Option<String>,
        /// How long to wait for the fetch and the first start, in seconds.
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
        wait: u64,
        /// A secret the entry requires, read from the environment variable of that name
        /// (never from the command line, where the process list would show it); repeat
        /// for each.
        #[arg(long = "secret-from-env", value_name = "NAME")]
        secrets: Vec<String>,
        /// A setting the entry takes, as NAME=VALUE (repeat for each; the others keep
        /// their defaults).
        #[arg(long = "setting", value_name = "NAME=VALUE")]
        settings: Vec<String>,
        /// eager: every node starts it when the node starts; on_demand: a node starts it
        /// on its first call there [default: on_demand].
        #[arg(long, value_parser = ["eager", "on_demand"])]
        start: Option<String>,
        /// A remote server's sign-in: none (the entry's headers), or organization (one
        /// account an editor connects with `guidepost upstream connect`) [default: the
        /// entry's].
        #[arg(long, value_parser = ["none", "organization"])]
        sign_in: Option<String>,
        /// Processes of it on each node, calls going to the least busy (more than 1 only
        /// for an entry the catalog marks stateless); the entry's own number by default.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
        replicas: Option<u32>,
        /// A package's or container's way out to the network: none, or fenced (the public
        /// internet through the egress fence) [default: the entry's; a registry entry's is
        /// none].
        #[arg(long, value_parser = ["none", "fenced"])]
        network: Option<String>,
    },
    /// Print a link that connects the organization's account to a remote server that
    /// signs in; open it in a browser within 15 minutes.
    Connect {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The upstream (up_…).
        id: String,
    },
    /// List an organization's upstreams with their status.
    List {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
    },
    /// One upstream: status, last error, restarts, and its tools.
    Status {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The upstream (up_…).
        id: String,
    },
    /// Start it in this process only (serving nodes are left as they are) and print what
    /// it writes to stderr while it starts; first says how the serving nodes last found
    /// it. A serving node's own logs: `GET /api/v1/upstreams/{id}/logs`.
    Logs {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The upstream (up_…).
        id: String,
    },
    /// Start it afresh with its restart count reset (the way out of `failed`), here and on
    /// every serving node (each within its ping interval, or at its next call);
    /// rediscovers its tools.
    Restart {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The upstream (up_…).
        id: String,
    },
    /// Upgrade or reconfigure it: another package version, settings or secrets. The new
    /// launch is fetched and started here beside the old one (serving nodes switch at
    /// their next call, with no call failing); changed or new tools wait for review with
    /// their diff; `guidepost upstream rollback` restores the replaced version.
    Upgrade {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The upstream (up_…).
        id: String,
        /// Another exact version of its npm or PyPI package.
        #[arg(long)]
        version: Option<String>,
        /// A setting to change, as NAME=VALUE (repeat for each; the others keep their
        /// values).
        #[arg(long = "setting", value_name = "NAME=VALUE")]
        settings: Vec<String>,
        /// A secret to set, read from the environment variable of that name (never from
        /// the command line); repeat for each. The others are kept.
        #[arg(long = "secret-from-env", value_name = "NAME")]
        secrets: Vec<String>,
        /// Processes of it on each node (more than 1 only for an entry the catalog marks
        /// stateless, at most --upstream-max-replicas); alone, no new launch: every
        /// node's pool follows at its next call.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
        replicas: Option<u32>,
        /// How long to wait for the new launch, in seconds.
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
        wait: u64,
    },
    /// Roll back its last upgrade: the version, settings and secrets it replaced, with
    /// the tools and approvals they had (rolling back again goes forward).
    Rollback {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The upstream (up_…).
        id: String,
        /// How long to wait for the restored launch, in seconds.
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
        wait: u64,
    },
    /// Uninstall: its tools leave every server that attached it.
    Uninstall {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The upstream (up_…).
        id: String,
    },
    /// Attach an upstream to a hosted server: its tools appear there as {prefix}__{tool}.
    Attach {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The hosted server (ms_…).
        #[arg(long)]
        server: String,
        /// The upstream (up_…).
        id: String,
        /// 1-24 of a-z, A-Z, 0-9 and '-'.
        #[arg(long)]
        prefix: String,
        /// Offer only these of its tools (the upstream's names; repeat the flag).
        #[arg(long = "allow-tool")]
        allowed_tools: Vec<String>,
        /// Offer only these of its prompts (the upstream's names; repeat the flag).
        #[arg(long = "allow-prompt")]
        allowed_prompts: Vec<String>,
        /// Per call, in milliseconds [default: 60000].
        #[arg(long)]
        timeout_ms: Option<i64>,
    },
    /// Detach an upstream from a hosted server.
    Detach {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The hosted server (ms_…).
        #[arg(long)]
        server: String,
        /// The upstream (up_…).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// The organization's upstream tools that are not approved, with their findings.
    Pending {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
    },
    /// Approve a tool's (prompt's, resource's) current definition: it is offered again.
    Approve {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The upstream (up_…).
        upstream: String,
        /// The upstream's name for the tool (a resource's URI, a template's URI template).
        tool: String,
        /// What it is: tool, prompt, resource or resource_template.
        #[arg(long, default_value = "tool", value_parser = parse_kind)]
        kind: guidepost_domain::DefinitionKind,
    },
    /// Reject a tool: it is not offered, and calls to it are refused.
    Reject {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The upstream (up_…).
        upstream: String,
        /// The upstream's name for the tool (a resource's URI, a template's URI template).
        tool: String,
        /// What it is: tool, prompt, resource or resource_template.
        #[arg(long, default_value = "tool", value_parser = parse_kind)]
        kind: guidepost_domain::DefinitionKind,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// The organization's webhooks: URL, events, and how their latest delivery went.
    List {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
    },
    /// Queue a signed `ping` to a webhook and wait for a running node to send it.
    Test {
        /// The organization (org_…).
        #[arg(long)]
        org: String,
        /// The webhook (wh_…).
        webhook: String,
        /// Seconds to wait for the first attempt's outcome.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=600))]
        wait: u64,
    },
}

/// A definition kind as `--kind` names it.
fn parse_kind(text: &str) -> anyhow::Result<guidepost_domain::DefinitionKind> {
    guidepost_domain::DefinitionKind::parse(text)
        .context("one of: tool, prompt, resource, resource_template")
}
