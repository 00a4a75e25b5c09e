//! Updates merged over what is stored: a PATCH names some fields, the service reads the
//! row, merges and checks, and writes the whole row back. Two such updates at once would
//! each write back what the other changed; so the write is conditional on the revision
//! that was read (`updated_at`), and an update that finds the row changed under it reads,
//! merges and checks again.

use std::future::Future;

use guidepost_domain::Timestamp;
use guidepost_store::StoreError;

use crate::CoreError;

/// How many times an update is merged before it gives up with a conflict: each retry
/// means that another write landed between its read and its write.
const ATTEMPTS: usize = 5;

/// Runs `attempt` (read, merge, check, conditional write) until its write lands on the
/// revision it read; an attempt answers `None` when it did not.
pub(crate) async fn merged_until_current<T, Attempt>(
    mut attempt: impl FnMut() -> Attempt,
) -> Result<T, CoreError>
where
    Attempt: Future<Output = Result<Option<T>, CoreError>>,
{
    for _ in 0..ATTEMPTS {
        if let Some(written) = attempt().await? {
            return Ok(written);
        }
    }
    Err(StoreError::Changed.into())
}

/// What a refusal of [`unchanged_since_seen`] says, for a form to find it by.
pub const CHANGED_SINCE_SEEN: &str = "was changed since this page was opened";

/// Refuses an update from a page that showed `what` at revision `seen` (its `updated_at`)
/// when it changed since: a stale form posts every field, and would write them all back
/// over someone else's change. No `seen` (the API's PATCH, which names its fields): no
/// check.
pub(crate) fn unchanged_since_seen(
    what: &str,
    seen: Option<Timestamp>,
    current: Timestamp,
) -> Result<(), CoreError> {
    if seen.is_none_or(|seen| seen == current) {
        return Ok(());
    }
    Err(CoreError::Conflict(format!(
        "This {what} {CHANGED_SINCE_SEEN} (in another tab, or by someone else). The form \
         shows what you sent and the page what is saved now: save again to write yours over \
         it."
    )))
}

/// A conditional write's outcome for [`merged_until_current`]: `None` when the row changed
/// since it was read.
pub(crate) fn unless_changed<T>(written: Result<T, StoreError>) -> Result<Option<T>, CoreError> {
    match written {
        Err(StoreError::Changed) => Ok(None),
        written => Ok(Some(written?)),
    }
}
