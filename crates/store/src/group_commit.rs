//! Group commit: writes that arrive while the store is committing others are
//! committed together, in one transaction, instead of one transaction each.
//!
//! A durable write costs more to commit than to make: the commit takes the database's
//! write lock and appends to its log (SQLite), or flushes the log to disk (PostgreSQL).
//! Under load the hot writes (a caller's walkthrough progress) queue here; a *lane* takes
//! whatever is queued, runs it in one transaction, commits once and answers each caller
//! with its own write's result. Nothing waits for a batch to fill: a lone write runs at
//! once, as a single statement, and batches grow only while lanes are busy.
//!
//! Each write keeps its own meaning. The writes of a batch run one after another in the
//! order they arrived, as they would have one by one; a conditional write that finds the
//! row moved on answers so, as it would alone. When any statement of a batch fails, the
//! transaction is rolled back and every write of it runs again alone, so that each
//! caller gets its own write's error and no write fails for another's. A caller is
//! answered only after its write committed.
//!
//! The batch runs in the span of its first write, so a trace shows its statements; the
//! other callers' traces show the wait.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::{Mutex, mpsc, oneshot};
use tracing::Instrument;

use crate::{Result, StoreError};

/// The most writes one transaction commits: a bound on how long a lane holds the write
/// lock and on the statement list one commit carries.
pub(crate) const MAX_BATCH: usize = 64;

/// How a kind of write runs, alone or with others.
pub(crate) trait Batches: Send + Sync + 'static {
    type Write: Send + Sync + 'static;
    type Written: Send + 'static;

    /// One write as a statement of its own (no transaction around it).
    fn one<'a>(&'a self, write: &'a Self::Write) -> BoxFuture<'a, Result<Self::Written>>;

    /// The writes in one transaction, in order, committed together; an error when any of
    /// them failed, after which nothing of the batch is committed.
    fn many<'a>(&'a self, writes: &'a [Self::Write]) -> BoxFuture<'a, Result<Vec<Self::Written>>>;
}

struct Pending<B: Batches> {
    write: B::Write,
    span: tracing::Span,
    answer: oneshot::Sender<Result<B::Written>>,
}

/// The queue of one kind of write and the lanes that commit it.
pub(crate) struct GroupCommit<B: Batches> {
    queue: mpsc::UnboundedSender<Pending<B>>,
}

impl<B: Batches> GroupCommit<B> {
    /// Starts `lanes` lanes on the current Tokio runtime. They end when the store (the
    /// last sender) is dropped.
    pub(crate) fn start(batches: B, lanes: usize) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        let batches = Arc::new(batches);
        for _ in 0..lanes.max(1) {
            tokio::spawn(lane(batches.clone(), receiver.clone()));
        }
        Self { queue }
    }

    /// Queues `write` and waits until it is committed (or has failed).
    pub(crate) fn write(
        &self,
        write: B::Write,
    ) -> impl Future<Output = Result<B::Written>> + use<B> {
        let (answer, answered) = oneshot::channel();
        let pending = Pending {
            write,
            span: tracing::Span::current(),
            answer,
        };
        let queued = self.queue.send(pending).is_ok();
        async move {
            // Lanes end only with the store, so either way the store is closing.
            if !queued {
                return Err(StoreError::Database(sqlx::Error::PoolClosed));
            }
            answered
                .await
                .unwrap_or(Err(StoreError::Database(sqlx::Error::PoolClosed)))
        }
    }
}

/// Takes what is queued (at most [`MAX_BATCH`]), commits it, answers, and again.
async fn lane<B: Batches>(
    batches: Arc<B>,
    receiver: Arc<Mutex<mpsc::UnboundedReceiver<Pending<B>>>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        {
            let mut receiver = receiver.lock().await;
            match receiver.recv().await {
                Some(first) => batch.push(first),
                None => return,
            }
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
        }
        commit(&*batches, std::mem::take(&mut batch)).await;
    }
}

async fn commit<B: Batches>(batches: &B, mut batch: Vec<Pending<B>>) {
    if batch.len() == 1
        && let Some(only) = batch.pop()
    {
        let written = batches.one(&only.write).instrument(only.span).await;
        let _ = only.answer.send(written);
        return;
    }
    let (writes, waiting): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .map(|p| (p.write, (p.span, p.answer)))
        .unzip();
    let span = waiting[0].0.clone();
    match batches.many(&writes).instrument(span).await {
        Ok(written) => {
            for ((_, answer), written) in waiting.into_iter().zip(written) {
                let _ = answer.send(Ok(written));
            }
        }
        Err(error) => {
            tracing::debug!(%error, writes = writes.len(), "a group commit failed; its writes run alone");
            for (write, (span, answer)) in writes.iter().zip(waiting) {
                let written = batches.one(write).instrument(span).await;
                let _ = answer.send(written);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use futures::FutureExt;
    use tokio::sync::Semaphore;

    use super::*;

    /// Writes numbers; 13 fails. Records each commit's size, and holds every commit until
    /// the test lets it through, so that writes queue behind it.
    struct Numbers {
        commits: StdMutex<Vec<usize>>,
        gate: Semaphore,
    }

    impl Numbers {
        fn held() -> Arc<Self> {
            Arc::new(Numbers {
                commits: StdMutex::default(),
                gate: Semaphore::new(0),
            })
        }
    }

    fn refused() -> StoreError {
        StoreError::Rejected {
            field: "n",
            message: "13 is refused".into(),
        }
    }

    impl Batches for Arc<Numbers> {
        type Write = u32;
        type Written = u32;

        fn one<'a>(&'a self, write: &'a u32) -> BoxFuture<'a, Result<u32>> {
            async move {
                self.gate.acquire().await.expect("open").forget();
                self.commits.lock().expect("lock").push(1);
                if *write == 13 {
                    Err(refused())
                } else {
                    Ok(write * 10)
                }
            }
            .boxed()
        }

        fn many<'a>(&'a self, writes: &'a [u32]) -> BoxFuture<'a, Result<Vec<u32>>> {
            async move {
                self.gate.acquire().await.expect("open").forget();
                if writes.contains(&13) {
                    return Err(refused());
                }
                self.commits.lock().expect("lock").push(writes.len());
                Ok(writes.iter().map(|w| w * 10).collect())
            }
            .boxed()
        }
    }

    /// Queues `writes` behind a first write held at the gate, then opens the gate.
    async fn queued_behind_one(numbers: &Arc<Numbers>, writes: Vec<u32>) -> Vec<Result<u32>> {
        let group = GroupCommit::start(numbers.clone(), 1);
        let first = tokio::spawn(group.write(1));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let rest: Vec<_> = writes
            .into_iter()
            .map(|w| tokio::spawn(group.write(w)))
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        numbers.gate.add_permits(1000);
        assert_eq!(first.await.expect("joined").expect("written"), 10);
        let mut answers = Vec::new();
        for answer in rest {
            answers.push(answer.await.expect("joined"));
        }
        answers
    }

    #[tokio::test]
    async fn writes_queued_behind_a_commit_share_the_next_one() {
        let numbers = Numbers::held();
        let answers = queued_behind_one(&numbers, (2..=12).collect()).await;
        let written: Vec<u32> = answers.into_iter().map(|a| a.expect("written")).collect();
        assert_eq!(written, (2..=12).map(|n| n * 10).collect::<Vec<_>>());
        // The lone first write ran alone; the eleven that queued meanwhile, together.
        assert_eq!(*numbers.commits.lock().expect("lock"), vec![1, 11]);
    }

    #[tokio::test]
    async fn a_failing_write_fails_alone_and_the_others_of_its_batch_commit() {
        let numbers = Numbers::held();
        let answers = queued_behind_one(&numbers, vec![12, 13, 14]).await;
        assert_eq!(answers[0].as_ref().ok(), Some(&120));
        assert!(matches!(answers[1], Err(StoreError::Rejected { .. })));
        assert_eq!(answers[2].as_ref().ok(), Some(&140));
        // The batch failed and each of its writes ran again alone.
        assert_eq!(*numbers.commits.lock().expect("lock"), vec![1, 1, 1, 1]);
    }

    #[tokio::test]
    async fn a_batch_takes_at_most_max_batch_writes() {
        let numbers = Numbers::held();
        let count = MAX_BATCH as u32 + 6;
        let answers = queued_behind_one(&numbers, (100..100 + count).collect()).await;
        assert!(answers.iter().all(Result::is_ok));
        assert_eq!(
            *numbers.commits.lock().expect("lock"),
            vec![1, MAX_BATCH, 6]
        );
    }
}
