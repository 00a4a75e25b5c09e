//! What the platform deletes on its own, and when: sessions idle past the
//! timeout; sign-in records an hour after they expired (a rotated refresh token stays
//! known until then, so that its reuse is still caught); tool calls older than the
//! retention (`--retention-days`), in batches, and their hourly and daily rollups once the
//! whole UTC day is past the retention; client registrations never used for 30
//! days; anonymous end users that nothing refers to and that were not seen within the
//! retention; tasks past their time to live; quota counts of windows over a day old; approvals of
//! calls a day after they expired (a retried call asks for a new one); the gateway's audit events older than their
//! own retention (`--audit-retention-days`), in batches. Unauthenticated callers can
//! create tool calls, clients, anonymous end users and tasks, and an upstream causes
//! audit events, so none of them may grow without bound.

use guidepost_domain::{QuotaWindow, Timestamp};

use crate::Platform;

/// How long expired sign-in records are kept, in seconds.
const AUTH_RECORDS_KEPT_AFTER_EXPIRY: i64 = 3600;
/// How long an approval of a call is kept after it expired, in seconds.
const APPROVALS_KEPT_AFTER_EXPIRY: i64 = 24 * 3600;
/// How long a registered client that was never used is kept, in seconds.
const UNUSED_CLIENTS_KEPT: i64 = 30 * 24 * 3600;
/// Tool calls (and their rollups) deleted per statement, and statements per sweep: a sweep never holds the
/// database for long, and a backlog is worked off over a few minutes.
const TOOL_CALL_BATCH: u32 = 5000;
const TOOL_CALL_BATCHES_PER_SWEEP: usize = 20;
/// The same for audit events.
const AUDIT_EVENT_BATCH: u32 = 5000;
const AUDIT_EVENT_BATCHES_PER_SWEEP: usize = 20;

/// What one sweep deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub idle_sessions: u64,
    pub auth_records: u64,
    pub tool_calls: u64,
    pub tool_call_rollups: u64,
    pub unused_clients: u64,
    pub forgotten_end_users: u64,
    pub expired_tasks: u64,
    pub dashboard_sign_ins: u64,
    pub audit_events: u64,
    pub quota_counts: u64,
    pub expired_approvals: u64,
}

/// Deletes what has outlived its retention. A part that fails is logged and counted as
/// nothing deleted; the next sweep tries again.
pub async fn sweep(platform: &Platform) -> Swept {
    let now = Timestamp::now();
    let store = &platform.store;
    let idle = platform.config.session_idle_timeout.as_micros() as i64;
    let session_cutoff = Timestamp::from_micros(now.micros() - idle);
    let auth_cutoff = now.plus_seconds(-AUTH_RECORDS_KEPT_AFTER_EXPIRY);
    let kept_since = now.plus_seconds(-(platform.config.retention.as_secs() as i64));
    let clients_cutoff = now.plus_seconds(-UNUSED_CLIENTS_KEPT);
    let audit_kept_since = now.plus_seconds(-(platform.config.audit_retention.as_secs() as i64));
    let idle_sessions = store.delete_idle_sessions(session_cutoff).await;
    let auth_records = store.delete_expired_auth_records(auth_cutoff).await;
    let unused_clients = store.delete_unused_clients(clients_cutoff).await;
    let forgotten_end_users = store.delete_forgotten_end_users(kept_since).await;
    let expired_tasks = store.delete_expired_tasks(now).await;
    let dashboard_sign_ins = store.delete_expired_dashboard_state(now).await;
    // The longest quota window is a day: a count of a window that started a day ago or
    // more counts nothing any more.
    let quota_counts = store
        .delete_expired_quota_counts(now.plus_seconds(-QuotaWindow::Day.seconds()))
        .await;
    // Kept a day past their expiry, so that a late visit to an approval page says it
    // expired rather than that the link is unknown.
    let expired_approvals = store
        .delete_expired_approvals(now.plus_seconds(-APPROVALS_KEPT_AFTER_EXPIRY))
        .await;
    Swept {
        idle_sessions: counted(idle_sessions, "idle sessions"),
        auth_records: counted(auth_records, "expired sign-in records"),
        tool_calls: prune_in_batches(
            |limit| store.prune_tool_calls(kept_since, limit),
            TOOL_CALL_BATCH,
            TOOL_CALL_BATCHES_PER_SWEEP,
            "old tool calls",
        )
        .await,
        tool_call_rollups: prune_in_batches(
            |limit| store.prune_tool_call_rollups(kept_since, limit),
            TOOL_CALL_BATCH,
            TOOL_CALL_BATCHES_PER_SWEEP,
            "old tool call rollups",
        )
        .await,
        unused_clients: counted(unused_clients, "unused client registrations"),
        forgotten_end_users: counted(forgotten_end_users, "forgotten end users"),
        expired_tasks: counted(expired_tasks, "expired tasks"),
        dashboard_sign_ins: counted(dashboard_sign_ins, "ended dashboard sessions and codes"),
        audit_events: prune_in_batches(
            |limit| store.prune_audit_events(audit_kept_since, limit),
            AUDIT_EVENT_BATCH,
            AUDIT_EVENT_BATCHES_PER_SWEEP,
            "old audit events",
        )
        .await,
        quota_counts: counted(quota_counts, "expired quota counts"),
        expired_approvals: counted(expired_approvals, "expired approvals of calls"),
    }
}

/// Deletes old records a batch at a time, up to a bound per sweep.
async fn prune_in_batches<F, Fut>(prune: F, batch: u32, batches: usize, what: &str) -> u64
where
    F: Fn(u32) -> Fut,
    Fut: std::future::Future<Output = Result<u64, guidepost_store::StoreError>>,
{
    let mut deleted = 0;
    for _ in 0..batches {
        let pruned = counted(prune(batch).await, what);
        deleted += pruned;
        if pruned < u64::from(batch) {
            break;
        }
    }
    deleted
}

/// A part's count, or 0 after logging why it failed (the next sweep tries again).
fn counted(result: Result<u64, guidepost_store::StoreError>, what: &str) -> u64 {
    result.unwrap_or_else(|error| {
        tracing::warn!(%error, "could not delete {what}");
        0
    })
}
