//! Webhooks and the outbox of their deliveries. An event is queued (`enqueue`) in the
//! transaction of the change it announces. Any node's worker claims due deliveries by
//! setting a lease in one conditional `UPDATE … RETURNING`, so one node sends each, and a
//! lease that runs out (a node that died mid-send) frees the delivery again: deliveries are
//! at least once, under a stable event id.

use super::*;
use crate::webhooks::NewWebhook;

const WEBHOOK_COLUMNS: &str = "id, org_id, url, events, created_at";
const DELIVERY_COLUMNS: &str = "id, webhook_id, event, event_id, status, attempts, \
     next_attempt_at, last_status_code, last_error, created_at, delivered_at";

fn webhook(row: &DbRow) -> Result<Webhook> {
    Ok(Webhook {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        url: text(row, "url")?,
        events: json_column(row, "events")?,
        created_at: time(row, "created_at")?,
    })
}

fn event(row: &DbRow) -> Result<WebhookEvent> {
    let event = text(row, "event")?;
    WebhookEvent::parse(&event).ok_or_else(|| corrupt("webhook event", &event))
}

fn delivery(row: &DbRow) -> Result<WebhookDelivery> {
    let status = text(row, "status")?;
    Ok(WebhookDelivery {
        id: Id::from_trusted(text(row, "id")?),
        webhook_id: Id::from_trusted(text(row, "webhook_id")?),
        event: event(row)?,
        event_id: text(row, "event_id")?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| corrupt("delivery status", &status))?,
        attempts: u32::try_from(row.try_get::<i32, _>("attempts")?).unwrap_or(0),
        next_attempt_at: opt_time(row, "next_attempt_at")?,
        last_status_code: row
            .try_get::<Option<i32>, _>("last_status_code")?
            .and_then(|code| u16::try_from(code).ok()),
        last_error: opt_text(row, "last_error")?,
        created_at: time(row, "created_at")?,
        delivered_at: opt_time(row, "delivered_at")?,
    })
}

/// The ids of the organization's webhooks that subscribe to `event` (or `only`, whatever
/// it subscribes to), oldest first. Every reader of "who hears this event" asks here, so
/// that the rule lives in one place.
pub(super) async fn subscribers<'e>(
    executor: impl sqlx::Executor<'e, Database = Db>,
    org: &OrgId,
    only: Option<&WebhookId>,
    event: WebhookEvent,
) -> Result<Vec<String>> {
    let found = sqlx::query(
        "SELECT id, events FROM webhooks WHERE org_id = $1 AND ($2 IS NULL OR id = $2) \
         ORDER BY created_at, id",
    )
    .bind(org.as_str())
    .bind(only.map(|id| id.as_str()))
    .fetch_all(executor)
    .await?;
    let mut ids = Vec::new();
    for row in &found {
        let events: Vec<WebhookEvent> = json_column(row, "events")?;
        if only.is_some() || events.contains(&event) {
            ids.push(text(row, "id")?);
        }
    }
    Ok(ids)
}

/// Queues `event` in `tx` for the organization's webhooks that subscribe to it (or for
/// `only`, whatever it subscribes to), due at once. The caller commits it with the event.
pub(super) async fn enqueue(
    store: &ThisStore,
    tx: &mut sqlx::Transaction<'static, Db>,
    org: &OrgId,
    only: Option<&WebhookId>,
    event: WebhookEvent,
    data: &impl serde::Serialize,
    now: Timestamp,
) -> Result<Vec<WebhookDeliveryId>> {
    store.count(1);
    let hearing = subscribers(traced(&mut **tx), org, only, event).await?;
    let event_id = new_event_id();
    let body = event_body(&event_id, event, now, data);
    let mut queued = Vec::new();
    for webhook in hearing {
        let id = WebhookDeliveryId::generate();
        store.count(1);
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, org_id, webhook_id, event, event_id, payload, \
             status, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(webhook)
        .bind(event.as_str())
        .bind(&event_id)
        .bind(&body)
        .bind(now.micros())
        .execute(traced(&mut **tx))
        .await?;
        queued.push(id);
    }
    Ok(queued)
}

#[async_trait]
impl WebhookStore for ThisStore {
    async fn create_webhook(&self, w: &NewWebhook, now: Timestamp) -> Result<Webhook> {
        let mut tx = self.begin_adding(&w.org_id, OrgCap::Webhooks).await?;
        let sql = format!(
            "INSERT INTO webhooks (id, org_id, url, events, secret_sealed, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {WEBHOOK_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(w.id.as_str())
            .bind(w.org_id.as_str())
            .bind(&w.url)
            .bind(to_json(&w.events))
            .bind(&w.secret_sealed)
            .bind(now.micros())
            .fetch_one(traced(&mut *tx))
            .await?;
        let created = webhook(&row)?;
        self.finish_adding(tx).await?;
        Ok(created)
    }

    async fn list_webhooks(&self, org: &OrgId) -> Result<Vec<Webhook>> {
        let sql = format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE org_id = $1 ORDER BY created_at, id"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .fetch_all(self.run())
            .await?;
        rows(found, webhook)
    }

    async fn get_webhook(&self, org: &OrgId, id: &WebhookId) -> Result<Webhook> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE org_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.run())
            .await?;
        webhook(&row.ok_or(StoreError::NotFound)?)
    }

    async fn delete_webhook(&self, org: &OrgId, id: &WebhookId) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM webhooks WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(id.as_str())
            .execute(self.run())
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_webhook_deliveries(
        &self,
        org: &OrgId,
        webhook: &WebhookId,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>> {
        let (before_time, before_id, limit) = page_bounds(page);
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE org_id = $1 AND webhook_id = $2 \
             AND (created_at < $3 OR (created_at = $3 AND id < $4) OR $4 = '') \
             ORDER BY created_at DESC, id DESC LIMIT $5"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(webhook.as_str())
            .bind(before_time)
            .bind(before_id)
            .bind(limit)
            .fetch_all(self.run())
            .await?;
        Ok(page_of(rows(found, delivery)?, page.limit, |d| Cursor {
            created_at: d.created_at,
            id: d.id.to_string(),
        }))
    }

    async fn enqueue_webhook_event(
        &self,
        org: &OrgId,
        webhook: &WebhookId,
        event: WebhookEvent,
        data: &serde_json::Value,
        now: Timestamp,
    ) -> Result<WebhookDelivery> {
        let mut tx = self.begin_write().await?;
        let queued = enqueue(self, &mut tx, org, Some(webhook), event, data, now).await?;
        let id = queued.into_iter().next().ok_or(StoreError::NotFound)?;
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1");
        self.count(2);
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_one(traced(&mut *tx))
            .await?;
        super::commit(tx).await?;
        delivery(&row)
    }

    async fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>> {
        // The outer conditions are checked again on each row as it is updated, so that two
        // nodes racing for one delivery cannot both take it (PostgreSQL re-reads a row
        // another transaction changed; SQLite has one writer).
        let claimed = sqlx::query(
            "UPDATE webhook_deliveries SET lease_until = $2 \
             WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' \
                 AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1) \
                 ORDER BY next_attempt_at LIMIT $3) \
             AND status = 'pending' AND (lease_until IS NULL OR lease_until < $1) \
             RETURNING id, org_id, webhook_id, payload, attempts, \
                 (SELECT url FROM webhooks w WHERE w.id = webhook_id) AS url, \
                 (SELECT secret_sealed FROM webhooks w WHERE w.id = webhook_id) AS secret_sealed",
        )
        .bind(now.micros())
        .bind(lease_until.micros())
        .bind(i64::from(limit))
        .fetch_all(self.run())
        .await?;
        claimed
            .iter()
            .map(|row| {
                Ok(ClaimedDelivery {
                    id: Id::from_trusted(text(row, "id")?),
                    org_id: Id::from_trusted(text(row, "org_id")?),
                    webhook_id: Id::from_trusted(text(row, "webhook_id")?),
                    url: text(row, "url")?,
                    secret_sealed: text(row, "secret_sealed")?,
                    payload: text(row, "payload")?,
                    attempts: u32::try_from(row.try_get::<i32, _>("attempts")?).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn finish_webhook_delivery(
        &self,
        id: &WebhookDeliveryId,
        outcome: &AttemptOutcome,
        now: Timestamp,
    ) -> Result<()> {
        let (status, code, error, retry_at, delivered_at) = match outcome {
            AttemptOutcome::Delivered { status_code } => (
                DeliveryStatus::Delivered,
                Some(*status_code),
                None,
                None,
                Some(now),
            ),
            AttemptOutcome::Failed {
                status_code,
                error,
                retry_at,
            } => {
                let status = match retry_at {
                    Some(_) => DeliveryStatus::Pending,
                    None => DeliveryStatus::Failed,
                };
                (status, *status_code, Some(error.as_str()), *retry_at, None)
            }
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, \
             last_status_code = $3, last_error = $4, next_attempt_at = $5, delivered_at = $6, \
             lease_until = NULL WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(status.as_str())
        .bind(code.map(i32::from))
        .bind(error)
        .bind(retry_at.map(Timestamp::micros))
        .bind(delivered_at.map(Timestamp::micros))
        .execute(self.run())
        .await?;
        Ok(())
    }
}
