//! `walkthrough.completed`: the write that completes a walkthrough queues the
//! event in its own transaction (the outbox), once: only a write over progress that was
//! not completed announces it. Where no webhook hears of completions, there is nothing
//! to queue and the write is one statement.

use super::progress_writes::ProgressWrite;
use super::webhooks;
use super::*;

/// The conditional write of a progress row, through the group commit.
pub(super) async fn write_progress(
    store: &ThisStore,
    org: &OrgId,
    id: &ProgressId,
    revision: i64,
    state: &ProgressState,
) -> Result<Option<Progress>> {
    let write = ProgressWrite::advance(org, id, revision, state, Timestamp::now());
    Ok(store.progress_writes.write(write).await?.row())
}

/// Whether any of the organization's webhooks subscribes to `walkthrough.completed`.
async fn completions_heard(store: &ThisStore, org: &OrgId) -> Result<bool> {
    let event = WebhookEvent::WalkthroughCompleted;
    let hearing = webhooks::subscribers(store.run(), org, None, event).await?;
    Ok(!hearing.is_empty())
}

/// `update_progress` for a state that completes the walkthrough.
///
/// When no webhook of the organization hears of completions there is no event to queue,
/// and the write is the same single statement as any other advance (two round trips
/// instead of a five-statement transaction under the walkthrough mix). The webhooks are
/// read before the write, so a webhook created while this write runs is ordered after it
/// and does not get its event, as it would not had it been created a moment later.
pub(super) async fn complete(
    store: &ThisStore,
    org: &OrgId,
    id: &ProgressId,
    revision: i64,
    state: &ProgressState,
) -> Result<Option<Progress>> {
    if !completions_heard(store, org).await? {
        return write_progress(store, org, id, revision, state).await;
    }
    let now = Timestamp::now();
    let mut tx = store.begin_write().await?;
    store.count(1);
    let was: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT status FROM walkthrough_progress WHERE org_id = $1 AND id = $2 AND revision = $3{LOCK_ROW}"
    )))
    .bind(org.as_str())
    .bind(id.as_str())
    .bind(revision)
    .fetch_optional(traced(&mut *tx))
    .await?;
    let Some(was) = was else {
        // Someone wrote in between: the caller reads again and decides again.
        return Ok(None);
    };
    store.count(1);
    let written = ProgressWrite::advance(org, id, revision, state, now);
    let Some(written) = written.run_on(traced(&mut *tx)).await?.row() else {
        return Ok(None);
    };
    if was != ProgressStatus::Completed.as_str() {
        let data = WalkthroughCompletedEventData {
            walkthrough_id: written.walkthrough_id.clone(),
            version: written.version,
            server_id: written.server_id.clone(),
            end_user_id: written.end_user_id.clone(),
            started_at: written.started_at,
            completed_at: written.completed_at,
        };
        let event = WebhookEvent::WalkthroughCompleted;
        webhooks::enqueue(store, &mut tx, org, None, event, &data, now).await?;
    }
    store.count(1);
    super::commit(tx).await?;
    Ok(Some(written))
}
