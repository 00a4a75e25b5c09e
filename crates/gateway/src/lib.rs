//! The gateway's supervisor: on each node, one process per upstream MCP server
//! that a hosted server needs (or `replicas` of a stateless one, `pool`), shared by every
//! session. It fetches the upstream's package
//! at install time (`fetch`), runs it as the leader of its own process group with its
//! stderr drained into a bounded ring (`process`), talks to it as an MCP client over its
//! stdio (rmcp), and writes what it sees (status, restarts, discovered tools) through
//! core's `upstreams` service.
//!
//! Architecture invariant: this is the only crate besides `mcp` and `fixture` that
//! imports `rmcp`, and it uses only rmcp's client side.

mod account_tools;
mod client;
pub mod confine;
mod container;
pub mod direct;
mod fetch;
mod last_words;
mod launch;
mod listing;
mod orphans;
mod path_error;
mod personal;
mod pool;
mod process;
mod reach;
mod reconcile;
mod relay;
mod secret_args;
mod signed_in;
mod subscriptions;
mod switch;
mod traced;
mod upstream;
mod watch;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use guidepost_core::Platform;
use guidepost_core::upstreams::connections;
use guidepost_core::upstreams::{
    CallContext, CallingPerson, NotAdmitted, OnFailedSwitch, Subscriber, UpstreamAnswer,
    UpstreamCallError, UpstreamRequest, UpstreamRuntime,
};
use guidepost_domain::{
    ConnectionOwner, LaunchLimits, LaunchSpec, OrgId, Upstream, UpstreamId, UpstreamSignIn,
};
use serde_json::Value;

use confine::Confiner;
pub use fetch::Toolchain;
use pool::Pool;
use upstream::Instance;

/// How the supervisor watches upstreams.
#[derive(Debug, Clone)]
pub struct Supervision {
    /// How often a running upstream is pinged, and how long it has to answer.
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// An upstream not called for this long is stopped on this node; `None`: never.
    pub idle_timeout: Option<Duration>,
    /// Stops in a row (crashes, failed starts, missed pings) before it is `failed`.
    pub max_restarts: i64,
    /// The first restart's delay; each further one doubles it.
    pub backoff: Duration,
}

impl Default for Supervision {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(30),
            ping_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(15 * 60)),
            max_restarts: 5,
            backoff: Duration::from_millis(500),
        }
    }
}

/// Where packages come from, how upstreams are watched, and which HTTP upstreams may be
/// reached.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    pub toolchain: Toolchain,
    pub supervision: Supervision,
    /// Reach HTTP upstreams on private and loopback addresses too (development and
    /// tests); otherwise the outbound fence allows public addresses only.
    pub http_allow_private: bool,
    /// The Docker Engine API socket (Docker's, or Podman's service) that runs container
    /// upstreams; without it they fail with a clear error.
    pub container_socket: Option<std::path::PathBuf>,
    /// Names the deployment (the nodes sharing one database) in owner markers, so that a
    /// node reaps only its own deployment's orphans.
    pub deployment: String,
    /// How process upstreams are confined, and the caps on what they may reserve.
    pub confinement: confine::ConfinementOptions,
}

/// Every upstream this node runs.
pub struct Supervisor {
    options: GatewayOptions,
    confiner: Arc<Confiner>,
    instances: switch::Instances,
    /// Switches to a new launch under way on this node.
    switches: Arc<switch::Switches>,
    /// Upstreams with `person` sign-in, per person who called on this node: each one's
    /// own upstream session, with their token (`personal`).
    personal: personal::PersonalInstances,
    /// Upstreams uninstalled while this node ran: never started here again.
    retired: Mutex<HashSet<UpstreamId>>,
}

impl Supervisor {
    pub fn new(mut options: GatewayOptions) -> Arc<Self> {
        for moved in confine::make_reachable(&mut options.toolchain, &options.confinement) {
            tracing::warn!("{moved}");
        }
        let confiner = Confiner::detect(
            options.confinement.clone(),
            &options.toolchain,
            &options.deployment,
        );
        Arc::new(Self {
            confiner: Arc::new(confiner),
            options,
            instances: switch::Instances::default(),
            switches: Arc::default(),
            personal: personal::PersonalInstances::default(),
            retired: Mutex::default(),
        })
    }

    /// At a node's start: kills the upstream processes, and removes the containers, that a
    /// node that died left behind.
    pub async fn reap_orphans(&self) -> usize {
        let deployment = &self.options.deployment;
        let mut reaped = self.confiner.reap_orphans(deployment) + orphans::reap(deployment);
        if let Some(socket) = &self.options.container_socket {
            match container::reap(socket, deployment).await {
                Ok(containers) => reaped += containers,
                Err(error) => tracing::warn!(%error, "could not look for orphaned containers"),
            }
        }
        reaped
    }

    /// At a node's start, once the installed upstreams are known: removes the container
    /// volumes of this deployment's upstreams that are no longer installed (another node
    /// uninstalled them, or this one while it was down); returns how many.
    pub async fn sweep_volumes(&self, installed: &HashSet<UpstreamId>) -> usize {
        let Some(socket) = &self.options.container_socket else {
            return 0;
        };
        let installed = installed.iter().map(|id| id.to_string()).collect();
        match container::sweep_volumes(socket, &self.options.deployment, &installed).await {
            Ok(swept) => swept,
            Err(error) => {
                tracing::warn!(%error, "could not sweep the volumes of uninstalled upstreams");
                0
            }
        }
    }

    /// Whether it was uninstalled: nothing starts it again on this node.
    fn is_retired(&self, upstream: &UpstreamId) -> bool {
        self.retired
            .lock()
            .expect("supervisor lock")
            .contains(upstream)
    }

    fn pool(&self, upstream: &Upstream) -> Arc<Pool> {
        let mut instances = self.instances.lock().expect("supervisor lock");
        instances
            .entry(upstream.id.clone())
            .or_insert_with(|| self.new_pool(upstream))
            .clone()
    }

    fn new_pool(&self, upstream: &Upstream) -> Arc<Pool> {
        let pool = Pool::new(
            upstream.clone(),
            self.options.clone(),
            self.confiner.clone(),
        );
        pool.fit_to(upstream.replicas);
        pool
    }

    /// The instance that serves `upstream`'s calls here; when another node upgraded it
    /// (the record is newer than the instance's and launches otherwise), this node
    /// switches too, the instance it has serving until then; when another node restarted
    /// it, this node starts it afresh (`reconcile`).
    fn serving(&self, platform: &Platform, upstream: &Upstream) -> Arc<Pool> {
        let pool = self.pool(upstream);
        if reconcile::restarted_since(upstream, &pool) {
            return self.restart_here(platform, upstream, &pool, true);
        }
        let known = &pool.upstream;
        let relaunched =
            known.spec != upstream.spec || known.secrets_sealed != upstream.secrets_sealed;
        if relaunched
            && upstream.updated_at > known.updated_at
            && !self.switches.is_under_way(&upstream.id)
        {
            // Following another node's upgrade: that node undoes it if it fails.
            self.switch(platform, upstream, OnFailedSwitch::TakeOver);
        }
        pool
    }

    /// What confinement is in force on this node.
    pub fn confinement(&self) -> confine::Report {
        self.confiner.report()
    }

    /// Stops every upstream of this node (at shutdown), whole process groups.
    pub async fn shutdown(&self) {
        let all: Vec<Arc<Pool>> = {
            let mut instances = self.instances.lock().expect("supervisor lock");
            instances.drain().map(|(_, pool)| pool).collect()
        };
        for pool in all {
            pool.stop().await;
        }
        for instance in self.personal.drain_all() {
            instance.stop().await;
        }
        self.confiner.release_node();
    }
}

/// Why an upstream that works with each person's own account is not asked for nobody in
/// particular (core checks the person first; this guards that the organization's
/// connection never serves a person's request).
fn signed_in_first(upstream: &Upstream) -> UpstreamCallError {
    UpstreamCallError::NotStarted(format!(
        "{} works with each person's own account; sign in first",
        upstream.name
    ))
}

impl Supervisor {
    /// The instance that speaks for `person` with `upstream`, which has `person` sign-in:
    /// their own session, made if this node has none.
    fn personal_instance(&self, upstream: &Upstream, person: &CallingPerson) -> Arc<Instance> {
        self.personal.instance(upstream, &person.end_user, || {
            Instance::speaking_as(
                upstream.clone(),
                ConnectionOwner::Person(person.end_user.clone()),
                self.options.clone(),
                self.confiner.clone(),
            )
        })
    }
}

#[async_trait]
impl UpstreamRuntime for Supervisor {
    fn start(&self, platform: &Platform, upstream: &Upstream) {
        if self.is_retired(&upstream.id) {
            return;
        }
        let pool = self.pool(upstream);
        let platform = platform.clone();
        tokio::spawn(async move { pool.start(&platform).await });
    }

    fn switch(&self, platform: &Platform, upstream: &Upstream, on_failure: OnFailedSwitch) {
        if self.is_retired(&upstream.id) {
            return;
        }
        let to = switch::Switch {
            fresh: self.new_pool(upstream),
            on_failure,
        };
        switch::switch(
            platform,
            upstream,
            to,
            self.instances.clone(),
            self.switches.clone(),
            self.personal.remove_upstream(&upstream.id),
        );
    }

    fn is_switching(&self, upstream: &UpstreamId) -> bool {
        self.switches.is_under_way(upstream)
    }

    async fn stop(&self, upstream: &UpstreamId) {
        let pool = self
            .instances
            .lock()
            .expect("supervisor lock")
            .remove(upstream);
        if let Some(pool) = pool {
            pool.stop().await;
        }
        for personal in self.personal.remove_upstream(upstream) {
            personal.stop().await;
        }
    }

    async fn call(
        &self,
        platform: &Platform,
        upstream: &Upstream,
        tool: &str,
        arguments: Value,
        timeout: Duration,
        context: CallContext,
    ) -> Result<UpstreamAnswer, UpstreamCallError> {
        if self.is_retired(&upstream.id) {
            return Err(UpstreamCallError::NotStarted(
                "it is not installed any more".into(),
            ));
        }
        // Only an upstream that works with each person's own account gets a session per
        // person; every other is shared by all callers on this node.
        let personal = connections::sign_in_of(upstream) == UpstreamSignIn::Person;
        let instance = match context.person.as_ref().filter(|_| personal) {
            Some(person) => self.personal_instance(upstream, person),
            // A tool call is pinned to the least busy process of the pool for its life.
            None => self
                .serving(platform, upstream)
                .pick(platform, upstream.replicas),
        };
        let started = std::time::Instant::now();
        let result = instance
            .call(platform, tool, arguments, timeout, context)
            .await;
        metrics::histogram!("guidepost_upstream_call_seconds", "upstream" => upstream.id.to_string())
            .record(started.elapsed().as_secs_f64());
        result
    }

    async fn request(
        &self,
        platform: &Platform,
        upstream: &Upstream,
        request: UpstreamRequest,
        timeout: Duration,
        person: Option<&CallingPerson>,
    ) -> Result<Value, UpstreamCallError> {
        if self.is_retired(&upstream.id) {
            return Err(UpstreamCallError::NotStarted(
                "it is not installed any more".into(),
            ));
        }
        let instance = if connections::sign_in_of(upstream) == UpstreamSignIn::Person {
            // Never the organization's connection for a person's request.
            let Some(person) = person else {
                return Err(signed_in_first(upstream));
            };
            self.personal_instance(upstream, person)
        } else {
            // Every request but a tool call goes to the primary process.
            self.pool(upstream).primary()
        };
        let method = request.method();
        let started = std::time::Instant::now();
        let result = instance.request(platform, request, timeout).await;
        metrics::histogram!("guidepost_upstream_request_seconds", "method" => method)
            .record(started.elapsed().as_secs_f64());
        result
    }

    async fn subscribe(
        &self,
        platform: &Platform,
        upstream: &Upstream,
        uri: &str,
        subscriber: Subscriber,
        timeout: Duration,
    ) -> Result<(), UpstreamCallError> {
        if self.is_retired(&upstream.id) {
            return Err(UpstreamCallError::NotStarted(
                "it is not installed any more".into(),
            ));
        }
        let instance = if connections::sign_in_of(upstream) == UpstreamSignIn::Person {
            // Through the subscriber's own connection: the upstream's updates on it are
            // theirs, and go to nobody else.
            let Some(person) = subscriber.person.clone() else {
                return Err(signed_in_first(upstream));
            };
            self.personal_instance(upstream, &person)
        } else {
            // Subscriptions live on the primary, where their notifications come from.
            self.pool(upstream).primary()
        };
        instance.subscribe(platform, uri, subscriber, timeout).await
    }

    async fn unsubscribe(
        &self,
        platform: &Platform,
        upstream: &Upstream,
        uri: &str,
        subscriber_id: &str,
        timeout: Duration,
    ) -> Result<(), UpstreamCallError> {
        if connections::sign_in_of(upstream) == UpstreamSignIn::Person {
            // The person's own instance holds it; only that one has the subscriber.
            for instance in self.personal.of_upstream(&upstream.id) {
                instance
                    .unsubscribe(platform, uri, subscriber_id, timeout)
                    .await?;
            }
            return Ok(());
        }
        let instance = self.pool(upstream).primary();
        instance
            .unsubscribe(platform, uri, subscriber_id, timeout)
            .await
    }

    async fn discard(&self, upstream: &UpstreamId) {
        // Retired first, so that a call racing the uninstall cannot start it again here.
        self.retired
            .lock()
            .expect("supervisor lock")
            .insert(upstream.clone());
        self.stop(upstream).await;
        let dir = self.options.toolchain.data_dir.join(upstream.as_str());
        if let Err(error) = tokio::fs::remove_dir_all(&dir).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, dir = %dir.display(), "could not remove an uninstalled upstream's directory");
        }
        let image = crate::confine::image_of(&dir);
        if let Err(error) = tokio::fs::remove_file(&image).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, image = %image.display(), "could not remove an uninstalled upstream's disk");
        }
        if let Some(socket) = &self.options.container_socket
            && let Err(error) = container::remove_volume(socket, upstream.as_str()).await
        {
            tracing::warn!(%error, "could not remove an uninstalled upstream's volume");
        }
    }

    fn admits(&self, org: &OrgId, spec: &LaunchSpec) -> Result<(), NotAdmitted> {
        self.admits_replicas(org, spec, 1)
    }

    fn admits_replicas(
        &self,
        org: &OrgId,
        spec: &LaunchSpec,
        replicas: u32,
    ) -> Result<(), NotAdmitted> {
        let (memory_mb, processes) = match (spec.limits(), launch::declaration_of(spec)) {
            // Refused at install, not failed at the first launch.
            (LaunchLimits::Container(_), _) if self.options.container_socket.is_none() => {
                return Err(NotAdmitted(
                    "this platform runs no container engine (start it with --container-socket)"
                        .into(),
                ));
            }
            // A container's memory and processes count on the same caps.
            (LaunchLimits::Container(limits), _) => (limits.memory_mb, limits.pids),
            (LaunchLimits::Process(_), Some(declaration)) => {
                let refused = |e: confine::Refused| NotAdmitted(e.to_string());
                self.confiner.admit().map_err(refused)?;
                self.confiner.limits_of(&declaration).map_err(refused)?
            }
            // Nothing of this host's to reserve.
            (LaunchLimits::Process(_), None) | (LaunchLimits::Remote, _) => return Ok(()),
        };
        // Every replica reserves its own share.
        let replicas = replicas.max(1);
        self.confiner
            .budget()
            .would_admit(
                org.as_str(),
                memory_mb.saturating_mul(replicas),
                processes.saturating_mul(replicas),
            )
            .map_err(|e| NotAdmitted(e.to_string()))
    }

    fn confinement(&self, spec: &LaunchSpec) -> Option<String> {
        let declaration = launch::declaration_of(spec)?;
        Some(self.confiner.describe(&declaration))
    }

    fn confinement_report(&self) -> Option<Value> {
        serde_json::to_value(self.confiner.report()).ok()
    }

    fn logs(&self, upstream: &UpstreamId) -> Vec<String> {
        let instances = self.instances.lock().expect("supervisor lock");
        instances
            .get(upstream)
            .map(|pool| pool.logs())
            .unwrap_or_default()
    }
}
