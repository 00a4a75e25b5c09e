//! Each person's own session with an upstream that has `person` sign-in: the
//! shared instance discovers the upstream's definitions with the organization's
//! connection, and a person's calls go through an instance of their own that speaks with
//! their token, so that one person's account never serves another's call.
//!
//! The cost, per person who called on this node: one HTTP session at the upstream (rmcp's
//! client, a few tens of KiB) and its watcher task. An idle one is stopped by the watcher
//! after the idle timeout like any upstream, and at most [`PERSONAL_INSTANCES_MAX`] are
//! kept per node: past it, the one called least recently (and not busy) is stopped and
//! forgotten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use guidepost_domain::{EndUserId, OrgId, Upstream, UpstreamId};

use crate::upstream::Instance;

/// The most personal instances one node keeps.
pub const PERSONAL_INSTANCES_MAX: usize = 1000;

#[derive(Default)]
pub(crate) struct PersonalInstances {
    instances: Mutex<HashMap<(UpstreamId, EndUserId), Arc<Instance>>>,
}

impl PersonalInstances {
    /// `end_user`'s instance of `upstream`, made by `new` if there is none (after making
    /// room for it).
    pub fn instance(
        &self,
        upstream: &Upstream,
        end_user: &EndUserId,
        new: impl FnOnce() -> Arc<Instance>,
    ) -> Arc<Instance> {
        let key = (upstream.id.clone(), end_user.clone());
        let mut instances = self.instances.lock().expect("personal instances lock");
        if let Some(found) = instances.get(&key) {
            return found.clone();
        }
        if instances.len() >= PERSONAL_INSTANCES_MAX
            && let Some(evicted) = least_recently_used(&instances)
            && let Some(instance) = instances.remove(&evicted)
        {
            tokio::spawn(async move { instance.stop().await });
        }
        instances.entry(key).or_insert_with(new).clone()
    }

    /// Forgets every person's instance of `upstream` (it stops or is uninstalled).
    pub fn remove_upstream(&self, upstream: &UpstreamId) -> Vec<Arc<Instance>> {
        let mut instances = self.instances.lock().expect("personal instances lock");
        let keys: Vec<_> = instances
            .keys()
            .filter(|(id, _)| id == upstream)
            .cloned()
            .collect();
        keys.iter()
            .filter_map(|key| instances.remove(key))
            .collect()
    }

    /// Every person's instance of `upstream` on this node.
    pub fn of_upstream(&self, upstream: &UpstreamId) -> Vec<Arc<Instance>> {
        let instances = self.instances.lock().expect("personal instances lock");
        instances
            .iter()
            .filter(|((id, _), _)| id == upstream)
            .map(|(_, instance)| instance.clone())
            .collect()
    }

    /// The upstreams someone has a session of here, with their organizations.
    pub fn upstreams(&self) -> Vec<(OrgId, UpstreamId)> {
        let instances = self.instances.lock().expect("personal instances lock");
        instances
            .values()
            .map(|i| (i.upstream.org_id.clone(), i.upstream.id.clone()))
            .collect()
    }

    /// Every instance, forgotten (at shutdown).
    pub fn drain_all(&self) -> Vec<Arc<Instance>> {
        let mut instances = self.instances.lock().expect("personal instances lock");
        instances.drain().map(|(_, instance)| instance).collect()
    }
}

/// The instance called least recently that has no call in flight and no subscriber.
fn least_recently_used(
    instances: &HashMap<(UpstreamId, EndUserId), Arc<Instance>>,
) -> Option<(UpstreamId, EndUserId)> {
    instances
        .iter()
        .filter(|(_, instance)| !instance.is_busy())
        .max_by_key(|(_, instance)| instance.last_used.lock().expect("last used lock").elapsed())
        .map(|(key, _)| key.clone())
}
