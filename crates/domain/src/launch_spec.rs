//! How an upstream is launched (`LaunchSpec`), what it may use, and how a launch is shown
//! with its secrets hidden.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::connection::UpstreamSignIn;

/// How an upstream is launched: a package fetched at install time and run with its
/// interpreter, or a program of the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "runtime", rename_all = "snake_case", deny_unknown_fields)]
pub enum LaunchSpec {
    /// An npm package's binary, run with `node` from the install-time cache.
    Npm {
        package: String,
        version: String,
        /// The package's binary (its `bin` entry); the package's only one if left out.
        #[serde(default)]
        bin: Option<String>,
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// Give it a way out to the network, through the egress fence (none otherwise).
        #[serde(default)]
        network: bool,
        #[serde(default)]
        limits: ProcessLimits,
    },
    /// A PyPI package's console script, run with `python` from the install-time cache.
    Pypi {
        package: String,
        version: String,
        /// The console script; the package's only one if left out.
        #[serde(default)]
        bin: Option<String>,
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// Give it a way out to the network, through the egress fence (none otherwise).
        #[serde(default)]
        network: bool,
        #[serde(default)]
        limits: ProcessLimits,
    },
    /// A remote MCP server over Streamable HTTP, reached through the outbound fence.
    Http {
        url: String,
        /// Sent with every request.
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// Headers whose values are secrets of the installation: header → secret name.
        #[serde(default)]
        secret_headers: BTreeMap<String, String>,
        /// Whose account it is reached with; `none` keeps the headers alone.
        #[serde(default, skip_serializing_if = "UpstreamSignIn::is_none")]
        sign_in: UpstreamSignIn,
        /// A client id registered at its authorization server by an editor; its secret,
        /// if any, is the installation's secret `oauth_client_secret`. Without it the
        /// platform registers itself (a client metadata document, or RFC 7591).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        oauth_client_id: Option<String>,
        /// For servers that take a per-person API key instead of OAuth: the header the
        /// key a person gives at the connect page is sent in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        person_key_header: Option<String>,
        /// Lets its authorization server's metadata name endpoints (authorization, token,
        /// registration, revocation) off the issuer's own origin. Refused otherwise: with
        /// one callback for every server, such metadata could have another server's code
        /// posted to its token endpoint (mix-up, RFC 9700 §4.4). Only for a server an
        /// editor trusts and knows to be laid out so.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        allow_foreign_oauth_endpoints: bool,
    },
    /// An image run by the container engine, spoken to over the container's stdio, with
    /// limits, no network unless asked, a read-only root and no capabilities.
    Container {
        image: String,
        /// The command to run in it (the image's own if empty).
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        env: BTreeMap<String, String>,
        #[serde(default)]
        limits: ContainerLimits,
        /// Give it a network (it has none otherwise).
        #[serde(default)]
        network: bool,
    },
    /// A program of the platform's host. Only the operator's catalog file may name one.
    Command {
        command: String,
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// Give it a way out to the network, through the egress fence (none otherwise).
        #[serde(default)]
        network: bool,
        #[serde(default)]
        limits: ProcessLimits,
        /// Files and directories of the host it may reach besides its own directory and
        /// its runtime (the operator's to declare).
        #[serde(default)]
        paths: HostPaths,
    },
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
    /// The spec as it may be shown: header and environment values (which may hold keys,
    /// the operator's included) hidden, their names kept.
    pub fn redacted(&self) -> LaunchSpec {
        let mut shown = self.clone();
        match &mut shown {
            LaunchSpec::Http { headers, .. } => hide_values(headers),
            LaunchSpec::Npm { env, .. }
            | LaunchSpec::Pypi { env, .. }
            | LaunchSpec::Container { env, .. }
            | LaunchSpec::Command { env, .. } => hide_values(env),
        }
        shown
    }

    /// Whether it asks for a network (a container's, or a process's through the egress
    /// fence); shown before install.
    pub fn network(&self) -> bool {
        match self {
            LaunchSpec::Npm { network, .. }
            | LaunchSpec::Pypi { network, .. }
            | LaunchSpec::Command { network, .. }
            | LaunchSpec::Container { network, .. } => *network,
            LaunchSpec::Http { .. } => true,
        }
    }

    /// The spec with a way out to the network given (or taken away) as an installer
    /// chose; a remote server is reached over the network whatever is chosen.
    pub fn with_network(mut self, wanted: bool) -> LaunchSpec {
        match &mut self {
            LaunchSpec::Npm { network, .. }
            | LaunchSpec::Pypi { network, .. }
            | LaunchSpec::Command { network, .. }
            | LaunchSpec::Container { network, .. } => *network = wanted,
            LaunchSpec::Http { .. } => {}
        }
        self
    }

    pub fn runtime(&self) -> &'static str {
        match self {
            LaunchSpec::Npm { .. } | LaunchSpec::Pypi { .. } | LaunchSpec::Command { .. } => {
                "stdio"
            }
            LaunchSpec::Http { .. } => "http",
            LaunchSpec::Container { .. } => "container",
        }
    }
}

impl LaunchSpec {
    /// Whose account it is reached with: only a remote server signs in.
    pub fn sign_in(&self) -> crate::UpstreamSignIn {
        match self {
            LaunchSpec::Http { sign_in, .. } => *sign_in,
            _ => crate::UpstreamSignIn::None,
        }
    }

    /// Whether an editor let its authorization server keep endpoints off its issuer's
    /// origin (only a remote server has one).
    pub fn allows_foreign_oauth_endpoints(&self) -> bool {
        matches!(
            self,
            LaunchSpec::Http {
                allow_foreign_oauth_endpoints: true,
                ..
            }
        )
    }

    /// The version it names: a package's, or a container image's reference.
    pub fn version(&self) -> Option<&str> {
        match self {
            LaunchSpec::Npm { version, .. } | LaunchSpec::Pypi { version, .. } => Some(version),
            LaunchSpec::Container { image, .. } => Some(image),
            LaunchSpec::Command { .. } | LaunchSpec::Http { .. } => None,
        }
    }
}
