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
    #[error("configuration: {0}")]
    Config(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}
