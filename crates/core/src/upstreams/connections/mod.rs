//! Connections: an HTTP upstream whose `sign_in` is `organization` or `person`
//! is reached with an account at its own authorization server, which the platform obtains
//! by the standard MCP authorization flow as an OAuth client and keeps sealed with the
//! master key, per organization, upstream and owner. A person's Guidepost token never
//! crosses to the upstream: only the token its own server issued does.
//!
//! - `flow`: the connect link and the callback, each stage passed once; a person's link
//!   goes through the identity check first (`identity`), then every link to the
//!   upstream's authorization server (`authorize`).
//! - `held`: the connections held, as the API lists them; disconnecting one.
//! - `mine`: a person's own connections page (signed in through a hosted server).
//! - `bearer`: the token a call carries, refreshed before it expires and after a 401,
//!   exactly once across nodes (a lease in the store decides who refreshes); a refusal
//!   marks the connection `needs_reconnect`.
//! - `issuer`: the mix-up defence, an authorization server's endpoints on its issuer's
//!   origin.
//!
//! The protocol itself (discovery, registration, the token endpoint, revocation) is the
//! [`Authorizer`], which `auth` implements, since it makes outbound requests.

mod authorize;
mod bearer;
mod flow;
mod held;
mod identity;
pub mod issuer;
mod keys;
pub mod mine;

use async_trait::async_trait;
use guidepost_domain::*;

use crate::secrets::MasterKey;
use crate::{Caller, CoreError, Permission, Platform, PlatformConfig};

pub use bearer::{
    Bearer, NotConnected, bearer, named_for_person, person_connected, refresh_after_refusal,
};
pub use flow::{
    BrowserCookie, CallbackParams, ConnectLink, Connected, FlowError, SentCookies, browser_cookie,
    connect_link, person_link,
};
pub(crate) use held::forget;
pub use held::{disconnect, list, of_person, person_is_connected};
use held::{forget_audited, views_of_person};
pub use identity::platform_client;
pub use keys::{KeyForm, KeyGiven, give_key};
pub use mine::{MINE_CALLBACK_PATH, MINE_DISCONNECT_PATH, MINE_PATH, manage_url};

/// Where the connect pages live on the platform host.
pub const CONNECT_PATH: &str = "/connect";
/// The platform's redirect URI at every upstream's authorization server.
pub const CALLBACK_PATH: &str = "/connect/callback";
/// Where a person posts their own key to a server that takes one instead of OAuth.
pub const KEY_PATH: &str = "/connect/key";
/// The Client ID Metadata Document the platform registers with where servers take one.
pub const CLIENT_METADATA_PATH: &str = "/connect/client-metadata.json";
/// The installation secret that holds a pre-registered client's secret.
pub(crate) const CLIENT_SECRET_NAME: &str = "OAUTH_CLIENT_SECRET";

/// The platform host's origin, where connect links, the callback and the client metadata
/// document live.
pub fn platform_origin(config: &PlatformConfig) -> String {
    config.origin_for_host(&config.base_domain)
}

pub(crate) fn callback_url(config: &PlatformConfig) -> String {
    format!("{}{CALLBACK_PATH}", platform_origin(config))
}

pub(crate) fn client_metadata_url(config: &PlatformConfig) -> String {
    format!("{}{CLIENT_METADATA_PATH}", platform_origin(config))
}

/// The client metadata document served at [`CLIENT_METADATA_PATH`] (draft CIMD): its
/// `client_id` is its own URL.
pub fn client_metadata(config: &PlatformConfig) -> serde_json::Value {
    serde_json::json!({
        "client_id": client_metadata_url(config),
        "client_name": "Guidepost",
        "client_uri": platform_origin(config),
        "redirect_uris": [callback_url(config), mine_callback_url(config)],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

/// What the platform asks an upstream's authorization server for, to be its client.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// The upstream's MCP URL: its protected resource.
    pub resource_url: String,
    /// A client an editor registered there, if any.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub redirect_uri: String,
    pub client_metadata_url: String,
    /// The editor's allowance for endpoints off the issuer's origin
    /// ([`issuer::ALLOW_FOREIGN_ENDPOINTS`]); refused otherwise.
    pub allow_foreign_endpoints: bool,
}

/// Tokens as an authorization server issued them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<u64>,
    /// Who the account is, where the answer says (an ID token's email, a `sub`).
    pub account: Option<String>,
}

/// Why the upstream's authorization server gave no answer the platform can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizerError {
    /// It refused (an OAuth error such as `invalid_grant`): trying again will not help.
    #[error("the upstream's authorization server refused: {0}")]
    Refused(String),
    /// It could not be reached, or answered with something unusable.
    #[error("the upstream's authorization server failed: {0}")]
    Failed(String),
}

/// The OAuth client side of MCP authorization, toward upstreams' authorization servers
/// (implemented by `auth`, through the outbound fence).
#[async_trait]
pub trait Authorizer: Send + Sync {
    /// Finds the upstream's authorization server (RFC 9728, then RFC 8414 or OpenID
    /// discovery) and becomes its client (pre-registered, metadata document, or RFC 7591).
    async fn discover(&self, request: &Discovery)
    -> Result<UpstreamAuthorization, AuthorizerError>;
    /// Exchanges an authorization code (with its PKCE verifier).
    async fn exchange(
        &self,
        server: &UpstreamAuthorization,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<IssuedTokens, AuthorizerError>;
    async fn refresh(
        &self,
        server: &UpstreamAuthorization,
        refresh_token: &str,
    ) -> Result<IssuedTokens, AuthorizerError>;
    /// RFC 7009.
    async fn revoke(
        &self,
        server: &UpstreamAuthorization,
        token: &str,
    ) -> Result<(), AuthorizerError>;
}

/// `spec` with the sign-in asked for at install or in a change: only a remote server
/// takes one other than `none`.
pub(super) fn with_sign_in(
    mut spec: LaunchSpec,
    asked: Option<UpstreamSignIn>,
) -> Result<LaunchSpec, ValidationError> {
    let Some(asked) = asked else {
        return Ok(spec);
    };
    match spec.remote_mut() {
        Some(remote) => remote.sign_in = asked,
        None if asked.is_none() => {}
        None => {
            return Err(ValidationError::new(
                "sign_in",
                "only a remote (http) server signs in; this one runs on the platform",
            ));
        }
    }
    Ok(spec)
}

/// `spec` with the editor's allowance for authorization-server endpoints off the issuer's
/// origin ([`issuer::ALLOW_FOREIGN_ENDPOINTS`]), where one was given: only a remote
/// server has an authorization server.
pub(super) fn with_foreign_endpoints(
    mut spec: LaunchSpec,
    asked: Option<bool>,
) -> Result<LaunchSpec, ValidationError> {
    match (spec.remote_mut(), asked) {
        (_, None) => {}
        (Some(remote), Some(asked)) => remote.allow_foreign_oauth_endpoints = asked,
        (None, Some(false)) => {}
        (None, Some(true)) => {
            return Err(ValidationError::new(
                issuer::ALLOW_FOREIGN_ENDPOINTS,
                "only a remote (http) server has an authorization server",
            ));
        }
    }
    Ok(spec)
}

/// An upstream's sign-in mode, and whether it has one at all.
pub fn sign_in_of(upstream: &Upstream) -> UpstreamSignIn {
    upstream.spec.sign_in()
}

fn master_key(platform: &Platform) -> Result<&MasterKey, CoreError> {
    platform.config.master_key.as_ref().ok_or_else(|| {
        CoreError::Conflict(
            "connections need a master key to seal their tokens (start the platform with \
             --master-key or GUIDEPOST_MASTER_KEY)"
                .into(),
        )
    })
}

fn tokens_context(org: &OrgId, upstream: &UpstreamId, owner: &ConnectionOwner) -> String {
    format!("upstream-connection:{org}:{upstream}:{}", owner.key())
}

fn authorization_context(org: &OrgId, upstream: &UpstreamId) -> String {
    format!("upstream-authorization:{org}:{upstream}")
}

fn seal_json<T: serde::Serialize>(key: &MasterKey, value: &T, context: &str) -> String {
    let json = serde_json::to_string(value).expect("plain data serializes");
    key.seal(&json, context)
}

fn open_json<T: serde::de::DeserializeOwned>(
    key: &MasterKey,
    sealed: &str,
    context: &str,
) -> Result<T, CoreError> {
    let opened = key.open(sealed, context).map_err(|why| {
        CoreError::Conflict(format!("a sealed connection cannot be opened: {why}"))
    })?;
    serde_json::from_str(&opened)
        .map_err(|why| CoreError::Conflict(format!("a sealed connection is unreadable: {why}")))
}

/// The upstream's authorization server as stored, if it was discovered.
async fn stored_authorization(
    platform: &Platform,
    upstream: &Upstream,
) -> Result<Option<UpstreamAuthorization>, CoreError> {
    let key = master_key(platform)?;
    let sealed = platform
        .store
        .get_upstream_authorization(&upstream.org_id, &upstream.id)
        .await?;
    sealed
        .map(|sealed| {
            open_json(
                key,
                &sealed,
                &authorization_context(&upstream.org_id, &upstream.id),
            )
        })
        .transpose()
}

/// An authorization server at `https://as.example` whose endpoints are all its own, for
/// the tests of what a flow checks against it.
#[cfg(test)]
fn test_server() -> guidepost_domain::UpstreamAuthorization {
    guidepost_domain::UpstreamAuthorization {
        issuer: "https://as.example".into(),
        authorization_endpoint: "https://as.example/authorize".into(),
        token_endpoint: "https://as.example/token".into(),
        revocation_endpoint: None,
        resource: "https://mcp.example/mcp".into(),
        scopes: vec![],
        iss_parameter_supported: false,
        client_id: "c".into(),
        client_secret: None,
        registration: "dynamic".into(),
    }
}

/// Where a person's connections page gets the browser back from a sign-in.
pub fn mine_callback_url(config: &PlatformConfig) -> String {
    format!("{}{MINE_CALLBACK_PATH}", platform_origin(config))
}

// The steps of a connect flow that lead to the others (opening a link, a callback, the
// connection made) live here, above the steps' own files, so that each step's file
// depends on `flow` and never the other way round.

/// Where a callback leads: the connection made, or the next trip (after the identity
/// check, the upstream's authorization server).
#[derive(Debug)]
pub enum CallbackOutcome {
    Connected(Connected),
    Continue(String),
    /// The person is who the link was for, and the server takes a key: ask for it.
    AskKey(keys::KeyForm),
}

/// Opens a connect link: where to send the browser. A person's link goes first to the
/// sign-in of the server they connect from (who opens it must be that person); the
/// organization's goes straight to the upstream's authorization server. The link works
/// once.
pub async fn open_link(platform: &Platform, token: &str) -> Result<CallbackOutcome, FlowError> {
    if token.len() > flow::PARAM_MAX {
        return Err(FlowError::Unknown);
    }
    let now = Timestamp::now();
    let flow = platform
        .store
        .get_connect_flow(&hash_secret(token), now)
        .await?
        .filter(|flow| flow.stage == ConnectStage::Link)
        .ok_or(FlowError::Unknown)?;
    match &flow.owner {
        ConnectionOwner::Organization => {
            let upstream = platform
                .store
                .get_upstream(&flow.org_id, &flow.upstream_id)
                .await?;
            if let Some(header) = keys::key_header(&upstream) {
                // The editor's own key, for discovery: the link is theirs.
                let (state, _) = flow::next_trip(
                    platform,
                    &flow,
                    ConnectStage::Link,
                    ConnectStage::Authorizing,
                )
                .await?;
                return Ok(CallbackOutcome::AskKey(keys::KeyForm {
                    state,
                    upstream_name: upstream.name,
                    header,
                }));
            }
            let next = authorize::to_upstream(platform, &flow, ConnectStage::Link).await?;
            Ok(CallbackOutcome::Continue(next))
        }
        ConnectionOwner::Person(_) => {
            let next = identity::to_identity_check(platform, &flow).await?;
            Ok(CallbackOutcome::Continue(next))
        }
    }
}

/// The callback of either trip, told apart by the flow's stage: after the identity check,
/// the person must be the flow's; after the upstream, its `iss` is checked, the code
/// exchanged and the tokens sealed and stored. Each `state` works once, and only in the
/// browser that opened the link (`sent`, its cookies by name: [`browser_cookie`]).
pub async fn callback(
    platform: &Platform,
    params: CallbackParams,
    sent: SentCookies<'_>,
) -> Result<CallbackOutcome, FlowError> {
    let long = |value: &Option<String>| value.as_ref().is_some_and(|v| v.len() > flow::PARAM_MAX);
    if long(&params.state) || long(&params.code) || long(&params.iss) {
        return Err(FlowError::Unknown);
    }
    let state = params.state.as_deref().ok_or(FlowError::Unknown)?;
    let now = Timestamp::now();
    let flow = platform
        .store
        .find_connect_flow_by_state(&hash_secret(state), now)
        .await?
        .ok_or(FlowError::Unknown)?;
    flow::from_the_opening_browser(&flow, sent)?;
    if let Some(error) = &params.error {
        let why = params.error_description.as_deref().unwrap_or(error);
        return Err(FlowError::Denied(why.chars().take(200).collect()));
    }
    match flow.stage {
        ConnectStage::Identity => {
            let code = params.code.as_deref().ok_or(FlowError::Unknown)?;
            identity::identity_checked(platform, &flow, code).await
        }
        ConnectStage::Authorizing => {
            let connected = authorize::upstream_answered(platform, flow, params, now).await?;
            Ok(CallbackOutcome::Connected(connected))
        }
        ConnectStage::Link | ConnectStage::Done => Err(FlowError::Unknown),
    }
}

/// Stores the connection a flow made (its tokens sealed), audits it, and starts an
/// organization's upstream again so that it discovers its tools with the account.
async fn connected(
    platform: &Platform,
    upstream: Upstream,
    flow: &ConnectFlow,
    issued: &IssuedTokens,
    static_key: bool,
    now: Timestamp,
) -> Result<Connected, FlowError> {
    let key = master_key(platform)?;
    let signed_in_with = match &flow.owner {
        ConnectionOwner::Organization => None,
        ConnectionOwner::Person(_) => {
            let server = identity::flow_server(platform, flow).await?;
            Some(identity::sign_in_of_server(platform, &server).await?)
        }
    };
    let connection = bearer::stored_connection(
        key,
        &upstream,
        &flow.owner,
        issued,
        static_key,
        signed_in_with,
        now,
    );
    platform.store.put_connection(&connection).await?;
    let mut detail = serde_json::json!({"owner": flow.owner.key()});
    if static_key {
        detail["key"] = serde_json::json!(true);
    } else {
        detail["account"] = serde_json::json!(issued.account);
    }
    let about = super::audit::About {
        upstream: Some(&upstream.id),
        detail,
        ..Default::default()
    };
    super::audit::record_by(
        platform,
        &upstream.org_id,
        &flow.started_by,
        AuditAction::ConnectionConnected,
        about,
    )
    .await?;
    let manage_url = match &flow.owner {
        ConnectionOwner::Organization => {
            super::relaunch(platform, &upstream).await?;
            None
        }
        ConnectionOwner::Person(_) => {
            let server = identity::flow_server(platform, flow).await?;
            Some(mine::manage_url(&platform.config, &server))
        }
    };
    Ok(Connected {
        upstream_name: upstream.name,
        account: issued.account.clone(),
        manage_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_remote_server_signs_in() {
        let http: LaunchSpec = serde_json::from_value(serde_json::json!(
            {"runtime": "http", "url": "https://mcp.example/mcp"}))
        .unwrap();
        let npm: LaunchSpec = serde_json::from_value(serde_json::json!(
            {"runtime": "npm", "package": "x", "version": "1.0.0"}))
        .unwrap();
        let person = with_sign_in(http.clone(), Some(UpstreamSignIn::Person)).unwrap();
        assert_eq!(person.sign_in(), UpstreamSignIn::Person);
        assert_eq!(
            with_sign_in(http.clone(), None).unwrap(),
            http,
            "kept when not asked"
        );
        assert!(with_sign_in(npm.clone(), Some(UpstreamSignIn::Organization)).is_err());
        assert_eq!(
            with_sign_in(npm.clone(), Some(UpstreamSignIn::None)).unwrap(),
            npm
        );
        // Stored specs without it read as none, and none is not written back.
        assert!(!serde_json::to_string(&http).unwrap().contains("sign_in"));
    }

    #[test]
    fn only_a_remote_server_allows_foreign_endpoints_and_only_when_asked() {
        let http: LaunchSpec = serde_json::from_value(serde_json::json!(
            {"runtime": "http", "url": "https://mcp.example/mcp"}))
        .unwrap();
        assert!(!http.allows_foreign_oauth_endpoints(), "off by default");
        let allowed = with_foreign_endpoints(http.clone(), Some(true)).unwrap();
        assert!(allowed.allows_foreign_oauth_endpoints());
        assert_eq!(
            with_foreign_endpoints(allowed.clone(), None).unwrap(),
            allowed
        );
        assert_eq!(with_foreign_endpoints(allowed, Some(false)).unwrap(), http);
        // Off is not written back, so stored specs read the same as before.
        assert!(!serde_json::to_string(&http).unwrap().contains("foreign"));
        let npm: LaunchSpec = serde_json::from_value(serde_json::json!(
            {"runtime": "npm", "package": "x", "version": "1.0.0"}))
        .unwrap();
        assert!(with_foreign_endpoints(npm.clone(), Some(true)).is_err());
        assert_eq!(
            with_foreign_endpoints(npm.clone(), Some(false)).unwrap(),
            npm
        );
    }
}
