//! The gateway's events for webhooks, written in the transaction of the change
//! they announce (the outbox): `upstream.failed` once when an upstream is marked failed,
//! `upstream.recovered` once it is ready again, and `tool.review_requested` when a
//! discovery newly holds definitions back for review.

use std::collections::HashMap;

use super::webhooks;
use super::*;

/// Writes the supervisor's view of an upstream; announces a failure once (remembered in
/// `failed_since`) and the recovery that ends it.
pub(super) async fn set_status(
    store: &ThisStore,
    org: &OrgId,
    id: &UpstreamId,
    status: UpstreamStatus,
    last_error: Option<&str>,
    last_fault: Option<&UpstreamFault>,
    restarts: i64,
) -> Result<()> {
    let now = Timestamp::now();
    let mut tx = store.begin_write().await?;
    store.count(1);
    let before = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT name, status, failed_since FROM upstreams WHERE org_id = $1 AND id = $2{LOCK_ROW}"
    )))
    .bind(org.as_str())
    .bind(id.as_str())
    .fetch_optional(traced(&mut *tx))
    .await?
    .ok_or(StoreError::NotFound)?;
    let was_failed = text(&before, "status")? == UpstreamStatus::Failed.as_str();
    let failed_since: Option<i64> = before.try_get("failed_since")?;
    // Failed is the end of the supervisor's restarts: it is left only by a restart on
    // request, so each entry into it is one failure. `failed_since` outlives the restart
    // (starting, then ready) so that the recovery is announced once it runs.
    let (event, failed_since) = match (status, failed_since) {
        (UpstreamStatus::Failed, since) if was_failed => (None, since),
        (UpstreamStatus::Failed, _) => (Some(WebhookEvent::UpstreamFailed), Some(now.micros())),
        (UpstreamStatus::Ready, Some(_)) => (Some(WebhookEvent::UpstreamRecovered), None),
        (_, since) => (None, since),
    };
    store.count(1);
    sqlx::query(
        "UPDATE upstreams SET status = $3, last_error = $4, restarts = $5, updated_at = $6, \
         failed_since = $7, last_fault = $8 WHERE org_id = $1 AND id = $2",
    )
    .bind(org.as_str())
    .bind(id.as_str())
    .bind(status.as_str())
    .bind(last_error)
    .bind(restarts)
    .bind(now.micros())
    .bind(failed_since)
    .bind(last_fault.map(UpstreamFault::to_stored))
    .execute(traced(&mut *tx))
    .await?;
    if let Some(event) = event {
        // Only a failure quotes the upstream's words (its subscribers may read them); a
        // recovery is news without them, even when the status keeps a reason (an upgrade
        // undone says why).
        let quoted = event.quotes_an_upstream();
        let data = UpstreamEventData {
            upstream_id: id.clone(),
            name: text(&before, "name")?,
            status,
            last_error: last_error.filter(|_| quoted).map(str::to_owned),
            restarts,
        };
        webhooks::enqueue(store, &mut tx, org, None, event, &data, now).await?;
    }
    store.count(1);
    super::commit(tx).await?;
    Ok(())
}

/// The (state, definition hash) of each definition of `kind` the upstream lists now, read
/// in `tx` before a discovery replaces them.
pub(super) async fn held_before(
    store: &ThisStore,
    tx: &mut sqlx::Transaction<'static, Db>,
    org: &OrgId,
    id: &UpstreamId,
    kind: DefinitionKind,
) -> Result<HashMap<String, (String, String)>> {
    store.count(1);
    let rows = sqlx::query(
        "SELECT name, state, definition_hash FROM upstream_tools \
         WHERE org_id = $1 AND upstream_id = $2 AND kind = $3",
    )
    .bind(org.as_str())
    .bind(id.as_str())
    .bind(kind.as_str())
    .fetch_all(traced(&mut **tx))
    .await?;
    rows.iter()
        .map(|row| {
            let held = (text(row, "state")?, text(row, "definition_hash")?);
            Ok((text(row, "name")?, held))
        })
        .collect()
}

/// Queues `tool.review_requested` in `tx` when the discovery holds back a definition that
/// was not held back as it is before (new and pending, newly quarantined, or changed).
pub(super) async fn announce_review(
    store: &ThisStore,
    tx: &mut sqlx::Transaction<'static, Db>,
    org: &OrgId,
    id: &UpstreamId,
    before: &HashMap<String, (String, String)>,
    tools: &[UpstreamTool],
) -> Result<()> {
    let held: Vec<HeldDefinition> = tools
        .iter()
        .filter(|tool| matches!(tool.state, ToolState::Pending | ToolState::Quarantined))
        .filter(|tool| {
            before.get(&tool.name).is_none_or(|(state, hash)| {
                state != tool.state.as_str() || *hash != tool.definition_hash
            })
        })
        .map(|tool| HeldDefinition {
            kind: tool.kind,
            name: tool.name.clone(),
            state: tool.state,
            definition_hash: tool.definition_hash.clone(),
            findings: tool.findings.len(),
        })
        .collect();
    if held.is_empty() {
        return Ok(());
    }
    store.count(1);
    let name: String =
        sqlx::query_scalar("SELECT name FROM upstreams WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_one(traced(&mut **tx))
            .await?;
    let data = ToolReviewEventData {
        upstream_id: id.clone(),
        upstream_name: name,
        count: held.len(),
        definitions: held.into_iter().take(HELD_DEFINITIONS_LISTED).collect(),
    };
    let event = WebhookEvent::ToolReviewRequested;
    webhooks::enqueue(store, tx, org, None, event, &data, Timestamp::now()).await?;
    Ok(())
}
