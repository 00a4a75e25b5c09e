//! The webhook delivery worker: on every node, a loop that takes due deliveries
//! from the store's outbox and sends them through the outbound fence (public addresses
//! only, unless `--webhook-allow-private`), with a timeout. Which node sends a delivery
//! does not matter; the store's lease makes it one.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use guidepost_core::Platform;
use guidepost_core::support::webhooks::{self, DeliveryError, DeliveryPolicy, WebhookTransport};
use tokio_util::sync::CancellationToken;

/// How this node sends webhooks.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub allow_private: bool,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff: Duration,
    /// How often the outbox is looked at.
    pub poll: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout: Duration::from_secs(10),
            max_attempts: 10,
            backoff: Duration::from_secs(30),
            poll: Duration::from_millis(500),
        }
    }
}

impl WebhookSettings {
    fn policy(&self) -> DeliveryPolicy {
        DeliveryPolicy {
            backoff: self.backoff,
            max_attempts: self.max_attempts,
            // Past the timeout, so that a slow receiver's delivery is not taken twice.
            lease: self.timeout + Duration::from_secs(30),
        }
    }
}

/// POSTs deliveries with the fenced client. The fence's resolver keeps host names off
/// private addresses; an address written in the URL is checked here, since it is not
/// resolved.
struct FencedTransport {
    client: reqwest::Client,
    allow_private: bool,
}

impl FencedTransport {
    fn check(&self, url: &str) -> Result<(), guidepost_outbound::Refused> {
        let refusals = guidepost_outbound::Refusals {
            plain_http: "plain http is sent only with --webhook-allow-private",
            private_address: "webhooks are sent to public addresses only",
        };
        guidepost_outbound::check_literal(url, self.allow_private, &refusals)
    }
}

#[async_trait]
impl WebhookTransport for FencedTransport {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &str,
    ) -> Result<u16, DeliveryError> {
        self.check(url)
            .map_err(|refused| DeliveryError::Refused(refused.to_string()))?;
        let mut request = self.client.post(url).body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        match request.send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(error) => Err(DeliveryError::NoAnswer(guidepost_outbound::describe(
                &error,
            ))),
        }
    }
}

/// Sends due deliveries until `stop` is cancelled.
pub async fn run(platform: Platform, settings: WebhookSettings, stop: CancellationToken) {
    let transport: Arc<dyn WebhookTransport> = Arc::new(FencedTransport {
        client: guidepost_outbound::fenced_client(settings.allow_private, settings.timeout),
        allow_private: settings.allow_private,
    });
    let policy = settings.policy();
    let mut tick = tokio::time::interval(settings.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        if let Err(error) = webhooks::deliver_due(&platform, transport.clone(), &policy).await {
            tracing::warn!(%error, "could not take webhook deliveries");
        }
    }
}
