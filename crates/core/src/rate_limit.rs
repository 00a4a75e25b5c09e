//! A per-key rate limit (generic cell rate algorithm, via `governor`), shared by the MCP
//! gate and the authorization server, and the key of a client address that every
//! per-address limit counts under (`AddressPrefixes`). Counters live in each node's memory: with N nodes
//! behind a balancer, a client can reach up to N times a limit.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
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

/// How many leading bits of a client's address name it for every per-address limit
/// (`--address-prefix-v4`, `--address-prefix-v6`). An IPv6 client is given a whole /64
/// and may send from any address in it: keyed on the full address, it would take a fresh
/// budget (rate, sessions, tasks, sign-in codes) with every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPrefixes {
    pub v4: u8,
    pub v6: u8,
}

impl Default for AddressPrefixes {
    /// A whole IPv4 address (one client, or one NAT), and an IPv6 /64 (one site's subnet).
    fn default() -> Self {
        Self { v4: 32, v6: 64 }
    }
}

impl AddressPrefixes {
    /// The key every per-address limit counts `ip` under: its network of the prefix's
    /// length (its first address). An IPv4-mapped IPv6 address counts as its IPv4 one, so
    /// that a dual-stack socket does not give one client two budgets.
    pub fn key(self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let bits = u32::from(self.v4.min(32));
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from_bits(v4.to_bits() & mask))
            }
            IpAddr::V6(v6) => {
                let bits = u32::from(self.v6.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & mask))
            }
        }
    }
}

/// A request's client as every per-address limit keys it ([`AddressPrefixes::key`] of the
/// client's address), put beside `ConnectInfo` by the HTTP server, which alone knows the
/// operator's prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientKey(pub IpAddr);

/// The limit key of a request: the server's [`ClientKey`], or, for a request that did
/// not come through the server (an in-process call), its peer's by the default prefixes.
pub fn client_key(key: Option<&ClientKey>, peer: Option<IpAddr>) -> Option<IpAddr> {
    key.map(|key| key.0)
        .or_else(|| peer.map(|ip| AddressPrefixes::default().key(ip)))
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

    #[test]
    fn an_address_is_keyed_by_its_prefix() {
        let key =
            |prefixes: AddressPrefixes, ip: &str| prefixes.key(ip.parse().unwrap()).to_string();
        let default = AddressPrefixes::default();
        assert_eq!(
            key(default, "2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
            "2001:db8:1:2::"
        );
        assert_eq!(
            key(default, "2001:db8:1:2::1"),
            "2001:db8:1:2::",
            "one /64, one key"
        );
        assert_eq!(
            key(default, "2001:db8:1:3::1"),
            "2001:db8:1:3::",
            "the next /64, another"
        );
        assert_eq!(
            key(default, "203.0.113.7"),
            "203.0.113.7",
            "a whole IPv4 address"
        );
        assert_eq!(
            key(default, "::ffff:203.0.113.7"),
            "203.0.113.7",
            "mapped: as IPv4"
        );
        let wide = AddressPrefixes { v4: 24, v6: 48 };
        assert_eq!(key(wide, "203.0.113.7"), "203.0.113.0");
        assert_eq!(key(wide, "2001:db8:1:2::1"), "2001:db8:1::");
        let whole = AddressPrefixes { v4: 0, v6: 128 };
        assert_eq!(
            key(whole, "203.0.113.7"),
            "0.0.0.0",
            "0: every address one key"
        );
        assert_eq!(
            key(whole, "2001:db8::1"),
            "2001:db8::1",
            "128: the full address"
        );
        let peer = "2001:db8::5".parse().ok();
        assert_eq!(
            client_key(None, peer),
            "2001:db8::".parse().ok(),
            "no key set: defaults"
        );
        let set = ClientKey("198.51.100.0".parse().unwrap());
        assert_eq!(
            client_key(Some(&set), peer),
            Some(set.0),
            "the server's key first"
        );
    }
}
