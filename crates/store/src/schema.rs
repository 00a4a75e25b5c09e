//! The schema's version. Migrations run when a store connects; a database that a newer
//! Guidepost has migrated further is refused with both versions named (sqlx alone says
//! only that a migration "was previously applied but is missing"), before anything is
//! read or written with the wrong idea of its tables.

use std::time::Instant;

use sqlx::migrate::{Migrate, MigrateError, Migrator};

use crate::StoreError;

/// Applies the migrations the database behind `connection` lacks, or refuses a database
/// that a newer Guidepost migrated further ([`refusal`]).
///
/// An existing database that is behind is announced before and after, with the time it
/// took: a migration may move many rows (0030 moved a million recorded calls in 3 s on a
/// two-core host), and a start that says nothing for that long looks hung. A new database
/// is created quietly. `connection` should be one of its own whose slow-statement log is
/// off: sqlx would otherwise write a long migration's whole SQL as a warning.
pub(crate) async fn apply<C: Migrate>(
    connection: &mut C,
    known: &Migrator,
) -> Result<(), StoreError> {
    // Before the first migration there is no table to read: nothing is applied.
    let applied = connection
        .list_applied_migrations(&known.table_name)
        .await
        .ok()
        .and_then(|migrations| migrations.iter().map(|m| m.version).max());
    let to = latest(known);
    let behind = applied.filter(|from| *from < to);
    let started = Instant::now();
    if let Some(from) = behind {
        tracing::info!(
            from,
            to,
            "migrating the database's schema (a large database takes a while)"
        );
    }
    if let Err(error) = known.run_direct(None, connection, false).await {
        return Err(refusal(error, applied, known));
    }
    if let Some(from) = behind {
        let seconds = format!("{:.1}", started.elapsed().as_secs_f64());
        tracing::info!(from, to, %seconds, "migrated the database's schema");
    }
    Ok(())
}

/// What a failed migration run means: a newer schema, named as such, or the error itself.
/// `applied` is the highest version the database records, where it could be read.
fn refusal(error: MigrateError, applied: Option<i64>, known: &Migrator) -> StoreError {
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
