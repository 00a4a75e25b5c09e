//! Eventual conditions instead of timed assertions.
//!
//! A test on a shared two-core machine cannot promise how fast something happens, only
//! that it happens: it polls the condition until it holds, and prints how long that took
//! so that the figure can be quoted (docs/RELIABILITY.md, docs/PERFORMANCE.md). The
//! deadline is a guard against a hang, far above any figure the docs give, never the
//! measure.

use std::time::Duration;

use tokio::time::Instant;

/// How long an eventual condition may take before the test fails as hung.
pub const HANG_GUARD: Duration = Duration::from_secs(30);

/// How often an eventual condition is checked again.
const POLL: Duration = Duration::from_millis(20);

/// Checks `check` until it holds and returns how long that took (from the call). Fails
/// the test, naming `what`, if it still does not hold after [`HANG_GUARD`].
pub async fn eventually(what: &str, check: impl AsyncFnMut() -> bool) -> Duration {
    eventually_within(HANG_GUARD, what, check).await
}

async fn eventually_within(
    guard: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < guard,
            "{what}: still not so after {guard:?} (a hang, not a slow machine)"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Awaits `work`, failing the test, naming `what`, if it has not finished after
/// [`HANG_GUARD`]; returns its output and how long it took, for the test to print.
pub async fn within_hang_guard<T>(what: &str, work: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    match tokio::time::timeout(HANG_GUARD, work).await {
        Ok(output) => (output, started.elapsed()),
        Err(_) => panic!("{what}: not finished after {HANG_GUARD:?} (a hang, not a slow machine)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_condition_that_comes_to_hold_is_waited_for() {
        let mut checks = 0;
        eventually("the third check", async || {
            checks += 1;
            checks == 3
        })
        .await;
        assert_eq!(checks, 3);
    }

    #[tokio::test]
    async fn a_condition_that_never_holds_fails_after_the_guard() {
        let guard = Duration::from_millis(50);
        let outcome = tokio::spawn(eventually_within(guard, "never", async || false)).await;
        let message = outcome.expect_err("fails").into_panic();
        let message = message
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(message.starts_with("never: still not so"), "{message}");
    }
}
