//! A per-key rate limit (generic cell rate algorithm, via `governor`), shared by the MCP
//! gate and the authorization server. Counters live in each node's memory: with N nodes
//! behind a balancer, a client can reach up to N times a limit.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// How often keys whose budget is full again are forgotten, keeping memory bounded.
const FORGET_EVERY: Duration = Duration::from_secs(60);

pub struct KeyedLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    last_forget: Mutex<Instant>,
}

impl KeyedLimiter {
    /// `per_minute` events per key, with bursts of `burst` (0: as many as the rate);
    /// `None` when `per_minute` is 0, which turns the limit off.
    pub fn per_minute(per_minute: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_minute)?;
        let burst = NonZeroU32::new(burst).unwrap_or(rate);
        let limiter = RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst));
        Some(Self {
            limiter,
            last_forget: Mutex::new(Instant::now()),
        })
    }

    /// Takes one unit of `key`'s budget, or says how long to wait.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.forget_idle_keys_now_and_then();
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    fn forget_idle_keys_now_and_then(&self) {
        let mut last = self
            .last_forget
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.elapsed() >= FORGET_EVERY {
            *last = Instant::now();
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
    }
}

/// Whole seconds to put in `Retry-After`: at least one.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_and_zero_is_off() {
        let limiter = KeyedLimiter::per_minute(60, 3).expect("a limit");
        for _ in 0..3 {
            assert!(limiter.check("a").is_ok());
        }
        let wait = limiter.check("a").unwrap_err();
        assert!(wait > Duration::ZERO && retry_after_secs(wait) >= 1);
        assert!(limiter.check("b").is_ok(), "another key has its own budget");
        assert!(KeyedLimiter::per_minute(0, 10).is_none());
    }
}
