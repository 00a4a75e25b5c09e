//! Rate limits per end user and per client IP (SPEC §2). Counters live in each node's
//! memory: with N nodes behind a balancer, a client can reach up to N times the limit.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Calls per minute; `0` turns a limit off.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    pub per_user_per_minute: u32,
    pub per_user_burst: u32,
    pub per_ip_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_user_per_minute: 120,
            per_user_burst: 30,
            per_ip_per_minute: 1200,
        }
    }
}

pub(crate) struct Limiters {
    per_user: Option<DefaultKeyedRateLimiter<String>>,
    per_ip: Option<DefaultKeyedRateLimiter<String>>,
}

/// Which limit refused a call, and when to retry.
pub(crate) struct Refusal {
    pub scope: &'static str,
    pub retry_after: Duration,
}

impl Limiters {
    pub fn new(limits: RateLimits) -> Self {
        let per_user = NonZeroU32::new(limits.per_user_per_minute).map(|rate| {
            let burst = NonZeroU32::new(limits.per_user_burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst))
        });
        let per_ip = NonZeroU32::new(limits.per_ip_per_minute)
            .map(|rate| RateLimiter::keyed(Quota::per_minute(rate)));
        Self { per_user, per_ip }
    }

    /// Takes one unit from the IP's budget and, if the caller is known, the user's.
    pub fn check(&self, ip: Option<&str>, user: Option<&str>) -> Result<(), Refusal> {
        if let (Some(limiter), Some(ip)) = (&self.per_ip, ip) {
            check_one(limiter, ip, "per client IP")?;
        }
        if let (Some(limiter), Some(user)) = (&self.per_user, user) {
            check_one(limiter, user, "per end user")?;
        }
        Ok(())
    }

    /// Forgets keys whose budget is full again, so that memory stays bounded.
    pub fn forget_idle_keys(&self) {
        for limiter in [&self.per_user, &self.per_ip].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

fn check_one(
    limiter: &DefaultKeyedRateLimiter<String>,
    key: &str,
    scope: &'static str,
) -> Result<(), Refusal> {
    limiter
        .check_key(&key.to_owned())
        .map_err(|not_until| Refusal {
            scope,
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_burst_is_enforced_and_zero_turns_limits_off() {
        let limiters = Limiters::new(RateLimits {
            per_user_per_minute: 60,
            per_user_burst: 3,
            per_ip_per_minute: 0,
        });
        for _ in 0..3 {
            assert!(limiters.check(Some("1.2.3.4"), Some("u1")).is_ok());
        }
        let refusal = limiters.check(Some("1.2.3.4"), Some("u1")).unwrap_err();
        assert_eq!(refusal.scope, "per end user");
        assert!(refusal.retry_after > Duration::ZERO);
        assert!(
            limiters.check(Some("1.2.3.4"), Some("u2")).is_ok(),
            "another user has their own budget"
        );
    }
}
