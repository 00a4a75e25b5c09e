//! What the platform deletes on its own, and when (SPEC §6): sessions idle past the
//! timeout, and sign-in records an hour after they expired (a rotated refresh token stays
//! known until then, so that its reuse is still caught).

use guidepost_domain::Timestamp;

use crate::Platform;

/// How long expired sign-in records are kept, in seconds.
const AUTH_RECORDS_KEPT_AFTER_EXPIRY: i64 = 3600;

/// What one sweep deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub idle_sessions: u64,
    pub auth_records: u64,
}

/// Deletes what has outlived its retention. A part that fails is logged and counted as
/// nothing deleted; the next sweep tries again.
pub async fn sweep(platform: &Platform) -> Swept {
    let now = Timestamp::now();
    let idle = platform.config.session_idle_timeout.as_micros() as i64;
    let session_cutoff = Timestamp::from_micros(now.micros() - idle);
    let auth_cutoff = now.plus_seconds(-AUTH_RECORDS_KEPT_AFTER_EXPIRY);
    let idle_sessions = platform
        .store
        .delete_idle_sessions(session_cutoff)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "could not expire idle sessions");
            0
        });
    let auth_records = platform
        .store
        .delete_expired_auth_records(auth_cutoff)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "could not delete expired sign-in records");
            0
        });
    Swept {
        idle_sessions,
        auth_records,
    }
}
