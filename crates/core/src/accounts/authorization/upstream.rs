//! Sign-in at the organization's own OpenID Connect provider (`custom_oauth`), as steps
//! of the login session: `email` → `upstream` (the browser left for the provider) →
//! `consent` (the provider vouched for an email) or `done` (the person declined there).
//! The trip itself (redirects, the provider's tokens) is the authorization server's.

use guidepost_domain::*;

use super::logins::{Step, person, take};
use crate::{CoreError, Platform};

/// The browser leaves for the provider. `salt` is the new trip's: with the browser's
/// secret it derives the trip's `state`, `nonce` and PKCE verifier, and replacing it
/// voids every older trip.
pub async fn leave(
    platform: &Platform,
    session: &LoginSession,
    salt: String,
) -> Result<Step, CoreError> {
    if !matches!(session.stage, LoginStage::Email | LoginStage::Upstream) {
        return Ok(Step::NotAwaited);
    }
    let mut next = session.clone();
    next.stage = LoginStage::Upstream;
    next.upstream_salt = Some(salt);
    take(platform, &next).await
}

/// The provider vouched for `email` (and said how in `sign_in`: itself, and the groups
/// its ID token named): the person is known, on to consent. The trip is over, so its
/// `state` cannot be used again.
pub async fn vouched(
    platform: &Platform,
    session: &LoginSession,
    email: Email,
    sign_in: SignInFacts,
) -> Result<Step, CoreError> {
    if session.stage != LoginStage::Upstream {
        return Ok(Step::NotAwaited);
    }
    let person = person(platform, &session.org_id, &email).await?;
    let mut next = session.clone();
    next.stage = LoginStage::Consent;
    next.email = Some(email);
    next.end_user_id = Some(person.id);
    next.upstream_salt = None;
    next.sign_in = sign_in;
    let step = take(platform, &next).await?;
    if matches!(step, Step::Taken(_)) {
        metrics::counter!("guidepost_oauth_upstream_sign_ins_total").increment(1);
    }
    Ok(step)
}

/// The person declined at the provider: the sign-in is over, and the client hears
/// `access_denied`.
pub async fn declined(platform: &Platform, session: &LoginSession) -> Result<Step, CoreError> {
    if session.stage != LoginStage::Upstream {
        return Ok(Step::NotAwaited);
    }
    let mut next = session.clone();
    next.stage = LoginStage::Done;
    next.upstream_salt = None;
    take(platform, &next).await
}
