//! Watching a running upstream: its exit is seen at once and it is restarted
//! after an exponential backoff with jitter, up to the limit; a `ping` it does not answer
//! in time counts as a crash; an upstream nobody called for the idle timeout is stopped
//! (the next call starts it again); one that stayed up a while has its count cleared.
//!
//! The watcher decides *when*; what a stop, a restart or a cleared count does to the
//! upstream's state is the watched instance's, behind [`Watched`], so that this module
//! knows nothing of how an instance keeps its state (and imports nothing of it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use guidepost_core::Platform;
use guidepost_domain::UpstreamFault;
use rand::RngExt;
use rmcp::RoleClient;
use rmcp::model::{ClientRequest, PingRequest};
use rmcp::service::Peer;

use crate::Supervision;
use crate::client::Refusal;

/// How often the watcher looks at an upstream (idle time, health) at most.
const TICK: Duration = Duration::from_secs(1);
/// Up this long, an upstream's restart count starts again from zero.
pub(crate) const HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// The longest backoff between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What a watcher asks of, and does to, the upstream it watches. `generation` names the
/// launch being watched: a later launch makes every call here a no-op.
#[async_trait]
pub(crate) trait Watched: Send + Sync {
    /// Whether `generation` is still the running launch.
    async fn is_current(&self, generation: u64) -> bool;
    /// How long since a call last came in, and whether it is busy now (a call in flight,
    /// a client subscribed).
    fn activity(&self) -> (Duration, bool);
    /// The launch has been up a while: its restart count starts again from zero.
    async fn clear_count_once_healthy(&self, platform: &Platform, generation: u64);
    /// Stops it if it is still idle; says whether the watch is over (stopped, or superseded).
    async fn stop_if_idle(&self, platform: &Platform, generation: u64) -> bool;
    /// The launch crashed for `fault`: counts it and answers how many restarts that makes and the
    /// generation it left, or `None` when it is not this watcher's to restart (superseded,
    /// stopped) or has failed for good.
    async fn record_crash(
        &self,
        platform: &Platform,
        generation: u64,
        fault: UpstreamFault,
    ) -> Option<(i64, u64)>;
    /// The launch is given up on from its connection (`Refusal`): it is ended and the
    /// upstream failed for `why`, unless something else started or stopped it since.
    async fn refuse(&self, platform: &Platform, generation: u64, why: &str);
    /// Launches it again after a crash, unless something else started or stopped it
    /// since the crash left `generation`.
    async fn relaunch(&self, platform: &Platform, generation: u64);
}

/// Watches one launch (one generation) of an upstream.
pub(crate) struct Watcher {
    pub watched: Arc<dyn Watched>,
    pub options: Supervision,
    pub platform: Platform,
    pub generation: u64,
    pub peer: Peer<RoleClient>,
    /// Set when the launch is given up on from its connection.
    pub refusal: Refusal,
}

enum Verdict {
    Crashed(UpstreamFault),
    Refused(String),
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
                Verdict::Idle
                    if !self
                        .watched
                        .stop_if_idle(&self.platform, self.generation)
                        .await =>
                {
                    continue;
                }
                Verdict::Idle => return,
                Verdict::Crashed(fault) => return self.restart_after_crash(fault).await,
                Verdict::Refused(why) => {
                    return self
                        .watched
                        .refuse(&self.platform, self.generation, &why)
                        .await;
                }
            }
        }
    }

    /// Waits for the launch to end, for a missed ping, for it to be given up on, or for
    /// it to go idle.
    async fn observe(&self, exit: impl Future<Output = ()> + Unpin) -> Verdict {
        let options = &self.options;
        let mut ticks = tokio::time::interval(TICK.min(options.ping_interval));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_ping = Instant::now();
        let mut exit = exit;
        loop {
            tokio::select! {
                // How it ended is the instance's to read, from the process it holds.
                () = &mut exit => return Verdict::Crashed(UpstreamFault::EXITED),
                why = self.refusal.refused() => return Verdict::Refused(why),
                _ = ticks.tick() => {}
            }
            if !self.watched.is_current(self.generation).await {
                return Verdict::Superseded;
            }
            let (idle, busy) = self.watched.activity();
            if !busy && options.idle_timeout.is_some_and(|limit| idle >= limit) {
                return Verdict::Idle;
            }
            if last_ping.elapsed() >= options.ping_interval {
                last_ping = Instant::now();
                if let Err(fault) = self.ping().await {
                    return Verdict::Crashed(fault);
                }
                self.watched
                    .clear_count_once_healthy(&self.platform, self.generation)
                    .await;
            }
        }
    }

    async fn ping(&self) -> Result<(), UpstreamFault> {
        let timeout = self.options.ping_timeout;
        let ping = self
            .peer
            .send_request(ClientRequest::PingRequest(PingRequest::default()));
        match tokio::time::timeout(timeout, ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(UpstreamFault::PingFailed {
                error: error.to_string(),
            }),
            Err(_) => Err(UpstreamFault::PingTimeout {
                millis: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }

    async fn restart_after_crash(&self, fault: UpstreamFault) {
        let Some((restarts, generation)) = self
            .watched
            .record_crash(&self.platform, self.generation, fault)
            .await
        else {
            return;
        };
        tokio::time::sleep(backoff(self.options.backoff, restarts)).await;
        self.watched.relaunch(&self.platform, generation).await;
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
