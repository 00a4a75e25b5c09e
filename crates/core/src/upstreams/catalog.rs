//! The catalog of installable MCP servers: the built-in entries, compiled in
//! from `catalog.toml`, and the operator's own entries from `serve --catalog FILE`.
//!
//! Only the operator's file may hold `command` entries: they run a program of the
//! platform's host, which no organization may choose. Every npm and PyPI entry, built in
//! or the operator's, names a plain package and an exact version (`super::package`).

use std::collections::HashSet;

use guidepost_domain::ValidationError;
pub use guidepost_domain::{CatalogEntry, SecretSlot};
use serde::Deserialize;

use super::config::SettingsError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    entry: Vec<CatalogEntry>,
}

/// The entries organizations can install.
#[derive(Debug, Clone)]
pub struct Catalog {
    entries: Vec<CatalogEntry>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Catalog {
    /// The built-in entries only.
    pub fn builtin() -> Self {
        let file: CatalogFile = toml::from_str(include_str!("catalog.toml"))
            .expect("the built-in catalog is checked by its unit test");
        for entry in &file.entry {
            check_package(entry).expect("the built-in catalog is checked by its unit test");
        }
        Self {
            entries: file.entry,
        }
    }

    /// The built-in entries, then the operator's (TOML, `[[entry]]` tables as in the
    /// built-in file). An id may appear once.
    pub fn with_operator_entries(text: &str) -> Result<Self, CatalogFileError> {
        let file: CatalogFile = toml::from_str(text).map_err(CatalogFileError::NotToml)?;
        let mut catalog = Self::builtin();
        let mut ids: HashSet<String> = catalog.entries.iter().map(|e| e.id.clone()).collect();
        for entry in file.entry {
            check_package(&entry)?;
            super::config::check_fields(&entry.config).map_err(|why| {
                CatalogFileError::Settings {
                    id: entry.id.clone(),
                    why,
                }
            })?;
            if let Some(slot) = entry.secrets.iter().find(|s| !is_secret_name(&s.name)) {
                return Err(CatalogFileError::SecretName {
                    id: entry.id.clone(),
                    name: slot.name.clone(),
                });
            }
            if !ids.insert(entry.id.clone()) {
                return Err(CatalogFileError::IdTwice(entry.id));
            }
            catalog.entries.push(entry);
        }
        Ok(catalog)
    }

    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    pub(crate) fn find(&self, id: &str) -> Option<&CatalogEntry> {
        self.entries.iter().find(|entry| entry.id == id)
    }
}

/// Why the operator's catalog file is refused; `serve` does not start with it.
#[derive(Debug, thiserror::Error)]
pub enum CatalogFileError {
    #[error("{0}")]
    NotToml(toml::de::Error),
    #[error("{id}: replicas must be at least 1")]
    NoReplicas { id: String },
    #[error(
        "{id}: replicas above 1 need `stateless = true` (a server that keeps state in \
         its process runs one)"
    )]
    ReplicasOfStateful { id: String },
    /// Its package or version is one an organization's entry could not name either.
    #[error("{id}: {invalid}")]
    Package {
        id: String,
        invalid: ValidationError,
    },
    #[error("{id}: {why}")]
    Settings { id: String, why: SettingsError },
    #[error("{id}: {name:?} is not a secret name (A-Z, 0-9, _)")]
    SecretName { id: String, name: String },
    #[error("the catalog entry id {0:?} is used twice")]
    IdTwice(String),
}

/// An npm or PyPI entry's package and version, as an organization's would be checked,
/// and its replicas: more than one only for a stateless entry.
fn check_package(entry: &CatalogEntry) -> Result<(), CatalogFileError> {
    let id = || entry.id.clone();
    match entry.replicas {
        Some(0) => return Err(CatalogFileError::NoReplicas { id: id() }),
        Some(n) if n > 1 && !entry.stateless => {
            return Err(CatalogFileError::ReplicasOfStateful { id: id() });
        }
        _ => {}
    }
    super::package::check(&entry.spec)
        .map_err(|invalid| CatalogFileError::Package { id: id(), invalid })
}

/// A secret's name, which is also the environment variable it is passed as.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let mut chars = name.chars();
    (1..=64).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use guidepost_domain::{LaunchSpec, RuntimeKind};

    use super::*;

    #[test]
    fn the_builtin_catalog_parses_and_pins_versions() {
        let catalog = Catalog::builtin();
        assert!(catalog.entries().len() >= 3);
        for entry in catalog.entries() {
            match &entry.spec {
                LaunchSpec::Npm(_) | LaunchSpec::Pypi(_) => {
                    if let Err(error) = check_package(entry) {
                        panic!("{error}")
                    }
                }
                LaunchSpec::Http(remote) => {
                    let url = &remote.url;
                    assert!(url.starts_with("https://"), "{}: {url}", entry.id)
                }
                LaunchSpec::Command(_) | LaunchSpec::Container(_) => {
                    panic!(
                        "{}: built-in entries are npm packages or remote servers",
                        entry.id
                    )
                }
            }
        }
        assert!(
            catalog
                .entries()
                .iter()
                .any(|e| e.spec.runtime() == RuntimeKind::Http)
        );
        assert!(catalog.find("everything").is_some());
        // Which servers may run several processes: the reference server may, the memory
        // server (its graph in its process) may not.
        assert!(catalog.find("everything").is_some_and(|e| e.stateless));
        assert!(catalog.find("memory").is_some_and(|e| !e.stateless));
    }

    #[test]
    fn operator_entries_run_replicas_only_when_stateless() {
        let entry = |extra: &str| {
            format!(
                "[[entry]]\nid = \"op\"\nname = \"Op\"\ndescription = \"\"\n\
                 spec = {{ runtime = \"command\", command = \"/usr/bin/op\" }}\n{extra}\n"
            )
        };
        assert!(Catalog::with_operator_entries(&entry("stateless = true\nreplicas = 2")).is_ok());
        let error = Catalog::with_operator_entries(&entry("replicas = 2")).unwrap_err();
        assert!(error.to_string().contains("stateless"), "{error}");
        assert!(Catalog::with_operator_entries(&entry("replicas = 0")).is_err());
    }

    #[test]
    fn operator_entries_come_after_the_builtin_ones_and_keep_ids_unique() {
        let text = r#"
            [[entry]]
            id = "local"
            name = "Local"
            description = "A program of this host."
            spec = { runtime = "command", command = "/usr/bin/local-mcp", args = ["--stdio"] }
        "#;
        let catalog = Catalog::with_operator_entries(text).unwrap();
        assert_eq!(catalog.entries().last().unwrap().id, "local");
        assert!(catalog.find("everything").is_some());
        let twice = text.replace("\"local\"", "\"everything\"");
        let error = Catalog::with_operator_entries(&twice).unwrap_err();
        assert!(error.to_string().contains("everything"), "{error}");
        assert!(Catalog::with_operator_entries("[[entry]]\nid = 1").is_err());
    }

    #[test]
    fn operator_entries_name_a_plain_package_and_an_exact_version() {
        let entry = |runtime: &str, package: &str, version: &str| {
            format!(
                "[[entry]]\nid = \"op\"\nname = \"Op\"\ndescription = \"\"\n\
                 spec = {{ runtime = {runtime:?}, package = {package:?}, version = {version:?} }}\n"
            )
        };
        assert!(Catalog::with_operator_entries(&entry("npm", "left-pad", "1.3.0")).is_ok());
        assert!(
            Catalog::with_operator_entries(&entry("pypi", "mcp-server-time", "2026.10.19")).is_ok()
        );
        for (runtime, package, version, field) in [
            ("npm", "-g", "1.3.0", "spec.package"),
            ("npm", "--prefix", "1.3.0", "spec.package"),
            ("npm", "left-pad", "1.x", "spec.version"),
            ("npm", "left-pad", "1", "spec.version"),
            ("npm", "left-pad", "^1.3.0", "spec.version"),
            ("npm", "left-pad", "latest", "spec.version"),
            ("pypi", "-g", "1.0", "spec.package"),
            ("pypi", "--prefix", "1.0", "spec.package"),
            ("pypi", "mcp-server-time", "1.x", "spec.version"),
            ("pypi", "mcp-server-time", "1", "spec.version"),
            ("pypi", "mcp-server-time", "~=1.0", "spec.version"),
        ] {
            let error =
                Catalog::with_operator_entries(&entry(runtime, package, version)).unwrap_err();
            assert!(
                error.to_string().starts_with(&format!("op: {field}: ")),
                "{runtime} {package} {version}: {error}"
            );
        }
    }
}
