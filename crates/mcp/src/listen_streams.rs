//! The `subscriptions/listen` streams this node holds open (stateless era), and their
//! caps. A stream stays open until its client ends it, with a keep-alive every
//! 15 s, and holds a task and a feed of changes meanwhile; nothing in the store stands
//! behind it, so unlike a session it cannot be closed in memory and restored later.
//! Past a cap (per client IP, per server, per node: the numbers of the session caps), a
//! new stream is refused with 429; a stream frees its place when it ends.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use guidepost_domain::ServerId;
use http::StatusCode;
use serde_json::Value;

use crate::SessionCaps;
use crate::jsonrpc::{self, Refusal};

/// How long a refused client is told to wait: streams end when their clients go.
const RETRY_AFTER_SECS: u64 = 30;

pub(crate) struct ListenStreams {
    caps: SessionCaps,
    open: Mutex<OpenStreams>,
}

#[derive(Default)]
struct OpenStreams {
    per_ip: HashMap<IpAddr, usize>,
    per_server: HashMap<ServerId, usize>,
    on_node: usize,
}

/// One open stream's place under the caps, given back when it is dropped (with the
/// stream's response body).
pub(crate) struct ListenPlace {
    streams: Arc<ListenStreams>,
    ip: Option<IpAddr>,
    server: ServerId,
}

/// The cap a new stream would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CapReached {
    Address(usize),
    Server(usize),
    Node(usize),
}

impl ListenStreams {
    pub fn new(caps: SessionCaps) -> Arc<Self> {
        Arc::new(Self {
            caps,
            open: Mutex::default(),
        })
    }

    /// A place for a new stream from `ip` to `server`, unless a cap is reached.
    pub fn admit(
        self: &Arc<Self>,
        ip: Option<IpAddr>,
        server: &ServerId,
    ) -> Result<ListenPlace, CapReached> {
        let mut open = self.lock();
        let from_ip = ip.map_or(0, |ip| open.per_ip.get(&ip).copied().unwrap_or(0));
        let to_server = open.per_server.get(server).copied().unwrap_or(0);
        if from_ip >= self.caps.per_ip {
            return Err(CapReached::Address(self.caps.per_ip));
        }
        if to_server >= self.caps.per_server {
            return Err(CapReached::Server(self.caps.per_server));
        }
        if open.on_node >= self.caps.per_node {
            return Err(CapReached::Node(self.caps.per_node));
        }
        if let Some(ip) = ip {
            *open.per_ip.entry(ip).or_default() += 1;
        }
        *open.per_server.entry(server.clone()).or_default() += 1;
        open.on_node += 1;
        Ok(ListenPlace {
            streams: self.clone(),
            ip,
            server: server.clone(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OpenStreams> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ListenPlace {
    fn drop(&mut self) {
        let mut open = self.streams.lock();
        if let Some(ip) = self.ip {
            release(&mut open.per_ip, &ip);
        }
        release(&mut open.per_server, &self.server);
        open.on_node = open.on_node.saturating_sub(1);
    }
}

/// One place fewer for `key`; a key with none left is removed, so that the maps hold
/// only the addresses and servers with open streams.
fn release<K: Eq + Hash>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(count) = counts.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(key);
        }
    }
}

impl CapReached {
    /// The answer to the refused `subscriptions/listen`: 429, saying which cap.
    pub fn refusal(self, id: Value) -> Refusal {
        let (whose, cap) = match self {
            CapReached::Address(cap) => ("from this client address", cap),
            CapReached::Server(cap) => ("to this MCP server", cap),
            CapReached::Node(cap) => ("on this node", cap),
        };
        let message = format!(
            "Too many open subscriptions/listen streams {whose} (at most {cap}); \
             close one before opening another, or retry in {RETRY_AFTER_SECS} s"
        );
        Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            id,
            jsonrpc::RATE_LIMITED,
            message,
        )
        .with_retry_after(RETRY_AFTER_SECS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(per_ip: usize, per_server: usize, per_node: usize) -> SessionCaps {
        SessionCaps {
            per_ip,
            per_server,
            per_node,
            ..SessionCaps::default()
        }
    }

    #[test]
    fn each_cap_refuses_past_it_and_a_closed_stream_frees_its_place() {
        let (a, b) = (ServerId::generate(), ServerId::generate());
        let ip = |n: u8| Some(IpAddr::from([10, 0, 0, n]));
        let streams = ListenStreams::new(caps(2, 3, 4));
        let first = streams.admit(ip(1), &a).unwrap();
        let _second = streams.admit(ip(1), &a).unwrap();
        assert_eq!(streams.admit(ip(1), &b).err(), Some(CapReached::Address(2)));
        let _third = streams.admit(ip(2), &a).unwrap();
        assert_eq!(streams.admit(ip(3), &a).err(), Some(CapReached::Server(3)));
        let _fourth = streams.admit(ip(3), &b).unwrap();
        assert_eq!(streams.admit(ip(4), &b).err(), Some(CapReached::Node(4)));
        drop(first);
        assert!(streams.admit(ip(1), &b).is_ok(), "a place was freed");
        assert_eq!(
            streams.lock().per_ip.len(),
            3,
            "{:?}",
            streams.lock().per_ip
        );
    }

    #[test]
    fn a_stream_without_an_address_counts_for_its_server_and_the_node() {
        let server = ServerId::generate();
        let streams = ListenStreams::new(caps(1, 2, 2));
        let _first = streams.admit(None, &server).unwrap();
        let _second = streams.admit(None, &server).unwrap();
        assert_eq!(
            streams.admit(None, &server).err(),
            Some(CapReached::Server(2))
        );
    }
}
