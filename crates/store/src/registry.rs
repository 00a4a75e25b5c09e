//! Registry entries: the `server.json` documents of the operator's registries
//! and imports, and each registry's sync. Platform-wide: they are the platform's catalog,
//! read by every organization and written by the sync, never by a tenant.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

#[async_trait]
pub trait RegistryStore: Send + Sync {
    /// Platform-wide: writes versions of servers in one transaction, each kept; a name's
    /// catalog row is its latest version (`compare_versions`), listing the others. A name
    /// belongs to the first source that wrote it; another source's version of that name
    /// is skipped. A name new to the platform is skipped too, and named in the answer,
    /// when its source already holds `max_entries` entries (names); versions of names it
    /// holds are always written, so that a takedown still arrives at the cap.
    async fn put_registry_entries(
        &self,
        entries: &[RegistryEntry],
        now: Timestamp,
        max_entries: u64,
    ) -> Result<RegistryPut>;
    /// Platform-wide: one entry by its name (its latest version, listing the others).
    async fn get_registry_entry(&self, name: &str) -> Result<RegistryEntry>;
    /// Platform-wide: one version of an entry (its runtimes, searched text and versions
    /// left empty: they are the catalog row's).
    async fn get_registry_version(&self, name: &str, version: &str) -> Result<RegistryEntry>;
    /// Platform-wide: the entries matching every word (and the runtime, if given), by
    /// name, from `offset`.
    async fn search_registry_entries(&self, search: &RegistrySearch) -> Result<Vec<RegistryEntry>>;
    /// Platform-wide: takes the sync lease of `source` until `lease_until`, if no other
    /// node holds it and the source is due (its last sync finished before `due_before`,
    /// or never). Answers the source's `updated_since` mark (`Some(None)`: none yet),
    /// or `None` when it is not this node's to sync now.
    async fn claim_registry_sync(
        &self,
        source: &str,
        now: Timestamp,
        due_before: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<Option<Timestamp>>>;
    /// Platform-wide: records how a claimed sync ended and gives its lease back.
    async fn finish_registry_sync(
        &self,
        source: &str,
        outcome: &RegistrySyncOutcome,
        now: Timestamp,
    ) -> Result<()>;
    /// Platform-wide: every source's sync, by source.
    async fn list_registry_syncs(&self) -> Result<Vec<RegistrySync>>;
}
