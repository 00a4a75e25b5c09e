//! Registry entries in the catalog: the `server.json` documents of the
//! operator's registries (`--registry-url`, synced by `sync`) and of imported files, kept
//! in the store, listed beside the built-in entries and organizations' own, and installed
//! as the catalog entry each becomes (`server_json`).

pub mod server_json;
pub mod sync;

use guidepost_domain::*;
use serde_json::Value;

use self::server_json::{ServerJson, ServerJsonError};
use crate::{CoreError, Platform};

pub use sync::{FetchError, RegistryFetch, SyncReport, sync};

/// What `source` an imported entry has.
pub(crate) const IMPORT_SOURCE: &str = "import";
/// The largest `server.json` document kept.
const DOCUMENT_MAX: usize = 64 * 1024;
/// The most entries one import or one sync page writes.
const IMPORT_MAX: usize = 100_000;
/// The key of the official registry's metadata in `_meta`.
const OFFICIAL_META: &str = "io.modelcontextprotocol.registry/official";

/// Why a registry's item is skipped or refused on import, or why a stored entry cannot
/// be installed; the operator and the catalog's readers see it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EntryError {
    /// An item of a registry's page that is no JSON.
    #[error("the entry does not read: {0}")]
    NotJson(serde_json::Error),
    /// A listed or imported item that is no `server.json`.
    #[error("a server.json does not read: {0}")]
    NotServerJson(serde_json::Error),
    /// A stored document that no longer reads as a `server.json`.
    #[error("its server.json does not read: {0}")]
    StoredNotServerJson(serde_json::Error),
    #[error("{name}: its server.json is over {DOCUMENT_MAX} bytes")]
    TooLarge { name: String },
    #[error("{name}: unknown status {status:?}")]
    UnknownStatus { name: String, status: String },
    #[error(transparent)]
    ServerJson(#[from] ServerJsonError),
    /// Its catalog entry breaks a rule every entry keeps.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// A registry entry's catalog entry, checked as it would be installed, or why it cannot
/// be installed; what this platform's operator allows (`--container-images`) is checked
/// at install (`find`).
pub(crate) fn installable(entry: &RegistryEntry) -> Result<CatalogEntry, EntryError> {
    let server: ServerJson =
        serde_json::from_value(entry.document.clone()).map_err(EntryError::StoredNotServerJson)?;
    let catalog_entry = server.catalog_entry(entry.status)?;
    super::private::check_spec(&catalog_entry)?;
    Ok(catalog_entry)
}

/// The longest version asked for (semantic versions are far shorter); a longer one, or one
/// holding a control character (a NUL, which PostgreSQL refuses), is refused as invalid.
const VERSION_MAX: usize = 128;

/// The registry entry `name` as it installs, for `upstreams::install` and upgrades: its
/// version `version`, or its latest; answered with the version it is.
pub(super) async fn find(
    platform: &Platform,
    name: &str,
    version: Option<&str>,
) -> Result<(CatalogEntry, String), CoreError> {
    if let Some(version) = version
        && (version.len() > VERSION_MAX || version.chars().any(char::is_control))
    {
        let message =
            format!("a version is at most {VERSION_MAX} bytes of text without control characters");
        return Err(ValidationError::new("version", message).into());
    }
    let found = match version {
        Some(version) => platform.store.get_registry_version(name, version).await,
        None => platform.store.get_registry_entry(name).await,
    };
    let entry = match found {
        Ok(entry) => entry,
        Err(guidepost_store::StoreError::NotFound) => {
            let (field, message) = match (version, platform.store.get_registry_entry(name).await) {
                (Some(version), Ok(latest)) => (
                    "version",
                    format!(
                        "{name} has no version {version:?} (it has {})",
                        latest.versions.join(", ")
                    ),
                ),
                _ => (
                    "catalog_entry_id",
                    format!("no catalog entry {name:?}; GET /api/v1/catalog lists them"),
                ),
            };
            return Err(ValidationError::new(field, message).into());
        }
        Err(other) => return Err(other.into()),
    };
    let refused = |why: String| {
        let message = format!("{name} {} cannot be installed: {why}", entry.version);
        ValidationError::new("catalog_entry_id", message)
    };
    let catalog_entry = installable(&entry).map_err(|why| refused(why.to_string()))?;
    // The operator's rules hold for a registry's entries as for an organization's own.
    super::private::check_image(platform, &catalog_entry.spec)
        .map_err(|invalid| refused(invalid.message))?;
    Ok((catalog_entry, entry.version))
}

/// One listed server version (`{"server": …, "_meta": …}` as the v0.1 API lists it, or
/// a bare `server.json`) as a stored entry of `source`. Every version is kept, the latest
/// or not.
pub(crate) fn entry_of(
    source: &str,
    item: &Value,
    now: Timestamp,
) -> Result<RegistryEntry, EntryError> {
    let document = item.get("server").unwrap_or(item);
    let official = item
        .get("_meta")
        .and_then(|meta| meta.get(OFFICIAL_META))
        .or_else(|| document.get("_meta")?.get(OFFICIAL_META));
    let text = |field: &str| official.and_then(|o| o.get(field)?.as_str());
    let time = |field: &str| {
        text(field)
            .and_then(Timestamp::parse_rfc3339)
            .map(|t| not_after(t, now))
    };
    let server: ServerJson =
        serde_json::from_value(document.clone()).map_err(EntryError::NotServerJson)?;
    server.check()?;
    if document.to_string().len() > DOCUMENT_MAX {
        return Err(EntryError::TooLarge { name: server.name });
    }
    let status = match text("status") {
        None => RegistryStatus::Active,
        Some(status) => RegistryStatus::parse(status).ok_or_else(|| EntryError::UnknownStatus {
            name: server.name.clone(),
            status: status.to_owned(),
        })?,
    };
    let updated = time("updatedAt");
    let published_at = time("publishedAt").or(updated).unwrap_or(now);
    let updated_at = updated.unwrap_or(published_at);
    Ok(RegistryEntry {
        runtimes: server.runtimes(),
        search_text: server.search_text(),
        name: server.name,
        source: source.to_owned(),
        version: server.version,
        status,
        document: document.clone(),
        updated_at,
        published_at,
        is_latest: official.and_then(|o| o.get("isLatest")?.as_bool()),
        versions: Vec::new(),
    })
}

/// How far ahead of this node's clock a registry's date may be (clocks differ).
const CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(300);

/// A registry's date, or `now` when it is further ahead than clocks differ: an entry dated
/// in year 9999 would otherwise carry the sync's `updated_since` mark there, and no later
/// change (a takedown) would ever be asked for.
fn not_after(time: Timestamp, now: Timestamp) -> Timestamp {
    if time > now.plus(CLOCK_SKEW) {
        now
    } else {
        time
    }
}

/// What an import wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportReport {
    /// Entries read from the file.
    pub read: usize,
    /// Entries written (a name another source holds is not).
    pub written: u64,
}

/// `guidepost catalog import FILE`: a `server.json`, a JSON array of them, or a v0.1
/// list response (`{"servers": [...]}`), as entries of the source `import`.
pub async fn import(platform: &Platform, text: &str) -> Result<ImportReport, CoreError> {
    let invalid = |message: String| ValidationError::new("file", message);
    let json: Value =
        serde_json::from_str(text).map_err(|e| invalid(format!("is not JSON: {e}")))?;
    let items = match &json {
        Value::Array(items) => items.as_slice(),
        Value::Object(fields) => match fields.get("servers") {
            Some(Value::Array(items)) => items.as_slice(),
            _ => std::slice::from_ref(&json),
        },
        _ => return Err(invalid("must be a server.json or an array of them".into()).into()),
    };
    if items.len() > IMPORT_MAX {
        return Err(invalid(format!("holds more than {IMPORT_MAX} entries")).into());
    }
    let now = Timestamp::now();
    let mut entries = Vec::with_capacity(items.len());
    for (n, item) in items.iter().enumerate() {
        match entry_of(IMPORT_SOURCE, item, now) {
            Ok(entry) => entries.push(entry),
            Err(why) => return Err(invalid(format!("entry {}: {why}", n + 1)).into()),
        }
    }
    // The operator's own file, bounded by `IMPORT_MAX`, is not held to the registries' cap.
    let put = platform
        .store
        .put_registry_entries(&entries, now, u64::MAX)
        .await?;
    Ok(ImportReport {
        read: entries.len(),
        written: put.written,
    })
}

/// Every registry's sync, for the catalog's `sources`.
pub async fn sources(platform: &Platform) -> Result<Vec<RegistrySync>, CoreError> {
    let mut syncs = platform.store.list_registry_syncs().await?;
    // A registry configured but never reached yet is shown too.
    for source in &platform.config.registries {
        if !syncs.iter().any(|s| &s.source == source) {
            syncs.push(RegistrySync {
                source: source.clone(),
                updated_since: None,
                last_started_at: None,
                last_finished_at: None,
                last_error: None,
                last_received: 0,
                last_requests: 0,
                last_skipped: 0,
                entries: 0,
            });
        }
    }
    Ok(syncs)
}

/// The versions of the registry entry `name` that are kept, newest first (platform-wide:
/// registry entries are every organization's); none for an unknown name.
pub async fn versions(platform: &Platform, name: &str) -> Result<Vec<String>, CoreError> {
    match platform.store.get_registry_entry(name).await {
        Ok(entry) => Ok(entry.versions),
        Err(guidepost_store::StoreError::NotFound) => Ok(Vec::new()),
        Err(other) => Err(other.into()),
    }
}

/// Registry entries matching a search (platform-wide: they are every organization's).
pub(crate) async fn search(
    platform: &Platform,
    search: &RegistrySearch,
) -> Result<Vec<RegistryEntry>, CoreError> {
    Ok(platform.store.search_registry_entries(search).await?)
}

#[cfg(test)]
mod tests;
