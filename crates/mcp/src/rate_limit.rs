//! Rate limits per end user (tool calls) and per client IP (every request). Counters live in each node's
//! memory: with N nodes behind a balancer, a client can reach up to N times the limit.

use std::time::Duration;

use guidepost_core::rate_limit::KeyedLimiter;

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
    per_user: Option<KeyedLimiter>,
    per_ip: Option<KeyedLimiter>,
}

/// Which limit refused a call, and when to retry.
pub(crate) struct Refusal {
    pub scope: &'static str,
    pub retry_after: Duration,
}

impl Limiters {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            per_user: KeyedLimiter::per_minute(limits.per_user_per_minute, limits.per_user_burst),
            per_ip: KeyedLimiter::per_minute(limits.per_ip_per_minute, 0),
        }
    }

    /// Takes one unit from the client IP's budget: every MCP request spends one, so that
    /// nothing an unauthenticated client sends is unbounded.
    pub fn check_ip(&self, ip: Option<&str>) -> Result<(), Refusal> {
        check(&self.per_ip, ip, "per client IP")
    }

    /// Takes one unit from an end user's budget of tool calls.
    pub fn check_user(&self, user: Option<&str>) -> Result<(), Refusal> {
        check(&self.per_user, user, "per end user")
    }
}

fn check(
    limiter: &Option<KeyedLimiter>,
    key: Option<&str>,
    scope: &'static str,
) -> Result<(), Refusal> {
    match (limiter, key) {
        (Some(limiter), Some(key)) => limiter
            .check(key)
            .map_err(|retry_after| Refusal { scope, retry_after }),
        _ => Ok(()),
    }
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
            assert!(limiters.check_user(Some("u1")).is_ok());
        }
        let refusal = limiters.check_user(Some("u1")).unwrap_err();
        assert_eq!(refusal.scope, "per end user");
        assert!(refusal.retry_after > Duration::ZERO);
        assert!(
            limiters.check_user(Some("u2")).is_ok(),
            "another user has their own budget"
        );
        assert!(
            limiters.check_ip(Some("1.2.3.4")).is_ok(),
            "the IP limit is off"
        );
    }
}
