//! `notifications/tools/list_changed` in both eras. Changes arrive from the store's
//! feed, which on PostgreSQL carries every node's announcements (LISTEN/NOTIFY).
//!
//! - Session era: each initialized session gets a task that forwards changes of its
//!   server to the session's GET stream, until the session's transport closes.
//! - Stateless era: a `subscriptions/listen` request stays open and receives them.

use std::time::Duration;

use guidepost_core::Platform;
use guidepost_domain::ServerId;
use rmcp::RoleServer;
use rmcp::service::{Peer, SubscriptionContext};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

/// How often a forwarding task checks that its session still exists.
const LIVENESS_CHECK: Duration = Duration::from_secs(30);

/// Waits for the next change of `server`. A lagging receiver missed some changes: one
/// notification covers them all.
pub(crate) async fn next_change(
    feed: &mut broadcast::Receiver<ServerId>,
    server: &ServerId,
) -> Option<()> {
    loop {
        match feed.recv().await {
            Ok(changed) if changed == *server => return Some(()),
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return Some(()),
            Err(RecvError::Closed) => return None,
        }
    }
}

/// Forwards changes of `server` to a session-era peer until it goes away.
pub(crate) fn forward_to_session(platform: &Platform, server: ServerId, peer: Peer<RoleServer>) {
    let mut feed = platform.tool_changes();
    tokio::spawn(async move {
        let mut check = tokio::time::interval(LIVENESS_CHECK);
        loop {
            tokio::select! {
                change = next_change(&mut feed, &server) => {
                    if change.is_none() || peer.notify_tool_list_changed().await.is_err() {
                        return;
                    }
                    metrics::counter!("guidepost_list_changed_sent_total", "era" => "session").increment(1);
                }
                _ = check.tick() => {
                    if peer.is_transport_closed() {
                        return;
                    }
                }
            }
        }
    });
}

/// Serves one `subscriptions/listen` until the client or the server ends it.
pub(crate) async fn listen(platform: &Platform, server: &ServerId, context: SubscriptionContext) {
    let mut feed = platform.tool_changes();
    loop {
        tokio::select! {
            () = context.cancelled() => return,
            change = next_change(&mut feed, server) => {
                if change.is_none() || context.sink().notify_tool_list_changed().await.is_err() {
                    return;
                }
                metrics::counter!("guidepost_list_changed_sent_total", "era" => "stateless").increment(1);
            }
        }
    }
}
