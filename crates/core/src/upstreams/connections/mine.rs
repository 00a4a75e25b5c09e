//! A person's own connections, on the platform host: they prove who they are
//! through the sign-in of a hosted server of their organization (the same identity check
//! as a person's connect link, with the platform as that server's client), then see
//! their connections across the organization's upstreams and disconnect any of them.
//!
//! Nothing is stored for the page itself: the trip to the sign-in and the short session
//! after it are sealed with the master key into cookies of the platform host, each bound
//! to its purpose, and expire on their own.

use guidepost_domain::*;
use serde::{Deserialize, Serialize};

use super::flow::FlowError;
use super::identity::{identify, identity_url};
use super::*;

/// The page that lists a person's connections (`?server={slug}` starts the sign-in).
pub const MINE_PATH: &str = "/connect/mine";
/// Where the hosted server's sign-in sends the person back.
pub const MINE_CALLBACK_PATH: &str = "/connect/mine/callback";
/// Where the page's disconnect buttons post.
pub const MINE_DISCONNECT_PATH: &str = "/connect/mine/disconnect";
/// How long the sign-in trip may take.
const TRIP_SECONDS: i64 = 10 * 60;
/// How long the page stays open after signing in.
const SESSION_SECONDS: i64 = 30 * 60;
const TRIP_CONTEXT: &str = "connections-page-trip";
const SESSION_CONTEXT: &str = "connections-page-session";
/// The longest slug, code or state read from a request.
const PARAM_MAX: usize = 2048;

/// A person's connections page, signed in through `server`.
pub fn manage_url(config: &PlatformConfig, server: &McpServer) -> String {
    format!(
        "{}{MINE_PATH}?server={}",
        platform_origin(config),
        server.slug
    )
}

/// The sign-in trip, sealed in a cookie until its callback.
#[derive(Serialize, Deserialize)]
struct Trip {
    org: OrgId,
    server: ServerId,
    state: String,
    verifier: String,
    expires_at: i64,
}

/// The person the page is for, sealed in a cookie after the sign-in.
#[derive(Serialize, Deserialize)]
pub struct Session {
    org: OrgId,
    end_user: EndUserId,
    /// The hosted server they signed in through (to start again from).
    pub server_slug: String,
    /// Posted back by the page's forms: a form from elsewhere does not have it.
    pub form_token: String,
    expires_at: i64,
}

/// The start of the page: where to send the browser, and the trip's cookie value.
pub struct Started {
    pub redirect: String,
    pub trip_cookie: String,
}

/// Starts the sign-in through the hosted server `slug`, whose people sign in.
pub async fn start(platform: &Platform, slug: &str) -> Result<Started, FlowError> {
    if slug.is_empty() || slug.len() > PARAM_MAX {
        return Err(FlowError::Unknown);
    }
    let key = master_key(platform)?;
    let server = platform
        .store
        .find_server_by_slug(slug)
        .await?
        .filter(|s| s.auth_mode.requires_token())
        .ok_or(FlowError::Unknown)?;
    let trip = Trip {
        org: server.org_id.clone(),
        server: server.id.clone(),
        state: random_token(""),
        verifier: format!("{}{}", random_token(""), random_token("")),
        expires_at: Timestamp::now().plus_seconds(TRIP_SECONDS).micros(),
    };
    let callback = mine_callback_url(&platform.config);
    let redirect = identity_url(
        &platform.config,
        &server,
        &trip.state,
        &trip.verifier,
        &callback,
    )?;
    Ok(Started {
        redirect,
        trip_cookie: seal_json(key, &trip, TRIP_CONTEXT),
    })
}

/// The sign-in's answer: the session's cookie value, for the person who signed in.
pub async fn finish(
    platform: &Platform,
    trip_cookie: Option<&str>,
    code: Option<&str>,
    state: Option<&str>,
) -> Result<String, FlowError> {
    let key = master_key(platform)?;
    let long = |v: Option<&str>| v.is_some_and(|v| v.len() > PARAM_MAX);
    if long(trip_cookie) || long(code) || long(state) {
        return Err(FlowError::Unknown);
    }
    let (Some(sealed), Some(code), Some(state)) = (trip_cookie, code, state) else {
        return Err(FlowError::Unknown);
    };
    let trip: Trip = open_json(key, sealed, TRIP_CONTEXT).map_err(|_| FlowError::Unknown)?;
    let fresh = Timestamp::now().micros() < trip.expires_at;
    if !fresh || !constant_time_eq(&trip.state, state) {
        return Err(FlowError::Unknown);
    }
    let server = platform.store.get_server(&trip.org, &trip.server).await?;
    let callback = mine_callback_url(&platform.config);
    let end_user = identify(platform, &server, code, &trip.verifier, &callback).await?;
    let session = Session {
        org: server.org_id,
        end_user,
        server_slug: server.slug.to_string(),
        form_token: random_token(""),
        expires_at: Timestamp::now().plus_seconds(SESSION_SECONDS).micros(),
    };
    Ok(seal_json(key, &session, SESSION_CONTEXT))
}

/// The session a cookie holds, if it is one and still open.
pub fn session(platform: &Platform, cookie: Option<&str>) -> Option<Session> {
    let key = platform.config.master_key.as_ref()?;
    let cookie = cookie.filter(|c| c.len() <= PARAM_MAX)?;
    let session: Session = open_json(key, cookie, SESSION_CONTEXT).ok()?;
    (Timestamp::now().micros() < session.expires_at).then_some(session)
}

/// The session's person's connections across the organization's upstreams, by name.
pub async fn list(
    platform: &Platform,
    session: &Session,
) -> Result<Vec<ConnectionView>, CoreError> {
    let mut views = views_of_person(platform, &session.org, &session.end_user).await?;
    views.sort_by(|a, b| a.upstream_name.cmp(&b.upstream_name));
    Ok(views)
}

/// Disconnects the session's person from `upstream` (revoked at the upstream, audited as
/// theirs): the upstream's name. `form_token` must be the session's.
pub async fn disconnect(
    platform: &Platform,
    session: &Session,
    form_token: &str,
    upstream: &str,
) -> Result<String, FlowError> {
    if !constant_time_eq(&session.form_token, form_token) {
        return Err(FlowError::Denied(
            "this form is out of date; open your connections page again".into(),
        ));
    }
    let upstream = UpstreamId::parse(upstream).ok_or(FlowError::Unknown)?;
    let gone = |e: CoreError| match e {
        CoreError::NotFound => FlowError::Unknown,
        other => FlowError::Core(other),
    };
    let upstream = platform
        .store
        .get_upstream(&session.org, &upstream)
        .await
        .map_err(|e| gone(e.into()))?;
    let owner = ConnectionOwner::Person(session.end_user.clone());
    let actor = Actor::EndUser(session.end_user.clone());
    let detail = serde_json::json!({"owner": owner.key(), "by": "the person"});
    forget_audited(platform, &upstream, &owner, &actor, detail)
        .await
        .map_err(gone)?;
    Ok(upstream.name)
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    hash_secret(a) == hash_secret(b)
}
