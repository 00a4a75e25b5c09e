//! The analytics writer: a bounded queue drained by one background task that inserts in
//! batches, at least every second and on shutdown. Recording never waits on the
//! database; a full queue is counted and logged. A batch the database refuses is written
//! again in halves, so that one call it cannot take loses only itself.

use std::sync::Arc;
use std::time::Duration;

use guidepost_domain::ToolCall;
use guidepost_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

const QUEUE_CAPACITY: usize = 10_000;
const BATCH_SIZE: usize = 500;
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Inserts one refused batch may cost in all, its halves and theirs: enough to set apart
/// a few bad calls among 500 (about 2 × log2(500) each), and a bound on what a database
/// that refuses everything costs before the batch is given up.
const SPLIT_WRITES: usize = 64;

/// The cheap, cloneable handle that request handlers record through.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<ToolCall>,
    /// Asks the writer to write what is queued now, answering once it has.
    flushes: mpsc::Sender<oneshot::Sender<()>>,
}

/// The writer task; [`AnalyticsWriter::shutdown`] flushes what is queued and stops it.
pub struct AnalyticsWriter {
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

/// Starts the writer and returns the handle to record through.
pub fn start(store: Arc<dyn Store>) -> (Recorder, AnalyticsWriter) {
    let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
    let (flushes, flush_requests) = mpsc::channel(16);
    let (stop, stopped) = oneshot::channel();
    let done = tokio::spawn(write_batches(store, receiver, flush_requests, stopped));
    (Recorder { queue, flushes }, AnalyticsWriter { stop, done })
}

impl Recorder {
    pub fn record(&self, call: ToolCall) {
        match self.queue.try_send(call) {
            Ok(()) => metrics::gauge!("guidepost_analytics_queue_depth").set(self.depth() as f64),
            Err(mpsc::error::TrySendError::Full(call)) => {
                metrics::counter!("guidepost_analytics_dropped_total").increment(1);
                tracing::warn!(tool = %call.tool_name, server = %call.server_id, "analytics queue full: tool call not recorded");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                metrics::counter!("guidepost_analytics_dropped_total").increment(1);
                tracing::warn!("analytics writer stopped: tool call not recorded");
            }
        }
    }

    /// Waits (at most a few seconds) until every call recorded before it is written: an
    /// erasure must find the calls a person made up to its moment.
    pub(crate) async fn flushed(&self) {
        let (ack, written) = oneshot::channel();
        if self.flushes.send(ack).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), written).await;
        }
    }

    fn depth(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }
}

impl AnalyticsWriter {
    /// Writes everything already queued, then stops.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.done.await {
            tracing::error!(%error, "analytics writer failed while stopping");
        }
    }
}

async fn write_batches(
    store: Arc<dyn Store>,
    mut receiver: mpsc::Receiver<ToolCall>,
    mut flush_requests: mpsc::Receiver<oneshot::Sender<()>>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut batch = Vec::with_capacity(BATCH_SIZE);
    let mut tick = tokio::time::interval(FLUSH_INTERVAL);
    loop {
        tokio::select! {
            received = receiver.recv_many(&mut batch, BATCH_SIZE) => {
                if received == 0 { break; }
                if batch.len() >= BATCH_SIZE { flush(&*store, &mut batch).await; }
            }
            _ = tick.tick() => flush(&*store, &mut batch).await,
            Some(ack) = flush_requests.recv() => {
                write_what_is_queued(&*store, &mut receiver, &mut batch).await;
                let _ = ack.send(());
            }
            _ = &mut stopped => break,
        }
    }
    receiver.close();
    write_what_is_queued(&*store, &mut receiver, &mut batch).await;
}

/// Writes `batch` and every call queued now, a batch at a time.
async fn write_what_is_queued(
    store: &dyn Store,
    receiver: &mut mpsc::Receiver<ToolCall>,
    batch: &mut Vec<ToolCall>,
) {
    while let Ok(call) = receiver.try_recv() {
        batch.push(call);
        if batch.len() >= BATCH_SIZE {
            flush(store, batch).await;
        }
    }
    flush(store, batch).await;
}

async fn flush(store: &dyn Store, batch: &mut Vec<ToolCall>) {
    if batch.is_empty() {
        return;
    }
    let lost = write_apart(store, batch).await;
    let written = batch.len() - lost;
    metrics::counter!("guidepost_analytics_written_total").increment(written as u64);
    if lost > 0 {
        metrics::counter!("guidepost_analytics_dropped_total").increment(lost as u64);
    }
    batch.clear();
    metrics::gauge!("guidepost_analytics_queue_depth").set(0.0);
}

/// Writes `calls` and returns how many were lost. A batch is one transaction, of every
/// organization's calls: when the database refuses it (a value it cannot take), each
/// half is written on its own, down to the one call it refuses, within
/// [`SPLIT_WRITES`] inserts. A database that cannot be reached refuses nothing in
/// particular: what failed is lost at once.
async fn write_apart(store: &dyn Store, calls: &[ToolCall]) -> usize {
    let mut pending = vec![calls];
    let mut writes_left = SPLIT_WRITES;
    let mut lost = 0;
    while let Some(part) = pending.pop() {
        let Err(error) = store.insert_tool_calls(part).await else {
            continue;
        };
        if part.len() > 1 && refused_by_the_database(&error) && writes_left >= 2 {
            writes_left -= 2;
            let (first, second) = part.split_at(part.len() / 2);
            pending.extend([second, first]);
            continue;
        }
        lost += part.len();
        match part {
            [call] => tracing::error!(%error, tool = %call.tool_name, server = %call.server_id,
                "could not write a tool call"),
            _ => tracing::error!(%error, count = part.len(), "could not write tool calls"),
        }
    }
    lost
}

/// Whether the database answered and refused the statement (a value, a constraint),
/// rather than not answering at all: only then can a part of the batch succeed.
fn refused_by_the_database(error: &StoreError) -> bool {
    matches!(error, StoreError::Database(error) if error.as_database_error().is_some())
}

#[cfg(test)]
mod tests {
    use guidepost_domain::{OrgId, PageRequest, ServerId, Timestamp, ToolCallId};
    use guidepost_store::ToolCallFilter;
    use guidepost_testkit::{TestDatabase, backend_tests};

    use super::*;

    fn call(org: &OrgId, tool: &str) -> ToolCall {
        let now = Timestamp::now();
        ToolCall {
            id: ToolCallId::generate_in_time_order(now),
            org_id: org.clone(),
            server_id: ServerId::generate(),
            session_id: None,
            end_user_id: None,
            tool_name: tool.to_owned(),
            arguments: "{}".to_owned(),
            result_summary: String::new(),
            is_error: false,
            error_code: None,
            duration_us: 1,
            created_at: now,
            upstream_id: None,
            is_test: false,
            refusal: None,
        }
    }

    backend_tests! {
        /// A call the database cannot take (PostgreSQL refuses NUL in TEXT) is written
        /// apart from the others of its batch: they are all stored; on SQLite, which
        /// takes it, so is it.
        async fn one_refused_call_loses_only_itself(db: &TestDatabase) {
            let store = guidepost_store::connect(&db.url).await.unwrap();
            let org = store.create_organization("Acme").await.unwrap().id;
            let mut batch: Vec<ToolCall> = (0..7).map(|n| call(&org, &format!("tool_{n}"))).collect();
            batch.insert(3, call(&org, "bad\0name"));
            let refuses_nul = db.backend == guidepost_testkit::TestBackend::Postgres;
            assert_eq!(write_apart(&*store, &batch).await, usize::from(refuses_nul));
            let page = PageRequest::first(50);
            let stored = store.list_tool_calls(&org, &ToolCallFilter::default(), &page).await.unwrap();
            let names: Vec<&str> = stored.items.iter().map(|c| c.tool_name.as_str()).collect();
            assert_eq!(names.len(), 7 + usize::from(!refuses_nul), "{names:?}");
            assert!((0..7).all(|n| names.contains(&format!("tool_{n}").as_str())), "{names:?}");
        }
    }
}
