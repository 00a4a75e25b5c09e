//! An upstream's processes on this node: one by default, or `replicas` of a
//! stateless entry, so that one single-threaded server does not bound every caller of
//! the organization.
//!
//! Each process is an [`Instance`] of its own, with its own launch, watcher, restarts and
//! routes, so that what the upstream sends about a call (progress, its requests to the
//! caller, a cancellation's effect) stays with the process that runs it: a call is pinned
//! to the process it was sent to for its whole life. The first, the primary, is the
//! upstream as the platform sees it: it discovers the definitions, rediscovers at
//! `list_changed`, writes the status, and holds what keeps per-session state
//! (subscriptions) and every request that is not a tool call. The replicas only call;
//! one that crashes is restarted by its own watcher while the others go on serving.
//!
//! A call goes to the running process with the fewest calls in flight (ties taken in
//! turn); a process that is not running is started in the background and not chosen
//! until it is up. The pool follows the upstream record's `replicas` at each call, so a
//! node sees a change made through another one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use guidepost_core::Platform;
use guidepost_domain::Upstream;

use crate::GatewayOptions;
use crate::confine::Confiner;
use crate::upstream::Instance;

/// How often a replica that is down is tried again by the calls that pass it by.
const WAKE_GAP: Duration = Duration::from_secs(1);

pub(crate) struct Pool {
    /// The upstream as the pool was made for it (its launch: spec and secrets).
    pub upstream: Upstream,
    gateway: GatewayOptions,
    confiner: Arc<Confiner>,
    /// The primary first, then the replicas.
    members: Mutex<Vec<Member>>,
    /// Where the next tie among equally busy processes is broken.
    turn: AtomicUsize,
}

struct Member {
    instance: Arc<Instance>,
    /// When a call last started it in the background (at most once per `WAKE_GAP`).
    woken: Option<Instant>,
}

impl Pool {
    pub fn new(upstream: Upstream, gateway: GatewayOptions, confiner: Arc<Confiner>) -> Arc<Self> {
        let primary = Instance::new(upstream.clone(), gateway.clone(), confiner.clone());
        Arc::new(Self {
            upstream,
            gateway,
            confiner,
            members: Mutex::new(vec![Member {
                instance: primary,
                woken: None,
            }]),
            turn: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Member>> {
        self.members.lock().expect("pool lock")
    }

    /// The process that discovers, reports status and serves what is not a tool call.
    pub fn primary(&self) -> Arc<Instance> {
        self.lock()[0].instance.clone()
    }

    pub fn members(&self) -> Vec<Arc<Instance>> {
        self.lock().iter().map(|m| m.instance.clone()).collect()
    }

    /// Starts the primary (at install or a node's start: it discovers), then the replicas.
    pub async fn start(self: &Arc<Self>, platform: &Platform) {
        self.primary().start(platform).await;
        if !self.primary().is_running().await {
            return;
        }
        let replicas: Vec<Arc<Instance>> = self.members().into_iter().skip(1).collect();
        for replica in replicas {
            let platform = platform.clone();
            tokio::spawn(async move { replica.start(&platform).await });
        }
    }

    /// Whether its primary runs (what a switch waits for).
    pub async fn is_running(&self) -> bool {
        self.primary().is_running().await
    }

    /// Stops every process for good on this node.
    pub async fn stop(&self) {
        for member in self.members() {
            member.stop().await;
        }
    }

    /// Calls and requests in flight on all its processes.
    pub fn calls_in_flight(&self) -> usize {
        self.lock().iter().map(|m| m.instance.busy()).sum()
    }

    /// Every process's recent stderr lines, a replica's marked with its number.
    pub fn logs(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for member in self.members() {
            let own = member.logs();
            if member.replica == 0 {
                lines.extend(own);
            } else {
                let mark = format!("[replica {}] ", member.replica + 1);
                lines.extend(own.into_iter().map(|line| format!("{mark}{line}")));
            }
        }
        lines
    }

    /// The process a tool call goes to: the running one with the fewest calls in flight,
    /// the primary when none runs (the call then launches it). The pool is first fitted
    /// to `wanted` processes, and those that are down are started in the background.
    pub fn pick(self: &Arc<Self>, platform: &Platform, wanted: u32) -> Arc<Instance> {
        let wanted = usize::try_from(wanted.max(1)).unwrap_or(1);
        let (chosen, to_wake, retired) = {
            let mut members = self.lock();
            let retired = self.fit(&mut members, wanted);
            let count = members.len();
            let turn = self.turn.fetch_add(1, Ordering::Relaxed);
            let mut chosen: Option<(usize, Arc<Instance>)> = None;
            let mut to_wake = Vec::new();
            for offset in 0..count {
                let member = &mut members[(turn + offset) % count];
                let instance = &member.instance;
                if !instance.is_up() {
                    // The primary starts on the call that needs it, as it always did.
                    if instance.replica > 0
                        && member.woken.is_none_or(|at| at.elapsed() >= WAKE_GAP)
                    {
                        member.woken = Some(Instant::now());
                        to_wake.push(instance.clone());
                    }
                    continue;
                }
                let busy = instance.busy();
                if chosen.as_ref().is_none_or(|(least, _)| busy < *least) {
                    chosen = Some((busy, instance.clone()));
                }
            }
            let chosen = chosen.map_or_else(|| members[0].instance.clone(), |(_, i)| i);
            (chosen, to_wake, retired)
        };
        for replica in to_wake {
            let platform = platform.clone();
            tokio::spawn(async move { replica.start(&platform).await });
        }
        for gone in retired {
            tokio::spawn(retire_instance(gone));
        }
        chosen
    }

    /// Adds replicas up to `wanted`, or takes the last ones out (returned, to be stopped
    /// once their calls are answered).
    fn fit(&self, members: &mut Vec<Member>, wanted: usize) -> Vec<Arc<Instance>> {
        while members.len() < wanted {
            let replica = Instance::replica(
                self.upstream.clone(),
                members.len(),
                self.gateway.clone(),
                self.confiner.clone(),
            );
            members.push(Member {
                instance: replica,
                woken: None,
            });
        }
        if members.len() > wanted {
            return members
                .drain(wanted..)
                .map(|member| member.instance)
                .collect();
        }
        Vec::new()
    }

    /// Adds the replicas its record asks for (at install and a node's start, before
    /// `start`), so that they start with the primary.
    pub fn fit_to(&self, wanted: u32) {
        let wanted = usize::try_from(wanted.max(1)).unwrap_or(1);
        let retired = {
            let mut members = self.lock();
            self.fit(&mut members, wanted)
        };
        for gone in retired {
            tokio::spawn(retire_instance(gone));
        }
    }
}

/// How long a replaced process waits before it first looks at its calls, how often it
/// looks again, and how long at most it waits for them (the longest call timeout).
const GRACE: Duration = Duration::from_secs(1);
const DRAIN_POLL: Duration = Duration::from_millis(100);
const DRAIN_MAX: Duration = Duration::from_secs(10 * 60);

/// Stops a process taken out of service once the calls it holds are answered.
pub(crate) async fn retire_instance(replaced: Arc<Instance>) {
    tokio::time::sleep(GRACE).await;
    let since = Instant::now();
    while replaced.busy() > 0 && since.elapsed() < DRAIN_MAX {
        tokio::time::sleep(DRAIN_POLL).await;
    }
    replaced.stop().await;
}

/// Stops a replaced pool once the calls it holds are answered.
pub(crate) async fn retire_pool(replaced: Arc<Pool>) {
    tokio::time::sleep(GRACE).await;
    let since = Instant::now();
    while replaced.calls_in_flight() > 0 && since.elapsed() < DRAIN_MAX {
        tokio::time::sleep(DRAIN_POLL).await;
    }
    replaced.stop().await;
}
