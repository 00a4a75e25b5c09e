//! The outbound fence: every request the platform makes on a tenant's
//! behalf (client metadata documents, organizations' identity providers, HTTP upstream
//! MCP servers) goes through a client whose resolver drops every address that is not on
//! the public internet, so that a tenant cannot point the platform at its own network
//! (cloud metadata, databases, the admin interfaces of loopback services).
//!
//! Hand-rolled because reqwest has no such policy and the address classes are few.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

pub use guidepost_domain::is_public;

/// The resolver of the fetching client: drops every address that is not public (unless
/// allowed), so that the connection cannot reach what the pre-check refused.
pub struct GuardedResolver {
    allow_private: bool,
}

impl GuardedResolver {
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err("no public address for the host".into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// A client behind the fence: public addresses only (unless `allow_private`, for
/// development and tests), no redirects, no proxy from the environment, a total timeout.
pub fn fenced_client(allow_private: bool, timeout: Duration) -> reqwest::Client {
    fenced_builder(allow_private)
        .timeout(timeout)
        .build()
        .expect("the HTTP client configuration is valid")
}

/// The fence's builder, for callers that set more (their own timeouts for streams).
pub fn fenced_builder(allow_private: bool) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("guidepost/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(GuardedResolver::new(allow_private)))
}

/// Why a request through the fence got no answer, in one line for the person who reads
/// it (a webhook's deliveries, a registry's last error): the error and its causes, the
/// fence's refusal among them, and a timeout said as such.
pub fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    if error.is_timeout() {
        return format!("no answer in time ({text})");
    }
    text
}

/// What [`check_literal`] says when it refuses, in the caller's words.
pub struct Refusals {
    /// After "{url} is not https; ".
    pub plain_http: &'static str,
    /// After "{ip} is not on a public address; ".
    pub private_address: &'static str,
}

/// Why [`check_literal`] refused a URL; its text goes to the caller's user (a webhook's
/// deliveries, a registry's last error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{url} is not a URL: {reason}")]
    NotAUrl { url: String, reason: String },
    #[error("{url} is not https; {why}")]
    PlainHttp { url: String, why: &'static str },
    #[error("{ip} is not on a public address; {why}")]
    PrivateAddress { ip: IpAddr, why: &'static str },
}

/// What the fence's resolver cannot see in a URL, checked before sending: https, and an
/// address written in the URL (never resolved) on the public internet. Unless
/// `allow_private`, for development and tests.
pub fn check_literal(url: &str, allow_private: bool, refusals: &Refusals) -> Result<(), Refused> {
    if allow_private {
        return Ok(());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| Refused::NotAUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    if parsed.scheme() != "https" {
        return Err(Refused::PlainHttp {
            url: url.to_owned(),
            why: refusals.plain_http,
        });
    }
    let host = parsed.host_str().unwrap_or_default();
    let written = host.trim_start_matches('[').trim_end_matches(']');
    match written.parse::<IpAddr>() {
        Ok(ip) if !is_public(ip) => Err(Refused::PrivateAddress {
            ip,
            why: refusals.private_address,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_address_and_plain_http_are_refused_unless_allowed() {
        let refusals = Refusals {
            plain_http: "use https",
            private_address: "public only",
        };
        let check = |url: &str| check_literal(url, false, &refusals);
        assert_eq!(check("https://hooks.example.com/x"), Ok(()));
        assert_eq!(check("https://8.8.8.8/x"), Ok(()));
        let plain = check("http://hooks.example.com/x").unwrap_err().to_string();
        assert!(plain.ends_with("is not https; use https"), "{plain}");
        for private in [
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://10.1.2.3/x",
        ] {
            let refused = check(private).unwrap_err().to_string();
            assert!(
                refused.ends_with("is not on a public address; public only"),
                "{refused}"
            );
        }
        assert!(check("not a url").is_err());
        assert_eq!(check_literal("http://127.0.0.1/x", true, &refusals), Ok(()));
    }

    #[test]
    fn only_public_addresses_are_fetched() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::",
            // IPv6 transition ranges: 6to4 of 10.0.0.1, Teredo, NAT64 (well-known and
            // local-use), site-local.
            "2002:a00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "64:ff9b::a00:1",
            "64:ff9b:1::a00:1",
            "fec0::1",
            // IPv4-translated (SIIT) of loopback, of 10.0.0.1 and even of a public
            // address: the whole prefix is refused, as a translator may sit behind it.
            "::ffff:0:127.0.0.1",
            "::ffff:0:a00:1",
            "::ffff:0:93.184.216.34",
            // The discard prefix.
            "100::",
            "100::1",
            "100::ffff:ffff:ffff:ffff",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
