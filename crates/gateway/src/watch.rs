//! Watching a running upstream (SPEC §8): its exit is seen at once and it is restarted
//! after an exponential backoff with jitter, up to the limit; a `ping` it does not answer
//! in time counts as a crash; an upstream nobody called for the idle timeout is stopped
//! (the next call starts it again); one that stayed up a while has its count cleared.

use std::sync::Arc;
use std::time::{Duration, Instant};

use guidepost_core::Platform;
use guidepost_domain::UpstreamStatus;
use rand::RngExt;
use rmcp::RoleClient;
use rmcp::model::{ClientRequest, PingRequest};
use rmcp::service::Peer;

use crate::upstream::Instance;

/// How often the watcher looks at an upstream (idle time, health) at most.
const TICK: Duration = Duration::from_secs(1);
/// Up this long, an upstream's restart count starts again from zero.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// The longest backoff between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Watches one launch (one generation) of an upstream.
pub(crate) struct Watcher {
    pub instance: Arc<Instance>,
    pub platform: Platform,
    pub generation: u64,
    pub peer: Peer<RoleClient>,
}

enum Verdict {
    Crashed(String),
    Idle,
    Superseded,
}

impl Watcher {
    pub async fn watch(self, exit: impl Future<Output = ()> + Send + 'static) {
        tokio::pin!(exit);
        loop {
            match self.observe(&mut exit).await {
                Verdict::Superseded => return,
                // A call came in as it was stopping: it watches on.
                Verdict::Idle if !self.stop_idle().await => continue,
                Verdict::Idle => return,
                Verdict::Crashed(why) => return self.restart_after_crash(&why).await,
            }
        }
    }

    /// Waits for the launch to end, for a missed ping, or for it to go idle.
    async fn observe(&self, exit: impl Future<Output = ()> + Unpin) -> Verdict {
        let options = &self.instance.options;
        let mut ticks = tokio::time::interval(TICK.min(options.ping_interval));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_ping = Instant::now();
        let mut exit = exit;
        loop {
            tokio::select! {
                () = &mut exit => return Verdict::Crashed("the upstream process exited".into()),
                _ = ticks.tick() => {}
            }
            if !self.is_current().await {
                return Verdict::Superseded;
            }
            let idle = self
                .instance
                .last_used
                .lock()
                .expect("last used lock")
                .elapsed();
            let busy = self
                .instance
                .calls_in_flight
                .load(std::sync::atomic::Ordering::Relaxed)
                > 0;
            if !busy && options.idle_timeout.is_some_and(|limit| idle >= limit) {
                return Verdict::Idle;
            }
            if last_ping.elapsed() >= options.ping_interval {
                last_ping = Instant::now();
                if let Err(why) = self.ping().await {
                    return Verdict::Crashed(why);
                }
                self.clear_count_once_healthy().await;
            }
        }
    }

    async fn ping(&self) -> Result<(), String> {
        let timeout = self.instance.options.ping_timeout;
        let ping = self
            .peer
            .send_request(ClientRequest::PingRequest(PingRequest::default()));
        match tokio::time::timeout(timeout, ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(format!("ping failed: {error}")),
            Err(_) => Err(format!(
                "no answer to ping within {} s",
                timeout.as_secs_f64()
            )),
        }
    }

    async fn is_current(&self) -> bool {
        self.instance.state.lock().await.generation == self.generation
    }

    async fn clear_count_once_healthy(&self) {
        let mut state = self.instance.state.lock().await;
        let healthy = state
            .up_since
            .is_some_and(|since| since.elapsed() >= HEALTHY_AFTER);
        if state.generation == self.generation && healthy && state.restarts > 0 {
            state.restarts = 0;
            self.instance
                .status(&self.platform, UpstreamStatus::Ready, None, 0)
                .await;
        }
    }

    /// Stops it if it is still idle; says whether it did.
    async fn stop_idle(&self) -> bool {
        let mut state = self.instance.state.lock().await;
        // A call may have come in since the watcher looked.
        let busy = self
            .instance
            .calls_in_flight
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0;
        let idle = self
            .instance
            .last_used
            .lock()
            .expect("last used lock")
            .elapsed();
        let still_idle = self
            .instance
            .options
            .idle_timeout
            .is_some_and(|limit| idle >= limit);
        if state.generation != self.generation {
            return true;
        }
        if busy || !still_idle {
            return false;
        }
        state.generation += 1;
        state.up_since = None;
        if let Some(running) = state.running.take() {
            running.shut().await;
        }
        let restarts = state.restarts;
        let why = "stopped on this node after its idle timeout; the next call starts it";
        self.instance
            .status(&self.platform, UpstreamStatus::Stopped, Some(why), restarts)
            .await;
        true
    }

    async fn restart_after_crash(&self, why: &str) {
        let (restarts, generation) = {
            let mut state = self.instance.state.lock().await;
            if state.generation != self.generation || state.stopped {
                return;
            }
            self.instance
                .record_exit(&self.platform, &mut state, why)
                .await;
            (state.restarts, state.generation)
        };
        if restarts >= self.instance.options.max_restarts {
            tracing::warn!(upstream = %self.instance.upstream.id, restarts, "an upstream failed for good");
            return;
        }
        tokio::time::sleep(backoff(self.instance.options.backoff, restarts)).await;
        let mut state = self.instance.state.lock().await;
        // Nothing else started or stopped it meanwhile (a call may have relaunched it).
        if state.generation != generation || state.stopped || state.running.is_some() {
            return;
        }
        if let Err(error) = self
            .instance
            .ensure_running(&self.platform, &mut state)
            .await
        {
            tracing::warn!(upstream = %self.instance.upstream.id, %error, "restarting an upstream failed");
        }
    }
}

/// `base · 2^(restarts-1)`, at most `MAX_BACKOFF`, with ±25% jitter so that the nodes
/// of a cluster do not restart in step.
pub(crate) fn backoff(base: Duration, restarts: i64) -> Duration {
    let exponent = u32::try_from(restarts.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    let delay = base.saturating_mul(1 << exponent).min(MAX_BACKOFF);
    delay.mul_f64(rand::rng().random_range(0.75..1.25))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_a_ceiling() {
        let base = Duration::from_millis(500);
        for (restarts, expected) in [(1, 500), (2, 1000), (3, 2000), (5, 8000)] {
            let delay = backoff(base, restarts).as_millis() as f64;
            let expected = expected as f64;
            assert!(
                (expected * 0.75..=expected * 1.25).contains(&delay),
                "{restarts}: {delay}"
            );
        }
        assert!(backoff(base, 40) <= MAX_BACKOFF.mul_f64(1.25));
    }
}
