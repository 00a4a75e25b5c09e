//! What another node did to an upstream that runs here (every node runs
//! its own processes of the upstreams it needs, from one shared store). A restart on
//! request marks the upstream's record (`restarted_at`); this node starts it afresh, its
//! restart count at zero, as soon as it sees the mark newer than the one its processes
//! were started under: at the next call (the record reaches calls through the node
//! cache, which the restart's announcement clears), or at the latest at the next look
//! (`Supervisor::reconcile`, every ping interval), which also stops here what another
//! node uninstalled, so that no process keeps an uninstalled upstream's secrets.

use std::collections::HashSet;
use std::sync::Arc;

use guidepost_core::upstreams::{self, UpstreamRuntime};
use guidepost_core::{CoreError, Platform};
use guidepost_domain::{OrgId, Upstream, UpstreamId};

use crate::Supervisor;
use crate::pool::{Pool, retire_instance, retire_pool};

impl Supervisor {
    /// Looks once at the record of every upstream that runs here: one statement each.
    pub async fn reconcile(&self, platform: &Platform) {
        for (org, id) in self.running_here() {
            match upstreams::current_record(platform, &org, &id).await {
                Ok(upstream) => {
                    if let Some(pool) = self.pool_of(&id)
                        && restarted_since(&upstream, &pool)
                    {
                        // One that is not running here (idle, or failed) is only made
                        // afresh: the next call here starts it, its restart count at zero.
                        let running = pool.is_running().await;
                        self.restart_here(platform, &upstream, &pool, running);
                    }
                }
                Err(CoreError::NotFound) => {
                    tracing::info!(upstream = %id, "uninstalled through another node: stopping it here");
                    self.discard(&id).await;
                }
                Err(error) => {
                    tracing::warn!(upstream = %id, %error, "could not read an upstream's record");
                }
            }
        }
    }

    /// The upstreams this node runs a process or a person's session of, once each.
    fn running_here(&self) -> Vec<(OrgId, UpstreamId)> {
        let mut seen = HashSet::new();
        let pools: Vec<(OrgId, UpstreamId)> = self
            .instances
            .lock()
            .expect("supervisor lock")
            .values()
            .map(|pool| (pool.upstream.org_id.clone(), pool.upstream.id.clone()))
            .collect();
        pools
            .into_iter()
            .chain(self.personal.upstreams())
            .filter(|(_, id)| seen.insert(id.clone()))
            .collect()
    }

    fn pool_of(&self, id: &UpstreamId) -> Option<Arc<Pool>> {
        self.instances
            .lock()
            .expect("supervisor lock")
            .get(id)
            .cloned()
    }

    /// Puts a fresh pool of `upstream` in place of `old` (unless another call did
    /// already), started at once with `start`: calls that hold the old processes finish
    /// there, and people's sessions of it are opened again at their next call.
    pub(crate) fn restart_here(
        &self,
        platform: &Platform,
        upstream: &Upstream,
        old: &Arc<Pool>,
        start: bool,
    ) -> Arc<Pool> {
        let fresh = {
            let mut instances = self.instances.lock().expect("supervisor lock");
            if let Some(current) = instances.get(&upstream.id)
                && !Arc::ptr_eq(current, old)
            {
                return current.clone();
            }
            let fresh = self.new_pool(upstream);
            instances.insert(upstream.id.clone(), fresh.clone());
            fresh
        };
        tracing::info!(upstream = %upstream.id, "restarted on request elsewhere: starting it afresh here");
        let people = self.personal.remove_upstream(&upstream.id);
        let old = old.clone();
        tokio::spawn(async move {
            let people = people.into_iter().map(retire_instance);
            futures::future::join(retire_pool(old), futures::future::join_all(people)).await;
        });
        if start {
            let (started, platform) = (fresh.clone(), platform.clone());
            tokio::spawn(async move { started.start(&platform).await });
        }
        fresh
    }
}

/// Whether `upstream`'s record holds a restart on request newer than the one `pool` was
/// started under.
pub(crate) fn restarted_since(upstream: &Upstream, pool: &Pool) -> bool {
    upstream.restarted_at > pool.upstream.restarted_at
}
