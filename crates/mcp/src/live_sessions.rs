//! The session-era sessions this node holds in memory, and their caps. A live
//! session costs tens of kilobytes in rmcp's session manager; the store keeps every
//! session anyway, so the memory is only a cache. Past a cap (per client IP, per server,
//! per node), the session idle for the longest is closed in memory, and its next request
//! restores it from the store (rmcp's `SessionStore`), on this node or another.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use guidepost_domain::ServerId;
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

/// How many sessions may live in memory at once; also how many `subscriptions/listen`
/// streams may be open (`listen_streams`).
#[derive(Debug, Clone, Copy)]
pub struct SessionCaps {
    pub per_ip: usize,
    pub per_server: usize,
    pub per_node: usize,
    /// Sessions one client address may keep in the store, across nodes: past it, the
    /// least recently seen is forgotten.
    pub stored_per_ip: u32,
}

impl Default for SessionCaps {
    /// A live session costs about 70 KiB, so 500 keep a node under about 40 MiB of them
    /// (measured with `scripts/flood`); a client address holds at most a few dozen, so one
    /// address cannot crowd out the others. Busier nodes raise the caps with the flags.
    fn default() -> Self {
        Self {
            per_ip: 32,
            per_server: 500,
            per_node: 500,
            stored_per_ip: 1000,
        }
    }
}

struct Live {
    ip: Option<IpAddr>,
    server: ServerId,
    last_active: Instant,
}

pub(crate) struct LiveSessions {
    caps: SessionCaps,
    /// How long a session may idle before it expires (`--session-idle-timeout`).
    idle_timeout: Duration,
    sessions: Mutex<HashMap<String, Live>>,
    manager: Arc<LocalSessionManager>,
}

/// How many sessions this node holds live, for `/metrics`: those active within the idle
/// timeout (an expired one stays in memory, doing nothing, until a cap closes it).
#[derive(Clone)]
pub struct LiveSessionCount(pub(crate) Arc<LiveSessions>);

impl LiveSessionCount {
    pub fn live(&self) -> usize {
        let now = Instant::now();
        let idle_timeout = self.0.idle_timeout;
        self.0
            .lock()
            .values()
            .filter(|live| now.duration_since(live.last_active) < idle_timeout)
            .count()
    }
}

impl LiveSessions {
    pub fn new(
        caps: SessionCaps,
        idle_timeout: Duration,
        manager: Arc<LocalSessionManager>,
    ) -> Self {
        Self {
            caps,
            idle_timeout,
            sessions: Mutex::new(HashMap::new()),
            manager,
        }
    }

    /// Records activity of a session this node now holds (new, restored or in use), and
    /// closes in memory whatever that pushes over a cap.
    pub async fn touch(&self, transport_id: &str, ip: Option<IpAddr>, server: &ServerId) {
        let evicted = {
            let mut sessions = self.lock();
            // A session already held from the same address adds to no count: only its
            // activity moves (no allocation or scan of every session per request).
            if let Some(live) = sessions.get_mut(transport_id)
                && live.ip == ip
                && live.server == *server
            {
                live.last_active = Instant::now();
                return;
            }
            let live = Live {
                ip,
                server: server.clone(),
                last_active: Instant::now(),
            };
            sessions.insert(transport_id.to_owned(), live);
            self.over_caps(&sessions, ip, server)
        };
        for id in evicted {
            self.evict(&id).await;
        }
    }

    /// How many sessions one client address may keep in the store.
    pub fn stored_per_ip(&self) -> u32 {
        self.caps.stored_per_ip
    }

    /// Forgets a session the client ended.
    pub fn forget(&self, transport_id: &str) {
        self.lock().remove(transport_id);
    }

    /// The sessions to close so that every cap holds again: the longest idle first
    /// within the group that is over its cap.
    fn over_caps(
        &self,
        sessions: &HashMap<String, Live>,
        ip: Option<IpAddr>,
        server: &ServerId,
    ) -> Vec<String> {
        let same_ip = |live: &Live| ip.is_some() && live.ip == ip;
        let same_server = |live: &Live| live.server == *server;
        let mut evicted = Vec::new();
        evicted.extend(oldest_beyond(sessions, self.caps.per_ip, same_ip));
        evicted.extend(oldest_beyond(sessions, self.caps.per_server, same_server));
        evicted.extend(oldest_beyond(sessions, self.caps.per_node, |_| true));
        evicted.sort_unstable();
        evicted.dedup();
        evicted
    }

    async fn evict(&self, transport_id: &str) {
        self.lock().remove(transport_id);
        let id = Arc::from(transport_id);
        if let Err(error) = self.manager.close_session(&id).await {
            tracing::warn!(%error, "could not close an evicted session");
        }
        metrics::counter!("guidepost_mcp_sessions_evicted_total").increment(1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The ids of the longest-idle sessions of a group beyond its first `cap`.
fn oldest_beyond(
    sessions: &HashMap<String, Live>,
    cap: usize,
    in_group: impl Fn(&Live) -> bool,
) -> Vec<String> {
    let mut group: Vec<(&String, Instant)> = sessions
        .iter()
        .filter(|(_, live)| in_group(live))
        .map(|(id, live)| (id, live.last_active))
        .collect();
    if group.len() <= cap {
        return Vec::new();
    }
    group.sort_unstable_by_key(|(_, last_active)| *last_active);
    let excess = group.len() - cap;
    group
        .into_iter()
        .take(excess)
        .map(|(id, _)| id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn live(ip: [u8; 4], server: &ServerId, age_ms: u64) -> Live {
        Live {
            ip: Some(IpAddr::from(ip)),
            server: server.clone(),
            last_active: Instant::now() - Duration::from_millis(age_ms),
        }
    }

    #[test]
    fn the_longest_idle_of_a_full_group_go_first() {
        let a = ServerId::generate();
        let b = ServerId::generate();
        let sessions = HashMap::from([
            ("old".to_owned(), live([10, 0, 0, 1], &a, 300)),
            ("mid".to_owned(), live([10, 0, 0, 1], &a, 200)),
            ("new".to_owned(), live([10, 0, 0, 1], &b, 100)),
            ("other".to_owned(), live([10, 0, 0, 2], &a, 900)),
        ]);
        let same_ip = |l: &Live| l.ip == Some(IpAddr::from([10, 0, 0, 1]));
        assert_eq!(oldest_beyond(&sessions, 2, same_ip), ["old"]);
        assert_eq!(oldest_beyond(&sessions, 3, same_ip), Vec::<String>::new());
        assert_eq!(oldest_beyond(&sessions, 2, |l| l.server == a), ["other"]);
        assert_eq!(oldest_beyond(&sessions, 2, |_| true), ["other", "old"]);
    }
}
