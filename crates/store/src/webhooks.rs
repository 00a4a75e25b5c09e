//! Webhooks and their outbox.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// A webhook to create; its id is chosen by the caller, since its secret is sealed to it.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub id: WebhookId,
    pub org_id: OrgId,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub secret_sealed: String,
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_webhook(&self, webhook: &NewWebhook, now: Timestamp) -> Result<Webhook>;
    /// The organization's webhooks, oldest first.
    async fn list_webhooks(&self, org: &OrgId) -> Result<Vec<Webhook>>;
    async fn get_webhook(&self, org: &OrgId, id: &WebhookId) -> Result<Webhook>;
    /// Deletes the webhook and its deliveries.
    async fn delete_webhook(&self, org: &OrgId, id: &WebhookId) -> Result<()>;
    /// A webhook's deliveries, newest first.
    async fn list_webhook_deliveries(
        &self,
        org: &OrgId,
        webhook: &WebhookId,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>>;
    /// Queues `event` for one webhook, due now (a test delivery).
    async fn enqueue_webhook_event(
        &self,
        org: &OrgId,
        webhook: &WebhookId,
        event: WebhookEvent,
        data: &serde_json::Value,
        now: Timestamp,
    ) -> Result<WebhookDelivery>;
    /// Platform-wide, for the delivery worker: takes up to `limit` due deliveries of any
    /// organization, each held until `lease_until` so that no other node sends it.
    async fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>>;
    /// Platform-wide: records what an attempt at a claimed delivery met.
    async fn finish_webhook_delivery(
        &self,
        id: &WebhookDeliveryId,
        outcome: &AttemptOutcome,
        now: Timestamp,
    ) -> Result<()>;
}
