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

use crate::{CoreError, Platform};

/// Servers asked for per page.
const PAGE_LIMIT: u32 = 100;
/// The largest page read.
pub const PAGE_BYTES: usize = 4 * 1024 * 1024;
/// The most pages one sync reads (100,000 servers); the next sync goes on from there.
const MAX_PAGES: usize = 1000;
/// How long a node holds a registry's sync before another may take it over.
const LEASE: Duration = Duration::from_secs(600);

/// How the platform reaches a registry: the binary's fenced client.
#[async_trait]
pub trait RegistryFetch: Send + Sync {
    /// GETs `url` and answers its body, at most `limit` bytes, or why not.
    async fn get(&self, url: &str, limit: usize) -> Result<Vec<u8>, String>;
}

/// What one registry's sync did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub source: String,
    /// False when it was not due or another node was syncing it.
    pub synced: bool,
    pub received: i64,
    pub requests: i64,
    pub error: Option<String>,
}

#[derive(Deserialize)]
struct ListPage {
    #[serde(default)]
    servers: Vec<Value>,
    #[serde(default)]
    metadata: Option<PageMetadata>,
}

#[derive(Deserialize)]
struct PageMetadata {
    #[serde(default, rename = "nextCursor")]
    next_cursor: Option<String>,
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
            error: None,
        });
    };
    let mut progress = Progress::default();
    let result = fetch_changes(platform, fetch, source, mark, &mut progress).await;
    let error = result.err();
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
        error,
    })
}

#[derive(Default)]
struct Progress {
    newest: Option<Timestamp>,
    received: i64,
    requests: i64,
}

/// Reads every page of what changed since `mark` and writes it.
async fn fetch_changes(
    platform: &Platform,
    fetch: &dyn RegistryFetch,
    source: &str,
    mark: Option<Timestamp>,
    progress: &mut Progress,
) -> Result<(), String> {
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let url = page_url(source, cursor.as_deref(), mark)?;
        progress.requests += 1;
        let body = fetch.get(&url, PAGE_BYTES).await?;
        let page: ListPage = serde_json::from_slice(&body)
            .map_err(|e| format!("{url} did not answer a server list: {e}"))?;
        let now = Timestamp::now();
        let mut entries = Vec::with_capacity(page.servers.len());
        for item in &page.servers {
            progress.received += 1;
            match super::entry_of(source, item, now) {
                Ok(entry) => entries.push(entry),
                // One bad entry does not stop the others.
                Err(why) => tracing::warn!(registry = source, %why, "registry entry skipped"),
            }
        }
        progress.newest = entries
            .iter()
            .map(|e| e.updated_at)
            .chain(progress.newest)
            .max();
        platform
            .store
            .put_registry_entries(&entries, now)
            .await
            .map_err(|e| format!("could not store the entries: {e}"))?;
        match page.metadata.and_then(|m| m.next_cursor) {
            Some(next) if !next.is_empty() && cursor.as_ref() != Some(&next) => cursor = Some(next),
            _ => return Ok(()),
        }
    }
    Ok(())
}

fn page_url(source: &str, cursor: Option<&str>, mark: Option<Timestamp>) -> Result<String, String> {
    let mut url = url::Url::parse(&format!("{source}/v0.1/servers"))
        .map_err(|e| format!("{source} is not a registry URL: {e}"))?;
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
