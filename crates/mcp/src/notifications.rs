//! `notifications/tools/list_changed` in both eras, and on hosted servers also
//! `prompts/list_changed` and `resources/list_changed` (a change of an attached
//! upstream's definitions announces them all; clients list again what they use). Changes arrive from the store's
//! feed, which on PostgreSQL carries every node's announcements (LISTEN/NOTIFY).
//!
//! - Session era: each initialized session gets a task that forwards changes of its
//!   server to the session's GET stream, until the session's transport closes.
//! - Stateless era: a `subscriptions/listen` request stays open and receives them.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
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

/// The sessions of this node that have a forwarding task, so that a session gets one
/// however many `notifications/initialized` it sends.
#[derive(Debug, Default)]
pub(crate) struct Forwarders {
    sessions: Mutex<HashSet<String>>,
}

impl Forwarders {
    /// Claims the session's forwarder; `None` if it already has one. The claim ends when
    /// the returned guard is dropped (the forwarding task ends).
    fn claim(self: &Arc<Self>, transport_id: &str) -> Option<ForwarderClaim> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions
            .insert(transport_id.to_owned())
            .then(|| ForwarderClaim {
                forwarders: self.clone(),
                transport_id: transport_id.to_owned(),
            })
    }
}

struct ForwarderClaim {
    forwarders: Arc<Forwarders>,
    transport_id: String,
}

impl Drop for ForwarderClaim {
    fn drop(&mut self) {
        let mut sessions = self
            .forwarders
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        sessions.remove(&self.transport_id);
    }
}

/// What a change notifies: the tool list only, or also the prompt and resource lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lists {
    Tools,
    All,
}

/// Sends a session-era peer the list changes `lists` names.
async fn notify_session(peer: &Peer<RoleServer>, lists: Lists) -> Result<(), ()> {
    peer.notify_tool_list_changed().await.map_err(drop)?;
    if lists == Lists::All {
        peer.notify_prompt_list_changed().await.map_err(drop)?;
        peer.notify_resource_list_changed().await.map_err(drop)?;
    }
    Ok(())
}

/// Forwards changes of `server` to a session-era peer until it goes away; a session that
/// already has a forwarder on this node gets no second one.
pub(crate) fn forward_to_session(
    platform: &Platform,
    forwarders: &Arc<Forwarders>,
    transport_id: &str,
    server: ServerId,
    peer: Peer<RoleServer>,
    lists: Lists,
) {
    let Some(claim) = forwarders.claim(transport_id) else {
        return;
    };
    let mut feed = platform.tool_changes();
    tokio::spawn(async move {
        let _claim = claim;
        let mut check = tokio::time::interval(LIVENESS_CHECK);
        loop {
            tokio::select! {
                change = next_change(&mut feed, &server) => {
                    if change.is_none() || notify_session(&peer, lists).await.is_err() {
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

/// Sends a `subscriptions/listen` stream the list changes it accepted.
async fn notify_subscription(context: &SubscriptionContext) -> Result<(), ()> {
    let sink = context.sink();
    let accepted = sink.accepted().clone();
    if accepted.tools_list_changed == Some(true) {
        sink.notify_tool_list_changed().await.map_err(drop)?;
    }
    if accepted.prompts_list_changed == Some(true) {
        sink.notify_prompt_list_changed().await.map_err(drop)?;
    }
    if accepted.resources_list_changed == Some(true) {
        sink.notify_resource_list_changed().await.map_err(drop)?;
    }
    Ok(())
}

/// Serves one `subscriptions/listen` until the client or the server ends it.
pub(crate) async fn listen(
    mut feed: broadcast::Receiver<ServerId>,
    server: &ServerId,
    context: SubscriptionContext,
) {
    loop {
        tokio::select! {
            () = context.cancelled() => return,
            change = next_change(&mut feed, server) => {
                if change.is_none() || notify_subscription(&context).await.is_err() {
                    return;
                }
                metrics::counter!("guidepost_list_changed_sent_total", "era" => "stateless").increment(1);
            }
        }
    }
}
