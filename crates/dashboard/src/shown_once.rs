//! A new secret (an API key) is shown once, after a redirect: the action that made it
//! keeps it and answers 303; the page that shows it takes it. Reloading that page shows
//! it no more, and never makes another one.
//!
//! With a master key it is kept in the store, sealed and bound to the session
//! (`guidepost_core::accounts::shown_once`), so the page after the redirect shows it on whichever
//! node it lands. Without one nothing secret may be stored, so it waits in this process's
//! memory for minutes (one node: a restart between the redirect and the page only loses
//! the showing, and the page then says to make a new key).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Dashboard;
use crate::error::PageError;
use crate::session::Signed;

/// Keeps `secret` for the session's next page; false when it cannot wait anywhere (the
/// caller then shows it at once).
pub(crate) async fn keep(
    app: &Dashboard,
    signed: &Signed,
    secret: &str,
) -> Result<bool, PageError> {
    if guidepost_core::accounts::shown_once::keep(&app.platform, &signed.signed_in, secret).await? {
        return Ok(true);
    }
    Ok(app.shown_once.keep(&signed.csrf, secret.to_owned()))
}

/// The session's waiting secret, taken: shown this once.
pub(crate) async fn take(app: &Dashboard, signed: &Signed) -> Result<Option<String>, PageError> {
    if let Some(secret) =
        guidepost_core::accounts::shown_once::take(&app.platform, &signed.signed_in).await?
    {
        return Ok(Some(secret));
    }
    Ok(app.shown_once.take(&signed.csrf))
}

/// How long a secret waits in memory for its page.
const KEPT_FOR: Duration = guidepost_core::accounts::shown_once::SHOWN_FOR;
/// Sessions with a secret waiting in memory at once; beyond it, the secret is shown at once.
const MOST_HELD: usize = 10_000;

/// The memory a secret waits in when there is no master key to seal it with.
#[derive(Default)]
pub(crate) struct ShownOnce {
    held: Mutex<HashMap<String, (String, Instant)>>,
}

impl ShownOnce {
    /// Keeps `secret` for the session whose form token is `session`; false when too many
    /// are waiting (the caller then shows it at once).
    pub fn keep(&self, session: &str, secret: String) -> bool {
        let Ok(mut held) = self.held.lock() else {
            return false;
        };
        let now = Instant::now();
        held.retain(|_, (_, at)| now.duration_since(*at) < KEPT_FOR);
        if held.len() >= MOST_HELD && !held.contains_key(session) {
            return false;
        }
        held.insert(session.to_owned(), (secret, now));
        true
    }

    /// The session's waiting secret, removed: it is shown this once.
    pub fn take(&self, session: &str) -> Option<String> {
        let mut held = self.held.lock().ok()?;
        let (secret, at) = held.remove(session)?;
        (at.elapsed() < KEPT_FOR).then_some(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_taken_once_and_only_by_its_session() {
        let stash = ShownOnce::default();
        assert!(stash.keep("session-a", "gp_secret".into()));
        assert_eq!(stash.take("session-b"), None);
        assert_eq!(stash.take("session-a").as_deref(), Some("gp_secret"));
        assert_eq!(stash.take("session-a"), None);
    }
}
