//! The gateway's MCP client side towards one upstream: progress of a call goes back to
//! the one caller who asked (by the progress token rmcp gave the proxied request), a
//! call given up on is cancelled at the upstream, and the upstream's `list_changed`
//! rediscovers its tools, which core announces to every server that attaches it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use guidepost_core::Platform;
use guidepost_core::upstreams::{CallProgress, ProgressSink, record_tools};
use guidepost_domain::Upstream;
use rmcp::model::{
    CancelledNotificationParam, ClientConfig, ClientNotification, Implementation, Notification,
    ProgressNotificationParam, ProgressToken, RequestId,
};
use rmcp::service::{NotificationContext, Peer};
use rmcp::{ClientHandler, RoleClient};

/// Where the progress of each call in flight goes, by the proxied request's token.
#[derive(Clone, Default)]
pub(crate) struct ProgressRoutes(Arc<Mutex<HashMap<ProgressToken, ProgressSink>>>);

impl ProgressRoutes {
    fn add(&self, token: ProgressToken, sink: ProgressSink) {
        self.0
            .lock()
            .expect("progress routes lock")
            .insert(token, sink);
    }

    fn remove(&self, token: &ProgressToken) {
        self.0.lock().expect("progress routes lock").remove(token);
    }

    fn sink(&self, token: &ProgressToken) -> Option<ProgressSink> {
        self.0
            .lock()
            .expect("progress routes lock")
            .get(token)
            .cloned()
    }
}

/// The handler of the gateway's connection to one upstream.
pub(crate) struct UpstreamClient {
    pub platform: Platform,
    pub upstream: Upstream,
    pub progress: ProgressRoutes,
    /// Whether a rediscovery is under way.
    pub relisting: Arc<AtomicBool>,
}

/// How long a rediscovery may take.
const RELIST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl ClientHandler for UpstreamClient {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.client_info = Implementation::new("guidepost-gateway", env!("CARGO_PKG_VERSION"));
        info
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(sink) = self.progress.sink(&params.progress_token) {
            let update = CallProgress {
                progress: params.progress,
                total: params.total,
                message: params.message,
            };
            // A slow caller loses progress updates, never the call.
            let _ = sink.try_send(update);
        }
    }

    async fn on_tool_list_changed(&self, context: NotificationContext<RoleClient>) {
        // One rediscovery at a time: a flood of list_changed costs one listing, not many.
        if self.relisting.swap(true, Ordering::AcqRel) {
            return;
        }
        // Listing waits for a response this connection's loop must read, so it runs apart.
        let platform = self.platform.clone();
        let upstream = self.upstream.clone();
        let peer = context.peer.clone();
        let relisting = self.relisting.clone();
        tokio::spawn(async move {
            let listed =
                tokio::time::timeout(RELIST_TIMEOUT, rediscover(&platform, &upstream, &peer));
            if listed.await.is_err() {
                tracing::warn!(upstream = %upstream.id, "tools/list took too long after list_changed");
            }
            relisting.store(false, Ordering::Release);
        });
    }
}

/// Lists the upstream's tools again and stores them.
pub(crate) async fn rediscover(platform: &Platform, upstream: &Upstream, peer: &Peer<RoleClient>) {
    let tools = match peer.list_all_tools().await {
        Ok(tools) => tools,
        Err(error) => {
            tracing::warn!(upstream = %upstream.id, %error, "tools/list failed after list_changed");
            return;
        }
    };
    let definitions = tools
        .iter()
        .filter_map(|tool| serde_json::to_value(tool).ok())
        .collect();
    if let Err(error) = record_tools(platform, upstream, definitions).await {
        tracing::warn!(upstream = %upstream.id, %error, "could not store an upstream's tools");
    }
}

/// A proxied call in flight: while it lives, the upstream's progress for it reaches the
/// caller; dropped before `finish` (timeout, or the caller cancelled or went away), it
/// tells the upstream to stop.
pub(crate) struct InFlight {
    pub peer: Peer<RoleClient>,
    pub id: RequestId,
    pub token: ProgressToken,
    pub routes: ProgressRoutes,
    pub finished: bool,
}

impl InFlight {
    pub fn new(
        peer: Peer<RoleClient>,
        id: RequestId,
        token: ProgressToken,
        routes: &ProgressRoutes,
        progress: Option<ProgressSink>,
    ) -> Self {
        if let Some(sink) = progress {
            routes.add(token.clone(), sink);
        }
        Self {
            peer,
            id,
            token,
            routes: routes.clone(),
            finished: false,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.routes.remove(&self.token);
        if self.finished {
            return;
        }
        let peer = self.peer.clone();
        let params = CancelledNotificationParam::new(
            Some(self.id.clone()),
            Some("the caller gave up on this call".into()),
        );
        let notification = ClientNotification::CancelledNotification(Notification::new(params));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = peer.send_notification(notification).await;
            });
        }
    }
}
