//! A new secret (an API key) is shown once, after a redirect: the action that made it
//! keeps it here under the session's form token and answers 303; the page that shows it
//! takes it out. Reloading that page shows it no more, and never makes another one.
//!
//! Held in this process's memory only, for minutes: nothing secret is written anywhere,
//! and a restart between the redirect and the page only loses the showing (the page then
//! says to make a new key). A deployment with several dashboard processes routes a
//! session to one of them, as it does for the sign-in throttles.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a secret waits for its page.
const KEPT_FOR: Duration = Duration::from_secs(600);
/// Sessions with a secret waiting at once; beyond it, the secret is shown at once.
const MOST_HELD: usize = 10_000;

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
