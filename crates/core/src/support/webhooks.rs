//! Webhooks: organizations subscribe a URL to support events; each event is
//! written to the store's outbox with the change it announces, and a worker on any node
//! sends it, signed, retrying with backoff until the receiver answers 2xx or the attempts
//! run out.
//!
//! How a delivery leaves the host (the outbound fence, timeouts) is the transport's
//! business: core only knows [`WebhookTransport`], which the binary implements over the
//! fenced HTTP client.

use crate::{Caller, Permission};
use std::time::Duration;

use async_trait::async_trait;
use guidepost_domain::*;
use guidepost_store::NewWebhook;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use utoipa::ToSchema;

use crate::{CoreError, Platform};

const URL_MAX: usize = 2048;
/// Deliveries one worker pass takes at most.
const BATCH: u32 = 32;

/// What `POST /api/v1/webhooks` takes.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// Where deliveries are POSTed: an `https://…` URL on a public address, at most 2048
    /// characters (`http://` and private addresses only where the operator allows them).
    pub url: String,
    /// `support_request.created` and/or `support_request.updated`.
    #[schema(value_type = Vec<String>)]
    pub events: Vec<WebhookEvent>,
}

/// A new webhook with its secret, which is shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The signing secret (`whsec_…`). Store it now: it cannot be shown again.
    pub secret: String,
}

/// How the worker sends and retries.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// The wait after the first failed attempt; it doubles after each (at most an hour).
    pub backoff: Duration,
    /// Attempts before a delivery is given up on.
    pub max_attempts: u32,
    /// How long a node holds a delivery it took; longer than the transport's timeout.
    pub lease: Duration,
}

/// Sends one delivery; `Ok` is the receiver's HTTP status, `Err` why none came.
#[async_trait]
pub trait WebhookTransport: Send + Sync {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &str,
    ) -> Result<u16, DeliveryError>;
}

/// Why a delivery got no HTTP status; its text is stored on the delivery, which the
/// organization reads.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The outbound fence refused the URL before connecting.
    #[error("{0}")]
    Refused(String),
    /// The receiver did not answer: the connection's error, or a timeout.
    #[error("{0}")]
    NoAnswer(String),
}

pub(crate) fn validate_url(text: &str, allow_private: bool) -> Result<String, ValidationError> {
    let text = text.trim();
    let invalid = |message: &str| ValidationError::new("url", message);
    if text.len() > URL_MAX {
        return Err(invalid(&format!("must be at most {URL_MAX} characters")));
    }
    let url = url::Url::parse(text).map_err(|e| invalid(&format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid("must be an https:// (or http://) URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("must name a host"));
    }
    if crate::hosting::urls::carries_credentials(&url) {
        return Err(invalid(
            "must not carry credentials; the signature authenticates deliveries",
        ));
    }
    if !allow_private && let Some(refusal) = undeliverable(&url) {
        return Err(invalid(&refusal));
    }
    Ok(url.to_string())
}

/// Why no delivery to `url` could go out, when the URL alone says so: plain http, or an
/// address written in it that is not public (a name is resolved only when sending, by
/// the outbound fence, which refuses private addresses then).
fn undeliverable(url: &url::Url) -> Option<String> {
    const ALLOWED_BY: &str = "the operator allows it with --webhook-allow-private";
    if url.scheme() != "https" {
        return Some(format!(
            "must be an https:// URL: deliveries are not sent over plain http ({ALLOWED_BY})"
        ));
    }
    let address = match url.host()? {
        url::Host::Ipv4(v4) => std::net::IpAddr::V4(v4),
        url::Host::Ipv6(v6) => std::net::IpAddr::V6(v6),
        url::Host::Domain(name) => {
            let local = name == "localhost" || name.ends_with(".localhost");
            return local.then(|| {
                format!("names {name}, a local host: deliveries go to public addresses only ({ALLOWED_BY})")
            });
        }
    };
    (!guidepost_domain::is_public(address)).then(|| {
        format!("names {address}, which is not a public address: deliveries go to public addresses only ({ALLOWED_BY})")
    })
}

fn validate_events(events: &[WebhookEvent]) -> Result<Vec<WebhookEvent>, ValidationError> {
    let mut chosen: Vec<WebhookEvent> = Vec::new();
    for event in events {
        if !WebhookEvent::SUBSCRIBABLE.contains(event) {
            let message = format!("{event} cannot be subscribed to");
            return Err(ValidationError::new("events", message));
        }
        if !chosen.contains(event) {
            chosen.push(*event);
        }
    }
    if chosen.is_empty() {
        let message = "name at least one of support_request.created, support_request.updated";
        return Err(ValidationError::new("events", message));
    }
    Ok(chosen)
}

/// The sealing context of a webhook's secret: a sealed secret opens only on its webhook.
fn context(org: &OrgId, id: &WebhookId) -> String {
    format!("webhook:{org}:{id}")
}

pub async fn create(
    platform: &Platform,
    caller: &Caller,
    input: WebhookInput,
) -> Result<CreatedWebhook, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let url = validate_url(&input.url, platform.config.webhooks_allow_private)?;
    let events = validate_events(&input.events)?;
    if events.iter().any(|event| event.quotes_an_upstream()) {
        caller.require(Permission::Gateway)?;
    }
    let Some(key) = &platform.config.master_key else {
        let message = "cannot be created: this platform runs without a master key to keep the \
                       signing secret (start it with --master-key or GUIDEPOST_MASTER_KEY)";
        return Err(ValidationError::new("webhook", message).into());
    };
    let id = WebhookId::generate();
    let secret = random_token("whsec_");
    let new = NewWebhook {
        secret_sealed: key.seal(&secret, &context(org, &id)),
        id,
        org_id: org.clone(),
        url,
        events,
    };
    let webhook = platform
        .store
        .create_webhook(&new, Timestamp::now())
        .await?;
    audit_webhook(platform, caller, AuditAction::WebhookCreated, &webhook).await?;
    Ok(CreatedWebhook { webhook, secret })
}

async fn audit_webhook(
    platform: &Platform,
    caller: &Caller,
    action: AuditAction,
    webhook: &Webhook,
) -> Result<(), CoreError> {
    let object = crate::audit::Object {
        kind: "webhook",
        id: webhook.id.as_str(),
        name: &webhook.url,
    };
    let detail = serde_json::json!({"events": webhook.events});
    crate::audit::record(platform, caller, action, object, detail).await
}

pub async fn list(platform: &Platform, caller: &Caller) -> Result<Vec<Webhook>, CoreError> {
    let org = caller.org();
    Ok(platform.store.list_webhooks(org).await?)
}

pub async fn get(
    platform: &Platform,
    caller: &Caller,
    id: &WebhookId,
) -> Result<Webhook, CoreError> {
    let org = caller.org();
    Ok(platform.store.get_webhook(org, id).await?)
}

pub async fn delete(platform: &Platform, caller: &Caller, id: &WebhookId) -> Result<(), CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let webhook = platform.store.get_webhook(org, id).await?;
    platform.store.delete_webhook(org, id).await?;
    audit_webhook(platform, caller, AuditAction::WebhookDeleted, &webhook).await
}

pub async fn deliveries(
    platform: &Platform,
    caller: &Caller,
    id: &WebhookId,
    page: &PageRequest,
) -> Result<Page<WebhookDelivery>, CoreError> {
    let org = caller.org();
    platform.store.get_webhook(org, id).await?;
    Ok(platform
        .store
        .list_webhook_deliveries(org, id, page)
        .await?)
}

/// Queues a `ping` for one webhook, sent like any delivery, to try its receiver.
pub async fn ping(
    platform: &Platform,
    caller: &Caller,
    id: &WebhookId,
) -> Result<WebhookDelivery, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let data = serde_json::json!({"webhook_id": id});
    let now = Timestamp::now();
    Ok(platform
        .store
        .enqueue_webhook_event(org, id, WebhookEvent::Ping, &data, now)
        .await?)
}

/// One pass of the worker: sends every due delivery this node could take, at once, and
/// records each outcome. Returns how many it attempted.
pub async fn deliver_due(
    platform: &Platform,
    transport: std::sync::Arc<dyn WebhookTransport>,
    policy: &DeliveryPolicy,
) -> Result<usize, CoreError> {
    let now = Timestamp::now();
    let lease_until = now.plus(policy.lease);
    let claimed = platform
        .store
        .claim_webhook_deliveries(now, lease_until, BATCH)
        .await?;
    let count = claimed.len();
    let mut sending = tokio::task::JoinSet::new();
    for delivery in claimed {
        let (platform, transport, policy) = (platform.clone(), transport.clone(), policy.clone());
        let span = tracing::debug_span!(
            "webhook delivery",
            otel.kind = "client",
            guidepost.organization.id = %delivery.org_id,
            guidepost.webhook.id = %delivery.webhook_id,
            guidepost.delivery.id = %delivery.id,
            guidepost.delivery.attempt = delivery.attempts + 1,
        );
        sending.spawn(
            async move {
                let outcome = attempt(&platform, transport.as_ref(), &policy, &delivery).await;
                record(&platform, &delivery, &outcome).await;
            }
            .instrument(span),
        );
    }
    while sending.join_next().await.is_some() {}
    Ok(count)
}

async fn attempt(
    platform: &Platform,
    transport: &dyn WebhookTransport,
    policy: &DeliveryPolicy,
    delivery: &ClaimedDelivery,
) -> AttemptOutcome {
    let failed = |status_code: Option<u16>, error: String| {
        let attempt = delivery.attempts + 1;
        let retry_at = (attempt < policy.max_attempts)
            .then(|| Timestamp::now().plus(backoff(policy.backoff, attempt)));
        AttemptOutcome::Failed {
            status_code,
            error,
            retry_at,
        }
    };
    let Some(key) = &platform.config.master_key else {
        return failed(
            None,
            "this node runs without the master key that opens the webhook's secret".into(),
        );
    };
    let secret = match key.open(
        &delivery.secret_sealed,
        &context(&delivery.org_id, &delivery.webhook_id),
    ) {
        Ok(secret) => secret,
        Err(why) => {
            return failed(
                None,
                format!("the webhook's secret cannot be opened: {why}"),
            );
        }
    };
    let unix_seconds = Timestamp::now().micros() / 1_000_000;
    let headers = [
        ("content-type", "application/json".to_owned()),
        (
            SIGNATURE_HEADER,
            signature(&secret, unix_seconds, &delivery.payload),
        ),
    ];
    match transport
        .post(&delivery.url, &headers, &delivery.payload)
        .await
    {
        Ok(code) if (200..300).contains(&code) => AttemptOutcome::Delivered { status_code: code },
        Ok(code) => failed(Some(code), format!("the receiver answered {code}")),
        Err(error) => failed(None, error.to_string()),
    }
}

async fn record(platform: &Platform, delivery: &ClaimedDelivery, outcome: &AttemptOutcome) {
    let result = match outcome {
        AttemptOutcome::Delivered { .. } => "delivered",
        AttemptOutcome::Failed {
            retry_at: Some(_), ..
        } => "retrying",
        AttemptOutcome::Failed { retry_at: None, .. } => "failed",
    };
    metrics::counter!("guidepost_webhook_attempts_total", "result" => result).increment(1);
    if let AttemptOutcome::Failed { error, .. } = outcome {
        tracing::warn!(delivery = %delivery.id, webhook = %delivery.webhook_id, %error, result, "a webhook delivery failed");
    }
    let finished = platform
        .store
        .finish_webhook_delivery(&delivery.id, outcome, Timestamp::now())
        .await;
    if let Err(error) = finished {
        // The lease runs out and the delivery is sent again: at least once, never lost.
        tracing::error!(delivery = %delivery.id, %error, "a webhook delivery's outcome was not stored");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_at_the_border() {
        let check = |url: &str| validate_url(url, false);
        assert_eq!(
            check(" https://hooks.example.com/x ").unwrap(),
            "https://hooks.example.com/x"
        );
        assert!(check("ftp://example.com").is_err());
        assert!(check("https://user:pw@example.com/").is_err());
        assert!(check(&format!("https://example.com/{}", "a".repeat(URL_MAX))).is_err());
        assert!(check("not a url").is_err());
    }

    #[test]
    fn a_url_no_delivery_could_reach_is_refused_unless_the_operator_allows_it() {
        let refused = |url: &str| validate_url(url, false).unwrap_err().to_string();
        assert!(refused("http://hooks.example.com/x").contains("not sent over plain http"));
        for private in [
            "https://127.0.0.1/x",
            "https://10.0.0.8:8443/x",
            "https://[::1]/x",
            "https://[::ffff:192.168.1.1]/x",
            "https://169.254.169.254/latest",
        ] {
            let why = refused(private);
            assert!(why.contains("not a public address"), "{private}: {why}");
            assert!(why.contains("--webhook-allow-private"), "{why}");
        }
        assert!(refused("https://localhost:8080/x").contains("a local host"));
        assert!(refused("https://api.localhost/x").contains("a local host"));
        assert!(validate_url("https://8.8.8.8/x", false).is_ok());
        assert!(validate_url("https://hooks.localhost.example/x", false).is_ok());
        for allowed in ["http://127.0.0.1:9/hook", "https://localhost/x"] {
            assert!(validate_url(allowed, true).is_ok(), "{allowed}");
        }
    }

    #[test]
    fn events_are_deduplicated_and_ping_is_not_subscribable() {
        let both = [
            WebhookEvent::SupportRequestCreated,
            WebhookEvent::SupportRequestCreated,
        ];
        assert_eq!(
            validate_events(&both).unwrap(),
            vec![WebhookEvent::SupportRequestCreated]
        );
        assert!(validate_events(&[]).is_err());
        assert!(validate_events(&[WebhookEvent::Ping]).is_err());
    }
}
