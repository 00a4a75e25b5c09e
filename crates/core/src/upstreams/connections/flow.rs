//! The connect flow: a link (random, stored only as its hash, good for 15 minutes and
//! once), its trips (each with a random `state` stored as its hash and a PKCE verifier
//! sealed in the flow's row): for a person first to the identity check (`identity`), then
//! to the upstream's authorization server (`authorize`); and the callback on the platform
//! host that tells them apart. Every stage is written compare-and-set, so a replayed link
//! or callback finds its stage passed and is refused; the last one stores the connection.

use guidepost_domain::*;
use serde::{Deserialize, Serialize};

use super::*;

/// How long a connect link and its trip stay good.
const FLOW_LIFETIME_SECONDS: i64 = 15 * 60;
/// The longest authorization code, `state` or `iss` read from a callback.
pub(super) const PARAM_MAX: usize = 2048;

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
    /// A step of the flow came from another browser than the one that opened its link.
    #[error(
        "this connection was started in another browser: open the link from your app again, \
         in the browser you approve it in"
    )]
    OtherBrowser,
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

/// The cookie that ties a flow to the browser that opened its link: the link's token,
/// under a name of the flow's own (one browser may connect two accounts at once). Every
/// callback and the key form must come with it. Without it, whoever opened a link could
/// send the upstream's authorization page on to someone else, whose approval there would
/// connect that person's account as the link's owner.
#[derive(Debug, Clone)]
pub struct BrowserCookie {
    pub name: String,
    pub value: String,
}

/// The cookie a browser that opens the link `token` keeps.
pub fn browser_cookie(token: &str) -> BrowserCookie {
    BrowserCookie {
        name: cookie_name(&hash_secret(token)),
        value: token.to_owned(),
    }
}

/// The cookies a browser sent, read by name.
pub type SentCookies<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

fn cookie_name(flow_id: &str) -> String {
    let short = flow_id.get(..16).unwrap_or(flow_id);
    format!("gp_connect_{short}")
}

/// Refuses a step of `flow` from a browser that did not open its link; `sent` reads the
/// browser's cookies by name.
pub(super) fn from_the_opening_browser(
    flow: &ConnectFlow,
    sent: SentCookies<'_>,
) -> Result<(), FlowError> {
    match sent(&cookie_name(&flow.id)) {
        Some(token) if hash_secret(&token) == flow.id => Ok(()),
        _ => Err(FlowError::OtherBrowser),
    }
}

/// What a trip keeps secret until its callback (sealed in the flow's row).
#[derive(Serialize, Deserialize)]
pub(super) struct Trip {
    pub(super) verifier: String,
    /// The upstream's authorization server as it was when the trip went there (a trip to
    /// the identity check has none). Its callback checks `iss` against this issuer and
    /// sends the code only to this token endpoint, whatever was discovered since: the
    /// flow is bound to the one server it started with (mix-up, RFC 9700 §4.4). A trip
    /// sealed before it was kept reads as none, and its callback is refused.
    #[serde(default)]
    pub(super) server: Option<UpstreamAuthorization>,
}

pub(super) fn trip_context(flow: &str) -> String {
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

/// Moves the flow on from `from` with a new trip: its `state` and PKCE verifier (the
/// verifier sealed in the flow's row until its callback).
pub(super) async fn next_trip(
    platform: &Platform,
    flow: &ConnectFlow,
    from: ConnectStage,
    to: ConnectStage,
) -> Result<(String, String), FlowError> {
    next_trip_to(platform, flow, from, to, None).await
}

/// [`next_trip`] to the upstream's authorization `server`, sealed with the trip so that
/// its callback answers to that server alone.
pub(super) async fn next_trip_to(
    platform: &Platform,
    flow: &ConnectFlow,
    from: ConnectStage,
    to: ConnectStage,
    server: Option<&UpstreamAuthorization>,
) -> Result<(String, String), FlowError> {
    let key = master_key(platform)?;
    let verifier = format!("{}{}", random_token(""), random_token(""));
    let state = random_token("");
    let trip = Trip {
        verifier: verifier.clone(),
        server: server.cloned(),
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

/// What the upstream's authorization server sent the browser back with.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
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
