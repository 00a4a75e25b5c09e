//! The session era's URL elicitation, completed (MCP 2025-11-25): once the person whose
//! call raised `URLElicitationRequiredError` has connected their account, or decided on
//! the approval of their call, the session gets `notifications/elicitation/complete` with
//! that elicitation's id, so that the client can retry at once instead of waiting for the
//! person to say so.
//!
//! The link is followed on whichever node serves it, so the node that holds the session
//! asks the store: once a second, for as long as the link stays good, while the session
//! lives. That is one indexed read a second per pending elicitation, at
//! most [`WATCHERS_MAX`] per node (beyond that the notification, which the protocol makes
//! optional, is not sent; the client's retry still works).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use guidepost_core::Platform;
use guidepost_domain::{ApprovalId, EndUserId, OrgId, UpstreamId};
use rmcp::RoleServer;
use rmcp::model::{CustomNotification, ServerNotification};
use rmcp::service::Peer;

/// As long as a connect link stays good.
const WATCH_FOR: Duration = Duration::from_secs(15 * 60);
const POLL_EVERY: Duration = Duration::from_secs(1);
const WATCHERS_MAX: usize = 1000;
const METHOD: &str = "notifications/elicitation/complete";

static WATCHING: AtomicUsize = AtomicUsize::new(0);

/// What the elicitation waits for.
pub(crate) enum Done {
    /// The end user's connection to the upstream is made.
    Connected {
        org: OrgId,
        upstream: UpstreamId,
        end_user: EndUserId,
    },
    /// The approval is approved or denied.
    Decided { org: OrgId, approval: ApprovalId },
}

impl Done {
    async fn reached(&self, platform: &Platform) -> Result<bool, guidepost_core::CoreError> {
        match self {
            Done::Connected {
                org,
                upstream,
                end_user,
            } => {
                guidepost_core::upstreams::connections::person_is_connected(
                    platform, org, upstream, end_user,
                )
                .await
            }
            Done::Decided { org, approval } => {
                guidepost_core::guardrails::approvals::decided(platform, org, approval).await
            }
        }
    }
}

/// Which elicitation waits for what.
pub(crate) struct Awaited {
    pub done: Done,
    pub elicitation_id: String,
}

/// Tells `peer` when `awaited`'s connection is made (in the background).
pub(crate) fn watch(platform: Platform, peer: Peer<RoleServer>, awaited: Awaited) {
    if WATCHING.fetch_add(1, Ordering::Relaxed) >= WATCHERS_MAX {
        WATCHING.fetch_sub(1, Ordering::Relaxed);
        tracing::debug!("too many URL elicitations watched; this one completes unannounced");
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
        let connected = awaited.done.reached(platform).await;
        match connected {
            Ok(true) => {
                let params = serde_json::json!({"elicitationId": awaited.elicitation_id});
                let notification = CustomNotification::new(METHOD, Some(params));
                let sent = peer
                    .send_notification(ServerNotification::CustomNotification(notification))
                    .await;
                if let Err(error) = sent {
                    tracing::debug!(%error, "could not announce a completed URL elicitation");
                }
                return;
            }
            Ok(false) => {}
            Err(error) => {
                tracing::debug!(%error, "could not look for what an elicitation waits for")
            }
        }
    }
}
