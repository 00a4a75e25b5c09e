//! Who on this node is subscribed to which of an upstream's resources: the upstream is
//! subscribed once per URI, whoever subscribes after, and unsubscribed when nobody is
//! left; its `notifications/resources/updated` go to each subscriber under the URI that
//! subscriber knows (docs/GATEWAY.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use guidepost_core::upstreams::Subscriber;
use serde_json::{Value, json};

/// The most subscriptions one upstream keeps on a node.
const MAX_SUBSCRIPTIONS: usize = 1000;

/// A subscription refused: the upstream has as many on this node as it may keep.
#[derive(Debug, thiserror::Error)]
#[error("this upstream has {MAX_SUBSCRIPTIONS} subscriptions on this node already")]
pub(crate) struct TooManySubscriptions;

#[derive(Clone, Default)]
pub(crate) struct Subscriptions(Arc<Mutex<HashMap<String, Vec<Subscriber>>>>);

/// What adding a subscriber changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// The first on this URI: the upstream is to be subscribed.
    First,
    /// Others were subscribed already (or this one was).
    Joined,
}

impl Subscriptions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Subscriber>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds `subscriber` to `uri` (once per subscriber id); an error past the cap.
    pub fn add(&self, uri: &str, subscriber: Subscriber) -> Result<Added, TooManySubscriptions> {
        let mut all = self.lock();
        for subscribers in all.values_mut() {
            subscribers.retain(|s| !s.client.is_gone());
        }
        all.retain(|_, subscribers| !subscribers.is_empty());
        if all.values().map(Vec::len).sum::<usize>() >= MAX_SUBSCRIPTIONS {
            return Err(TooManySubscriptions);
        }
        let subscribers = all.entry(uri.to_owned()).or_default();
        let first = subscribers.is_empty();
        subscribers.retain(|s| s.id != subscriber.id);
        subscribers.push(subscriber);
        Ok(if first { Added::First } else { Added::Joined })
    }

    /// Removes `id`'s subscription to `uri`: whether nobody is subscribed to it now (and
    /// somebody was).
    pub fn remove(&self, uri: &str, id: &str) -> bool {
        let mut all = self.lock();
        let Some(subscribers) = all.get_mut(uri) else {
            return false;
        };
        subscribers.retain(|s| s.id != id && !s.client.is_gone());
        if subscribers.is_empty() {
            all.remove(uri);
            return true;
        }
        false
    }

    /// Tells every subscriber of `uri` that it changed, under its own URI for it.
    pub async fn updated(&self, uri: &str, params: Value) {
        let subscribers = self.lock().get(uri).cloned().unwrap_or_default();
        for subscriber in subscribers.iter().filter(|s| !s.client.is_gone()) {
            let mut params = params.clone();
            params["uri"] = json!(subscriber.exposed_uri);
            subscriber
                .client
                .notify("notifications/resources/updated", params)
                .await;
        }
    }

    /// Whether a client still there is subscribed to anything.
    pub fn has_live(&self) -> bool {
        self.lock()
            .values()
            .flatten()
            .any(|subscriber| !subscriber.client.is_gone())
    }

    /// Every URI someone is subscribed to (to subscribe again after a relaunch).
    pub fn uris(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }
}
