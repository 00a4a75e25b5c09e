//! Registry entries: `server.json` documents of the official MCP Registry
//! format, kept as they were served, read from the operator's registries
//! (`--registry-url`) or imported from a file, and offered in the catalog beside the
//! built-in entries and organizations' own.

use serde::Serialize;
use utoipa::ToSchema;

use crate::Timestamp;

string_enum! {
    /// A registry entry's lifecycle, as its registry says.
    RegistryStatus {
        Active => "active",
        Deprecated => "deprecated",
        Deleted => "deleted",
    }
}

/// One version of a registry's server as its source listed it; as the catalog reads
/// it, the server's latest version, with the others in `versions`.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryEntry {
    /// The server's name (`io.github.owner/server`), also its catalog entry id.
    pub name: String,
    /// The registry's base URL, or `import` for entries read from a file.
    pub source: String,
    pub version: String,
    pub status: RegistryStatus,
    /// The runtimes it can be installed with (`npm`, `pypi`, `container`, `http`), or
    /// none when nothing in it is installable.
    pub runtimes: Vec<String>,
    /// Lower-case name, title, description and tool names, what `?q=` searches.
    pub search_text: String,
    /// The `server.json` document, as served.
    pub document: serde_json::Value,
    /// When the registry last changed it (its `updatedAt`), the mark of the next
    /// incremental sync.
    pub updated_at: Timestamp,
    /// When it was published (its `publishedAt`), which orders versions that are not
    /// semantic versions.
    pub published_at: Timestamp,
    /// The registry's `isLatest`, when it said one.
    pub is_latest: Option<bool>,
    /// Every version of its server that is kept, newest first (filled when read).
    pub versions: Vec<String>,
}

impl RegistryEntry {
    /// What orders it among its server's versions.
    pub fn version_facts(&self) -> crate::VersionFacts<'_> {
        crate::VersionFacts {
            version: &self.version,
            is_latest: self.is_latest,
            published_at: self.published_at,
        }
    }
}

/// What a catalog search over registry entries asks for.
#[derive(Debug, Clone, Default)]
pub struct RegistrySearch {
    /// Lower-case words, each of which must appear.
    pub words: Vec<String>,
    pub runtime: Option<String>,
    pub offset: u32,
    pub limit: u32,
}

/// A registry source's sync, as the store keeps it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegistrySync {
    /// The registry's base URL.
    pub source: String,
    /// The newest `updatedAt` seen: the next sync asks only for what changed after it.
    pub updated_since: Option<Timestamp>,
    pub last_started_at: Option<Timestamp>,
    pub last_finished_at: Option<Timestamp>,
    /// Why the last sync failed; none when it succeeded.
    pub last_error: Option<String>,
    /// Entries the last sync received.
    pub last_received: i64,
    /// Requests the last sync made.
    pub last_requests: i64,
    /// Entries the last sync skipped: unreadable ones, and new ones past the registry's
    /// cap (`--registry-max-entries`).
    pub last_skipped: i64,
    /// Entries held from this source.
    pub entries: i64,
}

/// How a sync ended, for the store.
#[derive(Debug, Clone)]
pub struct RegistrySyncOutcome {
    pub updated_since: Option<Timestamp>,
    pub error: Option<String>,
    pub received: i64,
    pub requests: i64,
    /// Entries skipped: unreadable, or new past the cap.
    pub skipped: i64,
}

/// What a write of registry entries did.
#[derive(Debug, Clone, Default)]
pub struct RegistryPut {
    /// Versions written.
    pub written: u64,
    /// The names of entries new to their source that were not written because the source
    /// already held its cap of entries.
    pub over_cap: Vec<String>,
}
