//! Login sessions: one person signing in for one authorization request, in one browser.
//! A session is a small stored state machine (`LoginStage`); every write applies only to
//! the revision it read (compare-and-set), so that concurrent form posts are each
//! counted. The steps live beside it: the email one-time code (`codes`), the
//! organization's own provider (`upstream`) and the decision (`consent`).
//!
//! The browser that started a session holds a random secret (its cookie); only the
//! secret's hash is stored, and only that browser can open the session.

use guidepost_domain::*;

use super::crypto::constant_time_eq;
use crate::{CoreError, Platform};

/// How long a person has to finish signing in.
pub const LOGIN_TTL_SECS: i64 = 30 * 60;

/// A session just started, with the browser's secret in plain text: the one time it is
/// shown.
#[derive(Debug)]
pub struct Started {
    pub session: LoginSession,
    pub secret: String,
}

/// Why a login session cannot be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unopened {
    /// No such session at this server.
    NotFound,
    /// The secret presented is not this session's: another browser, or no cookie.
    OtherBrowser,
    Expired,
}

/// What a step of the state machine did.
#[derive(Debug)]
pub enum Step {
    /// Written: the session as it is now.
    Taken(Box<LoginSession>),
    /// The session is not at a stage this step starts from.
    NotAwaited,
    /// Another write came first; nothing was written.
    Conflict,
}

/// Starts signing someone in for a checked authorization request at `server`.
pub async fn start(
    platform: &Platform,
    server: &McpServer,
    request: AuthorizationRequest,
    client_name: Option<String>,
) -> Result<Started, CoreError> {
    let secret = random_token("");
    let new = NewLoginSession {
        org_id: server.org_id.clone(),
        server_id: server.id.clone(),
        secret_hash: hash_secret(&secret),
        request,
        client_name,
        expires_at: Timestamp::now().plus_seconds(LOGIN_TTL_SECS),
    };
    let session = platform.store.create_login_session(&new).await?;
    Ok(Started { session, secret })
}

/// The login session `id` of `server`, for the browser that presents `secret`, if it has
/// not expired.
pub async fn open(
    platform: &Platform,
    server: &McpServer,
    id: &str,
    secret: &str,
) -> Result<Result<LoginSession, Unopened>, CoreError> {
    let Some(id) = LoginSessionId::parse(id) else {
        return Ok(Err(Unopened::NotFound));
    };
    let found = platform
        .store
        .get_login_session(&server.org_id, &server.id, &id)
        .await?;
    let Some(session) = found else {
        return Ok(Err(Unopened::NotFound));
    };
    if !constant_time_eq(
        hash_secret(secret).as_bytes(),
        session.secret_hash.as_bytes(),
    ) {
        return Ok(Err(Unopened::OtherBrowser));
    }
    Ok(live(session))
}

/// The session again, after a write of ours lost to another (same browser).
pub(super) async fn reread(
    platform: &Platform,
    session: &LoginSession,
) -> Result<Result<LoginSession, Unopened>, CoreError> {
    let found = platform
        .store
        .get_login_session(&session.org_id, &session.server_id, &session.id)
        .await?;
    Ok(found.map_or(Err(Unopened::NotFound), live))
}

fn live(session: LoginSession) -> Result<LoginSession, Unopened> {
    if session.expires_at <= Timestamp::now() {
        return Err(Unopened::Expired);
    }
    Ok(session)
}

/// Writes `next` if the session is still at the revision it was read at: `None` if
/// another write came first.
pub(super) async fn save(
    platform: &Platform,
    next: &LoginSession,
) -> Result<Option<LoginSession>, CoreError> {
    Ok(platform.store.update_login_session(next).await?)
}

/// `save` as a step of the state machine.
pub(super) async fn take(platform: &Platform, next: &LoginSession) -> Result<Step, CoreError> {
    let saved = save(platform, next).await?;
    Ok(saved.map_or(Step::Conflict, |s| Step::Taken(Box::new(s))))
}

/// The person with this verified email (one per organization), created on first sign-in.
pub(super) async fn person(
    platform: &Platform,
    org: &OrgId,
    email: &Email,
) -> Result<EndUser, CoreError> {
    let now = Timestamp::now();
    Ok(platform
        .store
        .end_user_for_verified_email(org, email, now)
        .await?)
}
