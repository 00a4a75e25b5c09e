//! Registry entries and their sources' syncs.

use super::*;
use crate::registry::RegistryStore;

const ENTRY_COLUMNS: &str =
    "name, source, version, status, runtimes, search_text, document, updated_at";

fn entry(row: &DbRow) -> Result<RegistryEntry> {
    let status = text(row, "status")?;
    Ok(RegistryEntry {
        name: text(row, "name")?,
        source: text(row, "source")?,
        version: text(row, "version")?,
        status: RegistryStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        runtimes: text(row, "runtimes")?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        search_text: text(row, "search_text")?,
        document: json_column(row, "document")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn opt_time(row: &DbRow, column: &str) -> Result<Option<Timestamp>> {
    Ok(row
        .try_get::<Option<i64>, _>(column)?
        .map(Timestamp::from_micros))
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
    async fn put_registry_entries(&self, entries: &[RegistryEntry], now: Timestamp) -> Result<u64> {
        let sql = format!(
            "INSERT INTO registry_entries ({ENTRY_COLUMNS}, synced_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (name) DO UPDATE SET version = excluded.version, \
             status = excluded.status, runtimes = excluded.runtimes, \
             search_text = excluded.search_text, document = excluded.document, \
             updated_at = excluded.updated_at, synced_at = excluded.synced_at \
             WHERE registry_entries.source = excluded.source"
        );
        let mut tx = self.begin_write().await?;
        let mut written = 0;
        for e in entries {
            self.count(1);
            // Padded with spaces so that a runtime is matched as a whole word.
            let runtimes = format!(" {} ", e.runtimes.join(" "));
            let done = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&e.name)
                .bind(&e.source)
                .bind(&e.version)
                .bind(e.status.as_str())
                .bind(runtimes)
                .bind(&e.search_text)
                .bind(to_json(&e.document))
                .bind(e.updated_at.micros())
                .bind(now.micros())
                .execute(&mut *tx)
                .await?;
            written += done.rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }

    async fn get_registry_entry(&self, name: &str) -> Result<RegistryEntry> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM registry_entries WHERE name = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(self.run())
            .await?;
        entry(&row.ok_or(StoreError::NotFound)?)
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
            "SELECT {ENTRY_COLUMNS} FROM registry_entries WHERE name IN \
             (SELECT name FROM registry_entries WHERE {} ORDER BY name LIMIT $2 OFFSET $3) \
             ORDER BY name",
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
             updated_since = COALESCE($6, updated_since) WHERE source = $1",
        )
        .bind(source)
        .bind(now.micros())
        .bind(outcome.error.as_deref())
        .bind(outcome.received)
        .bind(outcome.requests)
        .bind(outcome.updated_since.map(Timestamp::micros))
        .execute(self.run())
        .await?;
        Ok(())
    }

    async fn list_registry_syncs(&self) -> Result<Vec<RegistrySync>> {
        let found = sqlx::query(
            "SELECT source, updated_since, last_started_at, last_finished_at, last_error, \
             last_received, last_requests, \
             (SELECT COUNT(*) FROM registry_entries e WHERE e.source = s.source) AS entries \
             FROM registry_syncs s ORDER BY source",
        )
        .fetch_all(self.run())
        .await?;
        rows(found, sync)
    }
}
