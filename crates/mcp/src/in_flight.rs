//! The MCP requests a node is answering, so that a graceful stop lets them finish before
//! it ends the streams that never finish by themselves (session GET streams and
//! `subscriptions/listen`). rmcp answers a stateless request that is still running when
//! its cancellation token fires with an empty 500, although the handler runs on and
//! records the call; so the node cancels rmcp only once these requests are answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// A count of requests being answered; cheap to clone.
#[derive(Clone, Default)]
pub struct InFlight {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    count: AtomicUsize,
    idle: Notify,
}

/// Held while one request is answered (until its response body is sent).
pub(crate) struct Answering(Arc<Inner>);

impl InFlight {
    pub(crate) fn enter(&self) -> Answering {
        self.inner.count.fetch_add(1, Ordering::SeqCst);
        Answering(self.inner.clone())
    }

    /// Resolves once no request is being answered.
    pub async fn drained(&self) {
        loop {
            // Created before the check: a wake-up between the two is not lost.
            let idle = self.inner.idle.notified();
            if self.inner.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::Poll;

    use super::*;

    /// Polled by hand, not timed: `drained` is pending while one request is answered,
    /// and resolves once both are (within the hang guard, which only catches a hang).
    #[tokio::test]
    async fn drained_waits_for_every_request_being_answered() {
        let in_flight = InFlight::default();
        in_flight.drained().await;
        let first = in_flight.enter();
        let second = in_flight.enter();
        let mut drained = pin!(in_flight.drained());
        drop(first);
        let pending =
            std::future::poll_fn(|cx| Poll::Ready(drained.as_mut().poll(cx).is_pending())).await;
        assert!(pending, "one request is still being answered");
        drop(second);
        guidepost_testkit::within_hang_guard("drained once both are answered", drained).await;
    }
}
