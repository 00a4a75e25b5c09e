//! The session era's connect elicitation, completed (MCP 2025-11-25): once the person
//! whose call raised `URLElicitationRequiredError` has connected their account, the
//! session gets `notifications/elicitation/complete` with that elicitation's id, so that
//! the client can retry at once instead of waiting for the person to say so.
//!
//! The connection is made on whichever node serves the link's callback, so the node that
//! holds the session asks the store: once a second, for as long as the link stays good,
//! while the session lives. That is one indexed read a second per pending elicitation, at
//! most [`WATCHERS_MAX`] per node (beyond that the notification, which the protocol makes
//! optional, is not sent; the client's retry still works).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use guidepost_core::Platform;
use guidepost_domain::{EndUserId, OrgId, UpstreamId};
use rmcp::RoleServer;
use rmcp::model::{CustomNotification, ServerNotification};
use rmcp::service::Peer;

/// As long as a connect link stays good.
const WATCH_FOR: Duration = Duration::from_secs(15 * 60);
const POLL_EVERY: Duration = Duration::from_secs(1);
const WATCHERS_MAX: usize = 1000;
const METHOD: &str = "notifications/elicitation/complete";

static WATCHING: AtomicUsize = AtomicUsize::new(0);

/// Who waits for which connection.
pub(super) struct Awaited {
    pub org: OrgId,
    pub upstream: UpstreamId,
    pub end_user: EndUserId,
    pub elicitation_id: String,
}

/// Tells `peer` when `awaited`'s connection is made (in the background).
pub(super) fn watch(platform: Platform, peer: Peer<RoleServer>, awaited: Awaited) {
    if WATCHING.fetch_add(1, Ordering::Relaxed) >= WATCHERS_MAX {
        WATCHING.fetch_sub(1, Ordering::Relaxed);
        tracing::debug!("too many connect elicitations watched; this one completes unannounced");
        return;
    }
    tokio::spawn(async move {
        wait_and_tell(&platform, &peer, &awaited).await;
        WATCHING.fetch_sub(1, Ordering::Relaxed);
    });
}

async fn wait_and_tell(platform: &Platform, peer: &Peer<RoleServer>, awaited: &Awaited) {
    let deadline = Instant::now() + WATCH_FOR;
    while Instant::now() < deadline && !peer.is_transport_closed() {
        tokio::time::sleep(POLL_EVERY).await;
        let connected = guidepost_core::upstreams::connections::person_is_connected(
            platform,
            &awaited.org,
            &awaited.upstream,
            &awaited.end_user,
        )
        .await;
        match connected {
            Ok(true) => {
                let params = serde_json::json!({"elicitationId": awaited.elicitation_id});
                let notification = CustomNotification::new(METHOD, Some(params));
                let sent = peer
                    .send_notification(ServerNotification::CustomNotification(notification))
                    .await;
                if let Err(error) = sent {
                    tracing::debug!(%error, "could not announce a completed connect elicitation");
                }
                return;
            }
            Ok(false) => {}
            Err(error) => tracing::debug!(%error, "could not look for a person's connection"),
        }
    }
}
