//! Webhooks: an organization's subscriptions to support events, the deliveries
//! of its outbox, and the signature its receivers check.
//!
//! The signature is Stripe's scheme: `Guidepost-Signature: t={unix seconds},v1={hex}`,
//! where the hex is HMAC-SHA256 under the webhook's secret over `{t}.{body}`. Signing the
//! time with the body lets a receiver refuse replays of old deliveries.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;

use crate::{OrgId, Timestamp, WebhookDeliveryId, WebhookId};

/// The header that carries a delivery's signature.
pub const SIGNATURE_HEADER: &str = "Guidepost-Signature";

/// What a webhook can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum WebhookEvent {
    #[serde(rename = "support_request.created")]
    SupportRequestCreated,
    #[serde(rename = "support_request.updated")]
    SupportRequestUpdated,
    /// An upstream was marked failed (it crashed past its restart limit); once per
    /// failure. Data: [`UpstreamEventData`].
    #[serde(rename = "upstream.failed")]
    UpstreamFailed,
    /// A failed upstream runs again. Data: [`UpstreamEventData`].
    #[serde(rename = "upstream.recovered")]
    UpstreamRecovered,
    /// A discovery held definitions back for review (new and pending, or quarantined).
    /// Data: [`ToolReviewEventData`].
    #[serde(rename = "tool.review_requested")]
    ToolReviewRequested,
    /// An end user completed a walkthrough. Data: [`WalkthroughCompletedEventData`].
    #[serde(rename = "walkthrough.completed")]
    WalkthroughCompleted,
    /// An upstream refused to refresh a connection's tokens: its owner must connect
    /// again; once per refusal. Data: [`ConnectionEventData`].
    #[serde(rename = "connection.needs_reconnect")]
    ConnectionNeedsReconnect,
    /// Sent only on request (`POST /api/v1/webhooks/{id}/test`), to try a receiver.
    /// Somebody sent feedback through `send_feedback`. Data: [`Feedback`](crate::Feedback).
    #[serde(rename = "feedback.created")]
    FeedbackCreated,
    /// A call waits for a member's approval (a call-time policy asked for one). Data:
    /// [`CallApproval`](crate::CallApproval).
    #[serde(rename = "approval.requested")]
    ApprovalRequested,
    #[serde(rename = "ping")]
    Ping,
}

impl WebhookEvent {
    /// The events a webhook may subscribe to.
    pub const SUBSCRIBABLE: &'static [WebhookEvent] = &[
        WebhookEvent::SupportRequestCreated,
        WebhookEvent::SupportRequestUpdated,
        WebhookEvent::UpstreamFailed,
        WebhookEvent::UpstreamRecovered,
        WebhookEvent::ToolReviewRequested,
        WebhookEvent::WalkthroughCompleted,
        WebhookEvent::ConnectionNeedsReconnect,
        WebhookEvent::FeedbackCreated,
        WebhookEvent::ApprovalRequested,
    ];

    /// Whether its data quotes an upstream's own words (a failed upstream's last error, an
    /// authorization server's refusal), which only whoever may read its logs reads.
    pub fn quotes_an_upstream(self) -> bool {
        self.upstream_words().is_some()
    }

    /// The field of its data that quotes an upstream's own words, if one does.
    pub fn upstream_words(self) -> Option<&'static str> {
        match self {
            WebhookEvent::UpstreamFailed => Some("last_error"),
            WebhookEvent::ConnectionNeedsReconnect => Some("reason"),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::SupportRequestCreated => "support_request.created",
            WebhookEvent::SupportRequestUpdated => "support_request.updated",
            WebhookEvent::UpstreamFailed => "upstream.failed",
            WebhookEvent::UpstreamRecovered => "upstream.recovered",
            WebhookEvent::ToolReviewRequested => "tool.review_requested",
            WebhookEvent::WalkthroughCompleted => "walkthrough.completed",
            WebhookEvent::ConnectionNeedsReconnect => "connection.needs_reconnect",
            WebhookEvent::FeedbackCreated => "feedback.created",
            WebhookEvent::ApprovalRequested => "approval.requested",
            WebhookEvent::Ping => "ping",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::SUBSCRIBABLE
            .iter()
            .copied()
            .chain([Self::Ping])
            .find(|event| event.as_str() == text)
    }
}

impl std::fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

string_enum! {
    /// Where a delivery is: waiting for its (next) attempt, received, or given up on.
    DeliveryStatus {
        Pending => "pending",
        Delivered => "delivered",
        Failed => "failed",
    }
}

/// An organization's webhook. Its secret is shown once, when it is created, and kept
/// sealed; it is not part of this record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Webhook {
    #[schema(value_type = String)]
    pub id: WebhookId,
    #[serde(skip)]
    pub org_id: OrgId,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub created_at: Timestamp,
}

/// One event on its way to one webhook, with what its attempts met.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookDelivery {
    #[schema(value_type = String)]
    pub id: WebhookDeliveryId,
    #[schema(value_type = String)]
    pub webhook_id: WebhookId,
    pub event: WebhookEvent,
    /// The `id` of the event in the body; the same on every attempt, so that a receiver
    /// can drop a delivery it has already handled.
    pub event_id: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// When the next attempt is due, while `pending`.
    pub next_attempt_at: Option<Timestamp>,
    /// The receiver's HTTP status on the last attempt, if it answered.
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

/// A delivery taken by one node's worker, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: WebhookDeliveryId,
    pub org_id: OrgId,
    pub webhook_id: WebhookId,
    pub url: String,
    pub secret_sealed: String,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// The data of `upstream.failed` and `upstream.recovered`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpstreamEventData {
    #[schema(value_type = String)]
    pub upstream_id: crate::UpstreamId,
    pub name: String,
    /// `failed`, or (recovered) `ready`.
    #[schema(value_type = String)]
    pub status: crate::UpstreamStatus,
    /// Why it failed (its last error), when known; never in `upstream.recovered`.
    pub last_error: Option<String>,
    /// Restarts since it was last started on request.
    pub restarts: i64,
}

/// One definition a discovery held back for review.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HeldDefinition {
    /// `tool`, `prompt`, `resource` or `resource_template`.
    #[schema(value_type = String)]
    pub kind: crate::DefinitionKind,
    /// The upstream's own name for it.
    pub name: String,
    /// `pending` (new, waiting for an administrator) or `quarantined` (changed since it
    /// was approved, or flagged by the scanner).
    #[schema(value_type = String)]
    pub state: crate::ToolState,
    pub definition_hash: String,
    /// How many findings the scanner made in it.
    pub findings: usize,
}

/// The data of `tool.review_requested`: the definitions one discovery of one upstream
/// newly held back (at most [`HELD_DEFINITIONS_LISTED`]; `count` counts them all).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ToolReviewEventData {
    #[schema(value_type = String)]
    pub upstream_id: crate::UpstreamId,
    pub upstream_name: String,
    pub count: usize,
    pub definitions: Vec<HeldDefinition>,
}

/// The most held definitions one `tool.review_requested` event lists.
pub const HELD_DEFINITIONS_LISTED: usize = 50;

/// The data of `connection.needs_reconnect`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectionEventData {
    #[schema(value_type = String)]
    pub upstream_id: crate::UpstreamId,
    pub upstream_name: String,
    /// Whose connection: `organization`, or the end user's id (`eu_…`).
    pub owner: String,
    /// What the upstream's authorization server said when it refused the refresh.
    pub reason: String,
}

/// The data of `walkthrough.completed`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WalkthroughCompletedEventData {
    #[schema(value_type = String)]
    pub walkthrough_id: crate::WalkthroughId,
    /// The published version the person completed.
    pub version: i64,
    #[schema(value_type = String)]
    pub server_id: crate::ServerId,
    #[schema(value_type = String)]
    pub end_user_id: crate::EndUserId,
    pub started_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

/// What an attempt met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx answer.
    Delivered { status_code: u16 },
    /// Another answer, or none; `retry_at` is when to try again, `None` to give up.
    Failed {
        status_code: Option<u16>,
        error: String,
        retry_at: Option<Timestamp>,
    },
}

/// The body of a delivery: `{id, type, created_at, data}`. `id` names the event.
pub fn event_body(
    event_id: &str,
    event: WebhookEvent,
    at: Timestamp,
    data: &impl Serialize,
) -> String {
    serde_json::json!({
        "id": event_id,
        "type": event,
        "created_at": at,
        "data": data,
    })
    .to_string()
}

/// A new event id: `evt_` and 40 random characters.
pub fn new_event_id() -> String {
    crate::random_token("evt_")
}

/// The `Guidepost-Signature` value for `body` sent at `unix_seconds`.
pub fn signature(secret: &str, unix_seconds: i64, body: &str) -> String {
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac(secret, unix_seconds, body))
    )
}

/// Whether `header` is a valid signature of `body` under `secret` (constant-time).
pub fn verify_signature(secret: &str, header: &str, body: &str) -> bool {
    let mut time = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => time = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let Some(time) = time else { return false };
    signatures.iter().any(|candidate| {
        let mut check = keyed(secret);
        check.update(format!("{time}.").as_bytes());
        check.update(body.as_bytes());
        check.verify_slice(candidate).is_ok()
    })
}

fn keyed(secret: &str) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length")
}

fn mac(secret: &str, unix_seconds: i64, body: &str) -> Vec<u8> {
    let mut mac = keyed(secret);
    mac.update(format!("{unix_seconds}.").as_bytes());
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// How long to wait after failed attempt number `attempt` (1-based): `base` doubled each
/// time, at most an hour.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
    base.saturating_mul(factor).min(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let header = signature("whsec_test", 1_700_000_000, "{\"a\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify_signature("whsec_test", &header, "{\"a\":1}"));
        assert!(!verify_signature("whsec_test", &header, "{\"a\":2}"));
        assert!(!verify_signature("whsec_other", &header, "{\"a\":1}"));
        let moved = header.replace("t=1700000000", "t=1700000001");
        assert!(!verify_signature("whsec_test", &moved, "{\"a\":1}"));
        assert!(!verify_signature("whsec_test", "v1=00", "{\"a\":1}"));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::from_secs(10);
        assert_eq!(backoff(base, 1), Duration::from_secs(10));
        assert_eq!(backoff(base, 2), Duration::from_secs(20));
        assert_eq!(backoff(base, 4), Duration::from_secs(80));
        assert_eq!(backoff(base, 40), Duration::from_secs(3600));
    }

    #[test]
    fn events_read_back_as_written() {
        for event in WebhookEvent::SUBSCRIBABLE
            .iter()
            .copied()
            .chain([WebhookEvent::Ping])
        {
            assert_eq!(WebhookEvent::parse(event.as_str()), Some(event));
            assert_eq!(serde_json::to_value(event).unwrap(), event.as_str());
        }
        assert_eq!(WebhookEvent::parse("support_request.deleted"), None);
    }
}
