//! Sign-in sessions: a stored state machine per browser login, written compare-and-set
//! so that concurrent form posts (code guesses) are counted exactly.

use guidepost_domain::*;

use crate::{CoreError, Platform};

pub async fn start(platform: &Platform, new: &NewLoginSession) -> Result<LoginSession, CoreError> {
    Ok(platform.store.create_login_session(new).await?)
}

pub async fn find(
    platform: &Platform,
    server: &McpServer,
    id: &LoginSessionId,
) -> Result<Option<LoginSession>, CoreError> {
    Ok(platform
        .store
        .get_login_session(&server.org_id, &server.id, id)
        .await?)
}

/// Writes the session's next state if nobody wrote since it was read (`None`: another
/// write came first; read again).
pub async fn advance(
    platform: &Platform,
    next: &LoginSession,
) -> Result<Option<LoginSession>, CoreError> {
    Ok(platform.store.update_login_session(next).await?)
}

/// One-time codes mailed to `email` in this organization since `since`, over all
/// sign-in sessions.
pub async fn codes_sent_since(
    platform: &Platform,
    org: &OrgId,
    email: &Email,
    since: Timestamp,
) -> Result<i64, CoreError> {
    Ok(platform.store.count_codes_sent(org, email, since).await?)
}

/// The person with this verified email (one per organization), created on first sign-in.
pub async fn person(platform: &Platform, org: &OrgId, email: &Email) -> Result<EndUser, CoreError> {
    let now = Timestamp::now();
    Ok(platform
        .store
        .end_user_for_verified_email(org, email, now)
        .await?)
}
