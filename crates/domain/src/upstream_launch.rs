//! What an upstream is launched with, as an upgrade changes it and a rollback restores
//! it, and the placeholder a secret argument is in a stored launch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{LaunchSpec, UpstreamTool};

/// What an upstream is launched with: changed together by an upgrade or a
/// reconfiguration, and restored together by a rollback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamLaunch {
    pub spec: LaunchSpec,
    pub secrets_sealed: BTreeMap<String, String>,
    pub config: BTreeMap<String, serde_json::Value>,
    /// The registry version it renders, when its entry is a registry's (absent from a
    /// launch kept before registry versions were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_entry_version: Option<String>,
}

/// The launch an upstream ran before its last upgrade, with its definitions and the
/// decisions taken on them then: what a rollback puts back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpstreamRelease {
    pub launch: UpstreamLaunch,
    pub definitions: Vec<UpstreamTool>,
}

/// A whole argument that stands for the installation's secret `name`: the stored spec
/// keeps this, and only the process's command line, made at launch, holds the value.
pub fn secret_argument(name: &str) -> String {
    format!("${{secret.{name}}}")
}

/// The secret a whole argument stands for (`secret_argument`'s inverse).
pub fn secret_of_argument(argument: &str) -> Option<&str> {
    argument.strip_prefix("${secret.")?.strip_suffix('}')
}
