//! The PostgreSQL backend: the production store, shared by any number of nodes.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

type Db = sqlx::Postgres;
type DbRow = sqlx::postgres::PgRow;
type ThisStore = PgStore;
const BACKEND: Backend = Backend::Postgres;

/// Row locking for read-then-write transactions.
const LOCK_ROW: &str = " FOR UPDATE";

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub struct PgStore {
    pool: sqlx::PgPool,
    statements: AtomicU64,
}

impl PgStore {
    /// Connects and applies migrations. Concurrent nodes starting together are safe:
    /// sqlx serializes migrations with an advisory lock.
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(Self {
            pool,
            statements: AtomicU64::new(0),
        })
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Db>> {
        self.count(1);
        Ok(self.pool.begin().await?)
    }
}

include!("queries.rs");
include!("walkthrough_queries.rs");
