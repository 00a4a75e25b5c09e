//! An upstream's life on this node: launched when a call or a start needs it (its launch
//! resolved first: its package, secrets and, for a remote server that signs in, the
//! connection it speaks as), its exits counted, its status written, and what its watcher
//! does (`watch::Watched`): a stop when idle, a restart after a crash, the count cleared
//! once it stays up.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use guidepost_core::Platform;
use guidepost_core::upstreams::{connections, record_status};
use guidepost_domain::{UpstreamFault, UpstreamStatus};

use super::{Instance, State};
use crate::launch::{self, Launch, LaunchError};
use crate::watch::{HEALTHY_AFTER, Watched, Watcher};

/// Why a launch could not even be prepared.
enum Unresolved {
    /// Nothing but a change to the upstream helps (its package, its secrets, the fence).
    Unlaunchable(String),
    /// It signs in, and the account it speaks as is not connected (yet).
    NotConnected(String),
}

impl Instance {
    /// Leaves the upstream running, launching it if it is not (again, if it died). The
    /// future is boxed and declared `Send`: a launch spawns a watcher whose restart
    /// launches again, and the compiler cannot see through that cycle by itself.
    pub fn ensure_running<'a>(
        self: &'a Arc<Self>,
        platform: &'a Platform,
        state: &'a mut State,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(self.launch_if_needed(platform, state))
    }

    async fn launch_if_needed(
        self: &Arc<Self>,
        platform: &Platform,
        state: &mut State,
    ) -> Result<(), String> {
        if let Some(running) = &state.running {
            if !running.is_gone() {
                return Ok(());
            }
            self.record_exit(platform, state, UpstreamFault::EXITED)
                .await;
        }
        if let Some(why) = &state.unlaunchable {
            return Err(format!(
                "the upstream server cannot be started: {why}; fix it and restart it"
            ));
        }
        if state.restarts >= self.options.max_restarts {
            let why = self.failure_reason(state.restarts);
            self.status(platform, UpstreamStatus::Failed, Some(&why), state.restarts)
                .await;
            let told = told_when_failed(state.restarts);
            return Err(format!("the upstream server is failed: {told}"));
        }
        if state.stopped {
            return Err("the upstream server was stopped on this node; try again".into());
        }
        let launch = match &state.launch {
            Some(launch) => launch.clone(),
            None => match self.resolve(platform).await {
                Ok(launch) => {
                    state.launch = Some(launch.clone());
                    launch
                }
                Err(Unresolved::Unlaunchable(why)) => {
                    // Not a crash to retry: failed at once, until someone restarts it.
                    tracing::warn!(upstream = %self.upstream.id, %why, "an upstream cannot be launched");
                    self.status(platform, UpstreamStatus::Failed, Some(&why), state.restarts)
                        .await;
                    state.unlaunchable = Some(why.clone());
                    return Err(format!("the upstream server cannot be started: {why}"));
                }
                Err(Unresolved::NotConnected(why)) => {
                    // Failed until an account is connected, which may happen through any
                    // node: the next call here looks again.
                    self.status(platform, UpstreamStatus::Failed, Some(&why), state.restarts)
                        .await;
                    return Err(format!("the upstream server cannot be started: {why}"));
                }
            },
        };
        self.status(platform, UpstreamStatus::Starting, None, state.restarts)
            .await;
        let launched = launch::launch(
            platform,
            &self.upstream,
            &launch,
            &self.logs,
            &self.routes,
            &self.gateway,
            &self.confiner,
            self.replica > 0,
        )
        .await;
        match launched {
            Ok(running) => {
                state.generation += 1;
                let exit = running.exit();
                let peer = running.client.peer().clone();
                let refusal = running.refusal.clone();
                state.running = Some(running);
                state.up_since = Some(Instant::now());
                self.up.store(true, Ordering::Relaxed);
                self.status(platform, UpstreamStatus::Ready, None, state.restarts)
                    .await;
                let watcher = Watcher {
                    watched: Arc::new(self.clone()),
                    options: self.options.clone(),
                    platform: platform.clone(),
                    generation: state.generation,
                    peer,
                    refusal,
                };
                tokio::spawn(watcher.watch(exit));
                Ok(())
            }
            Err(LaunchError::PastBounds(why)) => {
                // Not a crash to retry: it would list the same again. Failed at once,
                // until someone restarts it.
                tracing::warn!(upstream = %self.upstream.id, %why, "an upstream listed past a bound");
                self.status(platform, UpstreamStatus::Failed, Some(&why), state.restarts)
                    .await;
                state.unlaunchable = Some(why.clone());
                Err(format!("the upstream server cannot be started: {why}"))
            }
            Err(failure @ (LaunchError::Failed(_) | LaunchError::Faulted(_))) => {
                // A fault Guidepost observed is told in its words and kept typed beside.
                let (why, fault) = failure.words_and_fault();
                state.restarts += 1;
                if state.restarts < self.options.max_restarts {
                    let degraded = UpstreamStatus::Degraded;
                    self.status_with(
                        platform,
                        degraded,
                        Some(&why),
                        fault.as_ref(),
                        state.restarts,
                    )
                    .await;
                    return Err(format!("the upstream server did not start: {why}"));
                }
                let reason = self.failure_reason(state.restarts);
                let recorded = format!("{why}; {reason}");
                let failed = UpstreamStatus::Failed;
                self.status_with(
                    platform,
                    failed,
                    Some(&recorded),
                    fault.as_ref(),
                    state.restarts,
                )
                .await;
                let told = told_when_failed(state.restarts);
                Err(format!("the upstream server did not start: {why}; {told}"))
            }
        }
    }

    /// What to launch, with the upstream's secrets opened.
    async fn resolve(&self, platform: &Platform) -> Result<Launch, Unresolved> {
        // A node that cannot confine process upstreams (`/readyz` says why) will not be
        // able to after a restart either: failed at once, not retried.
        if launch::declaration_of(&self.upstream.spec).is_some() {
            self.confiner
                .admit()
                .map_err(|e| Unresolved::Unlaunchable(e.to_string()))?;
        }
        let secrets = guidepost_core::upstreams::secrets::opened(platform, &self.upstream)
            .map_err(|why| Unresolved::Unlaunchable(why.to_string()))?;
        *self.secrets.lock().expect("secrets lock") = secrets.values().cloned().collect();
        let mut launch = launch::resolve(
            &self.upstream,
            &self.gateway,
            &secrets,
            Some(&self.confiner),
        )
        .await
        .map_err(Unresolved::Unlaunchable)?;
        if let Launch::Http { signed_in, .. } = &mut launch
            && !connections::sign_in_of(&self.upstream).is_none()
        {
            // Discovery and calls speak as the organization's connection, a person's
            // calls as theirs; without one there is nothing to start, which the status
            // says in words.
            let owner = self.owner.clone();
            connections::bearer(platform, &self.upstream, &owner)
                .await
                .map_err(|why| Unresolved::NotConnected(format!("{why}: an editor connects it from the upstream's page or with POST /api/v1/upstreams/{}/connect", self.upstream.id)))?;
            *signed_in = Some(Box::new(launch::SignedInAs {
                platform: platform.clone(),
                upstream: self.upstream.clone(),
                owner,
            }));
        }
        Ok(launch)
    }

    /// The running launch died of `fault`: it is cleared and counted, and the status
    /// says why. An exit is told with how the process ended, once that is known.
    pub(super) async fn record_exit(
        &self,
        platform: &Platform,
        state: &mut State,
        fault: UpstreamFault,
    ) {
        self.up.store(false, Ordering::Relaxed);
        let mut fault = fault;
        if let Some(dead) = state.running.take() {
            if let (UpstreamFault::Exited { .. }, Some(ended)) = (&fault, dead.ended()) {
                fault = ended;
            }
            dead.shut().await;
        }
        let why = fault.to_string();
        state.up_since = None;
        state.generation += 1;
        state.restarts += 1;
        let why = match self.last_words() {
            Some(line) => format!("{why}; its last stderr line: {line}"),
            None => why,
        };
        let status = if state.restarts >= self.options.max_restarts {
            UpstreamStatus::Failed
        } else {
            UpstreamStatus::Degraded
        };
        self.status_with(platform, status, Some(&why), Some(&fault), state.restarts)
            .await;
    }

    /// Why it failed, for its status: with its last words.
    fn failure_reason(&self, restarts: i64) -> String {
        let mut why = format!("it stopped {restarts} times in a row; restart it once fixed");
        if let Some(line) = self.last_words() {
            why.push_str(&format!(" (its last stderr line: {line})"));
        }
        why
    }

    pub async fn status(
        &self,
        platform: &Platform,
        status: UpstreamStatus,
        error: Option<&str>,
        restarts: i64,
    ) {
        self.status_with(platform, status, error, None, restarts)
            .await;
    }

    /// As [`Self::status`], with the fault Guidepost observed, if it did.
    pub async fn status_with(
        &self,
        platform: &Platform,
        status: UpstreamStatus,
        error: Option<&str>,
        fault: Option<&UpstreamFault>,
        restarts: i64,
    ) {
        if self.is_personal() {
            // A person's connection is not the upstream's state: its failures reach only
            // that person's calls.
            return;
        }
        if self.replica > 0 {
            // The primary's status is the upstream's; a replica's life is logged, and its
            // failures reach only the calls it held.
            if status != UpstreamStatus::Ready {
                tracing::warn!(upstream = %self.upstream.id, replica = self.replica, %status,
                    error = error.unwrap_or_default(), restarts, "an upstream's replica stopped");
            }
            return;
        }
        if let Err(e) =
            record_status(platform, &self.upstream, status, error, fault, restarts).await
        {
            tracing::warn!(upstream = %self.upstream.id, error = %e, "could not store an upstream's status");
        }
    }
}

/// On the `Arc`: a relaunch needs the shared instance, as a launch spawns its watcher.
#[async_trait::async_trait]
impl Watched for Arc<Instance> {
    async fn is_current(&self, generation: u64) -> bool {
        self.state.lock().await.generation == generation
    }

    fn activity(&self) -> (Duration, bool) {
        let idle = self.last_used.lock().expect("last used lock").elapsed();
        (idle, self.is_busy())
    }

    async fn clear_count_once_healthy(&self, platform: &Platform, generation: u64) {
        let mut state = self.state.lock().await;
        let healthy = state
            .up_since
            .is_some_and(|since| since.elapsed() >= HEALTHY_AFTER);
        if state.generation == generation && healthy && state.restarts > 0 {
            state.restarts = 0;
            self.status(platform, UpstreamStatus::Ready, None, 0).await;
        }
    }

    async fn stop_if_idle(&self, platform: &Platform, generation: u64) -> bool {
        let mut state = self.state.lock().await;
        if state.generation != generation {
            return true;
        }
        // A call may have come in since the watcher looked.
        let (idle, busy) = self.activity();
        let still_idle = self.options.idle_timeout.is_some_and(|limit| idle >= limit);
        if busy || !still_idle {
            return false;
        }
        state.generation += 1;
        state.up_since = None;
        self.up.store(false, Ordering::Relaxed);
        if let Some(running) = state.running.take() {
            running.shut().await;
        }
        let restarts = state.restarts;
        let idle = UpstreamFault::StoppedIdle;
        let why = idle.to_string();
        let stopped = UpstreamStatus::Stopped;
        self.status_with(platform, stopped, Some(&why), Some(&idle), restarts)
            .await;
        true
    }

    async fn record_crash(
        &self,
        platform: &Platform,
        generation: u64,
        fault: UpstreamFault,
    ) -> Option<(i64, u64)> {
        let mut state = self.state.lock().await;
        if state.generation != generation || state.stopped {
            return None;
        }
        self.record_exit(platform, &mut state, fault).await;
        if state.restarts >= self.options.max_restarts {
            tracing::warn!(upstream = %self.upstream.id, restarts = state.restarts, "an upstream failed for good");
            return None;
        }
        Some((state.restarts, state.generation))
    }

    async fn refuse(&self, platform: &Platform, generation: u64, why: &str) {
        let mut state = self.state.lock().await;
        if state.generation != generation || state.stopped {
            return;
        }
        tracing::warn!(upstream = %self.upstream.id, %why, "a running upstream is given up on");
        state.generation += 1;
        state.up_since = None;
        self.up.store(false, Ordering::Relaxed);
        if let Some(running) = state.running.take() {
            running.shut().await;
        }
        // As at launch: what it lists would go past the bound again, so nothing starts
        // it until someone restarts it.
        state.unlaunchable = Some(why.to_owned());
        self.status(platform, UpstreamStatus::Failed, Some(why), state.restarts)
            .await;
    }

    async fn relaunch(&self, platform: &Platform, generation: u64) {
        {
            let state = self.state.lock().await;
            // Nothing else started or stopped it meanwhile (a call may have relaunched it).
            if state.generation != generation || state.stopped || state.running.is_some() {
                return;
            }
        }
        // A relaunch that fails is tried again after a backoff, up to the limit, as at
        // install: else one crash at start would leave it `degraded` until the next call.
        self.keep_trying(platform).await;
    }
}

/// What a caller is told of an upstream that failed: that it is down and who mends it, not
/// its last words, which go only to whoever may read its status (`last_error`) and logs.
fn told_when_failed(restarts: i64) -> String {
    format!(
        "it stopped {restarts} times in a row; the organization's gateway page says why, and \
         it serves again once fixed and restarted there"
    )
}
