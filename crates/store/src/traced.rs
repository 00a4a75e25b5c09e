//! A span for each statement: `db.system.name` and the statement's text
//! (`db.query.text`, placeholders only, never values), at `debug`, so that only the
//! binary's trace layer builds it. The store's executors are wrapped in [`Traced`], which
//! runs each statement in its span and reads its text as sqlx takes it.
//!
//! It also bounds each PostgreSQL statement run within [`within_statement_limit`] (the
//! binary wraps every HTTP request in it, with `--store-timeout`): a database that stops
//! answering without closing its connections (a frozen host, a lost network path) would
//! otherwise hold a request until TCP gives up. SQLite runs in the process, and waits only
//! for its one writer, under its own busy timeout; background work runs unbounded.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{BoxStream, Stream};
use futures::{FutureExt, StreamExt};
use sqlx::{Database, Either, Error, Execute, Executor, SqlStr};
use tracing::Instrument;
use tracing::field::Empty;

use crate::Backend;

tokio::task_local! {
    static STATEMENT_LIMIT: Duration;
}

/// Runs `work` with each PostgreSQL statement it runs (in its own task) bounded by
/// `limit`: past it, the statement fails with an error that says so, and its connection
/// is not used again.
pub async fn within_statement_limit<F: Future>(limit: Duration, work: F) -> F::Output {
    STATEMENT_LIMIT.scope(limit, work).await
}

/// The limit [`within_statement_limit`] set for the running task, if any: work that a
/// request starts and that goes on after its handler has returned (a streamed body) takes
/// it along, so that it is bounded as the request is.
pub fn statement_limit() -> Option<Duration> {
    STATEMENT_LIMIT.try_with(|limit| *limit).ok()
}

/// The error of a statement the database did not answer in time.
fn unanswered(limit: Duration) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!(
            "the database did not answer within {:.1} s (--store-timeout)",
            limit.as_secs_f64()
        ),
    ))
}

/// An executor whose statements each run in a span of their own.
#[derive(Debug)]
pub(crate) struct Traced<E> {
    executor: E,
    backend: Backend,
}

impl<E> Traced<E> {
    pub(crate) fn new(executor: E, backend: Backend) -> Self {
        Self { executor, backend }
    }

    /// How long a statement run now may take, if bounded.
    fn limit(&self) -> Option<Duration> {
        limit(self.backend)
    }
}

/// How long a statement run now on `backend` may take, if bounded.
fn limit(backend: Backend) -> Option<Duration> {
    match backend {
        Backend::Postgres => STATEMENT_LIMIT.try_with(|limit| *limit).ok(),
        Backend::Sqlite => None,
    }
}

/// `work` bounded as a statement is: a transaction's BEGIN and COMMIT, which sqlx runs
/// on the connection without passing through [`Traced`].
pub(crate) async fn bounded<T>(
    backend: Backend,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match limit(backend) {
        Some(limit) => tokio::time::timeout(limit, work)
            .await
            .unwrap_or_else(|_| Err(unanswered(limit))),
        None => work.await,
    }
}

/// A statement's span, in the operation that runs it; none for the statements of
/// background loops outside any span (the webhook worker's polls, the retention sweep),
/// which would otherwise each be a trace of their own.
fn statement_span(backend: Backend) -> tracing::Span {
    if tracing::Span::current().is_none() {
        return tracing::Span::none();
    }
    let system = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgresql",
    };
    tracing::debug_span!(
        "store statement",
        otel.kind = "client",
        otel.name = Empty,
        db.system.name = system,
        db.query.text = Empty,
    )
}

/// A statement that writes its text into its span when sqlx reads it.
struct Recorded<Q> {
    query: Q,
    span: tracing::Span,
}

impl<'q, DB: Database, Q: Execute<'q, DB>> Execute<'q, DB> for Recorded<Q> {
    fn sql(self) -> SqlStr {
        let sql = self.query.sql();
        if !self.span.is_disabled() {
            let text = sql.as_str();
            let operation = text.split_whitespace().next().unwrap_or("statement");
            self.span.record("otel.name", operation);
            self.span.record("db.query.text", text);
        }
        sql
    }

    fn statement(&self) -> Option<&DB::Statement> {
        self.query.statement()
    }

    fn take_arguments(
        &mut self,
    ) -> Result<Option<<DB as Database>::Arguments>, sqlx::error::BoxDynError> {
        self.query.take_arguments()
    }

    fn persistent(&self) -> bool {
        self.query.persistent()
    }
}

/// A statement's stream, polled inside its span, and failed once its deadline passes
/// without an answer.
struct InSpan<S> {
    stream: S,
    span: tracing::Span,
    deadline: Option<(Pin<Box<tokio::time::Sleep>>, Duration)>,
    ended: bool,
}

impl<S, T> Stream for InSpan<S>
where
    S: Stream<Item = Result<T, Error>> + Unpin,
{
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        let _entered = this.span.enter();
        if let Poll::Ready(item) = this.stream.poll_next_unpin(cx) {
            return Poll::Ready(item);
        }
        let Some((sleep, limit)) = &mut this.deadline else {
            return Poll::Pending;
        };
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.ended = true;
        Poll::Ready(Some(Err(unanswered(*limit))))
    }
}

type Many<DB> = Either<<DB as Database>::QueryResult, <DB as Database>::Row>;

impl<'c, E: Executor<'c>> Executor<'c> for Traced<E> {
    type Database = E::Database;

    fn fetch_many<'e, 'q: 'e, Q>(
        self,
        query: Q,
    ) -> BoxStream<'e, Result<Many<Self::Database>, Error>>
    where
        'c: 'e,
        Q: 'q + Execute<'q, Self::Database>,
    {
        let span = statement_span(self.backend);
        let query = Recorded {
            query,
            span: span.clone(),
        };
        let deadline = self
            .limit()
            .map(|limit| (Box::pin(tokio::time::sleep(limit)), limit));
        let stream = span.in_scope(|| self.executor.fetch_many(query));
        InSpan {
            stream,
            span,
            deadline,
            ended: false,
        }
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, Q>(
        self,
        query: Q,
    ) -> BoxFuture<'e, Result<Option<<Self::Database as Database>::Row>, Error>>
    where
        'c: 'e,
        Q: 'q + Execute<'q, Self::Database>,
    {
        let span = statement_span(self.backend);
        let query = Recorded {
            query,
            span: span.clone(),
        };
        let limit = self.limit();
        let fetched = span.in_scope(|| self.executor.fetch_optional(query));
        let fetched = fetched.instrument(span);
        match limit {
            Some(limit) => async move {
                tokio::time::timeout(limit, fetched)
                    .await
                    .unwrap_or_else(|_| Err(unanswered(limit)))
            }
            .boxed(),
            None => fetched.boxed(),
        }
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [<Self::Database as Database>::TypeInfo],
    ) -> BoxFuture<'e, Result<<Self::Database as Database>::Statement, Error>>
    where
        'c: 'e,
    {
        self.executor.prepare_with(sql, parameters)
    }

    fn describe<'e>(
        self,
        sql: SqlStr,
    ) -> BoxFuture<'e, Result<sqlx::Describe<Self::Database>, Error>>
    where
        'c: 'e,
    {
        self.executor.describe(sql)
    }
}
