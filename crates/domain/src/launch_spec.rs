//! How an upstream is launched (`LaunchSpec`): its kind of runtime and that kind's record,
//! what it may use, and how a launch is shown with its secrets hidden.
//!
//! What differs between kinds is decided here, by methods that match every kind: a kind
//! added to `LaunchSpec` makes the compiler name each of them, and the gateway's runner
//! (`launch::resolve`), and no place elsewhere asks which kind it has.

mod network;
mod schema;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::connection::UpstreamSignIn;
pub use network::Network;

/// How an upstream is launched: a package fetched at install time and run with its
/// interpreter, or a program of the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "runtime", rename_all = "snake_case")]
pub enum LaunchSpec {
    /// An npm package's binary, run with `node` from the install-time cache.
    Npm(PackageSpec),
    /// A PyPI package's console script, run with `python` from the install-time cache.
    Pypi(PackageSpec),
    Http(RemoteSpec),
    Container(ImageSpec),
    Command(CommandSpec),
}

/// A package of a registry (npm, PyPI) fetched at install time, and how its entry runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageSpec {
    pub package: String,
    pub version: String,
    /// The package's binary (its `bin` entry); the package's only one if left out.
    #[serde(default)]
    pub bin: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Give it a way out to the network, through the egress fence (none otherwise):
    /// `true` for any address the fence allows, `{ allow = [hosts] }` for those only.
    #[serde(default)]
    #[schema(inline)]
    pub network: Network,
    #[serde(default)]
    pub limits: ProcessLimits,
}

/// A remote MCP server over Streamable HTTP, reached through the outbound fence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteSpec {
    pub url: String,
    /// Sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers whose values are secrets of the installation: header → secret name.
    #[serde(default)]
    pub secret_headers: BTreeMap<String, String>,
    /// Whose account it is reached with; `none` keeps the headers alone.
    #[serde(default, skip_serializing_if = "UpstreamSignIn::is_none")]
    pub sign_in: UpstreamSignIn,
    /// A client id registered at its authorization server by an editor; its secret,
    /// if any, is the installation's secret `oauth_client_secret`. Without it the
    /// platform registers itself (a client metadata document, or RFC 7591).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_client_id: Option<String>,
    /// For servers that take a per-person API key instead of OAuth: the header the
    /// key a person gives at the connect page is sent in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_key_header: Option<String>,
    /// Lets its authorization server's metadata name endpoints (authorization, token,
    /// registration, revocation) off the issuer's own origin. Refused otherwise: with
    /// one callback for every server, such metadata could have another server's code
    /// posted to its token endpoint (mix-up, RFC 9700 §4.4). Only for a server an
    /// editor trusts and knows to be laid out so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_foreign_oauth_endpoints: bool,
}

/// An image run by the container engine, spoken to over the container's stdio, with
/// limits, no network unless asked, a read-only root and no capabilities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    pub image: String,
    /// The command to run in it (the image's own if empty).
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub limits: ContainerLimits,
    /// Give it a network (it has none otherwise), all of it or `{ allow = [hosts] }`.
    #[serde(default)]
    #[schema(inline)]
    pub network: Network,
}

/// A program of the platform's host. Only the operator's catalog file may name one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Give it a way out to the network, through the egress fence (none otherwise):
    /// `true` for any address the fence allows, `{ allow = [hosts] }` for those only.
    #[serde(default)]
    #[schema(inline)]
    pub network: Network,
    #[serde(default)]
    pub limits: ProcessLimits,
    /// Files and directories of the host it may reach besides its own directory and
    /// its runtime (the operator's to declare).
    #[serde(default)]
    pub paths: HostPaths,
}

/// What a process upstream may use; what is left out is the operator's default
/// (`--upstream-memory-mb`, `--upstream-processes`, `--upstream-disk-mb`), and none may
/// pass the operator's maximum.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessLimits {
    pub memory_mb: Option<u32>,
    pub processes: Option<u32>,
    /// The size of its own directory, in MiB.
    pub disk_mb: Option<u32>,
}

/// Host paths a `command` upstream may read (and execute), or read and write, besides
/// its own directory. Absolute paths only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HostPaths {
    pub read: Vec<String>,
    pub write: Vec<String>,
}

/// What a container upstream may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ContainerLimits {
    pub memory_mb: u32,
    pub cpus: f64,
    pub pids: u32,
}

impl Default for ContainerLimits {
    fn default() -> Self {
        Self {
            memory_mb: 256,
            cpus: 1.0,
            pids: 64,
        }
    }
}

impl Eq for ContainerLimits {}

/// Shown in place of a value that may be a secret: a header's or an environment
/// variable's of a launch, or an end user's tracking id to all but administrators.
pub const HIDDEN: &str = "(hidden)";

pub(crate) fn serialize_redacted<S: serde::Serializer>(
    spec: &LaunchSpec,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    spec.redacted().serialize(serializer)
}

fn hide_values(values: &mut BTreeMap<String, String>) {
    values
        .values_mut()
        .for_each(|value| *value = HIDDEN.to_owned());
}

impl LaunchSpec {
    /// Its kind: the `runtime` it is tagged with.
    pub fn runtime(&self) -> RuntimeKind {
        match self {
            LaunchSpec::Npm(_) => RuntimeKind::Npm,
            LaunchSpec::Pypi(_) => RuntimeKind::Pypi,
            LaunchSpec::Http(_) => RuntimeKind::Http,
            LaunchSpec::Container(_) => RuntimeKind::Container,
            LaunchSpec::Command(_) => RuntimeKind::Command,
        }
    }

    /// Whether it is a server elsewhere, reached over the network, rather than something
    /// this platform runs: only such a one signs in, and it has no network to choose.
    pub fn is_remote(&self) -> bool {
        match self {
            LaunchSpec::Http(_) => true,
            LaunchSpec::Npm(_)
            | LaunchSpec::Pypi(_)
            | LaunchSpec::Container(_)
            | LaunchSpec::Command(_) => false,
        }
    }

    /// The remote server it reaches, with how it signs in.
    pub fn remote(&self) -> Option<&RemoteSpec> {
        match self {
            LaunchSpec::Http(remote) => Some(remote),
            LaunchSpec::Npm(_)
            | LaunchSpec::Pypi(_)
            | LaunchSpec::Container(_)
            | LaunchSpec::Command(_) => None,
        }
    }

    /// The remote server it reaches, to be changed.
    pub fn remote_mut(&mut self) -> Option<&mut RemoteSpec> {
        match self {
            LaunchSpec::Http(remote) => Some(remote),
            LaunchSpec::Npm(_)
            | LaunchSpec::Pypi(_)
            | LaunchSpec::Container(_)
            | LaunchSpec::Command(_) => None,
        }
    }

    /// The package it runs, for the kinds fetched from a package registry (npm, PyPI):
    /// those whose version an upgrade changes.
    pub fn package(&self) -> Option<&PackageSpec> {
        match self {
            LaunchSpec::Npm(package) | LaunchSpec::Pypi(package) => Some(package),
            LaunchSpec::Http(_) | LaunchSpec::Container(_) | LaunchSpec::Command(_) => None,
        }
    }

    /// The package it runs, to be changed.
    pub fn package_mut(&mut self) -> Option<&mut PackageSpec> {
        match self {
            LaunchSpec::Npm(package) | LaunchSpec::Pypi(package) => Some(package),
            LaunchSpec::Http(_) | LaunchSpec::Container(_) | LaunchSpec::Command(_) => None,
        }
    }

    /// The version it names: a package's, or a container image's reference.
    pub fn version(&self) -> Option<&str> {
        match self {
            LaunchSpec::Npm(package) | LaunchSpec::Pypi(package) => Some(&package.version),
            LaunchSpec::Container(container) => Some(&container.image),
            LaunchSpec::Command(_) | LaunchSpec::Http(_) => None,
        }
    }

    /// The arguments its entry gives the program (or the container); a remote server
    /// has none.
    pub fn args(&self) -> &[String] {
        match self {
            LaunchSpec::Npm(package) | LaunchSpec::Pypi(package) => &package.args,
            LaunchSpec::Container(container) => &container.args,
            LaunchSpec::Command(command) => &command.args,
            LaunchSpec::Http(_) => &[],
        }
    }

    /// Whether it asks for a network (a container's, or a process's through the egress
    /// fence); shown before install.
    pub fn network(&self) -> bool {
        match self.network_access() {
            Some(network) => network.is_on(),
            None => true,
        }
    }

    /// The way out it runs with: `None` for a remote server (reached over the network,
    /// not given one).
    pub fn network_access(&self) -> Option<&Network> {
        match self {
            LaunchSpec::Npm(package) | LaunchSpec::Pypi(package) => Some(&package.network),
            LaunchSpec::Container(container) => Some(&container.network),
            LaunchSpec::Command(command) => Some(&command.network),
            LaunchSpec::Http(_) => None,
        }
    }

    /// The hosts its way out is limited to, if it is.
    pub fn allowed_hosts(&self) -> Option<&[String]> {
        self.network_access().and_then(Network::allowed_hosts)
    }

    /// The spec with a way out to the network given (or taken away) as an installer
    /// chose: given, it keeps the entry's allow list if it has one; a remote server is
    /// reached over the network whatever is chosen.
    pub fn with_network(mut self, wanted: bool) -> LaunchSpec {
        let network = match &mut self {
            LaunchSpec::Npm(package) | LaunchSpec::Pypi(package) => &mut package.network,
            LaunchSpec::Container(container) => &mut container.network,
            LaunchSpec::Command(command) => &mut command.network,
            LaunchSpec::Http(_) => return self,
        };
        *network = match (wanted, std::mem::take(network)) {
            (false, _) => Network::None,
            (true, Network::Only(hosts)) => Network::Only(hosts),
            (true, Network::None | Network::Open) => Network::Open,
        };
        self
    }

    /// What it may use of the host it runs on.
    pub fn limits(&self) -> LaunchLimits<'_> {
        match self {
            LaunchSpec::Npm(package) | LaunchSpec::Pypi(package) => {
                LaunchLimits::Process(&package.limits)
            }
            LaunchSpec::Command(command) => LaunchLimits::Process(&command.limits),
            LaunchSpec::Container(container) => LaunchLimits::Container(&container.limits),
            LaunchSpec::Http(_) => LaunchLimits::Remote,
        }
    }

    /// The spec as it may be shown: header and environment values (which may hold keys,
    /// the operator's included) hidden, their names kept.
    pub fn redacted(&self) -> LaunchSpec {
        let mut shown = self.clone();
        match &mut shown {
            LaunchSpec::Http(remote) => hide_values(&mut remote.headers),
            LaunchSpec::Npm(package) | LaunchSpec::Pypi(package) => hide_values(&mut package.env),
            LaunchSpec::Container(container) => hide_values(&mut container.env),
            LaunchSpec::Command(command) => hide_values(&mut command.env),
        }
        shown
    }

    /// Whose account it is reached with: only a remote server signs in.
    pub fn sign_in(&self) -> UpstreamSignIn {
        self.remote()
            .map_or(UpstreamSignIn::None, |remote| remote.sign_in)
    }

    /// Whether an editor let its authorization server keep endpoints off its issuer's
    /// origin (only a remote server has one).
    pub fn allows_foreign_oauth_endpoints(&self) -> bool {
        self.remote()
            .is_some_and(|remote| remote.allow_foreign_oauth_endpoints)
    }
}

/// What an upstream may use of the host it runs on, as its kind is confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchLimits<'a> {
    /// A process of the host, confined by the platform.
    Process(&'a ProcessLimits),
    /// A container, confined by its engine.
    Container(&'a ContainerLimits),
    /// Nothing: a remote server runs elsewhere.
    Remote,
}

/// The kind of an upstream's launch: the `runtime` its spec is tagged with, the word the
/// catalog is filtered by and the pages show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuntimeKind {
    Npm,
    Pypi,
    Http,
    Container,
    Command,
}

impl RuntimeKind {
    /// Every kind, in the order lists show them. A kind added to the enum is added here
    /// too: a test compares this list with the tags `LaunchSpec` accepts.
    pub const ALL: [RuntimeKind; 5] = [
        RuntimeKind::Npm,
        RuntimeKind::Pypi,
        RuntimeKind::Container,
        RuntimeKind::Http,
        RuntimeKind::Command,
    ];

    /// Its word: the spec's `runtime` tag.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Npm => "npm",
            RuntimeKind::Pypi => "pypi",
            RuntimeKind::Http => "http",
            RuntimeKind::Container => "container",
            RuntimeKind::Command => "command",
        }
    }

    /// The kind a word names.
    pub fn parse(word: &str) -> Option<RuntimeKind> {
        RuntimeKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == word)
    }
}

impl std::fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests;
