//! Whose turn it is to write, decided in this process (SQLite; issue 34).
//!
//! SQLite lets one connection write at a time. A connection that finds another writing
//! gets `SQLITE_BUSY` and its busy handler sleeps, 1, 2, 5, 10 ms and on, before it looks
//! again: it is not woken when the lock is free. The analytics writer's batch (hundreds
//! of rows in one transaction) and the progress writes' group commit run on different
//! connections, so a progress write that met a batch slept through it and past it, and
//! every caller queued behind that write waited too. Writers that take a turn here first
//! queue in FIFO order and are woken the moment the turn is handed on; SQLite's lock is
//! then free when they reach it. In the walkthrough mix at 16 users that is 1.07 times
//! the calls per second (docs/PERFORMANCE.md). Writers that take no turn (rare ones:
//! settings, sign-in) still meet the lock, and its busy timeout, as before: the turn is
//! for speed, not correctness.
//!
//! PostgreSQL locks rows, not the database, and its writers need no turn.

use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard};

/// The turn of a store's writers, or none where the database orders them itself.
#[derive(Clone)]
pub(crate) struct WriteTurn(Option<Arc<Mutex<()>>>);

/// Held while its writer writes; the next writer's turn comes when it is dropped.
pub(crate) struct Turn<'a> {
    _held: Option<MutexGuard<'a, ()>>,
}

impl WriteTurn {
    /// Writers one at a time, in the order they asked.
    pub(crate) fn one_at_a_time() -> Self {
        Self(Some(Arc::new(Mutex::new(()))))
    }

    /// No turn: every writer goes straight to the database.
    pub(crate) fn none() -> Self {
        Self(None)
    }

    /// Waits for this writer's turn.
    pub(crate) async fn take(&self) -> Turn<'_> {
        let held = match &self.0 {
            Some(turn) => Some(turn.lock().await),
            None => None,
        };
        Turn { _held: held }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::WriteTurn;

    #[tokio::test]
    async fn a_writer_waits_for_the_turn_and_gets_it_when_it_is_handed_on() {
        let turn = WriteTurn::one_at_a_time();
        let first = turn.take().await;
        let second = tokio::spawn({
            let turn = turn.clone();
            async move {
                let _mine = turn.take().await;
            }
        });
        tokio::task::yield_now().await;
        assert!(
            !second.is_finished(),
            "the second writer must wait its turn"
        );
        drop(first);
        tokio::time::timeout(Duration::from_secs(10), second)
            .await
            .expect("the turn is handed on")
            .expect("the second writer ran");
    }

    #[tokio::test]
    async fn without_a_turn_writers_do_not_wait_for_each_other() {
        let turn = WriteTurn::none();
        let _first = turn.take().await;
        tokio::time::timeout(Duration::from_secs(10), turn.take())
            .await
            .expect("no turn to wait for");
    }
}
