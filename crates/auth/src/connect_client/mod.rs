//! The platform as an OAuth client of upstreams' authorization servers: the
//! client side of MCP authorization (2025-11-25), behind core's [`Authorizer`].
//!
//! - `discovery`: the upstream's protected resource metadata (RFC 9728), then its
//!   authorization server's metadata (RFC 8414, else OpenID discovery), checked.
//! - `registration`: which client the platform is there: the editor's pre-registered one,
//!   else a Client ID Metadata Document, else RFC 7591 dynamic registration.
//! - `token`: the code and refresh grants (PKCE, RFC 8707 `resource`) and revocation
//!   (RFC 7009).
//!
//! **Why hand-rolled.** The `oauth2` crate has neither protected resource metadata
//! (RFC 9728) nor dynamic client registration (RFC 7591) nor Client ID Metadata
//! Documents, and `openidconnect`'s discovery insists on OpenID (`jwks_uri`, ID tokens)
//! which plain OAuth servers of MCP upstreams do not have. What remains is a few GETs
//! and form posts, which we want through our own outbound fence with our own size limit
//! anyway.
//!
//! **The fence.** Every request goes through `guidepost_outbound`'s client: public
//! addresses only (an IP literal is checked here, a name by the resolver and, for a
//! clear message, before the request), `https` only, no redirects, no proxy, 10 s, and
//! at most [`Limits::AUTHORIZATION_RESPONSE`] of body. `allow_private` (the platform's
//! `--upstream-allow-private`) lifts the address and `https` rules for development and
//! tests.

mod discovery;
mod registration;
mod token;

#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use guidepost_core::upstreams::connections::{
    Authorizer, AuthorizerError, Discovery, IssuedTokens,
};
use guidepost_domain::{Limits, UpstreamAuthorization};
use url::{Host, Url};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Core's [`Authorizer`], over HTTP through the outbound fence.
pub struct UpstreamAuthorizer {
    http: reqwest::Client,
    allow_private: bool,
}

impl UpstreamAuthorizer {
    /// `allow_private`: also reach private and loopback addresses, and plain `http`
    /// (development and tests only).
    pub fn new(allow_private: bool) -> Self {
        Self {
            http: guidepost_outbound::fenced_client(allow_private, TIMEOUT),
            allow_private,
        }
    }

    /// A URL the platform may send a request to, or show a browser: `https` (or `http`
    /// with `allow_private`), no user information, and not an IP literal outside the
    /// public internet.
    fn check_url(&self, url: &str, what: &str) -> Result<Url, AuthorizerError> {
        let shown: String = url.chars().take(300).collect();
        let parsed =
            Url::parse(url).map_err(|_| failed(format!("{what} {shown:?} is not a URL")))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(failed(format!("{what} {shown:?} carries user information")));
        }
        let literal = match parsed.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain(_)) => None,
            None => return Err(failed(format!("{what} {shown:?} has no host"))),
        };
        if let Some(ip) = literal
            && !self.allow_private
            && !guidepost_outbound::is_public(ip)
        {
            return Err(private_address(what, &shown));
        }
        let scheme_ok =
            parsed.scheme() == "https" || (self.allow_private && parsed.scheme() == "http");
        if !scheme_ok {
            return Err(failed(format!("{what} {shown:?} must be an https URL")));
        }
        Ok(parsed)
    }

    /// Refuses, before any request, a host whose every address is outside the public
    /// internet: the resolver would drop them anyway, with a vaguer error.
    async fn check_host(&self, url: &Url, what: &str) -> Result<(), AuthorizerError> {
        if self.allow_private {
            return Ok(());
        }
        let Some(Host::Domain(name)) = url.host() else {
            return Ok(()); // IP literals were checked by `check_url`.
        };
        let port = url.port_or_known_default().unwrap_or(443);
        let found: Vec<IpAddr> = match tokio::net::lookup_host((name, port)).await {
            Ok(addresses) => addresses.map(|a| a.ip()).collect(),
            Err(why) => return Err(failed(format!("{what}: cannot resolve {name}: {why}"))),
        };
        if !found.is_empty() && found.iter().all(|ip| !guidepost_outbound::is_public(*ip)) {
            return Err(private_address(what, url.as_str()));
        }
        Ok(())
    }

    /// Sends a request built on `url` (already checked), and reads its answer.
    async fn send(
        &self,
        url: &Url,
        what: &str,
        build: impl FnOnce(&reqwest::Client, Url) -> reqwest::RequestBuilder,
    ) -> Result<Answer, AuthorizerError> {
        self.check_host(url, what).await?;
        let response = build(&self.http, url.clone())
            .send()
            .await
            .map_err(|e| failed(format!("{what} {url}: {}", describe(&e))))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_capped(response)
            .await
            .map_err(|why| failed(format!("{what} {url}: {why}")))?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

#[async_trait]
impl Authorizer for UpstreamAuthorizer {
    async fn discover(
        &self,
        request: &Discovery,
    ) -> Result<UpstreamAuthorization, AuthorizerError> {
        let found =
            discovery::discover(self, &request.resource_url, request.allow_foreign_endpoints)
                .await?;
        let client = registration::register(self, request, &found.server).await?;
        Ok(UpstreamAuthorization {
            issuer: found.server.issuer,
            authorization_endpoint: found.server.authorization_endpoint,
            token_endpoint: found.server.token_endpoint,
            revocation_endpoint: found.server.revocation_endpoint,
            resource: found.resource,
            scopes: found.scopes,
            iss_parameter_supported: found.server.iss_parameter_supported,
            client_id: client.client_id,
            client_secret: client.client_secret,
            registration: client.registration.into(),
        })
    }

    async fn exchange(
        &self,
        server: &UpstreamAuthorization,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<IssuedTokens, AuthorizerError> {
        token::exchange(self, server, code, verifier, redirect_uri).await
    }

    async fn refresh(
        &self,
        server: &UpstreamAuthorization,
        refresh_token: &str,
    ) -> Result<IssuedTokens, AuthorizerError> {
        token::refresh(self, server, refresh_token).await
    }

    async fn revoke(
        &self,
        server: &UpstreamAuthorization,
        token: &str,
    ) -> Result<(), AuthorizerError> {
        token::revoke(self, server, token).await
    }
}

/// An answer, read whole (within the cap).
struct Answer {
    status: reqwest::StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, AuthorizerError> {
        serde_json::from_slice(&self.body)
            .map_err(|why| failed(format!("{what} is not the JSON expected: {why}")))
    }
}

/// The body, in chunks, refused as soon as it passes the cap.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let cap = Limits::AUTHORIZATION_RESPONSE;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > cap {
            return Err(format!("the answer is larger than {} KiB", cap / 1024));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        format!("no answer within {} s", TIMEOUT.as_secs())
    } else if error.is_connect() {
        "the connection failed (or its host is not on the public internet)".into()
    } else if error.is_body() || error.is_decode() {
        "the answer was cut short".into()
    } else {
        "the request failed".into()
    }
}

fn failed(why: impl Into<String>) -> AuthorizerError {
    AuthorizerError::Failed(why.into())
}

fn private_address(what: &str, url: &str) -> AuthorizerError {
    failed(format!(
        "{what} {url:?} is on a private or local address, which the platform does not reach \
         (only with --upstream-allow-private, for development)"
    ))
}
