//! Client ID Metadata Documents: a `client_id` that is an `https` URL names a JSON
//! document, published by the client at that URL, that says who it is and where it may be
//! redirected. Fetching a URL that anyone can name is a server-side request forgery risk,
//! so the fetch is fenced in:
//!
//! - only `https` (plain `http` too with `--cimd-allow-private`, for development);
//! - the host is resolved and every private, loopback, link-local, unique-local,
//!   multicast or otherwise non-public address is refused, both before the request and
//!   again by the resolver the connection uses (so DNS rebinding cannot slip through),
//!   unless `--cimd-allow-private` is set;
//! - no redirects, no proxy, 5 s in all, at most 64 KiB of body;
//! - the document's own `client_id` must be the URL exactly.
//!
//! Documents are cached per node for as long as their `Cache-Control: max-age` says (at
//! most a day; `no-store`, `no-cache` or no max-age: not cached), in a bounded cache.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use guidepost_core::accounts::authorization::clients::Client;
use guidepost_core::accounts::authorization::redirect_uris::check_redirect_uris;
use guidepost_outbound::{GuardedResolver, is_public};
use serde::Deserialize;
use url::{Host, Url};

const BODY_MAX: usize = 64 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const CACHE_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
const CACHE_ENTRIES: usize = 1000;

/// Why a client metadata document could not be used; shown on the error page.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum CimdError {
    #[error("the client_id {0:?} is not a usable metadata document URL: {1}")]
    BadUrl(String, &'static str),
    #[error(
        "the client metadata document's host resolves to a private or local address, which is not allowed"
    )]
    PrivateAddress,
    #[error("the client metadata document could not be fetched: {0}")]
    Fetch(String),
    #[error("the client metadata document is invalid: {0}")]
    Invalid(String),
}

#[derive(Debug, Deserialize)]
struct RawDocument {
    client_id: String,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    client_secret: Option<serde_json::Value>,
}

struct Cached {
    document: Arc<Client>,
    until: Instant,
}

pub(crate) struct Fetcher {
    http: reqwest::Client,
    allow_private: bool,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Fetcher {
    pub fn new(allow_private: bool) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(FETCH_TIMEOUT)
            .user_agent(concat!("guidepost/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver::new(allow_private)))
            .build()
            .expect("the HTTP client configuration is valid");
        Self {
            http,
            allow_private,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The document at `client_id`, from the cache or freshly fetched.
    pub async fn fetch(&self, client_id: &str) -> Result<Arc<Client>, CimdError> {
        if let Some(cached) = self.cached(client_id) {
            return Ok(cached);
        }
        let url = self.check_url(client_id)?;
        self.check_host(&url).await?;
        let response = self
            .http
            .get(url.clone())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| CimdError::Fetch(describe(&e)))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(CimdError::Fetch(format!("HTTP {}", response.status())));
        }
        let max_age = cache_lifetime(response.headers());
        let body = read_bounded(response).await?;
        let document = Arc::new(parse_document(client_id, &body)?);
        metrics::counter!("guidepost_oauth_cimd_fetches_total").increment(1);
        if let Some(max_age) = max_age {
            self.remember(client_id, document.clone(), max_age);
        }
        Ok(document)
    }

    fn cached(&self, client_id: &str) -> Option<Arc<Client>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(client_id)
            .filter(|c| c.until > Instant::now())
            .map(|c| c.document.clone())
    }

    fn remember(&self, client_id: &str, document: Arc<Client>, max_age: Duration) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            let now = Instant::now();
            cache.retain(|_, c| c.until > now);
        }
        if cache.len() >= CACHE_ENTRIES {
            // Still full of live entries: drop the one that expires first.
            let first = cache
                .iter()
                .min_by_key(|(_, c)| c.until)
                .map(|(k, _)| k.clone());
            if let Some(key) = first {
                cache.remove(&key);
            }
        }
        let until = Instant::now() + max_age.min(CACHE_MAX_AGE);
        cache.insert(client_id.to_owned(), Cached { document, until });
    }

    fn check_url(&self, client_id: &str) -> Result<Url, CimdError> {
        let bad = |why| CimdError::BadUrl(client_id.chars().take(200).collect(), why);
        if client_id.len() > 2000 {
            return Err(bad("it is longer than 2000 characters"));
        }
        let url = Url::parse(client_id).map_err(|_| bad("it is not a URL"))?;
        let scheme_ok = url.scheme() == "https" || (self.allow_private && url.scheme() == "http");
        if !scheme_ok {
            return Err(bad("it must be an https URL"));
        }
        if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(bad("it must have neither a fragment nor user information"));
        }
        if matches!(url.path(), "" | "/") {
            return Err(bad("it must have a path"));
        }
        Ok(url)
    }

    /// Refuses a host that is, or resolves only to, addresses that are not public.
    async fn check_host(&self, url: &Url) -> Result<(), CimdError> {
        if self.allow_private {
            return Ok(());
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses: Vec<IpAddr> = match url.host() {
            Some(Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            Some(Host::Domain(name)) => tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| CimdError::Fetch(format!("cannot resolve {name}: {e}")))?
                .map(|a| a.ip())
                .collect(),
            None => return Err(CimdError::Fetch("the URL has no host".into())),
        };
        if addresses.is_empty() || !addresses.iter().all(|ip| is_public(*ip)) {
            return Err(CimdError::PrivateAddress);
        }
        Ok(())
    }
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, CimdError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| CimdError::Fetch(describe(&e)))?
    {
        if body.len() + chunk.len() > BODY_MAX {
            return Err(CimdError::Invalid(format!(
                "the document is larger than {} KiB",
                BODY_MAX / 1024
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "it took longer than 5 s".into()
    } else if error.is_connect() {
        "the connection failed (or the host is not allowed)".into()
    } else {
        "the request failed".into()
    }
}

/// How long a response may be cached: its `max-age`, unless it says not to cache.
fn cache_lifetime(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::CACHE_CONTROL)?.to_str().ok()?;
    let directives: Vec<String> = value
        .split(',')
        .map(|d| d.trim().to_ascii_lowercase())
        .collect();
    if directives
        .iter()
        .any(|d| d == "no-store" || d == "no-cache")
    {
        return None;
    }
    let seconds = directives
        .iter()
        .find_map(|d| d.strip_prefix("max-age="))?
        .trim_matches('"')
        .parse::<u64>()
        .ok()?;
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

/// The client a document describes, checked: always a public client.
fn parse_document(client_id: &str, body: &[u8]) -> Result<Client, CimdError> {
    let raw: RawDocument =
        serde_json::from_slice(body).map_err(|e| CimdError::Invalid(format!("not JSON: {e}")))?;
    if raw.client_id != client_id {
        return Err(CimdError::Invalid(
            "its client_id is not the URL it was fetched from".into(),
        ));
    }
    if raw.client_secret.is_some() {
        return Err(CimdError::Invalid(
            "a public document cannot carry a client_secret".into(),
        ));
    }
    match raw.token_endpoint_auth_method.as_deref() {
        None | Some("none") => {}
        Some(other) => {
            return Err(CimdError::Invalid(format!(
                "token_endpoint_auth_method {other:?} is not supported (only none)"
            )));
        }
    }
    check_redirect_uris(&raw.redirect_uris).map_err(|why| CimdError::Invalid(why.to_string()))?;
    let grant_types = raw
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".into(), "refresh_token".into()]);
    let client_name = raw
        .client_name
        .map(|n| {
            n.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        })
        .filter(|n| !n.is_empty());
    Ok(Client {
        client_id: raw.client_id,
        name: client_name,
        redirect_uris: raw.redirect_uris,
        grant_types,
        secret_hash: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_lifetime_follows_cache_control() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(cache_lifetime(&headers), None);
        headers.insert("cache-control", "public, max-age=600".parse().unwrap());
        assert_eq!(cache_lifetime(&headers), Some(Duration::from_secs(600)));
        headers.insert("cache-control", "no-store, max-age=600".parse().unwrap());
        assert_eq!(cache_lifetime(&headers), None);
    }

    #[test]
    fn documents_must_name_themselves() {
        let url = "https://app.example.com/client.json";
        let good = br#"{"client_id": "https://app.example.com/client.json", "client_name": "App",
            "redirect_uris": ["http://127.0.0.1:3000/cb"]}"#;
        let document = parse_document(url, good).unwrap();
        assert_eq!(document.name.as_deref(), Some("App"));
        assert!(document.grant_types.contains(&"refresh_token".to_owned()));
        let other = br#"{"client_id": "https://evil.example.com/c.json", "redirect_uris": ["https://a.b/c"]}"#;
        assert!(parse_document(url, other).is_err());
        let secret = br#"{"client_id": "https://app.example.com/client.json",
            "redirect_uris": ["https://a.b/c"], "client_secret": "x"}"#;
        assert!(parse_document(url, secret).is_err());
    }
}
