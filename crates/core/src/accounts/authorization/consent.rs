//! The person's decision (`consent` → `done`). Approving records a grant (a client may act
//! for this person on this server, for the requested scope and audience) with its
//! single-use authorization code; denying records nothing.

use guidepost_domain::*;

use super::logins::save;
use crate::{CoreError, Platform};

/// How long an authorization code is good for.
const AUTH_CODE_TTL_SECS: i64 = 120;

/// What the decision did. Once the session is `done`, every outcome goes back to the
/// client, failures included.
#[derive(Debug)]
pub enum Decided {
    /// The authorization code for the client, in plain text: the one time it is shown.
    Approved {
        code: String,
    },
    Denied,
    /// The session is not waiting for a decision.
    NotAwaited,
    /// Another write came first.
    Conflict,
    /// Approved, but the session never learned who the person is.
    PersonUnknown,
    /// Approved, but the grant could not be recorded (logged): the client may retry.
    NotRecorded,
}

/// Records the decision on the session, then, if approved, the grant and its code.
pub async fn decide(
    platform: &Platform,
    session: &LoginSession,
    approve: bool,
) -> Result<Decided, CoreError> {
    if session.stage != LoginStage::Consent {
        return Ok(Decided::NotAwaited);
    }
    let mut next = session.clone();
    next.stage = LoginStage::Done;
    if save(platform, &next).await?.is_none() {
        return Ok(Decided::Conflict);
    }
    if !approve {
        return Ok(Decided::Denied);
    }
    let Some(person) = session.end_user_id.clone() else {
        return Ok(Decided::PersonUnknown);
    };
    let request = &session.request;
    let grant = NewGrant {
        org_id: session.org_id.clone(),
        server_id: session.server_id.clone(),
        client_id: request.client_id.clone(),
        end_user_id: person,
        scope: request.scope.clone(),
        resource: request.resource.clone(),
        sign_in: session.sign_in.clone(),
    };
    let code = random_token("gpc_");
    let now = Timestamp::now();
    let new_code = NewAuthorizationCode {
        code_hash: hash_secret(&code),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        expires_at: now.plus_seconds(AUTH_CODE_TTL_SECS),
    };
    let recorded = platform
        .store
        .create_grant_with_code(&grant, &new_code, now)
        .await;
    if let Err(error) = recorded {
        tracing::error!(%error, "could not record a grant");
        return Ok(Decided::NotRecorded);
    }
    metrics::counter!("guidepost_oauth_grants_total").increment(1);
    Ok(Decided::Approved { code })
}
