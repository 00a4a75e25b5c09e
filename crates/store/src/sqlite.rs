//! The SQLite backend: the embedded default. WAL mode, a busy timeout, foreign keys on,
//! and write transactions that take the write lock up front (`BEGIN IMMEDIATE`), so that
//! two writers queue on the busy timeout instead of failing on a lock upgrade.
//!
//! Two files: the database, and beside it `<database>-analytics` with the recorded calls
//! (`analytics_file.rs`), attached to every connection. SQLite lets one connection write
//! to a file at a time, so the analytics writer's batches and the progress writes no
//! longer wait for each other.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

use guidepost_domain::ServerId;

use crate::group_commit::GroupCommit;
use crate::held::Held;
use crate::write_turn::WriteTurn;
use crate::{Backend, ChangeFeed, Result};

type Db = sqlx::Sqlite;
type DbRow = sqlx::sqlite::SqliteRow;
type ThisStore = SqliteStore;
const BACKEND: Backend = Backend::Sqlite;

/// Row locking for read-then-write transactions.
const LOCK_ROW: &str = "";

/// A write transaction takes the write lock up front (of every attached file).
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// A transaction whose first statement writes: deferred, so that it locks only the file
/// it writes (its first statement takes that file's lock, waiting as `BEGIN IMMEDIATE`
/// would), where `BEGIN IMMEDIATE` would lock the recorded calls' file too.
const BEGIN_WRITING: &str = "BEGIN";

/// Connections: the pool's size, and how many of them stay lent out between statements
/// (`held`; the rest are for transactions).
const POOL_SIZE: u32 = 8;
const HELD: usize = 5;

pub(crate) static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    /// The pool's connections lent statement by statement (`held`).
    held: Arc<Held<Db>>,
    statements: Arc<AtomicU64>,
    changes: ChangeFeed,
    progress_writes: GroupCommit<sql::progress_writes::ProgressWrites>,
    /// The hot writers' turn (`write_turn`).
    write_turn: WriteTurn,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?;
        let analytics = crate::analytics_file::AnalyticsFile::beside(&options)?;
        let migrating_analytics = analytics.clone();
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // No ping before each use: the database is a file in this process, with no
        // other end to hang up, and sqlx's ping is a round trip to the connection's
        // thread for every statement (6 % of a walkthrough call's time).
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .test_before_acquire(false)
            .after_connect(move |connection, _| Box::pin(analytics.clone().attach(connection)))
            .connect_with(options.clone())
            .await?;
        crate::analytics_file::refuse_another_databases_file(&pool).await?;
        let mut migrating = options.disable_statement_logging().connect().await?;
        migrating_analytics.attach(&mut migrating).await?;
        crate::schema::apply(&mut migrating, &MIGRATIONS).await?;
        migrating.close().await?;
        let statements = Arc::new(AtomicU64::new(0));
        // A file in this process has no server to restart: no ping after idling.
        let held = Arc::new(Held::new(pool.clone(), HELD, None));
        // One writer at a time in this process, as the file allows (`write_turn`).
        let write_turn = WriteTurn::one_at_a_time();
        let progress_writes = sql::progress_writes::start(&held, &statements, &write_turn);
        Ok(Self {
            pool,
            held,
            statements,
            changes: ChangeFeed::new(),
            progress_writes,
            write_turn,
        })
    }

    /// One SQLite file serves one process: announcements stay in it.
    async fn announce(&self, servers: &[ServerId]) -> Result<()> {
        servers
            .iter()
            .for_each(|server| self.changes.publish(server.clone()));
        Ok(())
    }
}

/// The shared SQL (see `sql/mod.rs`), compiled here with this backend's types.
#[path = "sql/mod.rs"]
#[allow(
    clippy::duplicate_mod,
    reason = "the shared SQL is compiled once per backend, on purpose"
)]
mod sql;
