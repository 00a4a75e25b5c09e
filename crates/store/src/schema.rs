//! The schema's version. Migrations run when a store connects; a database that a newer
//! Guidepost has migrated further is refused with both versions named (sqlx alone says
//! only that a migration "was previously applied but is missing"), before anything is
//! read or written with the wrong idea of its tables.

use sqlx::migrate::{MigrateError, Migrator};

use crate::StoreError;

/// What a failed migration run means: a newer schema, named as such, or the error itself.
/// `applied` is the highest version the database records, where it could be read.
pub(crate) fn refusal(error: MigrateError, applied: Option<i64>, known: &Migrator) -> StoreError {
    let binary = latest(known);
    match (&error, applied) {
        (MigrateError::VersionMissing(_), Some(database)) if database > binary => {
            StoreError::NewerSchema { database, binary }
        }
        _ => StoreError::Migration(error),
    }
}

/// The highest version this binary's migrations reach.
pub(crate) fn latest(known: &Migrator) -> i64 {
    known.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The statement that reads the highest version a database records (the same on both
/// backends).
pub(crate) const APPLIED: &str = "SELECT MAX(version) FROM _sqlx_migrations";
