//! The relying party of `custom_oauth`: the platform signs people in at an organization's
//! own OpenID Connect provider, with the `openidconnect` crate, and keeps only the verified
//! email. The provider's tokens live for the length of one callback and are dropped: the
//! client gets the platform's own tokens, never these.
//!
//! Outbound requests go through the platform's reqwest (an adapter for the crate's
//! `AsyncHttpClient`, so the tree keeps one reqwest) with the same fence as client
//! metadata documents: https only, public addresses only (checked for IP literals here and
//! for names by the resolver), no redirects, no proxy, 10 s, 1 MiB. `--oidc-allow-private`
//! lifts the address and https rules for development and tests.
//!
//! Discovery documents (with their signing keys) are cached per node for ten minutes; an
//! ID token that does not verify against cached keys is tried once more with fresh ones
//! (the provider may have rotated its keys).

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreIdTokenClaims,
    CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AsyncHttpClient, AuthType, AuthorizationCode, ClientId, ClientSecret,
    CsrfToken, HttpRequest, HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};

use guidepost_core::accounts::oidc::ProviderCheckError;
use guidepost_outbound::{GuardedResolver, is_public};

const TIMEOUT: Duration = Duration::from_secs(10);
const BODY_MAX: usize = 1024 * 1024;
const CACHE_TTL: Duration = Duration::from_secs(600);
const CACHE_ENTRIES: usize = 1000;

/// Why the provider could not be used; shown to administrators (configuration) and, in
/// short, to people signing in.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Unusable(String),
    #[error("{0}")]
    Refused(String),
}

/// The values of one trip to the provider, derived by the caller (`federation.rs`).
pub(crate) struct Trip {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A provider as one server uses it: where, which client, and where it sends people back.
pub(crate) struct Relying<'a> {
    pub issuer_url: &'a str,
    pub client_id: &'a str,
    pub client_secret: Option<String>,
    /// Whether the organization accepts an email without `email_verified`.
    pub accept_unverified_email: bool,
    pub redirect_uri: String,
}

/// What the provider vouched for.
#[derive(Debug)]
pub(crate) struct UpstreamPerson {
    pub email: String,
    /// The `groups` claim of its ID token, as it gave them (bounded by the caller).
    pub groups: Vec<String>,
}

struct Cached {
    metadata: Arc<CoreProviderMetadata>,
    at: Instant,
}

/// The organizations' identity providers, as this node talks to them.
pub struct IdentityProviders {
    http: Outbound,
    cache: Mutex<HashMap<String, Cached>>,
}

impl IdentityProviders {
    /// `allow_private`: also reach private and loopback addresses, and plain http
    /// (development and tests only).
    pub fn new(allow_private: bool) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(TIMEOUT)
            .user_agent(concat!("guidepost/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver::new(allow_private)))
            .build()
            .expect("the HTTP client configuration is valid");
        Self {
            http: Outbound {
                client,
                allow_private,
            },
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The provider's discovery document and keys; `fresh` skips the cache.
    async fn metadata(
        &self,
        issuer: &str,
        fresh: bool,
    ) -> Result<Arc<CoreProviderMetadata>, UpstreamError> {
        if !fresh && let Some(cached) = self.cached(issuer) {
            return Ok(cached);
        }
        let issuer_url = IssuerUrl::new(issuer.to_owned())
            .map_err(|_| UpstreamError::Unusable("the issuer is not a URL".into()))?;
        self.http.check_url(issuer_url.url())?;
        let metadata = CoreProviderMetadata::discover_async(issuer_url, &self.http)
            .await
            .map_err(|e| UpstreamError::Unreachable(format!("discovery failed: {}", chain(&e))))?;
        metadata::check(&metadata)?;
        let metadata = Arc::new(metadata);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, c| c.at.elapsed() < CACHE_TTL);
        }
        if cache.len() < CACHE_ENTRIES {
            let cached = Cached {
                metadata: metadata.clone(),
                at: Instant::now(),
            };
            cache.insert(issuer.to_owned(), cached);
        }
        Ok(metadata)
    }

    fn cached(&self, issuer: &str) -> Option<Arc<CoreProviderMetadata>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(issuer)
            .filter(|c| c.at.elapsed() < CACHE_TTL)
            .map(|c| c.metadata.clone())
    }

    fn client(
        metadata: &CoreProviderMetadata,
        rp: &Relying,
    ) -> Result<
        openidconnect::core::CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        UpstreamError,
    > {
        let redirect = RedirectUrl::new(rp.redirect_uri.clone())
            .map_err(|_| UpstreamError::Unusable("the callback URL is invalid".into()))?;
        // HTTP Basic unless the provider says it takes only the form body.
        let methods = metadata.token_endpoint_auth_methods_supported();
        let basic = methods.is_none_or(|m| m.contains(&CoreClientAuthMethod::ClientSecretBasic));
        let post = methods.is_some_and(|m| m.contains(&CoreClientAuthMethod::ClientSecretPost));
        let auth_type = if !basic && post {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        };
        Ok(CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(rp.client_id.to_owned()),
            rp.client_secret.clone().map(ClientSecret::new),
        )
        .set_auth_type(auth_type)
        .set_redirect_uri(redirect))
    }

    /// Where to send the browser: the provider's authorization endpoint with this trip's
    /// state, nonce and PKCE challenge (S256), asking for `openid email`.
    pub(crate) async fn authorization_url(
        &self,
        rp: &Relying<'_>,
        trip: &Trip,
    ) -> Result<String, UpstreamError> {
        let metadata = self.metadata(rp.issuer_url, false).await?;
        let client = Self::client(&metadata, rp)?;
        let (state, nonce) = (trip.state.clone(), trip.nonce.clone());
        let verifier = PkceCodeVerifier::new(trip.pkce_verifier.clone());
        let (url, _, _) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier))
            .url();
        Ok(url.into())
    }

    /// Exchanges the provider's code (with the trip's PKCE verifier), verifies the ID
    /// token (signature, issuer, audience, expiry, nonce, access token hash), and reads
    /// the email from it or, when it has none, from userinfo. A provider that says the
    /// email is not verified is refused.
    pub(crate) async fn finish(
        &self,
        rp: &Relying<'_>,
        trip: &Trip,
        code: &str,
    ) -> Result<UpstreamPerson, UpstreamError> {
        let metadata = self.metadata(rp.issuer_url, false).await?;
        let client = Self::client(&metadata, rp)?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| UpstreamError::Unusable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(trip.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                UpstreamError::Refused(format!("the code exchange failed: {}", chain(&e)))
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| UpstreamError::Refused("the provider returned no ID token".into()))?;
        let nonce = Nonce::new(trip.nonce.clone());
        // Cached keys first; fresh ones once if the token does not verify (key rotation).
        let first = id_token
            .claims(&client.id_token_verifier(), &nonce)
            .cloned();
        let (claims, client) = match first {
            Ok(claims) => (claims, client),
            Err(_) => {
                let fresh = self.metadata(rp.issuer_url, true).await?;
                let client = Self::client(&fresh, rp)?;
                let claims = id_token
                    .claims(&client.id_token_verifier(), &nonce)
                    .map_err(|e| UpstreamError::Refused(format!("the ID token is not valid: {e}")))?
                    .clone();
                (claims, client)
            }
        };
        if let Some(expected) = claims.access_token_hash() {
            let verifier = client.id_token_verifier();
            let refused =
                |e: &dyn std::fmt::Display| UpstreamError::Refused(format!("at_hash: {e}"));
            let alg = id_token.signing_alg().map_err(|e| refused(&e))?;
            let key = id_token.signing_key(&verifier).map_err(|e| refused(&e))?;
            let computed = AccessTokenHash::from_token(tokens.access_token(), alg, key)
                .map_err(|e| refused(&e))?;
            if computed != *expected {
                return Err(UpstreamError::Refused(
                    "the ID token belongs to another access token".into(),
                ));
            }
        }
        let groups = id_token_groups(&id_token.to_string());
        let (email, verified) = match id_token_email(&claims) {
            Some(found) => found,
            None => {
                let userinfo: CoreUserInfoClaims = client
                    .user_info(
                        tokens.access_token().clone(),
                        Some(claims.subject().clone()),
                    )
                    .map_err(|_| {
                        UpstreamError::Refused(
                            "the ID token has no email and the provider has no userinfo endpoint"
                                .into(),
                        )
                    })?
                    .request_async(&self.http)
                    .await
                    .map_err(|e| {
                        UpstreamError::Refused(format!("userinfo failed: {}", chain(&e)))
                    })?;
                let email = userinfo.email().map(|e| e.as_str().to_owned());
                let email = email.ok_or_else(|| {
                    UpstreamError::Refused(
                        "the provider shared no email address (scope email)".into(),
                    )
                })?;
                (email, userinfo.email_verified())
            }
        };
        match verified {
            Some(true) => {}
            None if rp.accept_unverified_email => {}
            Some(false) => {
                return Err(UpstreamError::Refused(format!(
                    "the provider has not verified the email address {email}"
                )));
            }
            None => {
                return Err(UpstreamError::Refused(format!(
                    "the provider does not say whether it verified the email address {email} \
                     (no email_verified claim); the organization can accept such addresses \
                     with accept_unverified_email"
                )));
            }
        }
        Ok(UpstreamPerson { email, groups })
    }
}

/// The `groups` claim of a verified ID token: an array of strings (other values in it
/// are left out), or none. Read from the token's payload because the library's claims
/// type keeps only the standard claims; the signature over that payload was checked
/// before this is called.
fn id_token_groups(compact: &str) -> Vec<String> {
    use base64::Engine;
    let Some(payload) = compact.split('.').nth(1) else {
        return Vec::new();
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else {
        return Vec::new();
    };
    #[derive(serde::Deserialize)]
    struct WithGroups {
        #[serde(default)]
        groups: Option<serde_json::Value>,
    }
    let Ok(WithGroups { groups }) = serde_json::from_slice(&bytes) else {
        return Vec::new();
    };
    let Some(serde_json::Value::Array(groups)) = groups else {
        return Vec::new();
    };
    groups
        .into_iter()
        .filter_map(|group| match group {
            serde_json::Value::String(name) => Some(name),
            _ => None,
        })
        .take(guidepost_domain::SignInFacts::MAX_GROUPS * 2)
        .collect()
}

fn id_token_email(claims: &CoreIdTokenClaims) -> Option<(String, Option<bool>)> {
    let email = claims.email()?.as_str().to_owned();
    Some((email, claims.email_verified()))
}

#[async_trait]
impl guidepost_core::accounts::oidc::ProviderCheck for IdentityProviders {
    async fn check(&self, issuer_url: &str) -> Result<(), ProviderCheckError> {
        match self.metadata(issuer_url, true).await {
            Ok(_) => Ok(()),
            Err(UpstreamError::Unusable(why)) => Err(ProviderCheckError::Unusable(why)),
            Err(UpstreamError::Unreachable(why) | UpstreamError::Refused(why)) => {
                Err(ProviderCheckError::Unreachable(why))
            }
        }
    }
}

mod metadata {
    use super::*;

    /// What the platform needs of a provider: the code flow, a token endpoint, keys.
    pub(super) fn check(metadata: &CoreProviderMetadata) -> Result<(), UpstreamError> {
        let code = metadata
            .response_types_supported()
            .iter()
            .any(|types| types.as_slice() == [CoreResponseType::Code]);
        if !code {
            return Err(UpstreamError::Unusable(
                "it does not support the authorization code flow (response_type code)".into(),
            ));
        }
        if metadata.token_endpoint().is_none() {
            return Err(UpstreamError::Unusable(
                "its discovery document has no token_endpoint".into(),
            ));
        }
        if metadata.jwks().keys().is_empty() {
            return Err(UpstreamError::Unusable(
                "it publishes no signing keys (jwks_uri)".into(),
            ));
        }
        Ok(())
    }
}

/// An error and its causes, in one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// The platform's reqwest as the `openidconnect` crate's HTTP client.
struct Outbound {
    client: reqwest::Client,
    allow_private: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct OutboundError(String);

impl From<UpstreamError> for OutboundError {
    fn from(error: UpstreamError) -> Self {
        Self(error.to_string())
    }
}

impl Outbound {
    /// https only (unless private addresses are allowed), and no IP literal that is not
    /// public (names are checked by the resolver).
    fn check_url(&self, url: &url::Url) -> Result<(), UpstreamError> {
        let refuse = |why: &str| UpstreamError::Unusable(format!("{why}: {url}"));
        if url.scheme() != "https" && !(self.allow_private && url.scheme() == "http") {
            return Err(refuse("only https URLs are fetched"));
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(refuse("the URL has no host")),
        };
        if !self.allow_private && ip.is_some_and(|ip| !is_public(ip)) {
            return Err(refuse("private and local addresses are not fetched"));
        }
        Ok(())
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, OutboundError> {
        let (parts, body) = request.into_parts();
        let url = url::Url::parse(&parts.uri.to_string())
            .map_err(|_| OutboundError("an invalid URL".into()))?;
        self.check_url(&url)?;
        let mut response = self
            .client
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let why = if e.is_timeout() {
                    "it took longer than 10 s"
                } else if e.is_connect() {
                    "the connection failed (or the address is not allowed)"
                } else {
                    "the request failed"
                };
                OutboundError(why.into())
            })?;
        let mut answer = http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            answer = answer.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| OutboundError("the response broke off".into()))?
        {
            if body.len() + chunk.len() > BODY_MAX {
                return Err(OutboundError("the response is larger than 1 MiB".into()));
            }
            body.extend_from_slice(&chunk);
        }
        answer
            .body(body)
            .map_err(|_| OutboundError("an invalid response".into()))
    }
}

impl<'c> AsyncHttpClient<'c> for Outbound {
    type Error = OutboundError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, OutboundError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbound(allow_private: bool) -> Outbound {
        Outbound {
            client: reqwest::Client::new(),
            allow_private,
        }
    }

    #[test]
    fn providers_are_reached_over_https_on_public_addresses_only() {
        let strict = outbound(false);
        let url = |text: &str| url::Url::parse(text).unwrap();
        assert!(
            strict
                .check_url(&url("https://login.acme.example/x"))
                .is_ok()
        );
        for refused in [
            "http://login.acme.example",
            "https://127.0.0.1/",
            "https://10.0.0.8/",
            "https://[::1]/",
            "https://169.254.169.254/latest",
        ] {
            assert!(strict.check_url(&url(refused)).is_err(), "{refused}");
        }
        let relaxed = outbound(true);
        assert!(relaxed.check_url(&url("http://127.0.0.1:8080")).is_ok());
        assert!(relaxed.check_url(&url("ftp://127.0.0.1")).is_err());
    }
}
