//! Registry entries and their sources' syncs.

use super::*;
use crate::registry::RegistryStore;

/// A name's latest version (its catalog row) with what its version row adds.
const ENTRY_SELECT: &str = "SELECT e.name, e.source, e.version, e.status, e.runtimes, \
     e.search_text, e.document, e.updated_at, e.versions, v.is_latest, v.published_at \
     FROM registry_entries e JOIN registry_versions v ON v.name = e.name AND v.version = e.version";
const VERSION_COLUMNS: &str =
    "name, source, version, status, is_latest, document, published_at, updated_at";

/// A version row (runtimes, searched text and the list of versions are the catalog
/// row's, left empty).
fn version_entry(row: &DbRow) -> Result<RegistryEntry> {
    let status = text(row, "status")?;
    Ok(RegistryEntry {
        name: text(row, "name")?,
        source: text(row, "source")?,
        version: text(row, "version")?,
        status: RegistryStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        runtimes: Vec::new(),
        search_text: String::new(),
        document: json_column(row, "document")?,
        updated_at: time(row, "updated_at")?,
        published_at: time(row, "published_at")?,
        is_latest: row.try_get("is_latest")?,
        versions: Vec::new(),
    })
}

fn entry(row: &DbRow) -> Result<RegistryEntry> {
    let versions = text(row, "versions")?;
    Ok(RegistryEntry {
        runtimes: text(row, "runtimes")?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        search_text: text(row, "search_text")?,
        versions: serde_json::from_str(&versions).map_err(|_| corrupt("versions", &versions))?,
        ..version_entry(row)?
    })
}

fn sync(row: &DbRow) -> Result<RegistrySync> {
    Ok(RegistrySync {
        source: text(row, "source")?,
        updated_since: opt_time(row, "updated_since")?,
        last_started_at: opt_time(row, "last_started_at")?,
        last_finished_at: opt_time(row, "last_finished_at")?,
        last_error: opt_text(row, "last_error")?,
        last_received: row.try_get("last_received")?,
        last_requests: row.try_get("last_requests")?,
        last_skipped: row.try_get("last_skipped")?,
        entries: row.try_get("entries")?,
    })
}

/// A word as a LIKE pattern matching it anywhere, its wildcards taken literally.
fn contains_pattern(word: &str) -> String {
    let escaped = word
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[async_trait]
impl RegistryStore for ThisStore {
    async fn put_registry_entries(
        &self,
        entries: &[RegistryEntry],
        now: Timestamp,
        max_entries: u64,
    ) -> Result<RegistryPut> {
        let mut tx = self.begin_write().await?;
        let mut put = RegistryPut::default();
        // Each source's entries, counted once per write (by the index on source) and
        // kept up to date as new names are written.
        let mut held: Vec<(&str, u64)> = Vec::new();
        for e in entries {
            let at = match held.iter().position(|(source, _)| *source == e.source) {
                Some(at) => at,
                None => {
                    self.count(1);
                    let count: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM registry_entries WHERE source = $1",
                    )
                    .bind(&e.source)
                    .fetch_one(&mut *tx)
                    .await?;
                    held.push((&e.source, u64::try_from(count).unwrap_or(0)));
                    held.len() - 1
                }
            };
            let room = held[at].1 < max_entries;
            match put_version(self, &mut tx, e, now, room).await? {
                Put::Written { new_name } => {
                    put.written += 1;
                    held[at].1 += u64::from(new_name);
                }
                Put::OtherSource => {}
                Put::OverCap => put.over_cap.push(e.name.clone()),
            }
        }
        super::commit(tx).await?;
        Ok(put)
    }

    async fn get_registry_entry(&self, name: &str) -> Result<RegistryEntry> {
        let sql = format!("{ENTRY_SELECT} WHERE e.name = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(self.run())
            .await?;
        entry(&row.ok_or(StoreError::NotFound)?)
    }

    async fn get_registry_version(&self, name: &str, version: &str) -> Result<RegistryEntry> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM registry_versions WHERE name = $1 AND version = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .bind(version)
            .fetch_optional(self.run())
            .await?;
        version_entry(&row.ok_or(StoreError::NotFound)?)
    }

    async fn search_registry_entries(&self, search: &RegistrySearch) -> Result<Vec<RegistryEntry>> {
        // One LIKE per word; their number is bounded by the caller.
        let mut conditions = vec!["($1 = '' OR runtimes LIKE $1)".to_owned()];
        for n in 0..search.words.len() {
            conditions.push(format!("search_text LIKE ${} ESCAPE '\\'", n + 4));
        }
        // The names are found in the index of names and searched text alone (the
        // documents stay unread), then only the page's rows are read.
        let sql = format!(
            "{ENTRY_SELECT} WHERE e.name IN \
             (SELECT name FROM registry_entries WHERE {} ORDER BY name LIMIT $2 OFFSET $3) \
             ORDER BY e.name",
            conditions.join(" AND ")
        );
        let runtime = search
            .runtime
            .as_ref()
            .map(|r| format!("% {r} %"))
            .unwrap_or_default();
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(runtime)
            .bind(i64::from(search.limit))
            .bind(i64::from(search.offset));
        for word in &search.words {
            query = query.bind(contains_pattern(word));
        }
        rows(query.fetch_all(self.run()).await?, entry)
    }

    async fn claim_registry_sync(
        &self,
        source: &str,
        now: Timestamp,
        due_before: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<Option<Timestamp>>> {
        sqlx::query(
            "INSERT INTO registry_syncs (source, last_received, last_requests) \
             VALUES ($1, 0, 0) ON CONFLICT (source) DO NOTHING",
        )
        .bind(source)
        .execute(self.run())
        .await?;
        // The conditions are checked on the row as it is updated, so that two nodes
        // racing for one source cannot both take it.
        let row = sqlx::query(
            "UPDATE registry_syncs SET lease_until = $4, last_started_at = $2 \
             WHERE source = $1 AND (lease_until IS NULL OR lease_until < $2) \
             AND (last_finished_at IS NULL OR last_finished_at < $3) \
             RETURNING updated_since",
        )
        .bind(source)
        .bind(now.micros())
        .bind(due_before.micros())
        .bind(lease_until.micros())
        .fetch_optional(self.run())
        .await?;
        row.map(|row| opt_time(&row, "updated_since")).transpose()
    }

    async fn finish_registry_sync(
        &self,
        source: &str,
        outcome: &RegistrySyncOutcome,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE registry_syncs SET lease_until = NULL, last_finished_at = $2, \
             last_error = $3, last_received = $4, last_requests = $5, \
             updated_since = COALESCE($6, updated_since), last_skipped = $7 \
             WHERE source = $1",
        )
        .bind(source)
        .bind(now.micros())
        .bind(outcome.error.as_deref())
        .bind(outcome.received)
        .bind(outcome.requests)
        .bind(outcome.updated_since.map(Timestamp::micros))
        .bind(outcome.skipped)
        .execute(self.run())
        .await?;
        Ok(())
    }

    async fn list_registry_syncs(&self) -> Result<Vec<RegistrySync>> {
        let found = sqlx::query(
            "SELECT source, updated_since, last_started_at, last_finished_at, last_error, \
             last_received, last_requests, last_skipped, \
             (SELECT COUNT(*) FROM registry_entries e WHERE e.source = s.source) AS entries \
             FROM registry_syncs s ORDER BY source",
        )
        .fetch_all(self.run())
        .await?;
        rows(found, sync)
    }
}

/// A kept version's (version, isLatest, published_at) as `compare_versions` reads it.
fn facts(
    (version, is_latest, published_at): &(String, Option<bool>, Timestamp),
) -> VersionFacts<'_> {
    VersionFacts {
        version,
        is_latest: *is_latest,
        published_at: *published_at,
    }
}

/// What became of one version.
enum Put {
    /// Written; `new_name` when its name was new (one more entry of its source).
    Written { new_name: bool },
    /// Not written: another source holds its name.
    OtherSource,
    /// Not written: its name is new and its source has no room for another.
    OverCap,
}

/// Writes one version of a server, unless another source holds its name (or the name is
/// new and `room` is false), and keeps the catalog row the name's latest version (by
/// `compare_versions`) with the list of its versions.
async fn put_version(
    store: &ThisStore,
    tx: &mut sqlx::Transaction<'_, Db>,
    e: &RegistryEntry,
    now: Timestamp,
    room: bool,
) -> Result<Put> {
    store.count(4);
    // A name belongs to the first source that wrote it.
    let owner: Option<String> =
        sqlx::query_scalar("SELECT source FROM registry_versions WHERE name = $1 LIMIT 1")
            .bind(&e.name)
            .fetch_optional(&mut **tx)
            .await?;
    match owner {
        Some(owner) if owner != e.source => return Ok(Put::OtherSource),
        None if !room => return Ok(Put::OverCap),
        _ => {}
    }
    let new_name = owner.is_none();
    if e.is_latest == Some(true) {
        // The registry names one latest version at a time.
        sqlx::query(
            "UPDATE registry_versions SET is_latest = FALSE \
             WHERE name = $1 AND version <> $2 AND is_latest",
        )
        .bind(&e.name)
        .bind(&e.version)
        .execute(&mut **tx)
        .await?;
    }
    let sql = format!(
        "INSERT INTO registry_versions ({VERSION_COLUMNS}, synced_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (name, version) DO UPDATE SET status = excluded.status, \
         is_latest = excluded.is_latest, document = excluded.document, \
         published_at = excluded.published_at, updated_at = excluded.updated_at, \
         synced_at = excluded.synced_at"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&e.name)
        .bind(&e.source)
        .bind(&e.version)
        .bind(e.status.as_str())
        .bind(e.is_latest)
        .bind(to_json(&e.document))
        .bind(e.published_at.micros())
        .bind(e.updated_at.micros())
        .bind(now.micros())
        .execute(&mut **tx)
        .await?;
    let found = sqlx::query(
        "SELECT version, is_latest, published_at FROM registry_versions WHERE name = $1",
    )
    .bind(&e.name)
    .fetch_all(&mut **tx)
    .await?;
    let mut versions = Vec::with_capacity(found.len());
    for row in &found {
        let is_latest: Option<bool> = row.try_get("is_latest")?;
        versions.push((text(row, "version")?, is_latest, time(row, "published_at")?));
    }
    versions.sort_by(|a, b| compare_versions(&facts(b), &facts(a)));
    let newest_first = to_json(&serde_json::json!(
        versions.iter().map(|v| &v.0).collect::<Vec<_>>()
    ));
    if versions.first().is_some_and(|newest| newest.0 != e.version) {
        store.count(1);
        sqlx::query("UPDATE registry_entries SET versions = $2 WHERE name = $1")
            .bind(&e.name)
            .bind(newest_first)
            .execute(&mut **tx)
            .await?;
        return Ok(Put::Written { new_name });
    }
    store.count(1);
    // Padded with spaces so that a runtime is matched as a whole word.
    let runtimes = format!(" {} ", e.runtimes.join(" "));
    sqlx::query(
        "INSERT INTO registry_entries (name, source, version, status, runtimes, search_text, \
         document, updated_at, synced_at, versions) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, \
         status = excluded.status, runtimes = excluded.runtimes, \
         search_text = excluded.search_text, document = excluded.document, \
         updated_at = excluded.updated_at, synced_at = excluded.synced_at, \
         versions = excluded.versions \
         WHERE registry_entries.source = excluded.source",
    )
    .bind(&e.name)
    .bind(&e.source)
    .bind(&e.version)
    .bind(e.status.as_str())
    .bind(runtimes)
    .bind(&e.search_text)
    .bind(to_json(&e.document))
    .bind(e.updated_at.micros())
    .bind(now.micros())
    .bind(newest_first)
    .execute(&mut **tx)
    .await?;
    Ok(Put::Written { new_name })
}
