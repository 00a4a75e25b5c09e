//! A span for each statement (issue 29): `db.system.name` and the statement's text
//! (`db.query.text`, placeholders only, never values), at `debug`, so that only the
//! binary's trace layer builds it. The store's executors are wrapped in [`Traced`], which
//! runs each statement in its span and reads its text as sqlx takes it.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::stream::{BoxStream, Stream};
use futures::{FutureExt, StreamExt};
use sqlx::{Database, Either, Error, Execute, Executor, SqlStr};
use tracing::Instrument;
use tracing::field::Empty;

use crate::Backend;

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

/// A stream polled inside its span.
struct InSpan<S> {
    stream: S,
    span: tracing::Span,
}

impl<S: Stream + Unpin> Stream for InSpan<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = &mut *self;
        let _entered = this.span.enter();
        this.stream.poll_next_unpin(cx)
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
        let stream = span.in_scope(|| self.executor.fetch_many(query));
        InSpan { stream, span }.boxed()
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
        let fetched = span.in_scope(|| self.executor.fetch_optional(query));
        fetched.instrument(span).boxed()
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
