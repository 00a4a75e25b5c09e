//! The catalog of installable MCP servers: the built-in entries, compiled in from
//! `catalog.toml` (SPEC §8).

use std::sync::OnceLock;

use guidepost_domain::LaunchSpec;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One installable server.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    pub id: String,
    pub name: String,
    pub description: String,
    pub spec: LaunchSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    entry: Vec<CatalogEntry>,
}

/// The built-in entries.
pub fn builtin() -> &'static [CatalogEntry] {
    static ENTRIES: OnceLock<Vec<CatalogEntry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        let file: CatalogFile = toml::from_str(include_str!("catalog.toml"))
            .expect("the built-in catalog is checked by its unit test");
        file.entry
    })
}

pub fn find(id: &str) -> Option<&'static CatalogEntry> {
    builtin().iter().find(|entry| entry.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalog_parses_and_pins_versions() {
        let entries = builtin();
        assert!(entries.len() >= 3);
        for entry in entries {
            let LaunchSpec::Npm { version, .. } = &entry.spec;
            assert!(
                version.chars().all(|c| c.is_ascii_digit() || c == '.'),
                "{} pins an exact version, not {version}",
                entry.id
            );
        }
        assert!(find("everything").is_some());
    }
}
