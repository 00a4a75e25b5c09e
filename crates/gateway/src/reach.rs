//! The outbound fence's verdict on an HTTP upstream's URL before connecting, worded for
//! its status: https and public addresses only, unless the operator allows private ones.
//! The fenced client's resolver checks names again when it connects; an IP literal never
//! reaches a resolver, so this check is the one that keeps literals off private addresses.

use std::net::IpAddr;

use url::{Host, Url};

/// Why the outbound fence refuses an HTTP upstream's URL.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unreachable {
    #[error("{url} is not a URL: {source}")]
    NotAUrl {
        url: String,
        #[source]
        source: url::ParseError,
    },
    #[error("{url} is not https; HTTP upstreams must use https")]
    NotHttps { url: String },
    #[error("cannot resolve {name}: {source}")]
    Unresolved {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{url} names no host")]
    NoHost { url: String },
    #[error(
        "{host} is not on a public address; HTTP upstreams are reached on public addresses only"
    )]
    NotPublic { host: String },
}

pub(crate) async fn check_reachable(url: &str, allow_private: bool) -> Result<(), Unreachable> {
    let parsed = Url::parse(url).map_err(|source| Unreachable::NotAUrl {
        url: url.into(),
        source,
    })?;
    if allow_private {
        return Ok(());
    }
    if parsed.scheme() != "https" {
        return Err(Unreachable::NotHttps { url: url.into() });
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    // An IP literal is its own address: `host_str` would keep an IPv6 literal's brackets,
    // which no resolver takes.
    let (host, addresses): (String, Vec<IpAddr>) = match parsed.host() {
        Some(Host::Ipv4(ip)) => (ip.to_string(), vec![IpAddr::V4(ip)]),
        Some(Host::Ipv6(ip)) => (ip.to_string(), vec![IpAddr::V6(ip)]),
        Some(Host::Domain(name)) => {
            let found = tokio::net::lookup_host((name, port))
                .await
                .map_err(|source| Unreachable::Unresolved {
                    name: name.into(),
                    source,
                })?;
            (name.to_owned(), found.map(|a| a.ip()).collect())
        }
        None => return Err(Unreachable::NoHost { url: url.into() }),
    };
    if addresses.is_empty()
        || !addresses
            .iter()
            .all(|ip| guidepost_outbound::is_public(*ip))
    {
        return Err(Unreachable::NotPublic { host });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_reachable;

    #[tokio::test]
    async fn ip_literals_are_judged_by_their_own_address() {
        check_reachable("https://[2606:4700::1111]/mcp", false)
            .await
            .unwrap();
        check_reachable("https://1.1.1.1/mcp", false).await.unwrap();
        for private in [
            "https://[::1]:8443/mcp",
            "https://[::ffff:0:7f00:1]/mcp",
            "https://[100::1]/mcp",
            "https://127.0.0.1/mcp",
        ] {
            let refused = check_reachable(private, false)
                .await
                .unwrap_err()
                .to_string();
            assert!(
                refused.contains("is not on a public address"),
                "{private}: {refused}"
            );
            assert!(
                !refused.contains('['),
                "no brackets for a resolver: {refused}"
            );
        }
        check_reachable("http://[::1]:8080/mcp", true)
            .await
            .unwrap();
        let plain = check_reachable("http://[2606:4700::1111]/mcp", false).await;
        assert!(plain.unwrap_err().to_string().contains("is not https"));
    }
}
