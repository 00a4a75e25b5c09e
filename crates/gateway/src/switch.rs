//! Switching an upstream to a new launch on this node (an upgrade, new settings or
//! secrets, a rollback) without a failed call: the new instance is fetched and started
//! beside the running one (packages are cached per version, so both stay on disk), and
//! only once it is up (or gave up) does it take the old one's place in the supervisor's
//! map. Calls that already hold the old instance finish there; it stops when they are
//! answered. An instance here is the upstream's pool (`pool`): all its processes switch
//! together.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use guidepost_core::Platform;
use guidepost_core::upstreams::OnFailedSwitch;
use guidepost_domain::{Upstream, UpstreamId};

use crate::pool::{Pool, retire_instance, retire_pool};
use crate::upstream::Instance;

/// How long a switch waits for the new launch (a fetch may take up to 5 minutes) before
/// it takes over anyway, its status saying why it is not up.
const START_WAIT: Duration = Duration::from_secs(6 * 60);

pub(crate) type Instances = Arc<Mutex<HashMap<UpstreamId, Arc<Pool>>>>;

/// The switches under way, by upstream: a newer switch supersedes an older one, which then
/// stops what it started instead of taking over.
#[derive(Default)]
pub(crate) struct Switches {
    under_way: Mutex<HashMap<UpstreamId, u64>>,
    next: AtomicU64,
}

impl Switches {
    pub fn is_under_way(&self, upstream: &UpstreamId) -> bool {
        self.under_way
            .lock()
            .expect("switches lock")
            .contains_key(upstream)
    }

    fn begin(&self, upstream: &UpstreamId) -> u64 {
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        self.under_way
            .lock()
            .expect("switches lock")
            .insert(upstream.clone(), ticket);
        ticket
    }

    /// Whether `ticket` is still the newest switch of the upstream.
    fn is_newest(&self, upstream: &UpstreamId, ticket: u64) -> bool {
        self.under_way.lock().expect("switches lock").get(upstream) == Some(&ticket)
    }

    /// Whether `ticket` is still the newest switch of the upstream (then it is done).
    fn finish(&self, upstream: &UpstreamId, ticket: u64) -> bool {
        let mut under_way = self.under_way.lock().expect("switches lock");
        if under_way.get(upstream) == Some(&ticket) {
            under_way.remove(upstream);
            true
        } else {
            false
        }
    }
}

/// The launch a switch starts, and what it does if that does not start.
pub(crate) struct Switch {
    pub fresh: Arc<Pool>,
    pub on_failure: OnFailedSwitch,
}

/// Starts `to.fresh` (the upstream as it is now) and puts it in the map in place of the
/// instance there, which, with `also_replaced` (its people's instances), stops once idle.
/// If it does not start and the switch undoes failures, the old instance stays and the
/// record goes back to its launch (`undo_failed_upgrade`).
pub(crate) fn switch(
    platform: &Platform,
    upstream: &Upstream,
    to: Switch,
    instances: Instances,
    switches: Arc<Switches>,
    also_replaced: Vec<Arc<Instance>>,
) {
    let ticket = switches.begin(&upstream.id);
    let platform = platform.clone();
    let upstream = upstream.clone();
    let Switch { fresh, on_failure } = to;
    tokio::spawn(async move {
        let started = tokio::time::timeout(START_WAIT, fresh.start(&platform)).await;
        let ready = started.is_ok() && fresh.is_running().await;
        // Undone while the switch is still under way, so that no call starts another
        // switch to the launch that failed before the record goes back.
        let undo = !ready
            && on_failure == OnFailedSwitch::Undo
            && switches.is_newest(&upstream.id, ticket)
            && old_serves(&instances, &upstream).await;
        if undo {
            // The old instance stays; people's instances, out of the map, end as they would.
            fresh.stop().await;
            undo_failed(&platform, &upstream).await;
            switches.finish(&upstream.id, ticket);
            futures::future::join_all(also_replaced.into_iter().map(retire_instance)).await;
            return;
        }
        if !switches.finish(&upstream.id, ticket) {
            // A newer switch (a rollback right after an upgrade) takes over instead.
            fresh.stop().await;
            return;
        }
        let old = instances
            .lock()
            .expect("supervisor lock")
            .insert(upstream.id.clone(), fresh);
        tracing::info!(upstream = %upstream.id, ready, "an upstream switched to its new launch");
        if let Err(error) =
            guidepost_core::upstreams::upgrade::record_switch(&platform, &upstream, ready).await
        {
            tracing::warn!(upstream = %upstream.id, %error, "could not audit an upstream's switch");
        }
        let retired = old.map(retire_pool);
        let personal = also_replaced.into_iter().map(retire_instance);
        futures::future::join(
            futures::future::join_all(retired),
            futures::future::join_all(personal),
        )
        .await;
    });
}

/// Whether the instance a switch would replace runs (only then is keeping it worth an
/// undo: one that failed too, or never started here, is replaced as a rollback is).
async fn old_serves(instances: &Instances, upstream: &Upstream) -> bool {
    let old = instances
        .lock()
        .expect("supervisor lock")
        .get(&upstream.id)
        .cloned();
    match old {
        Some(old) => old.is_running().await,
        None => false,
    }
}

/// Puts the record back to the launch this node still runs (`undo_failed_upgrade`).
async fn undo_failed(platform: &Platform, upstream: &Upstream) {
    match guidepost_core::upstreams::upgrade::undo_failed_upgrade(platform, upstream).await {
        Ok(undone) => {
            let undone = undone.is_some();
            tracing::warn!(upstream = %upstream.id, undone, "an upstream's new launch did not start");
        }
        Err(error) => {
            tracing::warn!(upstream = %upstream.id, %error, "could not undo an upgrade that did not start");
        }
    }
}
