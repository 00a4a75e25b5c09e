//! Who is calling: the end user behind a request, first match wins —
//! a verified token subject, then the `tracking_id` of a personal URL, then the session.
//!
//! **De-anonymization.** A request that carries both a valid token and a tracking id
//! whose end user is anonymous links the two: that end user's progress moves to the
//! signed-in person (the more advanced progress wins where both have some), its sessions
//! follow, and the link is recorded on it (`linked_end_user_id`), all in one transaction
//! (`AuthStore::link_end_users`). From then on the tracking id names the person, also on
//! requests without a token: the personal URL keeps working after sign-in, exactly as it
//! did before. (The tracking id was already the only credential of that progress; the
//! link does not make it weaker.) It carries progress, never the verified email: without
//! a token, the end user is resolved with its verified email hidden.

use std::time::{Duration, Instant};

use guidepost_domain::*;

use crate::cache::Tracked;
use crate::{CoreError, Platform};

/// What a request tells about its caller, gathered by the transport.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org_id: OrgId,
    pub server_id: ServerId,
    pub tracking_id: Option<TrackingId>,
    /// The session-era session, if the request belongs to one.
    pub session: Option<McpSession>,
    /// The person a valid bearer token names (its verified email).
    pub signed_in: Option<EndUser>,
}

/// The end user for a caller. A session without one gets a new anonymous end user,
/// remembered on the session. A stateless call with neither token nor tracking id is
/// anonymous: `None`.
///
/// Only a token proves who the person is: without one, the end user comes back without
/// a verified email, so that holding someone's personal URL never lets a
/// caller see, use or file support under that person's verified address.
pub async fn resolve_end_user(
    platform: &Platform,
    caller: &Caller,
) -> Result<Option<EndUser>, CoreError> {
    if let Some(person) = &caller.signed_in {
        if let Some(tracking_id) = &caller.tracking_id {
            link_tracking_id(platform, &caller.org_id, tracking_id, person).await?;
        }
        return Ok(Some(person.clone()));
    }
    let unproven = unproven_end_user(platform, caller).await?;
    Ok(unproven.map(without_verified_email))
}

/// The end user a request names without a token: by tracking id, else by session.
async fn unproven_end_user(
    platform: &Platform,
    caller: &Caller,
) -> Result<Option<EndUser>, CoreError> {
    let store = &platform.store;
    let now = Timestamp::now();
    if let Some(tracking_id) = &caller.tracking_id {
        let user = end_user_for_tracking_id(platform, &caller.org_id, tracking_id, now).await?;
        // A session opened on a personal URL learns its end user on its first call.
        if let Some(session) = caller.session.as_ref().filter(|s| s.end_user_id.is_none()) {
            remember_session_user(platform, &caller.org_id, session, &user.id).await?;
        }
        return Ok(Some(user));
    }
    let Some(session) = &caller.session else {
        return Ok(None);
    };
    if let Some(id) = &session.end_user_id
        && let Some(user) = session_user(platform, &caller.org_id, id).await?
    {
        return Ok(Some(user));
    }
    let user = store.create_anonymous_end_user(&caller.org_id, now).await?;
    remember_session_user(platform, &caller.org_id, session, &user.id).await?;
    Ok(Some(user))
}

/// A session's end user, from this node's cache while the session is in use (`cache`);
/// `None` if they no longer exist.
async fn session_user(
    platform: &Platform,
    org: &OrgId,
    id: &EndUserId,
) -> Result<Option<EndUser>, CoreError> {
    if let Some(user) = platform.cache.session_user(org, id) {
        return Ok(Some(user));
    }
    let read_at = platform.cache.epoch();
    match platform.store.get_end_user(org, id).await {
        Ok(user) => {
            platform.cache.keep_session_user(&user, read_at);
            Ok(Some(user))
        }
        Err(guidepost_store::StoreError::NotFound) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// Writes the session's end user; its cached copy, which has none, is read again.
async fn remember_session_user(
    platform: &Platform,
    org: &OrgId,
    session: &McpSession,
    user: &EndUserId,
) -> Result<(), CoreError> {
    platform
        .store
        .set_session_end_user(org, &session.transport_id, user)
        .await?;
    platform.cache.forget_session(&session.transport_id);
    Ok(())
}

/// The end user as a request without a token may see it: an unverified email (one the
/// person typed) stays, a verified one is hidden.
fn without_verified_email(mut user: EndUser) -> EndUser {
    if user.email_verified {
        user.email = None;
        user.email_verified = false;
    }
    user
}

/// How often a cached tracking id's end user has its `last_seen_at` written (in the
/// background; retention only needs it to the day).
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// The end user a tracking id names: created on first sight, and the signed-in person
/// once the tracking id was linked to one. Kept in this node's cache between calls
/// (`cache`); activity is written in the background, at most every minute.
pub(crate) async fn end_user_for_tracking_id(
    platform: &Platform,
    org: &OrgId,
    tracking_id: &TrackingId,
    now: Timestamp,
) -> Result<EndUser, CoreError> {
    let cache = &platform.cache;
    if let Some(mut tracked) = cache.tracked(org, tracking_id.as_str()) {
        if tracked.touched.elapsed() >= TOUCH_EVERY {
            tracked.touched = Instant::now();
            cache.keep_tracked(org, tracking_id.as_str(), tracked.clone());
            touch_in_background(platform, org, tracking_id, now);
        }
        return Ok(tracked.user);
    }
    let user = resolve_tracking_id(platform, org, tracking_id, now).await?;
    let tracked = Tracked {
        user: user.clone(),
        touched: Instant::now(),
    };
    cache.keep_tracked(org, tracking_id.as_str(), tracked);
    Ok(user)
}

fn touch_in_background(platform: &Platform, org: &OrgId, tracking_id: &TrackingId, now: Timestamp) {
    let (store, org, tracking_id) = (platform.store.clone(), org.clone(), tracking_id.clone());
    tokio::spawn(async move {
        if let Err(error) = store
            .end_user_for_tracking_id(&org, tracking_id.as_str(), now)
            .await
        {
            tracing::warn!(%error, "could not record an end user's activity");
        }
    });
}

async fn resolve_tracking_id(
    platform: &Platform,
    org: &OrgId,
    tracking_id: &TrackingId,
    now: Timestamp,
) -> Result<EndUser, CoreError> {
    let store = &platform.store;
    let user = store
        .end_user_for_tracking_id(org, tracking_id.as_str(), now)
        .await?;
    match &user.linked_end_user_id {
        Some(person) => match store.get_end_user(org, person).await {
            Ok(person) => Ok(person),
            // The person was deleted: the tracking id is all that is left.
            Err(guidepost_store::StoreError::NotFound) => Ok(user),
            Err(other) => Err(other.into()),
        },
        None => Ok(user),
    }
}

/// De-anonymization: links the tracking id's end user to `person` if it is anonymous
/// and not linked yet. A tracking id already linked to someone else stays theirs.
async fn link_tracking_id(
    platform: &Platform,
    org: &OrgId,
    tracking_id: &TrackingId,
    person: &EndUser,
) -> Result<(), CoreError> {
    let now = Timestamp::now();
    let store = &platform.store;
    let tracked = store
        .end_user_for_tracking_id(org, tracking_id.as_str(), now)
        .await?;
    if tracked.id == person.id || tracked.email_verified || tracked.linked_end_user_id.is_some() {
        return Ok(());
    }
    let outcome = store
        .link_end_users(org, &tracked.id, &person.id, now)
        .await?;
    platform.cache.end_user_changed(org, &tracked.id);
    if outcome.linked {
        tracing::info!(
            anonymous = %tracked.id,
            person = %person.id,
            moved = outcome.moved,
            merged = outcome.merged,
            "linked a tracking id to a signed-in person"
        );
        metrics::counter!("guidepost_end_users_linked_total").increment(1);
    }
    Ok(())
}

/// How an anonymous caller can become identifiable; shown to agents in tool errors.
pub fn how_to_identify(personal_url_hint: &str) -> String {
    format!(
        "This call carries no identity. Connect with a personal URL that includes a tracking id \
         (for example {personal_url_hint}?tracking_id=<your-id>), or sign in, and call again."
    )
}

/// Why an `email` argument was not taken; the texts are for the agent.
#[derive(Debug, thiserror::Error)]
pub enum EmailRefused {
    #[error("This server does not take an email argument; call again without it.")]
    NotCollected,
    #[error("{0}. Ask the user for a valid address.")]
    Invalid(ValidationError),
    #[error("The email could not be saved because of a server error. Try again in a moment.")]
    Store(#[source] CoreError),
}

/// Remembers the email an end user gave through a tool, unverified. Only `collect_email`
/// servers take one; a blank argument is no email.
pub async fn collect_email(
    platform: &Platform,
    server: &McpServer,
    end_user: &EndUser,
    email: Option<&str>,
) -> Result<(), EmailRefused> {
    let Some(text) = email.map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(());
    };
    if server.auth_mode != AuthMode::CollectEmail {
        return Err(EmailRefused::NotCollected);
    }
    let email = Email::parse(text).map_err(EmailRefused::Invalid)?;
    platform
        .store
        .set_end_user_email(&server.org_id, &end_user.id, &email, false)
        .await
        .map_err(|error| EmailRefused::Store(error.into()))?;
    platform
        .cache
        .end_user_changed(&server.org_id, &end_user.id);
    Ok(())
}
