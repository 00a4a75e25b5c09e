//! The form on the catalog page that adds one of the organization's own entries:
//! a remote server, an allowed container image or, where the operator allows packages, an
//! npm or PyPI package. The rules are core's (`upstreams::private`); a refusal comes back
//! beside its field with what was typed kept. Headers, settings and limits are the API's
//! (`POST /api/v1/catalog`).

use guidepost_domain::{CatalogEntry, RuntimeKind};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::form::FormError;

/// The runtimes the form offers, in its order.
const RUNTIMES: [(RuntimeKind, &str); 4] = [
    (RuntimeKind::Http, "Remote server (https)"),
    (RuntimeKind::Container, "Container image"),
    (RuntimeKind::Npm, "npm package"),
    (RuntimeKind::Pypi, "PyPI package"),
];

/// The form as posted, and as shown again after a refusal. Checkboxes are absent when
/// unticked.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct EntryForm {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub runtime: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub package: String,
    #[serde(default)]
    pub version: String,
    /// One argument a line.
    #[serde(default)]
    pub args: String,
    #[serde(default)]
    pub network: Option<String>,
    /// With a network: the only hosts it may reach, one a line (any when empty).
    #[serde(default)]
    pub network_hosts: String,
    /// One secret a line: `NAME: what it is`.
    #[serde(default)]
    pub secrets: String,
}

impl EntryForm {
    /// The runtime options with the chosen one marked.
    pub fn runtimes(&self) -> Vec<(&'static str, &'static str, bool)> {
        let chosen = if self.runtime.is_empty() {
            "http"
        } else {
            self.runtime.as_str()
        };
        RUNTIMES
            .iter()
            .map(|(kind, label)| (kind.as_str(), *label, kind.as_str() == chosen))
            .collect()
    }

    /// The entry it describes, in the API's shape; what the form cannot say is refused
    /// on its field.
    pub(super) fn entry(&self) -> Result<CatalogEntry, FormError> {
        let lines = |text: &str| -> Vec<String> {
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let hosts = lines(&self.network_hosts);
        let network = match (self.network.is_some(), hosts.is_empty()) {
            (false, _) => json!(false),
            (true, true) => json!(true),
            (true, false) => {
                let only = guidepost_domain::Network::only(hosts).map_err(|why| FormError {
                    label: "Only these hosts".to_owned(),
                    message: why,
                    anchor: "entry-network-hosts".to_owned(),
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                })?;
                json!(only)
            }
        };
        let spec = match RuntimeKind::parse(&self.runtime) {
            Some(RuntimeKind::Http) => json!({"runtime": "http", "url": self.url.trim()}),
            Some(RuntimeKind::Container) => json!({
                "runtime": "container", "image": self.image.trim(),
                "args": lines(&self.args), "network": network,
            }),
            Some(RuntimeKind::Npm | RuntimeKind::Pypi) => json!({
                "runtime": self.runtime, "package": self.package.trim(),
                "version": self.version.trim(), "args": lines(&self.args), "network": network,
            }),
            // Only the operator's catalog file names a command.
            Some(RuntimeKind::Command) | None => {
                return Err(refused("runtime", "choose one of the listed kinds"));
            }
        };
        let mut secrets = Vec::new();
        for line in lines(&self.secrets) {
            let (name, description) = line.split_once(':').unwrap_or((line.as_str(), ""));
            secrets.push(json!({"name": name.trim(), "description": description.trim()}));
        }
        let entry = json!({
            "id": self.id.trim(), "name": self.name.trim(),
            "description": self.description.trim(), "spec": spec, "secrets": secrets,
        });
        serde_json::from_value(entry).map_err(|e| refused("runtime", e.to_string()))
    }
}

/// A refusal on one of the form's fields, named as the page names it.
pub(super) fn refused(field: &str, message: impl Into<String>) -> FormError {
    refused_with(field, message, StatusCode::UNPROCESSABLE_ENTITY)
}

pub(super) fn refused_with(
    field: &str,
    message: impl Into<String>,
    status: StatusCode,
) -> FormError {
    // Core names the fields of the entry's spec `spec.…`; the form has one input each for
    // a few of them and says the others' refusals beside the kind.
    const OWN: [&str; 4] = ["id", "name", "description", "secrets"];
    const SPEC: [&str; 5] = ["url", "image", "package", "version", "args"];
    let input = match field.strip_prefix("spec.") {
        Some(spec) if SPEC.contains(&spec) => spec,
        Some(_) => "runtime",
        None => {
            let base = field.split(['[', '.']).next().unwrap_or_default();
            if OWN.contains(&base) { base } else { "runtime" }
        }
    };
    FormError {
        label: label(input).to_owned(),
        message: message.into(),
        anchor: format!("entry-{input}"),
        status,
    }
}

fn label(input: &str) -> &'static str {
    match input {
        "id" => "Entry id",
        "name" => "Name",
        "description" => "Description",
        "url" => "Server URL",
        "image" => "Container image",
        "package" => "Package",
        "version" => "Version",
        "args" => "Arguments",
        "secrets" => "Secrets",
        _ => "Kind",
    }
}

/// What an untouched form holds.
pub(crate) fn blank() -> EntryForm {
    EntryForm {
        runtime: "http".into(),
        ..EntryForm::default()
    }
}
