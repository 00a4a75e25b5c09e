//! The recorded calls' own SQLite file: `<database>-analytics`, attached to
//! every connection of a SQLite store as `analytics`, holding `tool_calls` and its two
//! rollup tables (`migrations/sqlite/0030_analytics_file.sql`).
//!
//! Why a file: SQLite lets one connection write to a file at a time. The analytics
//! writer's batches (hundreds of rows and their index entries, milliseconds each) held
//! that one writer, and every walkthrough progress write that arrived meanwhile waited
//! behind them: a fifth of the walkthrough mix's time at 16 users. A second file has a
//! lock of its own. Queries name the tables unqualified; SQLite finds them in the attached
//! file, since the main file no longer has them.
//!
//! What it costs: a transaction that writes both files (a person's erasure, a seeded
//! year) commits each file atomically but not the pair; a crash between the two commits
//! can leave one of them done (WAL mode has no journal spanning files). Erasure and
//! retention are idempotent and run again; nothing refers across the files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::{Result, StoreError};

/// What makes a file name the recorded calls' file of a database.
pub const SUFFIX: &str = "-analytics";

/// The recorded calls' file of the database file at `database`.
pub fn beside(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(SUFFIX);
    PathBuf::from(name)
}

/// The recorded calls' file of one store, as every connection attaches it.
#[derive(Clone)]
pub(crate) struct AnalyticsFile {
    /// What `ATTACH` opens: a path, or the URI of an in-memory database shared by the
    /// connections of the store's pool.
    target: Arc<str>,
}

impl AnalyticsFile {
    /// The file beside the database `options` opens. sqlx names an in-memory database
    /// `file:sqlx-in-memory-N` and opens it with a shared cache; its recorded calls are an
    /// in-memory database of the same name with the suffix, shared the same way.
    pub(crate) fn beside(options: &SqliteConnectOptions) -> Result<Self> {
        let database = options.get_filename();
        let name = database.to_str().ok_or_else(|| {
            StoreError::Config(format!("{} is not a UTF-8 path", database.display()))
        })?;
        let target = if name.starts_with("file:sqlx-in-memory-") {
            format!("{name}{SUFFIX}?mode=memory&cache=shared")
        } else if name.is_empty() || name.starts_with("file:") || name == ":memory:" {
            return Err(StoreError::Config(format!(
                "unsupported SQLite database {name:?}: name a file (sqlite:PATH), or \
                 sqlite::memory: for a database in memory"
            )));
        } else {
            beside(database).to_string_lossy().into_owned()
        };
        Ok(Self {
            target: target.into(),
        })
    }

    /// Attaches the file to a new connection (created if missing, in WAL mode like the
    /// database, with the same durability).
    pub(crate) async fn attach(self, connection: &mut SqliteConnection) -> sqlx::Result<()> {
        attach(&mut *connection, &self.target).await?;
        sqlx::query("PRAGMA analytics.journal_mode = WAL")
            .execute(&mut *connection)
            .await?;
        sqlx::query("PRAGMA analytics.synchronous = NORMAL")
            .execute(&mut *connection)
            .await?;
        Ok(())
    }
}

/// Attaches the file `target` to a connection as `analytics`, where every statement on
/// that connection finds the recorded calls' tables by their unqualified names. A
/// connection opened read-only attaches it read-only.
pub async fn attach<'c>(
    connection: impl sqlx::SqliteExecutor<'c>,
    target: &str,
) -> sqlx::Result<()> {
    sqlx::query("ATTACH DATABASE $1 AS analytics")
        .bind(target)
        .execute(connection)
        .await?;
    Ok(())
}

/// Refuses to migrate a database beside a recorded calls' file that is not its own: one
/// left by a database since deleted or replaced (the database is new, or from before the
/// recorded calls had a file of their own, while the file holds them already). Migrating
/// would fail on the existing tables, or mix two databases' calls.
pub(crate) async fn refuse_another_databases_file(pool: &sqlx::SqlitePool) -> Result<()> {
    let (in_analytics, in_main, main_is_new): (bool, bool, bool) = sqlx::query_as(
        "SELECT \
         EXISTS (SELECT 1 FROM analytics.sqlite_master WHERE type = 'table' AND name = 'tool_calls'), \
         EXISTS (SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'tool_calls'), \
         NOT EXISTS (SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'organizations')",
    )
    .fetch_one(pool)
    .await?;
    if in_analytics && (in_main || main_is_new) {
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'analytics'")
                .fetch_one(pool)
                .await?;
        return Err(StoreError::Config(format!(
            "{file} holds recorded calls, but not of this database (it is new, or from before \
             recorded calls had a file of their own): move {file} away, or put back the \
             database it belongs to. A backup is restored as a pair: `guidepost restore` \
             puts both files in place"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn the_file_sits_beside_the_database_and_memory_stays_in_memory() {
        let on_disk = SqliteConnectOptions::from_str("sqlite:/srv/g/guidepost.db").unwrap();
        assert_eq!(
            &*AnalyticsFile::beside(&on_disk).unwrap().target,
            "/srv/g/guidepost.db-analytics"
        );
        let in_memory = SqliteConnectOptions::from_str("sqlite::memory:").unwrap();
        let target = AnalyticsFile::beside(&in_memory).unwrap().target;
        assert!(
            target.starts_with("file:sqlx-in-memory-")
                && target.ends_with("-analytics?mode=memory&cache=shared"),
            "{target}"
        );
        let other = SqliteConnectOptions::from_str("sqlite::memory:").unwrap();
        assert_ne!(AnalyticsFile::beside(&other).unwrap().target, target);
    }
}
