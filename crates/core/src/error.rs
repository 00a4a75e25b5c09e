use guidepost_domain::ValidationError;
use guidepost_store::StoreError;
use thiserror::Error;

/// What a service can refuse, in terms its callers map to HTTP, MCP or CLI errors.
#[derive(Debug, Error)]
pub enum CoreError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    /// The store failed (connection, timeout, a broken row): nothing the caller can fix;
    /// the detail is for logs, never for clients.
    #[error("storage failed: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<StoreError> for CoreError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => CoreError::NotFound,
            StoreError::Conflict(message) => CoreError::Conflict(message),
            StoreError::Changed => CoreError::Conflict(
                "it was changed by another request meanwhile; read it again and retry".into(),
            ),
            StoreError::Rejected { field, message } => {
                CoreError::Invalid(ValidationError::new(field, message))
            }
            other => {
                // Counted for the store-errors alert in `deploy/`: only failures of the
                // store itself, not answers such as "not found" or "taken".
                metrics::counter!("guidepost_store_errors_total").increment(1);
                CoreError::Store(Box::new(other))
            }
        }
    }
}
