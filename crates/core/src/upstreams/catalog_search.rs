//! `GET /api/v1/catalog` and the dashboard's catalog page: the platform's entries, the
//! organization's own, then the registries', searched by words over
//! names, descriptions and tool names, filtered by runtime and source, in pages.
//! The first two are few and searched in memory; registry entries may be tens of
//! thousands and are searched by the store.

use guidepost_domain::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::registry;
use crate::{Caller, CoreError, Platform};

/// The most words a search takes, and the longest.
const WORDS_MAX: usize = 8;
const WORD_MAX: usize = 100;

/// A catalog entry as `GET /api/v1/catalog` lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListedEntry {
    /// What `POST /api/v1/upstreams` takes as `catalog_entry_id` (a registry entry's is
    /// its server name).
    pub id: String,
    pub name: String,
    pub description: String,
    /// How it runs (header and environment values hidden); none for a registry entry
    /// that cannot be installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<LaunchSpec>,
    /// The secrets an installation gives.
    pub secrets: Vec<SecretSlot>,
    /// The settings an installation gives or leaves to their defaults.
    pub config: Vec<ConfigField>,
    /// `platform` (built in, or the operator's), `organization` (private) or `registry`.
    pub source: &'static str,
    /// A registry entry's registry (its base URL), or `import`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// A registry entry's status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RegistryStatus>,
    /// A registry entry's version: its latest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// A registry entry's versions that can be installed or upgraded to (`version` in
    /// the install or `PATCH` body), newest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Why a registry entry cannot be installed (a deleted entry, a transport Guidepost
    /// does not speak); none when it can.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_installable: Option<String>,
}

impl ListedEntry {
    fn local(entry: CatalogEntry, source: &'static str) -> Self {
        Self {
            id: entry.id,
            name: entry.name,
            description: entry.description,
            // Header and environment values may hold keys, the operator's too, and every
            // organization reads the platform's entries.
            spec: Some(entry.spec.redacted()),
            secrets: entry.secrets,
            config: entry.config,
            source,
            registry: None,
            status: None,
            version: None,
            versions: Vec::new(),
            not_installable: None,
        }
    }

    /// An organization's own entry, and why it installs no more, if it does not (an
    /// image the operator has since taken off `--container-images`).
    fn own(entry: CatalogEntry, platform: &Platform) -> Self {
        let refusal = super::private::still_installable(platform, &entry).err();
        let mut listed = Self::local(entry, "organization");
        listed.not_installable = refusal.map(|invalid| invalid.message);
        listed
    }

    /// A registry's entry, and why it cannot be installed here, if it cannot: it does not
    /// read as an entry, or its image is not one this platform's operator allows.
    fn of_registry(entry: RegistryEntry, platform: &Platform) -> Self {
        let (catalog_entry, refusal) = match registry::installable(&entry) {
            Ok(catalog_entry) => {
                let refusal = super::private::check_image(platform, &catalog_entry.spec).err();
                (Some(catalog_entry), refusal.map(|invalid| invalid.message))
            }
            Err(why) => (None, Some(why.to_string())),
        };
        let text = |field: &str| {
            entry
                .document
                .get(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let title = text("title");
        Self {
            id: entry.name.clone(),
            name: if title.is_empty() {
                entry.name.clone()
            } else {
                title
            },
            description: text("description"),
            spec: catalog_entry.as_ref().map(|e| e.spec.redacted()),
            secrets: catalog_entry
                .as_ref()
                .map(|e| e.secrets.clone())
                .unwrap_or_default(),
            config: catalog_entry.map(|e| e.config).unwrap_or_default(),
            source: "registry",
            registry: Some(entry.source),
            status: Some(entry.status),
            version: Some(entry.version),
            versions: entry.versions,
            not_installable: refusal,
        }
    }
}

/// What a catalog listing asks for.
#[derive(Debug, Clone, Default)]
pub struct CatalogQuery {
    /// Words, each of which must appear in the name, id, description or tool names.
    pub q: String,
    /// `npm`, `pypi`, `container`, `http` or `command`.
    pub runtime: Option<String>,
    /// `platform`, `organization` or `registry`.
    pub source: Option<String>,
    /// Entries to skip (from the previous page's `next_offset`).
    pub offset: u32,
    pub limit: u32,
}

/// One page of the catalog.
#[derive(Debug, Clone)]
pub struct CatalogPage {
    pub items: Vec<ListedEntry>,
    /// Where the next page starts, if there is one.
    pub next_offset: Option<u32>,
}

/// The sources a search may filter by.
pub const SOURCES: &[&str] = &["platform", "organization", "registry"];

/// A page of the catalog as the caller's organization sees it.
pub async fn search(
    platform: &Platform,
    caller: &Caller,
    query: &CatalogQuery,
) -> Result<CatalogPage, CoreError> {
    let words = words_of(&query.q)?;
    let runtime = query.runtime.as_deref().map(runtime_of).transpose()?;
    if let Some(source) = &query.source
        && !SOURCES.contains(&source.as_str())
    {
        let message = format!("must be one of {}", SOURCES.join(", "));
        return Err(ValidationError::new("source", message).into());
    }
    let wants = |source: &str| query.source.as_deref().is_none_or(|s| s == source);
    let mut local = Vec::new();
    if wants("platform") {
        let entries = platform.config.catalog.entries().iter().cloned();
        local.extend(entries.map(|e| ListedEntry::local(e, "platform")));
    }
    if wants("organization") {
        let own = platform.store.list_catalog_entries(caller.org()).await?;
        local.extend(own.into_iter().map(|e| ListedEntry::own(e, platform)));
    }
    local.retain(|e| matches_local(e, &words, runtime));
    let (offset, limit) = (query.offset as usize, query.limit as usize);
    let mut items: Vec<ListedEntry> = local.iter().skip(offset).take(limit).cloned().collect();
    let mut more = local.len() > offset + items.len();
    if wants("registry") && items.len() < limit {
        let wanted = limit - items.len();
        let search = RegistrySearch {
            words,
            runtime: query.runtime.clone(),
            offset: u32::try_from(offset.saturating_sub(local.len())).unwrap_or(u32::MAX),
            // One more than wanted says whether there is a next page.
            limit: u32::try_from(wanted + 1).unwrap_or(u32::MAX),
        };
        let mut found = registry::search(platform, &search).await?;
        more = found.len() > wanted;
        found.truncate(wanted);
        items.extend(
            found
                .into_iter()
                .map(|entry| ListedEntry::of_registry(entry, platform)),
        );
    } else if wants("registry") {
        more = true;
    }
    let next_offset = more.then(|| u32::try_from(offset + items.len()).unwrap_or(u32::MAX));
    Ok(CatalogPage { items, next_offset })
}

/// The search's words, lower case.
fn words_of(q: &str) -> Result<Vec<String>, ValidationError> {
    let words: Vec<String> = q.split_whitespace().map(str::to_lowercase).collect();
    if words.len() > WORDS_MAX || words.iter().any(|w| w.chars().count() > WORD_MAX) {
        let message = format!("at most {WORDS_MAX} words of at most {WORD_MAX} characters");
        return Err(ValidationError::new("q", message));
    }
    if words.iter().any(|w| w.chars().any(char::is_control)) {
        return Err(ValidationError::new("q", "has a control character"));
    }
    Ok(words)
}

/// The kind of runtime a search filters by.
fn runtime_of(word: &str) -> Result<RuntimeKind, ValidationError> {
    RuntimeKind::parse(word).ok_or_else(|| {
        let words = RuntimeKind::ALL.map(RuntimeKind::as_str);
        ValidationError::new("runtime", format!("must be one of {}", words.join(", ")))
    })
}

fn matches_local(entry: &ListedEntry, words: &[String], runtime: Option<RuntimeKind>) -> bool {
    let runtime_ok = runtime.is_none_or(|r| entry.spec.as_ref().is_some_and(|s| s.runtime() == r));
    let haystack = format!("{} {} {}", entry.name, entry.id, entry.description).to_lowercase();
    runtime_ok && words.iter().all(|word| haystack.contains(word.as_str()))
}
