//! Connections handed from statement to statement without going back to sqlx's pool in
//! between.
//!
//! sqlx 0.9 tests every connection it takes back into its pool with a ping, whatever the
//! pool's options (`Floating::return_to_pool`), in a task it spawns for the purpose: a
//! round trip to PostgreSQL, or to a SQLite connection's thread, after every statement
//! run on the pool. What it guards against is a connection left mid-statement by a
//! future dropped at an `.await`. [`Held`] keeps up to `keep` connections checked out of
//! the pool and lends them to one statement at a time; a statement that ran to its end
//! gives its connection back to `Held`, so nothing is left to flush. Anything else (a
//! statement that failed, one whose future was dropped, a connection beyond `keep`) goes
//! back to sqlx's pool, which pings it as before and closes it if it is broken.
//!
//! At most `keep` connections are here, lent or idle, and a statement waits for one of
//! them (never for the pool while one idles here). `keep` stays below the pool's size,
//! so that transactions, which take their connections from the pool itself, are never
//! left waiting on connections idle here.
//! A hand-written executor rather than another pool crate: it only changes when sqlx
//! sees a connection again, and sqlx keeps connecting, limits, timeouts and health.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt, TryFutureExt, TryStreamExt};
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Database, Either, Error, Execute, Executor, Pool, SqlStr};
use tokio::sync::{Semaphore, SemaphorePermit};

type Many<DB> = Either<<DB as Database>::QueryResult, <DB as Database>::Row>;

/// sqlx's pool, with connections kept out of it between statements.
pub(crate) struct Held<DB: Database> {
    pool: Pool<DB>,
    /// Idle connections, each with the time it went idle.
    idle: Mutex<Vec<(PoolConnection<DB>, Instant)>>,
    keep: usize,
    /// One permit per connection here, lent or idle.
    loans: Semaphore,
    /// A connection idle this long is pinged before it is lent (a server that restarted
    /// meanwhile is found then, not by a request's statement), as the pool's own
    /// `before_acquire` does.
    ping_after_idle: Option<Duration>,
    /// When a loan last ended without finishing (a failed or dropped statement). The
    /// connections idle here since before it may share its cause (the database went
    /// away): each is pinged before it is lent, instead of failing a request's statement
    /// once the database is back.
    last_failure: Mutex<Option<Instant>>,
}

impl<DB: Database> std::fmt::Debug for Held<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("idle", &self.lock().len())
            .field("keep", &self.keep)
            .finish()
    }
}

impl<DB: Database> Held<DB> {
    /// Keeps at most `keep` idle connections of `pool` (fewer than the pool's maximum).
    pub(crate) fn new(pool: Pool<DB>, keep: usize, ping_after_idle: Option<Duration>) -> Self {
        Self {
            pool,
            idle: Mutex::new(Vec::with_capacity(keep)),
            keep,
            loans: Semaphore::new(keep),
            ping_after_idle,
            last_failure: Mutex::new(None),
        }
    }

    /// A connection for one statement: an idle one kept here, else one from the pool.
    pub(crate) async fn lend(&self) -> Result<Lent<'_, DB>, Error> {
        // As long as the pool would wait for a connection of its own.
        let waiting = self.loans.acquire();
        let permit = tokio::time::timeout(self.pool.options().get_acquire_timeout(), waiting)
            .await
            .map_err(|_| Error::PoolTimedOut)?
            .map_err(|_| Error::PoolClosed)?;
        let connection = loop {
            let popped = self.lock().pop();
            let Some((mut connection, idle_since)) = popped else {
                break self.pool.acquire().await?;
            };
            let last_failure = *lock_whole(&self.last_failure);
            let suspect = needs_ping(
                idle_since,
                Instant::now(),
                self.ping_after_idle,
                last_failure,
            );
            // A connection that fails its ping is dropped (sqlx closes it) for the next.
            if !suspect || connection.ping().await.is_ok() {
                break connection;
            }
        };
        Ok(Lent {
            held: self,
            connection: Some(connection),
            finished: false,
            _permit: permit,
        })
    }

    /// Connections idle here now.
    pub(crate) fn idle(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(PoolConnection<DB>, Instant)>> {
        lock_whole(&self.idle)
    }

    /// Hands a connection whose statement ran to its end back here (there is room: the
    /// loan's permit is still held).
    fn give_back(&self, connection: PoolConnection<DB>) {
        self.lock().push((connection, Instant::now()));
    }
}

/// Locks a mutex whose value is only ever replaced or pushed to and popped from whole: a
/// panic elsewhere cannot leave it half-changed.
fn lock_whole<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether a connection idle since `idle_since` is pinged before it is lent at `now`: it
/// idled for `ping_after_idle` or longer, or a loan failed after it went idle.
fn needs_ping(
    idle_since: Instant,
    now: Instant,
    ping_after_idle: Option<Duration>,
    last_failure: Option<Instant>,
) -> bool {
    ping_after_idle.is_some_and(|after| now.duration_since(idle_since) >= after)
        || last_failure.is_some_and(|failed| failed >= idle_since)
}

/// A connection lent for one statement (or one transaction). Marked [`Lent::finished`]
/// when that ran to its end; dropped unfinished, its connection goes back to sqlx's
/// pool to be tested there.
pub(crate) struct Lent<'h, DB: Database> {
    held: &'h Held<DB>,
    connection: Option<PoolConnection<DB>>,
    finished: bool,
    /// Released after the connection is back (fields drop in order).
    _permit: SemaphorePermit<'h>,
}

impl<DB: Database> Lent<'_, DB> {
    pub(crate) fn connection(&mut self) -> &mut DB::Connection {
        self.connection
            .as_deref_mut()
            .expect("a lent connection is there until the loan ends")
    }

    /// The statement or transaction ended cleanly: the connection may serve the next.
    pub(crate) fn finished(&mut self) {
        self.finished = true;
    }
}

impl<DB: Database> Drop for Lent<'_, DB> {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        if self.finished {
            self.held.give_back(connection);
        } else {
            *lock_whole(&self.held.last_failure) = Some(Instant::now());
        }
    }
}

impl<'c, DB: Database> Executor<'c> for &'c Held<DB>
where
    for<'x> &'x mut DB::Connection: Executor<'x, Database = DB>,
{
    type Database = DB;

    /// Rows are gathered before they are handed on: the store reads bounded pages only,
    /// and the statement must have ended for its connection to serve the next.
    fn fetch_many<'e, 'q: 'e, Q>(self, query: Q) -> BoxStream<'e, Result<Many<DB>, Error>>
    where
        'c: 'e,
        Q: 'q + Execute<'q, DB>,
    {
        let gathered = async move {
            let mut lent = self.lend().await?;
            let all: Vec<Many<DB>> = lent.connection().fetch_many(query).try_collect().await?;
            lent.finished();
            Ok::<_, Error>(futures::stream::iter(all.into_iter().map(Ok)))
        };
        gathered.try_flatten_stream().boxed()
    }

    fn fetch_optional<'e, 'q: 'e, Q>(
        self,
        query: Q,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, Error>>
    where
        'c: 'e,
        Q: 'q + Execute<'q, DB>,
    {
        async move {
            let mut lent = self.lend().await?;
            let row = lent.connection().fetch_optional(query).await?;
            lent.finished();
            Ok(row)
        }
        .boxed()
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, Error>>
    where
        'c: 'e,
    {
        (&self.pool).prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<DB>, Error>>
    where
        'c: 'e,
    {
        (&self.pool).describe(sql)
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Sqlite;
    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    /// A pool of in-memory SQLite databases: each connection is a database of its own,
    /// so a table tells which connection a statement ran on.
    async fn held(keep: usize) -> Held<Sqlite> {
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        Held::new(pool, keep, None)
    }

    const MARK: &str = "CREATE TABLE IF NOT EXISTS mark(n); INSERT INTO mark VALUES (1)";

    async fn marks(held: &Held<Sqlite>) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM mark")
            .fetch_one(held)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn statements_one_after_another_share_one_connection() {
        let held = held(2).await;
        for _ in 0..20 {
            sqlx::query(MARK).execute(&held).await.unwrap();
        }
        // All twenty on one connection: none went back to the pool (and its ping) and
        // came out as another.
        assert_eq!(marks(&held).await, 20);
        assert_eq!(held.idle(), 1);
        assert_eq!(held.pool.num_idle(), 0, "nothing went back to the pool");
    }

    #[tokio::test]
    async fn a_loan_that_did_not_finish_goes_back_to_the_pool() {
        let held = held(2).await;
        let mut lent = held.lend().await.unwrap();
        sqlx::query(MARK).execute(lent.connection()).await.unwrap();
        drop(lent);
        assert_eq!(held.idle(), 0, "not kept: the pool tests it first");
        let mut finished = held.lend().await.unwrap();
        sqlx::query("SELECT 1")
            .execute(finished.connection())
            .await
            .unwrap();
        finished.finished();
        drop(finished);
        assert_eq!(held.idle(), 1);
    }

    #[tokio::test]
    async fn a_failed_statement_gives_its_connection_back_to_the_pool() {
        let held = held(2).await;
        sqlx::query("SELECT 1").execute(&held).await.unwrap();
        assert_eq!(held.idle(), 1);
        let failed = sqlx::query("SELECT * FROM no_such_table")
            .fetch_optional(&held)
            .await;
        assert!(failed.is_err());
        assert_eq!(held.idle(), 0);
    }

    #[test]
    fn a_connection_is_pinged_after_a_long_idle_or_a_failure_since_it_went_idle() {
        let idle_since = Instant::now();
        let later = idle_since + Duration::from_secs(1);
        let much_later = idle_since + Duration::from_secs(10);
        let after_5s = Some(Duration::from_secs(5));
        assert!(!needs_ping(idle_since, later, after_5s, None));
        assert!(needs_ping(idle_since, much_later, after_5s, None));
        assert!(!needs_ping(idle_since, much_later, None, None));
        // A loan failed while it idled (the database went away): pinged, however soon.
        assert!(needs_ping(idle_since, later, None, Some(later)));
        assert!(needs_ping(idle_since, later, after_5s, Some(idle_since)));
        // A failure before it went idle: it finished a statement since.
        let before = idle_since - Duration::from_millis(1);
        assert!(!needs_ping(idle_since, later, after_5s, Some(before)));
    }

    #[tokio::test]
    async fn a_failed_loan_marks_the_idle_connections_for_a_ping() {
        let held = held(2).await;
        sqlx::query("SELECT 1").execute(&held).await.unwrap();
        assert!(lock_whole(&held.last_failure).is_none());
        let failed = sqlx::query("SELECT * FROM no_such_table")
            .fetch_optional(&held)
            .await;
        assert!(failed.is_err());
        assert!(
            lock_whole(&held.last_failure).is_some(),
            "the failure is noted"
        );
        // The next statements still run (on a connection pinged first).
        sqlx::query(MARK).execute(&held).await.unwrap();
    }

    #[tokio::test]
    async fn no_more_than_keep_are_lent_and_a_statement_waits_for_one() {
        let held = held(2).await;
        let (mut first, second) = (held.lend().await.unwrap(), held.lend().await.unwrap());
        let third = held.lend();
        futures::pin_mut!(third);
        assert!(
            futures::poll!(third.as_mut()).is_pending(),
            "a third waits while two are lent"
        );
        first.finished();
        drop(first);
        let third = third.await.unwrap();
        assert_eq!(held.idle(), 0, "the third has the first's connection");
        drop((second, third));
        assert_eq!(
            held.pool.size(),
            2,
            "never more than two taken from the pool"
        );
    }
}
