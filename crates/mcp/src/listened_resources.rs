//! Resource subscriptions in the 2026-07-28 era, which has no `resources/subscribe`: a
//! `subscriptions/listen` stream names the resources it wants updates of
//! (`resourceSubscriptions`). Each that an attached upstream serves is subscribed for the
//! stream's life like a session's subscription (`features::subscribe`), its
//! `notifications/resources/updated` sent on the stream under the URI the client named,
//! and unsubscribed when the stream ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use guidepost_core::Platform;
use guidepost_core::upstreams::{CallerClient, RelayError, features, uris};
use guidepost_domain::McpServer;
use rmcp::model::SubscriptionFilter;
use rmcp::service::SubscriptionSink;
use serde_json::Value;

use crate::scope::RequestScope;

/// The most resources one `subscriptions/listen` stream may name; past it, the rest are
/// not accepted (the acknowledgement lists those that are).
pub(crate) const MAX_RESOURCES_PER_LISTEN: usize = 100;

/// What a `subscriptions/listen` is accepted for: every list change, and the first
/// [`MAX_RESOURCES_PER_LISTEN`] resources it names that have an attachment's shape
/// (`{prefix}+{uri}`, `ui://{prefix}/…`: no other URI can be an upstream's). Whether an
/// upstream serves one is known only once the stream runs (rmcp asks this first, of no
/// server in particular).
pub(crate) fn accepted(requested: &SubscriptionFilter) -> SubscriptionFilter {
    let filter = SubscriptionFilter::builder()
        .tools_list_changed()
        .prompts_list_changed()
        .resources_list_changed();
    let uris: Vec<String> = requested
        .resource_subscriptions
        .iter()
        .flatten()
        .filter(|uri| uris::split_exposed(uri).is_some())
        .take(MAX_RESOURCES_PER_LISTEN)
        .cloned()
        .collect();
    if uris.is_empty() {
        filter.build()
    } else {
        filter.resource_subscriptions(uris).build()
    }
}

/// The listen stream as the client an upstream's resource updates go to. It answers no
/// request: a stream carries notifications only.
struct ListenClient {
    sink: SubscriptionSink,
    ended: AtomicBool,
}

#[async_trait]
impl CallerClient for ListenClient {
    fn answers(&self, _method: &str) -> bool {
        false
    }

    async fn request(&self, method: &str, _params: Value) -> Result<Value, RelayError> {
        Err(RelayError::Unanswered(format!(
            "a subscriptions/listen stream does not answer {method}"
        )))
    }

    async fn notify(&self, method: &str, params: Value) {
        if method != "notifications/resources/updated" {
            return;
        }
        if let Some(uri) = params["uri"].as_str()
            && let Err(error) = self.sink.notify_resource_updated(uri).await
        {
            tracing::debug!(%error, uri, "a resource update did not reach its listen stream");
        }
    }

    fn is_gone(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }
}

/// The resources one listen stream is subscribed to, until [`Listened::end`].
pub(crate) struct Listened {
    id: String,
    uris: Vec<String>,
    client: Arc<ListenClient>,
}

/// Subscribes the stream of `sink` to each resource it was accepted for that an upstream
/// attached to the scope's server serves, as the person behind it; a URI no upstream
/// serves, or one served through a person's own account they have not connected, is
/// skipped (it gets no updates: a stream cannot ask them to connect).
pub(crate) async fn subscribe(
    platform: &Platform,
    scope: &RequestScope,
    sink: &SubscriptionSink,
) -> Listened {
    let named: Vec<String> = sink
        .accepted()
        .resource_subscriptions
        .iter()
        .flatten()
        .cloned()
        .collect();
    // Most streams name no resource: only one that does asks who is behind it (logged
    // there when that fails; the stream still gets what needs nobody in particular).
    let person = if named.is_empty() {
        None
    } else {
        let end_user = crate::scope::resolve_end_user(platform, scope).await;
        end_user
            .ok()
            .flatten()
            .map(|user| scope.calling_person(&user))
    };
    // Subscribers are kept per node, in memory: a number unique on this node names it.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = format!("listen-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let client = Arc::new(ListenClient {
        sink: sink.clone(),
        ended: AtomicBool::new(false),
    });
    let mut uris = Vec::new();
    for uri in &named {
        let caller: Arc<dyn CallerClient> = client.clone();
        let subscribed =
            features::subscribe(platform, &scope.server, uri, (&id, caller), person.as_ref());
        match subscribed.await {
            Ok(()) => uris.push(uri.clone()),
            Err(error) => tracing::debug!(uri, %error, "not subscribed"),
        }
    }
    Listened { id, uris, client }
}

/// Should the stream's task be dropped before [`Listened::end`] (its connection gone), its
/// subscriptions count as gone, as a closed session's do: pruned at the next change.
impl Drop for Listened {
    fn drop(&mut self) {
        self.client.ended.store(true, Ordering::Relaxed);
    }
}

impl Listened {
    /// Unsubscribes the stream from everything it was subscribed to.
    pub(crate) async fn end(self, platform: &Platform, server: &McpServer) {
        self.client.ended.store(true, Ordering::Relaxed);
        for uri in &self.uris {
            if let Err(error) = features::unsubscribe(platform, server, uri, &self.id).await {
                tracing::debug!(uri, %error, "not unsubscribed");
            }
        }
    }
}
