//! The connect flow: a link (random, stored only as its hash, good for 15 minutes and
//! once), the trip to the upstream's authorization server (authorization code with PKCE
//! S256, the RFC 8707 `resource`, a random `state` stored as its hash), and the callback
//! on the platform host, which checks RFC 9207's `iss`, exchanges the code and seals the
//! tokens. Every stage is written compare-and-set, so a replayed link or callback finds
//! its stage passed and is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use guidepost_domain::*;
use serde::{Deserialize, Serialize};

use super::*;

/// How long a connect link and its trip stay good.
const FLOW_LIFETIME_SECONDS: i64 = 15 * 60;
/// The longest authorization code, `state` or `iss` read from a callback.
const PARAM_MAX: usize = 2048;

/// A link that starts a connection.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectLink {
    pub url: String,
    pub expires_at: Timestamp,
}

/// A connection made, for the page that says so.
#[derive(Debug, Clone)]
pub struct Connected {
    pub upstream_name: String,
    pub account: Option<String>,
    /// A person's own connections page (their connections, with disconnect), for a
    /// person's connection.
    pub manage_url: Option<String>,
}

/// Why a step of the flow cannot go on; each is shown to the person on a page.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The link or `state` is unknown, expired or already used.
    #[error("this link has expired or was already used; start again from your app")]
    Unknown,
    /// The person or the authorization server said no.
    #[error("the connection was not made: {0}")]
    Denied(String),
    #[error(transparent)]
    Upstream(#[from] AuthorizerError),
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl From<guidepost_store::StoreError> for FlowError {
    fn from(error: guidepost_store::StoreError) -> Self {
        FlowError::Core(error.into())
    }
}

/// What a trip keeps secret until its callback (sealed in the flow's row).
#[derive(Serialize, Deserialize)]
pub(super) struct Trip {
    verifier: String,
}

fn trip_context(flow: &str) -> String {
    format!("upstream-connect-flow:{flow}")
}

/// A link an editor opens to connect the organization's account to `upstream` (which
/// also lets a `person` upstream discover its tools).
pub async fn connect_link(
    platform: &Platform,
    caller: &Caller,
    upstream: &UpstreamId,
) -> Result<ConnectLink, CoreError> {
    caller.require(Permission::Gateway)?;
    let upstream = platform.store.get_upstream(caller.org(), upstream).await?;
    if sign_in_of(&upstream).is_none() {
        return Err(CoreError::Conflict(format!(
            "{} takes no sign-in (its sign_in is none); set it to organization or person first",
            upstream.name
        )));
    }
    let started_by = caller.actor().to_string();
    new_link(
        platform,
        &upstream,
        ConnectionOwner::Organization,
        None,
        started_by,
    )
    .await
}

/// A link for `end_user` to connect their own account to `upstream`, reached through
/// `server`, whose own sign-in proves that the person who opens it is `end_user`.
pub async fn person_link(
    platform: &Platform,
    server: &McpServer,
    end_user: &EndUserId,
    upstream: &Upstream,
) -> Result<ConnectLink, CoreError> {
    let owner = ConnectionOwner::Person(end_user.clone());
    let started_by = format!("end_user:{end_user}");
    new_link(
        platform,
        upstream,
        owner,
        Some(server.id.clone()),
        started_by,
    )
    .await
}

/// A connect link for `owner`, stored as its flow's first stage.
async fn new_link(
    platform: &Platform,
    upstream: &Upstream,
    owner: ConnectionOwner,
    server_id: Option<ServerId>,
    started_by: String,
) -> Result<ConnectLink, CoreError> {
    master_key(platform)?;
    let token = random_token("gpc_");
    let now = Timestamp::now();
    let flow = ConnectFlow {
        id: hash_secret(&token),
        org_id: upstream.org_id.clone(),
        upstream_id: upstream.id.clone(),
        owner,
        server_id,
        stage: ConnectStage::Link,
        state_hash: None,
        sealed: None,
        started_by,
        created_at: now,
        expires_at: now.plus_seconds(FLOW_LIFETIME_SECONDS),
    };
    platform.store.create_connect_flow(&flow).await?;
    Ok(ConnectLink {
        url: format!(
            "{}{CONNECT_PATH}/{token}",
            platform_origin(&platform.config)
        ),
        expires_at: flow.expires_at,
    })
}

/// Opens a connect link: where to send the browser. A person's link goes first to the
/// sign-in of the server they connect from (who opens it must be that person); the
/// organization's goes straight to the upstream's authorization server. The link works
/// once.
pub async fn open_link(platform: &Platform, token: &str) -> Result<CallbackOutcome, FlowError> {
    if token.len() > PARAM_MAX {
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
            if let Some(header) = super::keys::key_header(&upstream) {
                // The editor's own key, for discovery: the link is theirs.
                let (state, _) = next_trip(
                    platform,
                    &flow,
                    ConnectStage::Link,
                    ConnectStage::Authorizing,
                )
                .await?;
                return Ok(CallbackOutcome::AskKey(super::keys::KeyForm {
                    state,
                    upstream_name: upstream.name,
                    header,
                }));
            }
            let next = to_upstream(platform, &flow, ConnectStage::Link).await?;
            Ok(CallbackOutcome::Continue(next))
        }
        ConnectionOwner::Person(_) => {
            let next = to_identity_check(platform, &flow).await?;
            Ok(CallbackOutcome::Continue(next))
        }
    }
}

/// Moves the flow on from `from` with a new trip: its `state` and PKCE verifier (the
/// verifier sealed in the flow's row until its callback).
pub(super) async fn next_trip(
    platform: &Platform,
    flow: &ConnectFlow,
    from: ConnectStage,
    to: ConnectStage,
) -> Result<(String, String), FlowError> {
    let key = master_key(platform)?;
    let verifier = format!("{}{}", random_token(""), random_token(""));
    let state = random_token("");
    let trip = Trip {
        verifier: verifier.clone(),
    };
    let sealed = seal_json(key, &trip, &trip_context(&flow.id));
    let moved = platform
        .store
        .advance_connect_flow(
            &flow.id,
            from,
            to,
            Some(&hash_secret(&state)),
            Some(&sealed),
            Timestamp::now(),
        )
        .await?;
    if !moved {
        return Err(FlowError::Unknown);
    }
    Ok((state, verifier))
}

/// On to the upstream's authorization server.
async fn to_upstream(
    platform: &Platform,
    flow: &ConnectFlow,
    from: ConnectStage,
) -> Result<String, FlowError> {
    let upstream = platform
        .store
        .get_upstream(&flow.org_id, &flow.upstream_id)
        .await?;
    let server = authorization_server(platform, &upstream).await?;
    let (state, verifier) = next_trip(platform, flow, from, ConnectStage::Authorizing).await?;
    Ok(authorization_url(platform, &server, &state, &verifier))
}

/// The hosted server a person's flow proves them with.
async fn flow_server(platform: &Platform, flow: &ConnectFlow) -> Result<McpServer, FlowError> {
    let id = flow.server_id.as_ref().ok_or(FlowError::Unknown)?;
    Ok(platform.store.get_server(&flow.org_id, id).await?)
}

/// On to the hosted server's own sign-in, to come back to the connect callback.
async fn to_identity_check(platform: &Platform, flow: &ConnectFlow) -> Result<String, FlowError> {
    let server = flow_server(platform, flow).await?;
    let (state, verifier) =
        next_trip(platform, flow, ConnectStage::Link, ConnectStage::Identity).await?;
    let callback = callback_url(&platform.config);
    identity_url(&platform.config, &server, &state, &verifier, &callback)
}

/// The hosted server's own sign-in (by its path address, on the platform host), with the
/// platform as its client, coming back to `redirect_uri` (the connect callback, or the
/// person's connections page's).
pub(super) fn identity_url(
    config: &PlatformConfig,
    server: &McpServer,
    state: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<String, FlowError> {
    let issuer = format!("{}/s/{}", platform_origin(config), server.slug);
    let mut url = url::Url::parse(&format!("{issuer}/authorize"))
        .map_err(|e| FlowError::Core(CoreError::Conflict(e.to_string())))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_metadata_url(config))
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_challenge", &pkce_challenge(verifier))
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", state)
        .append_pair("resource", &crate::urls::path_mcp_url(config, server));
    Ok(url.into())
}

/// Who signed in at the hosted server's sign-in that [`identity_url`] sent them to, from
/// the code it sent back to `redirect_uri`.
pub(super) async fn identify(
    platform: &Platform,
    server: &McpServer,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<EndUserId, FlowError> {
    let resource = crate::urls::path_mcp_url(&platform.config, server);
    let exchange = crate::authorization::tokens::CodeExchange {
        code,
        verifier,
        redirect_uri: Some(redirect_uri),
        resource: Some(&resource),
    };
    let client = platform_client(&platform.config);
    crate::authorization::tokens::identify_by_code(platform, server, &client, &exchange)
        .await?
        .map_err(|refusal| FlowError::Denied(refusal.to_string()))
}

/// The identity check's answer: the person who signed in must be the flow's; then on to
/// the upstream.
async fn identity_checked(
    platform: &Platform,
    flow: &ConnectFlow,
    code: &str,
) -> Result<CallbackOutcome, FlowError> {
    let server = flow_server(platform, flow).await?;
    let key = master_key(platform)?;
    let sealed = flow.sealed.as_deref().ok_or(FlowError::Unknown)?;
    let trip: Trip = open_json(key, sealed, &trip_context(&flow.id))?;
    let callback = callback_url(&platform.config);
    let signed_in = identify(platform, &server, code, &trip.verifier, &callback).await?;
    if flow.owner.end_user() != Some(&signed_in) {
        return Err(FlowError::Denied(
            "this link was made for another person; sign in as the person who asked to connect"
                .into(),
        ));
    }
    let upstream = platform
        .store
        .get_upstream(&flow.org_id, &flow.upstream_id)
        .await?;
    if let Some(header) = super::keys::key_header(&upstream) {
        // A server that takes a key instead of OAuth: the person gives theirs here.
        let (state, _) = next_trip(
            platform,
            flow,
            ConnectStage::Identity,
            ConnectStage::Authorizing,
        )
        .await?;
        return Ok(CallbackOutcome::AskKey(super::keys::KeyForm {
            state,
            upstream_name: upstream.name,
            header,
        }));
    }
    let next = to_upstream(platform, flow, ConnectStage::Identity).await?;
    Ok(CallbackOutcome::Continue(next))
}

/// The platform as a client of its own hosted servers' sign-in (the identity check): its
/// metadata document's URL, known without fetching it.
pub fn platform_client(config: &PlatformConfig) -> crate::authorization::clients::Client {
    crate::authorization::clients::Client {
        client_id: client_metadata_url(config),
        name: Some("Guidepost".into()),
        redirect_uris: vec![callback_url(config), super::mine_callback_url(config)],
        grant_types: vec!["authorization_code".into()],
        secret_hash: None,
    }
}

/// The upstream's authorization server as stored, else discovered now (and registered
/// with) and stored.
async fn authorization_server(
    platform: &Platform,
    upstream: &Upstream,
) -> Result<UpstreamAuthorization, FlowError> {
    if let Some(known) = stored_authorization(platform, upstream).await? {
        return Ok(known);
    }
    let LaunchSpec::Http {
        url,
        oauth_client_id,
        ..
    } = &upstream.spec
    else {
        return Err(FlowError::Denied(format!(
            "{} is not a remote server",
            upstream.name
        )));
    };
    let secrets = super::super::secrets::opened(platform, upstream)
        .map_err(|why| FlowError::Core(CoreError::Conflict(why)))?;
    let request = Discovery {
        resource_url: url.clone(),
        client_id: oauth_client_id.clone(),
        client_secret: secrets.get(CLIENT_SECRET_NAME).cloned(),
        redirect_uri: callback_url(&platform.config),
        client_metadata_url: client_metadata_url(&platform.config),
    };
    let server = platform.connections.discover(&request).await?;
    let key = master_key(platform)?;
    let context = authorization_context(&upstream.org_id, &upstream.id);
    let sealed = seal_json(key, &server, &context);
    platform
        .store
        .put_upstream_authorization(&upstream.org_id, &upstream.id, &sealed, Timestamp::now())
        .await?;
    Ok(server)
}

fn authorization_url(
    platform: &Platform,
    server: &UpstreamAuthorization,
    state: &str,
    verifier: &str,
) -> String {
    let mut url = match url::Url::parse(&server.authorization_endpoint) {
        Ok(url) => url,
        // Discovery checked it; a stored record that no longer parses fails the trip at
        // the browser rather than here.
        Err(_) => return server.authorization_endpoint.clone(),
    };
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &server.client_id)
            .append_pair("redirect_uri", &callback_url(&platform.config))
            .append_pair("code_challenge", &pkce_challenge(verifier))
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", state)
            .append_pair("resource", &server.resource);
        if !server.scopes.is_empty() {
            query.append_pair("scope", &server.scopes.join(" "));
        }
    }
    url.into()
}

/// RFC 7636 S256: BASE64URL(SHA256(verifier)); the platform's SHA-256 is hex.
fn pkce_challenge(verifier: &str) -> String {
    let hex = hash_secret(verifier);
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the upstream's authorization server sent the browser back with.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Where a callback leads: the connection made, or the next trip (after the identity
/// check, the upstream's authorization server).
#[derive(Debug)]
pub enum CallbackOutcome {
    Connected(Connected),
    Continue(String),
    /// The person is who the link was for, and the server takes a key: ask for it.
    AskKey(super::keys::KeyForm),
}

/// The callback of either trip, told apart by the flow's stage: after the identity check,
/// the person must be the flow's; after the upstream, its `iss` is checked, the code
/// exchanged and the tokens sealed and stored. Each `state` works once.
pub async fn callback(
    platform: &Platform,
    params: CallbackParams,
) -> Result<CallbackOutcome, FlowError> {
    let long = |value: &Option<String>| value.as_ref().is_some_and(|v| v.len() > PARAM_MAX);
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
    if let Some(error) = &params.error {
        let why = params.error_description.as_deref().unwrap_or(error);
        return Err(FlowError::Denied(why.chars().take(200).collect()));
    }
    match flow.stage {
        ConnectStage::Identity => {
            let code = params.code.as_deref().ok_or(FlowError::Unknown)?;
            identity_checked(platform, &flow, code).await
        }
        ConnectStage::Authorizing => {
            let connected = upstream_answered(platform, flow, params, now).await?;
            Ok(CallbackOutcome::Connected(connected))
        }
        ConnectStage::Link | ConnectStage::Done => Err(FlowError::Unknown),
    }
}

/// The upstream's answer: `iss` checked, the code exchanged, the tokens sealed and
/// stored. An organization's connection starts its upstream again, so that it discovers
/// its tools with the account.
async fn upstream_answered(
    platform: &Platform,
    flow: ConnectFlow,
    params: CallbackParams,
    now: Timestamp,
) -> Result<Connected, FlowError> {
    finish_trip(platform, &flow, now).await?;
    let code = params.code.as_deref().ok_or(FlowError::Unknown)?;
    let upstream = platform
        .store
        .get_upstream(&flow.org_id, &flow.upstream_id)
        .await?;
    let server = stored_authorization(platform, &upstream)
        .await?
        .ok_or(FlowError::Unknown)?;
    check_issuer(&server, params.iss.as_deref())?;
    let key = master_key(platform)?;
    let sealed = flow.sealed.as_deref().ok_or(FlowError::Unknown)?;
    let trip: Trip = open_json(key, sealed, &trip_context(&flow.id))?;
    let redirect_uri = callback_url(&platform.config);
    let issued = platform
        .connections
        .exchange(&server, code, &trip.verifier, &redirect_uri)
        .await?;
    connected(platform, upstream, &flow, &issued, false, now).await
}

/// Passes the flow's last stage, once: a replayed callback or key form finds it passed.
pub(super) async fn finish_trip(
    platform: &Platform,
    flow: &ConnectFlow,
    now: Timestamp,
) -> Result<(), FlowError> {
    let passed = platform
        .store
        .advance_connect_flow(
            &flow.id,
            ConnectStage::Authorizing,
            ConnectStage::Done,
            None,
            None,
            now,
        )
        .await?;
    if !passed {
        return Err(FlowError::Unknown);
    }
    Ok(())
}

/// Stores the connection a flow made (its tokens sealed), audits it, and starts an
/// organization's upstream again so that it discovers its tools with the account.
pub(super) async fn connected(
    platform: &Platform,
    upstream: Upstream,
    flow: &ConnectFlow,
    issued: &IssuedTokens,
    static_key: bool,
    now: Timestamp,
) -> Result<Connected, FlowError> {
    let key = master_key(platform)?;
    let connection =
        bearer::stored_connection(key, &upstream, &flow.owner, issued, static_key, now);
    platform.store.put_connection(&connection).await?;
    let mut detail = serde_json::json!({"owner": flow.owner.key()});
    if static_key {
        detail["key"] = serde_json::json!(true);
    } else {
        detail["account"] = serde_json::json!(issued.account);
    }
    let about = super::super::audit::About {
        upstream: Some(&upstream.id),
        detail,
        ..Default::default()
    };
    super::super::audit::record_by(
        platform,
        &upstream.org_id,
        &flow.started_by,
        "connection.connected",
        about,
    )
    .await?;
    let manage_url = match &flow.owner {
        ConnectionOwner::Organization => {
            super::super::relaunch(platform, &upstream).await?;
            None
        }
        ConnectionOwner::Person(_) => {
            let server = flow_server(platform, flow).await?;
            let origin = platform_origin(&platform.config);
            Some(format!(
                "{origin}{}?server={}",
                super::MINE_PATH,
                server.slug
            ))
        }
    };
    Ok(Connected {
        upstream_name: upstream.name,
        account: issued.account.clone(),
        manage_url,
    })
}

/// RFC 9207: the `iss` of an answer must be the server the trip went to; a server that
/// says it sends one must have sent it.
fn check_issuer(server: &UpstreamAuthorization, iss: Option<&str>) -> Result<(), FlowError> {
    match iss {
        Some(iss) if iss != server.issuer => Err(FlowError::Denied(format!(
            "the answer came from {iss:?}, not from {:?}, the server the trip went to",
            server.issuer
        ))),
        None if server.iss_parameter_supported => Err(FlowError::Denied(
            "the authorization server's answer did not say who sent it (iss)".into(),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_the_rfc_example() {
        // RFC 7636, Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            pkce_challenge(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn an_answer_from_another_issuer_is_refused() {
        let mut server = UpstreamAuthorization {
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
        };
        assert!(check_issuer(&server, Some("https://as.example")).is_ok());
        assert!(check_issuer(&server, None).is_ok());
        assert!(check_issuer(&server, Some("https://evil.example")).is_err());
        server.iss_parameter_supported = true;
        assert!(check_issuer(&server, None).is_err());
    }
}
