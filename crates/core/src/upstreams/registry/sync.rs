//! Syncing a registry: `GET {base}/v0.1/servers` page by page (`cursor`, `limit`), asking
//! only for what changed since the newest `updatedAt` seen (`updated_since`), one node at
//! a time per registry (a lease in the store). The request itself is the binary's
//! ([`RegistryFetch`], through the outbound fence with its size and time limits): core
//! makes no HTTP request.

use std::time::Duration;

use async_trait::async_trait;
use guidepost_domain::{RegistrySyncOutcome, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::{CoreError, Platform};

/// Servers asked for per page.
const PAGE_LIMIT: u32 = 100;
/// The largest page read.
pub(crate) const PAGE_BYTES: usize = 4 * 1024 * 1024;
/// The most pages one sync reads (100,000 servers); the next sync goes on from there.
const MAX_PAGES: usize = 1000;
/// How long a node holds a registry's sync before another may take it over.
const LEASE: Duration = Duration::from_secs(600);

/// How the platform reaches a registry: the binary's fenced client.
#[async_trait]
pub trait RegistryFetch: Send + Sync {
    /// GETs `url` and answers its body, at most `limit` bytes.
    async fn get(&self, url: &str, limit: usize) -> Result<Vec<u8>, FetchError>;
}

/// Why a registry page was not read; it becomes the registry's last error, which the
/// operator reads.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The outbound fence refused the URL before connecting.
    #[error("{0}")]
    Refused(String),
    /// The registry did not answer, or the answer broke off: the client's words.
    #[error("{url}: {why}")]
    NoAnswer { url: String, why: String },
    /// The registry answered with a status other than success, as the client writes it
    /// (`404 Not Found`).
    #[error("{url} answered {status}")]
    Status { url: String, status: String },
    #[error("{url} answered more than {limit} bytes")]
    TooLarge { url: String, limit: usize },
}

/// Why a sync stopped before its last page; its text is the registry's last error.
#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error("{registry} is not a registry URL: {reason}")]
    NotARegistry {
        registry: String,
        reason: url::ParseError,
    },
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{url} did not answer a server list: {reason}")]
    NotAList {
        url: String,
        reason: serde_json::Error,
    },
    #[error("could not store the entries: {0}")]
    Store(guidepost_store::StoreError),
}

/// What one registry's sync did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub source: String,
    /// False when it was not due or another node was syncing it.
    pub synced: bool,
    pub received: i64,
    pub requests: i64,
    /// Entries skipped: unreadable, or new past the cap (`--registry-max-entries`).
    pub skipped: i64,
    pub error: Option<String>,
}

/// A page of the list. Its entries are kept as their text and each read on its own:
/// serde_json's recursion limit holds for a whole document, so one entry nested past it
/// would fail the page, and with it every sync after. Skipping a raw value has no such
/// limit (serde_json scans it without recursion).
#[derive(Deserialize)]
struct ListPage {
    #[serde(default)]
    servers: Vec<Box<RawValue>>,
    #[serde(default)]
    metadata: Option<PageMetadata>,
}

#[derive(Deserialize)]
struct PageMetadata {
    #[serde(default, rename = "nextCursor")]
    next_cursor: Option<String>,
}

/// An entry's name alone, read from one that does not read whole, for the log; the rest
/// is skipped unread.
#[derive(Deserialize)]
struct NameOnly {
    server: Option<Named>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Named {
    name: Option<String>,
}

fn name_of(raw: &RawValue) -> Option<String> {
    let named: NameOnly = serde_json::from_str(raw.get()).ok()?;
    named.server.and_then(|s| s.name).or(named.name)
}

/// Syncs every registry that is due (its last sync finished `interval` ago or more), or
/// every one with `force`, unless another node is at it.
pub async fn sync(
    platform: &Platform,
    fetch: &dyn RegistryFetch,
    interval: Duration,
    force: bool,
) -> Result<Vec<SyncReport>, CoreError> {
    let mut reports = Vec::new();
    for source in &platform.config.registries {
        reports.push(sync_one(platform, fetch, source, interval, force).await?);
    }
    Ok(reports)
}

async fn sync_one(
    platform: &Platform,
    fetch: &dyn RegistryFetch,
    source: &str,
    interval: Duration,
    force: bool,
) -> Result<SyncReport, CoreError> {
    let now = Timestamp::now();
    let interval_micros = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX);
    let due_before = if force {
        Timestamp::from_micros(i64::MAX)
    } else {
        Timestamp::from_micros(now.micros().saturating_sub(interval_micros))
    };
    let claimed = platform
        .store
        .claim_registry_sync(source, now, due_before, now.plus(LEASE))
        .await?;
    let Some(mark) = claimed else {
        return Ok(SyncReport {
            source: source.to_owned(),
            synced: false,
            received: 0,
            requests: 0,
            skipped: 0,
            error: None,
        });
    };
    let mut progress = Progress::default();
    let result = fetch_changes(platform, fetch, source, mark, &mut progress).await;
    let error = result.err().map(|error| error.to_string());
    if let Some(error) = &error {
        tracing::warn!(registry = source, %error, "registry sync failed");
    }
    let outcome = RegistrySyncOutcome {
        // The mark moves only when every page was read, so that what a failed sync
        // missed is asked for again.
        updated_since: if error.is_none() {
            progress.newest
        } else {
            None
        },
        error: error.clone(),
        received: progress.received,
        requests: progress.requests,
        skipped: progress.skipped,
    };
    platform
        .store
        .finish_registry_sync(source, &outcome, Timestamp::now())
        .await?;
    Ok(SyncReport {
        source: source.to_owned(),
        synced: true,
        received: progress.received,
        requests: progress.requests,
        skipped: progress.skipped,
        error,
    })
}

#[derive(Default)]
struct Progress {
    newest: Option<Timestamp>,
    received: i64,
    requests: i64,
    skipped: i64,
}

/// Reads every page of what changed since `mark` and writes it.
async fn fetch_changes(
    platform: &Platform,
    fetch: &dyn RegistryFetch,
    source: &str,
    mark: Option<Timestamp>,
    progress: &mut Progress,
) -> Result<(), SyncError> {
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let url = page_url(source, cursor.as_deref(), mark)?;
        progress.requests += 1;
        let body = fetch.get(&url, PAGE_BYTES).await?;
        let now = Timestamp::now();
        let page = read_page(source, &body, now).map_err(|reason| SyncError::NotAList {
            url: url.clone(),
            reason,
        })?;
        progress.received += page.received;
        for (name, why) in &page.skipped {
            // One bad entry does not stop the others: it is counted and logged.
            progress.skipped += 1;
            let name = name.as_deref().unwrap_or_default();
            tracing::warn!(registry = source, name, %why, "registry entry skipped");
        }
        let entries = page.entries;
        // Dates far ahead were brought back to `now` by `entry_of`.
        progress.newest = entries
            .iter()
            .map(|e| e.updated_at)
            .chain(progress.newest)
            .max();
        let put = platform
            .store
            .put_registry_entries(&entries, now, platform.config.registry_max_entries)
            .await
            .map_err(SyncError::Store)?;
        if let Some(first) = put.over_cap.first() {
            // One line a page: a registry far past the cap would otherwise log each name.
            let skipped = put.over_cap.len();
            progress.skipped += i64::try_from(skipped).unwrap_or(i64::MAX);
            tracing::warn!(
                registry = source,
                skipped,
                first = first.as_str(),
                max_entries = platform.config.registry_max_entries,
                "new registry entries skipped: the registry is at its cap (--registry-max-entries)"
            );
        }
        match page.next_cursor {
            Some(next) if !next.is_empty() && cursor.as_ref() != Some(&next) => cursor = Some(next),
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// A page as read: the entries that read, the ones skipped (name if any, why), and where
/// the next page starts.
pub(super) struct Page {
    pub entries: Vec<guidepost_domain::RegistryEntry>,
    pub skipped: Vec<(Option<String>, super::EntryError)>,
    pub received: i64,
    pub next_cursor: Option<String>,
}

/// Reads a page of the list, each entry on its own so that a bad one is skipped alone.
pub(super) fn read_page(
    source: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<Page, serde_json::Error> {
    let list: ListPage = serde_json::from_slice(body)?;
    let mut page = Page {
        entries: Vec::with_capacity(list.servers.len()),
        skipped: Vec::new(),
        received: 0,
        next_cursor: list.metadata.and_then(|m| m.next_cursor),
    };
    for raw in &list.servers {
        page.received += 1;
        let read = serde_json::from_str::<Value>(raw.get()).map_err(super::EntryError::NotJson);
        match read.and_then(|item| super::entry_of(source, &item, now)) {
            Ok(entry) => page.entries.push(entry),
            Err(why) => page.skipped.push((name_of(raw), why)),
        }
    }
    Ok(page)
}

fn page_url(
    source: &str,
    cursor: Option<&str>,
    mark: Option<Timestamp>,
) -> Result<String, SyncError> {
    let mut url = url::Url::parse(&format!("{source}/v0.1/servers")).map_err(|reason| {
        SyncError::NotARegistry {
            registry: source.to_owned(),
            reason,
        }
    })?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("limit", &PAGE_LIMIT.to_string());
        if let Some(cursor) = cursor {
            query.append_pair("cursor", cursor);
        }
        if let Some(mark) = mark {
            query.append_pair("updated_since", &mark.to_rfc3339());
        }
    }
    Ok(url.into())
}
