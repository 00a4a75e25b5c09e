//! The PostgreSQL backend: the production store, shared by any number of nodes.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{ConnectOptions, Connection};

use guidepost_domain::{Id, ServerId};

use crate::group_commit::GroupCommit;
use crate::held::Held;
use crate::write_turn::WriteTurn;
use crate::{Backend, ChangeFeed, Result, StoreOptions};

type Db = sqlx::Postgres;
type DbRow = sqlx::postgres::PgRow;
type ThisStore = PgStore;
const BACKEND: Backend = Backend::Postgres;

/// Row locking for read-then-write transactions.
const LOCK_ROW: &str = " FOR UPDATE";

/// A write transaction locks rows as it writes them.
const BEGIN_WRITE: &str = "BEGIN";

/// A transaction whose first statement writes: no different here (SQLite's differs).
const BEGIN_WRITING: &str = "BEGIN";

pub(crate) static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub struct PgStore {
    pool: sqlx::PgPool,
    /// The pool's connections lent statement by statement (`held`).
    held: Arc<Held<Db>>,
    statements: Arc<AtomicU64>,
    changes: ChangeFeed,
    progress_writes: GroupCommit<sql::progress_writes::ProgressWrites>,
    /// The hot writers' turn (`write_turn`).
    write_turn: WriteTurn,
}

/// Connections: the pool's size, and how many of them stay lent out between statements
/// (`held`; the rest are for transactions).
const POOL_SIZE: u32 = 16;
const HELD: usize = 12;

/// A pooled connection idle this long is pinged before use, so that one the server
/// dropped meanwhile (a restart, a failover) is replaced instead of failing a request.
/// A busy connection is not: sqlx's default ping on every use is a round trip to the
/// server per statement, and a connection that breaks mid-use is discarded
/// when its statement fails.
const PING_AFTER_IDLE: Duration = Duration::from_secs(5);

/// The channel on which nodes announce changes of tool lists to each other.
const TOOLS_CHANGED_CHANNEL: &str = "guidepost_tools_changed";

impl PgStore {
    /// Connects and applies migrations. Concurrent nodes starting together are safe:
    /// sqlx serializes migrations with an advisory lock.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// [`PgStore::connect`], waiting at most `options.timeout` for a connection on each
    /// use: while the database is down, requests fail within it.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(options.timeout)
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        connection.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await?;
        let mut migrating = url
            .parse::<sqlx::postgres::PgConnectOptions>()?
            .disable_statement_logging()
            .connect()
            .await?;
        crate::schema::apply(&mut migrating, &MIGRATIONS).await?;
        migrating.close().await?;
        let changes = ChangeFeed::new();
        let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
        listener.listen(TOOLS_CHANGED_CHANNEL).await?;
        tokio::spawn(relay_notifications(listener, changes.clone()));
        let statements = Arc::new(AtomicU64::new(0));
        let held = Arc::new(Held::new(pool.clone(), HELD, Some(PING_AFTER_IDLE)));
        let write_turn = WriteTurn::none();
        let progress_writes = sql::progress_writes::start(&held, &statements, &write_turn);
        Ok(Self {
            pool,
            held,
            statements,
            changes,
            progress_writes,
            write_turn,
        })
    }

    /// Every node hears its own NOTIFY too, so local subscribers are fed only from here.
    async fn announce(&self, servers: &[ServerId]) -> Result<()> {
        for server in servers {
            self.count(1);
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(TOOLS_CHANGED_CHANNEL)
                .bind(server.as_str())
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}

/// Forwards NOTIFY payloads to local subscribers. `PgListener` reconnects by itself;
/// announcements sent while it is disconnected are lost, which costs a client at most a
/// stale tool list until its next change or re-list.
async fn relay_notifications(mut listener: sqlx::postgres::PgListener, changes: ChangeFeed) {
    loop {
        match listener.recv().await {
            Ok(notification) => {
                changes.publish(Id::from_trusted(notification.payload().to_owned()))
            }
            Err(error) => {
                tracing::warn!(%error, "lost the PostgreSQL notification connection; reconnecting");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// The shared SQL (see `sql/mod.rs`), compiled here with this backend's types.
#[path = "sql/mod.rs"]
#[allow(
    clippy::duplicate_mod,
    reason = "the shared SQL is compiled once per backend, on purpose"
)]
mod sql;
