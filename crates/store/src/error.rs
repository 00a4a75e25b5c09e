use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the text names the field for the caller.
    #[error("{0}")]
    Conflict(String),
    /// A write that would break a rule of the data (e.g. a step list), named by field.
    #[error("{field}: {message}")]
    Rejected {
        field: &'static str,
        message: String,
    },
    /// A write conditional on the revision that was read found the row changed since
    /// (another writer came between): read it again, and merge again.
    #[error("changed by another write since it was read")]
    Changed,
    #[error("configuration: {0}")]
    Config(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The database was migrated by a newer Guidepost than this one.
    #[error(
        "the database's schema is at version {database}, newer than this Guidepost's \
         ({binary}): a newer Guidepost migrated it; run that version, or restore a backup \
         made for this one"
    )]
    NewerSchema { database: i64, binary: i64 },
}
