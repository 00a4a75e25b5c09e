//! What each node keeps in memory so that a tool call does not read, again, what almost
//! never changes: servers by address, what each server offers (its available
//! walkthroughs with their newest versions), published versions (immutable), end users
//! by tracking id, each server's attached upstream tools, its organization's compiled
//! call-time policies and quotas, and the session-era sessions in use with their end users.
//!
//! Correctness comes from the change feed, not from the time limits: every change to a
//! server or to what it offers is announced (`Platform::announce_tools_changed`, NOTIFY
//! between nodes on PostgreSQL), and an announcement drops that server's entries on every
//! node. The time limits only bound how long a lost announcement (a listener that was
//! reconnecting) can leave an entry stale. A read that raced with a change does not put
//! its (maybe older) answer in: every invalidation moves an epoch, and an answer read
//! before the move is not kept.
//!
//! Hand-rolled rather than a caching crate: a mutex over a hash map with a size bound is
//! all these few, small, mostly-read maps need.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use guidepost_domain::*;
use guidepost_store::ProgressKey;

use crate::guardrails::decide::InForce;
use crate::guardrails::intercept::Interceptors;
use crate::upstreams::AttachedTools;

/// End users by tracking id: their email and link to a signed-in person change rarely,
/// and on the node that changes them the entry is dropped at once.
const TRACKED_TTL: Duration = Duration::from_secs(15);
/// Published versions never change.
const VERSION_TTL: Duration = Duration::from_secs(600);
/// Progress this node wrote: only ever used for a conditional write (see `player::next`),
/// so a stale copy costs a re-read, never a wrong answer.
const PROGRESS_TTL: Duration = Duration::from_secs(60);
/// Session-era sessions in use: no announcement reaches another node when a session ends
/// or moves to another end user there (a DELETE, an erasure, a sign-in), so this short
/// limit is how long another node may go on honouring it. This node's own changes drop
/// the entry at once.
const SESSION_TTL: Duration = Duration::from_secs(2);

/// Joins the parts of a composite key. No id contains it, and every part but the last is
/// an id, so two keys are equal only when all their parts are.
const KEY_SEPARATOR: &str = "\u{1f}";
/// Room on the stack for a looked-up key: ids are about 30 bytes, tracking ids at most 128.
const KEY_ON_STACK: usize = 192;

fn joined(parts: &[&str]) -> String {
    parts.join(KEY_SEPARATOR)
}

/// Runs `look` with the key of `parts`, written on the stack: a lookup on the hot path
/// (every `next_walkthrough_step` looks up its progress and its end user) allocates no
/// key. A key too long for the stack is joined on the heap.
fn with_joined<T>(parts: &[&str], look: impl FnOnce(&str) -> T) -> T {
    let needed = parts
        .iter()
        .map(|part| part.len() + KEY_SEPARATOR.len())
        .sum::<usize>();
    if needed > KEY_ON_STACK {
        return look(&joined(parts));
    }
    let mut buffer = [0u8; KEY_ON_STACK];
    let mut at = 0;
    let mut push = |bytes: &[u8]| {
        buffer[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            push(KEY_SEPARATOR.as_bytes());
        }
        push(part.as_bytes());
    }
    // Whole strings joined by a whole character are UTF-8; the heap is the fallback.
    match std::str::from_utf8(&buffer[..at]) {
        Ok(key) => look(key),
        Err(_) => look(&joined(parts)),
    }
}

fn progress_parts(key: &ProgressKey) -> [&str; 4] {
    [
        key.org_id.as_str(),
        key.end_user_id.as_str(),
        key.server_id.as_str(),
        key.walkthrough_id.as_str(),
    ]
}

/// A map whose entries expire, with a size bound (over it, expired entries go, then the
/// map is emptied: a cache that is full of live entries is rare and cheap to refill).
struct TtlMap<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
    ttl: Duration,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> TtlMap<K, V> {
    fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl,
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, Instant)>> {
        // A panic while holding the lock leaves a map, not a broken invariant.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.lock();
        let (value, at) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    fn insert(&self, key: K, value: V) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (value, Instant::now()));
    }

    fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().remove(key);
    }

    /// Changes a live entry in place, keeping when it was read.
    fn update<Q>(&self, key: &Q, change: impl FnOnce(&mut V))
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some((value, _)) = self.lock().get_mut(key) {
            change(value);
        }
    }

    fn retain(&self, keep: impl Fn(&K, &V) -> bool) {
        self.lock().retain(|key, (value, _)| keep(key, value));
    }

    fn clear(&self) {
        self.lock().clear();
    }
}

/// An end user found by tracking id, and when its `last_seen_at` was last written.
#[derive(Clone)]
pub(crate) struct Tracked {
    pub user: EndUser,
    pub touched: Instant,
}

/// The node's caches. Read through `Platform`'s services, never from outside core.
pub(crate) struct NodeCache {
    epoch: AtomicU64,
    servers: TtlMap<String, Arc<McpServer>>,
    offers: TtlMap<ServerId, Arc<Vec<AvailableWalkthrough>>>,
    versions: TtlMap<(WalkthroughId, i64), Arc<WalkthroughVersion>>,
    /// By organization and tracking id, joined (`with_joined`).
    tracked: TtlMap<String, Tracked>,
    /// By organization, end user, server and walkthrough, joined: shared with the
    /// callers, so that a hit copies nothing.
    progress: TtlMap<String, Arc<Progress>>,
    /// Each server's attached upstreams with their tools and states, what a
    /// gateway call looks its tool up in.
    attached_tools: TtlMap<ServerId, Arc<AttachedTools>>,
    /// Each server's organization's call-time policies, compiled: a publication
    /// announces every server of its organization.
    call_policies: TtlMap<ServerId, Arc<InForce>>,
    /// Each server's organization's call quotas (announced the same way).
    call_quotas: TtlMap<ServerId, Arc<CallQuotas>>,
    /// Each server's organization's interceptors, their secrets opened (announced the
    /// same way).
    interceptors: TtlMap<ServerId, Arc<Interceptors>>,
    /// Session-era sessions by transport id, so that a request in a session in use reads
    /// neither the session nor (`session_users`) its end user.
    sessions: TtlMap<String, McpSession>,
    session_users: TtlMap<(OrgId, EndUserId), EndUser>,
}

/// Where a cached answer came from: the epoch before its read. An answer read across an
/// invalidation is returned to its caller but not kept.
#[derive(Clone, Copy)]
pub(crate) struct Epoch(u64);

impl NodeCache {
    /// `server_expiry`: entries about servers, short, as a bound on a lost announcement
    /// (`PlatformConfig::server_cache_expiry`).
    pub(crate) fn new(server_expiry: Duration) -> Self {
        Self {
            epoch: AtomicU64::new(0),
            servers: TtlMap::new(server_expiry, 10_000),
            offers: TtlMap::new(server_expiry, 10_000),
            versions: TtlMap::new(VERSION_TTL, 10_000),
            tracked: TtlMap::new(TRACKED_TTL, 50_000),
            progress: TtlMap::new(PROGRESS_TTL, 50_000),
            attached_tools: TtlMap::new(server_expiry, 10_000),
            call_policies: TtlMap::new(server_expiry, 10_000),
            call_quotas: TtlMap::new(server_expiry, 10_000),
            interceptors: TtlMap::new(server_expiry, 10_000),
            sessions: TtlMap::new(SESSION_TTL, 50_000),
            session_users: TtlMap::new(SESSION_TTL, 50_000),
        }
    }

    pub(crate) fn epoch(&self) -> Epoch {
        Epoch(self.epoch.load(Ordering::Acquire))
    }

    fn current(&self, read_at: Epoch) -> bool {
        self.epoch.load(Ordering::Acquire) == read_at.0
    }

    fn moved(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// A change of this server, or of what it offers, was announced.
    pub(crate) fn server_changed(&self, server: &ServerId) {
        self.moved();
        self.servers.retain(|_, cached| cached.id != *server);
        self.offers.retain(|id, _| id != server);
        self.attached_tools.retain(|id, _| id != server);
        self.call_policies.retain(|id, _| id != server);
        self.call_quotas.retain(|id, _| id != server);
        self.interceptors.retain(|id, _| id != server);
        self.sessions
            .retain(|_, session| session.server_id != *server);
    }

    /// Announcements may have been missed (the feed lagged): forget everything that
    /// depends on them.
    pub(crate) fn forget_servers(&self) {
        self.moved();
        self.servers.clear();
        self.offers.clear();
        self.attached_tools.clear();
        self.call_policies.clear();
        self.call_quotas.clear();
        self.interceptors.clear();
        self.sessions.clear();
    }

    pub(crate) fn server(&self, address: &str) -> Option<Arc<McpServer>> {
        self.servers.get(address)
    }

    pub(crate) fn keep_server(&self, address: &str, server: &Arc<McpServer>, read_at: Epoch) {
        if self.current(read_at) {
            self.servers.insert(address.to_owned(), server.clone());
        }
    }

    pub(crate) fn offers(&self, server: &ServerId) -> Option<Arc<Vec<AvailableWalkthrough>>> {
        self.offers.get(server)
    }

    pub(crate) fn keep_offers(
        &self,
        server: &ServerId,
        offers: &Arc<Vec<AvailableWalkthrough>>,
        read_at: Epoch,
    ) {
        if self.current(read_at) {
            self.offers.insert(server.clone(), offers.clone());
        }
    }

    pub(crate) fn attached_tools(&self, server: &ServerId) -> Option<Arc<AttachedTools>> {
        self.attached_tools.get(server)
    }

    pub(crate) fn keep_attached_tools(
        &self,
        server: &ServerId,
        attached: &Arc<AttachedTools>,
        read_at: Epoch,
    ) {
        if self.current(read_at) {
            self.attached_tools.insert(server.clone(), attached.clone());
        }
    }

    pub(crate) fn call_policies(&self, server: &ServerId) -> Option<Arc<InForce>> {
        self.call_policies.get(server)
    }

    pub(crate) fn keep_call_policies(
        &self,
        server: &ServerId,
        policies: &Arc<InForce>,
        read_at: Epoch,
    ) {
        if self.current(read_at) {
            self.call_policies.insert(server.clone(), policies.clone());
        }
    }

    pub(crate) fn call_quotas(&self, server: &ServerId) -> Option<Arc<CallQuotas>> {
        self.call_quotas.get(server)
    }

    pub(crate) fn keep_call_quotas(
        &self,
        server: &ServerId,
        quotas: &Arc<CallQuotas>,
        read_at: Epoch,
    ) {
        if self.current(read_at) {
            self.call_quotas.insert(server.clone(), quotas.clone());
        }
    }

    pub(crate) fn interceptors(&self, server: &ServerId) -> Option<Arc<Interceptors>> {
        self.interceptors.get(server)
    }

    pub(crate) fn keep_interceptors(
        &self,
        server: &ServerId,
        interceptors: &Arc<Interceptors>,
        read_at: Epoch,
    ) {
        if self.current(read_at) {
            self.interceptors
                .insert(server.clone(), interceptors.clone());
        }
    }

    pub(crate) fn version(
        &self,
        walkthrough: &WalkthroughId,
        version: i64,
    ) -> Option<Arc<WalkthroughVersion>> {
        self.versions.get(&(walkthrough.clone(), version))
    }

    pub(crate) fn keep_version(&self, found: &Arc<WalkthroughVersion>) {
        let key = (found.walkthrough_id.clone(), found.version);
        self.versions.insert(key, found.clone());
    }

    pub(crate) fn tracked(&self, org: &OrgId, tracking_id: &str) -> Option<Tracked> {
        with_joined(&[org.as_str(), tracking_id], |key| self.tracked.get(key))
    }

    pub(crate) fn keep_tracked(&self, org: &OrgId, tracking_id: &str, tracked: Tracked) {
        self.tracked
            .insert(joined(&[org.as_str(), tracking_id]), tracked);
    }

    pub(crate) fn progress(&self, key: &ProgressKey) -> Option<Arc<Progress>> {
        with_joined(&progress_parts(key), |key| self.progress.get(key))
    }

    pub(crate) fn keep_progress(&self, key: &ProgressKey, progress: &Arc<Progress>) {
        self.progress
            .insert(joined(&progress_parts(key)), progress.clone());
    }

    pub(crate) fn forget_progress(&self, key: &ProgressKey) {
        with_joined(&progress_parts(key), |key| self.progress.remove(key));
    }

    pub(crate) fn session(&self, transport_id: &str) -> Option<McpSession> {
        self.sessions.get(transport_id)
    }

    pub(crate) fn keep_session(&self, session: &McpSession, read_at: Epoch) {
        if self.current(read_at) {
            let key = session.transport_id.clone();
            self.sessions.insert(key, session.clone());
        }
    }

    /// The session's activity was written: its copy says so, without counting as a read.
    pub(crate) fn session_seen(&self, transport_id: &str, at: Timestamp) {
        self.sessions
            .update(transport_id, |session| session.last_seen_at = at);
    }

    /// The session ended or changed on this node; a read in flight is not kept either.
    pub(crate) fn forget_session(&self, transport_id: &str) {
        self.moved();
        self.sessions.remove(transport_id);
    }

    pub(crate) fn session_user(&self, org: &OrgId, user: &EndUserId) -> Option<EndUser> {
        self.session_users.get(&(org.clone(), user.clone()))
    }

    pub(crate) fn keep_session_user(&self, user: &EndUser, read_at: Epoch) {
        if self.current(read_at) {
            let key = (user.org_id.clone(), user.id.clone());
            self.session_users.insert(key, user.clone());
        }
    }

    /// An end user changed on this node (an email, a link to a person, an erasure):
    /// whatever tracking id or session names them is read again.
    pub(crate) fn end_user_changed(&self, org: &OrgId, user: &EndUserId) {
        self.moved();
        self.tracked.retain(|_, tracked| {
            tracked.user.org_id != *org
                || (tracked.user.id != *user
                    && tracked.user.linked_end_user_id.as_ref() != Some(user))
        });
        self.sessions.retain(|_, session| {
            session.org_id != *org || session.end_user_id.as_ref() != Some(user)
        });
        self.session_users
            .retain(|(cached_org, id), _| cached_org != org || id != user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_map_stays_bounded() {
        let map = TtlMap::new(Duration::from_millis(30), 3);
        map.insert(1, "one");
        assert_eq!(map.get(&1), Some("one"));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(map.get(&1), None, "expired");
        for n in 0..10 {
            map.insert(n, "n");
        }
        assert!(map.lock().len() <= 3);
    }

    #[test]
    fn an_answer_read_across_an_invalidation_is_not_kept() {
        let cache = NodeCache::new(crate::config::DEFAULT_SERVER_CACHE_EXPIRY);
        let before = cache.epoch();
        cache.forget_servers();
        let offers = Arc::new(Vec::new());
        let server: ServerId = Id::generate();
        cache.keep_offers(&server, &offers, before);
        assert!(cache.offers(&server).is_none());
        cache.keep_offers(&server, &offers, cache.epoch());
        assert!(cache.offers(&server).is_some());
        cache.server_changed(&server);
        assert!(cache.offers(&server).is_none());
    }

    #[test]
    fn a_key_looked_up_on_the_stack_is_the_key_kept_and_no_other() {
        let kept = joined(&["org_1", "tracking"]);
        assert!(with_joined(&["org_1", "tracking"], |key| key == kept));
        // Where the parts end matters, not only what they spell together.
        assert!(!with_joined(&["org_1t", "racking"], |key| key == kept));
        assert!(!with_joined(&["org_1", "tracking", ""], |key| key == kept));
        // A key longer than the room on the stack is joined on the heap, the same way.
        let long = "x".repeat(KEY_ON_STACK);
        let kept = joined(&["org_1", &long]);
        assert!(with_joined(&["org_1", &long], |key| key == kept));
    }

    #[test]
    fn progress_is_found_by_all_four_ids() {
        let cache = NodeCache::new(crate::config::DEFAULT_SERVER_CACHE_EXPIRY);
        let key = ProgressKey {
            org_id: Id::generate(),
            end_user_id: Id::generate(),
            server_id: Id::generate(),
            walkthrough_id: Id::generate(),
        };
        let progress = Arc::new(Progress {
            id: Id::generate(),
            org_id: key.org_id.clone(),
            end_user_id: key.end_user_id.clone(),
            server_id: key.server_id.clone(),
            walkthrough_id: key.walkthrough_id.clone(),
            version: 1,
            current_step_id: Some("s1".into()),
            completed_step_ids: Vec::new(),
            status: ProgressStatus::InProgress,
            started_at: Timestamp::now(),
            last_activity_at: Timestamp::now(),
            completed_at: None,
            revision: 1,
        });
        cache.keep_progress(&key, &progress);
        assert!(Arc::ptr_eq(&cache.progress(&key).unwrap(), &progress));
        let other_walkthrough = ProgressKey {
            walkthrough_id: Id::generate(),
            ..key.clone()
        };
        assert!(cache.progress(&other_walkthrough).is_none());
        cache.forget_progress(&key);
        assert!(cache.progress(&key).is_none());
    }
}
