//! Backups. A SQLite database is copied while it serves with `VACUUM INTO`
//! (one read transaction: the copy is consistent, and writers go on meanwhile); a copy is
//! checked before it is restored (SQLite's `integrity_check`, and a schema no newer than
//! this binary's); and any database's schema version can be compared with this binary's
//! (PostgreSQL after `pg_restore`). PostgreSQL is backed up with its own tools
//! (`pg_dump`/`pg_restore`, in docs/operator/backups.md).
//!
//! A SQLite database is two files since migration 30: the database and the recorded
//! calls' file beside it (`analytics_file`). A backup is two files named the same way,
//! `FILE` and `FILE-analytics`, each copied in a read transaction of its own (nothing
//! refers across them; the recorded calls' copy may hold calls answered after the
//! database's copy began).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::analytics_file;
use crate::{Result, StoreError, schema};

/// The migration that moved the recorded calls to a file of their own: a copy at this
/// version or later is two files.
const ANALYTICS_FILE_MIGRATION: i64 = 30;

/// A database's schema version beside the one this binary's migrations reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaVersions {
    /// The highest migration the database records; `None` when it records none (empty).
    pub database: Option<i64>,
    pub binary: i64,
}

impl SchemaVersions {
    /// Refuses a database a newer Guidepost migrated, with both versions named.
    pub fn refuse_newer(self) -> Result<Self> {
        match self.database {
            Some(database) if database > self.binary => Err(StoreError::NewerSchema {
                database,
                binary: self.binary,
            }),
            _ => Ok(self),
        }
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// What to tell someone who asks for a copy of a PostgreSQL database.
pub const PG_DUMP_HINT: &str = "a PostgreSQL database is backed up with pg_dump \
     (pg_dump --format=custom --file=guidepost.dump \"$GUIDEPOST_DATABASE_URL\") and restored \
     with pg_restore; then `guidepost backup --check` confirms its schema version (see the README)";

/// The file of a `sqlite:` URL.
pub fn sqlite_path(url: &str) -> Result<PathBuf> {
    if is_postgres(url) {
        return Err(StoreError::Config(PG_DUMP_HINT.to_owned()));
    }
    let options = SqliteConnectOptions::from_str(url)?;
    Ok(options.get_filename().to_path_buf())
}

async fn open_sqlite(path: &Path, read_only: bool) -> Result<sqlx::SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .read_only(read_only)
        .busy_timeout(Duration::from_secs(10));
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

/// Copies the SQLite database of `url` to `to` (which must not exist) while it may be
/// serving; returns the copy's schema versions. Refuses a PostgreSQL URL, pointing at
/// `pg_dump`.
pub async fn backup_sqlite(url: &str, to: &Path) -> Result<SchemaVersions> {
    let from = sqlite_path(url)?;
    if to.exists() {
        return Err(StoreError::Config(format!(
            "{} exists already: a backup never overwrites a file",
            to.display()
        )));
    }
    let (analytics_from, analytics_to) =
        (analytics_file::beside(&from), analytics_file::beside(to));
    if analytics_to.exists() {
        return Err(StoreError::Config(format!(
            "{} exists already: a backup never overwrites a file",
            analytics_to.display()
        )));
    }
    let pool = open_sqlite(&from, false).await?;
    let copied = copy_into(&pool, &from, to, &analytics_from, &analytics_to).await;
    pool.close().await;
    if copied.is_err() {
        // No half of a backup is left to be mistaken for one.
        let _ = std::fs::remove_file(to);
        let _ = std::fs::remove_file(&analytics_to);
    }
    copied?;
    check_sqlite_copy(to).await
}

/// `VACUUM INTO` the database, then the recorded calls' file if there is one.
async fn copy_into(
    pool: &sqlx::SqlitePool,
    from: &Path,
    to: &Path,
    analytics_from: &Path,
    analytics_to: &Path,
) -> Result<()> {
    sqlx::query("VACUUM main INTO $1")
        .bind(utf8(to)?)
        .execute(pool)
        .await?;
    if !analytics_from.exists() {
        return Ok(());
    }
    // The pool has one connection: the file stays attached for the next statement.
    analytics_file::attach(pool, utf8(analytics_from)?).await?;
    sqlx::query("VACUUM analytics INTO $1")
        .bind(utf8(analytics_to)?)
        .execute(pool)
        .await
        .map_err(|error| {
            StoreError::Config(format!(
                "copying {} (the recorded calls of {}): {error}",
                analytics_from.display(),
                from.display()
            ))
        })?;
    Ok(())
}

fn utf8(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| StoreError::Config(format!("{} is not a UTF-8 path", path.display())))
}

/// Checks a SQLite copy before it is restored: it opens, SQLite's `integrity_check` finds
/// nothing wrong, and a newer Guidepost did not migrate it. Opened read-only: nothing is
/// written to it.
pub async fn check_sqlite_copy(path: &Path) -> Result<SchemaVersions> {
    if !path.is_file() {
        return Err(StoreError::Config(format!(
            "{} is not a file",
            path.display()
        )));
    }
    let pool = open_sqlite(path, true).await?;
    let analytics = analytics_file::beside(path);
    if analytics.is_file() {
        // Attached read-only, as the copy is opened: the integrity check reads both.
        analytics_file::attach(&pool, utf8(&analytics)?).await?;
    }
    let problems: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&pool)
        .await?;
    if problems != ["ok"] {
        pool.close().await;
        let shown: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
        return Err(StoreError::Corrupt(format!(
            "{} fails SQLite's integrity check: {}",
            path.display(),
            shown.join("; ")
        )));
    }
    let database = version_of_sqlite(&pool).await;
    pool.close().await;
    let database = database?.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{} is not a Guidepost database (no migrations recorded)",
            path.display()
        ))
    })?;
    if database >= ANALYTICS_FILE_MIGRATION && !analytics.is_file() {
        return Err(StoreError::Corrupt(format!(
            "{} is missing: a copy of a database at schema version {database} is two files, \
             {} and the recorded calls beside it",
            analytics.display(),
            path.display()
        )));
    }
    SchemaVersions {
        database: Some(database),
        binary: schema::latest(&crate::sqlite::MIGRATIONS),
    }
    .refuse_newer()
}

async fn version_of_sqlite(pool: &sqlx::SqlitePool) -> Result<Option<i64>> {
    let recorded: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(pool)
    .await?;
    if recorded.is_none() {
        return Ok(None);
    }
    Ok(sqlx::query_scalar(schema::APPLIED).fetch_one(pool).await?)
}

/// The schema version of the database at `url` beside this binary's, read without
/// migrating anything (`guidepost backup --check`, after `pg_restore` or a restore).
pub async fn schema_versions(url: &str) -> Result<SchemaVersions> {
    if is_postgres(url) {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        let recorded: Option<String> =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
                .fetch_one(&pool)
                .await?;
        let database = match recorded {
            Some(_) => sqlx::query_scalar(schema::APPLIED).fetch_one(&pool).await?,
            None => None,
        };
        pool.close().await;
        return Ok(SchemaVersions {
            database,
            binary: schema::latest(&crate::postgres::MIGRATIONS),
        });
    }
    let pool = open_sqlite(&sqlite_path(url)?, true).await?;
    let database = version_of_sqlite(&pool).await;
    pool.close().await;
    Ok(SchemaVersions {
        database: database?,
        binary: schema::latest(&crate::sqlite::MIGRATIONS),
    })
}
