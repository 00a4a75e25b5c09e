//! A new secret (an API key) shown once on the dashboard, after the redirect that follows
//! the form that made it: kept in the store, sealed with the master key and bound to the
//! member's session (its token hash is the associated data), so that the page shows it
//! on whichever node it lands, once; taken by that first show, and gone after
//! [`SHOWN_FOR`] or with the session. Reloading the page shows it no more.

use std::time::Duration;

use guidepost_domain::Timestamp;

use crate::accounts::members::SignedIn;
use crate::{CoreError, Platform};

/// How long a secret waits for the page that shows it.
pub const SHOWN_FOR: Duration = Duration::from_secs(600);

/// What the sealed text is bound to: this purpose and this session.
fn context(signed_in: &SignedIn) -> String {
    format!("dashboard-shown-once:{}", signed_in.session.token_hash)
}

/// Keeps `secret` for the session's next page; false without a master key (nothing secret
/// is stored unsealed: the dashboard then keeps it in its own memory).
pub async fn keep(
    platform: &Platform,
    signed_in: &SignedIn,
    secret: &str,
) -> Result<bool, CoreError> {
    let Some(key) = &platform.config.master_key else {
        return Ok(false);
    };
    let sealed = key.seal(secret, &context(signed_in));
    let until = Timestamp::now().plus_seconds(SHOWN_FOR.as_secs() as i64);
    platform
        .store
        .keep_shown_once(
            signed_in.caller.org(),
            &signed_in.session.token_hash,
            &sealed,
            until,
        )
        .await?;
    Ok(true)
}

/// The session's waiting secret, taken: shown this once. None when there is none, it
/// expired, or it cannot be opened (the master key changed since).
pub async fn take(platform: &Platform, signed_in: &SignedIn) -> Result<Option<String>, CoreError> {
    let Some(key) = &platform.config.master_key else {
        return Ok(None);
    };
    let sealed = platform
        .store
        .take_shown_once(
            signed_in.caller.org(),
            &signed_in.session.token_hash,
            Timestamp::now(),
        )
        .await?;
    Ok(sealed.and_then(|sealed| key.open(&sealed, &context(signed_in)).ok()))
}
