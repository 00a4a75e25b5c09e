//! Registry sync: on every node, a loop that syncs the operator's registries
//! (`--registry-url`) at start and whenever one is due (`--registry-sync-interval`);
//! the store's lease makes one node sync each registry at a time. Registries are reached
//! through the outbound fence (https and public addresses only, unless
//! `--registry-allow-private`), with a time limit per request and a size limit per page.

use std::time::Duration;

use async_trait::async_trait;
use guidepost_core::Platform;
use guidepost_core::upstreams::registry::{self, FetchError, RegistryFetch};
use tokio_util::sync::CancellationToken;

/// How this node reaches registries.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    pub allow_private: bool,
    /// How often a registry is synced.
    pub interval: Duration,
    /// The longest one page request may take.
    pub timeout: Duration,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            interval: Duration::from_secs(3600),
            timeout: Duration::from_secs(30),
        }
    }
}

/// GETs registry pages with the fenced client. The fence's resolver keeps host names off
/// private addresses; an address written in the URL is checked here, since it is not
/// resolved.
pub struct FencedFetch {
    client: reqwest::Client,
    allow_private: bool,
}

impl FencedFetch {
    pub fn new(settings: &RegistrySettings) -> Self {
        Self {
            client: guidepost_outbound::fenced_client(settings.allow_private, settings.timeout),
            allow_private: settings.allow_private,
        }
    }

    fn check(&self, url: &str) -> Result<(), guidepost_outbound::Refused> {
        let refusals = guidepost_outbound::Refusals {
            plain_http: "plain http is reached only with --registry-allow-private",
            private_address: "registries are reached on public addresses only",
        };
        guidepost_outbound::check_literal(url, self.allow_private, &refusals)
    }
}

#[async_trait]
impl RegistryFetch for FencedFetch {
    async fn get(&self, url: &str, limit: usize) -> Result<Vec<u8>, FetchError> {
        self.check(url)
            .map_err(|refused| FetchError::Refused(refused.to_string()))?;
        let no_answer = |error: reqwest::Error| FetchError::NoAnswer {
            url: url.to_owned(),
            why: guidepost_outbound::describe(&error),
        };
        let mut response = self
            .client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(no_answer)?;
        if !response.status().is_success() {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: response.status().to_string(),
            });
        }
        let mut body = Vec::new();
        // Read in chunks, so that an endless answer stops at the limit.
        while let Some(chunk) = response.chunk().await.map_err(no_answer)? {
            if body.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge {
                    url: url.to_owned(),
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Syncs the registries that are due until `stop` is cancelled.
pub async fn run(platform: Platform, settings: RegistrySettings, stop: CancellationToken) {
    if platform.config.registries.is_empty() {
        return;
    }
    let fetch = FencedFetch::new(&settings);
    // Looked at more often than the interval, so that a node takes over a registry whose
    // syncing node went away within a minute of its being due.
    let mut tick = tokio::time::interval(settings.interval.min(Duration::from_secs(60)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        if let Err(error) = registry::sync(&platform, &fetch, settings.interval, false).await {
            tracing::warn!(%error, "could not sync the registries");
        }
    }
}
