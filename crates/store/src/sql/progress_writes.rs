//! Walkthrough progress writes, the hottest writes there are (every step a caller takes
//! is one), committed in groups under load (`crate::group_commit`): each is still one
//! statement with its own result, but the writes that queue while a commit is running
//! share the next commit.

use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::FutureExt;
use futures::future::BoxFuture;

use super::walkthrough_rows::{INSERT_PROGRESS, PROGRESS_COLUMNS, progress};
use super::*;
use crate::group_commit::{Batches, GroupCommit};
use crate::walkthroughs::ProgressKey;

/// Writers of progress committing at once. SQLite has one writer at a time, so a second
/// lane would only wait on its lock; PostgreSQL commits several transactions at once
/// and flushes their log together.
pub(crate) const LANES: usize = match BACKEND {
    Backend::Sqlite => 1,
    Backend::Postgres => 4,
};

/// The conditional write of a progress row (`$3` the revision it read).
static UPDATE_PROGRESS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE walkthrough_progress SET version = $4, current_step_id = $5, completed_step_ids = $6, status = $7, \
         completed_at = $8, last_activity_at = $9, revision = revision + 1 \
         WHERE org_id = $1 AND id = $2 AND revision = $3 RETURNING {PROGRESS_COLUMNS}"
    )
});

/// A start that keeps the progress someone else started first.
static START_PROGRESS: LazyLock<String> =
    LazyLock::new(|| format!("{INSERT_PROGRESS} DO NOTHING RETURNING {PROGRESS_COLUMNS}"));

/// A start that replaces whatever progress there was.
static RESTART_PROGRESS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{INSERT_PROGRESS} DO UPDATE SET version = excluded.version, current_step_id = excluded.current_step_id, \
         completed_step_ids = excluded.completed_step_ids, status = excluded.status, \
         started_at = excluded.started_at, last_activity_at = excluded.last_activity_at, \
         completed_at = excluded.completed_at, revision = walkthrough_progress.revision + 1 \
         RETURNING {PROGRESS_COLUMNS}"
    )
});

/// One write of a caller's progress.
pub(crate) enum ProgressWrite {
    /// Moves the progress on, unless it moved past `revision` since it was read.
    Advance {
        org: OrgId,
        id: ProgressId,
        revision: i64,
        state: ProgressState,
        at: Timestamp,
    },
    /// Starts the progress: over whatever there was (`replace`), or only where there was
    /// none.
    Start {
        key: ProgressKey,
        state: ProgressState,
        replace: bool,
        at: Timestamp,
    },
    Delete {
        key: ProgressKey,
    },
}

/// What a write did: the row as written (`None`: an advance that found the row moved
/// on, or a start that found one already there), or whether a delete found a row.
pub(crate) enum Written {
    Row(Option<Box<Progress>>),
    Deleted(bool),
}

impl Written {
    pub(crate) fn row(self) -> Option<Progress> {
        match self {
            Written::Row(row) => row.map(|row| *row),
            Written::Deleted(_) => None,
        }
    }

    pub(crate) fn deleted(self) -> bool {
        matches!(self, Written::Deleted(true))
    }
}

impl ProgressWrite {
    pub(crate) fn advance(
        org: &OrgId,
        id: &ProgressId,
        revision: i64,
        state: &ProgressState,
        at: Timestamp,
    ) -> Self {
        ProgressWrite::Advance {
            org: org.clone(),
            id: id.clone(),
            revision,
            state: state.clone(),
            at,
        }
    }

    pub(crate) fn start(key: &ProgressKey, state: &ProgressState, replace: bool) -> Self {
        ProgressWrite::Start {
            key: key.clone(),
            state: state.clone(),
            replace,
            at: Timestamp::now(),
        }
    }

    /// Runs the write as one statement on `executor`.
    pub(crate) async fn run_on<'e>(
        &self,
        executor: impl sqlx::Executor<'e, Database = Db>,
    ) -> Result<Written> {
        match self {
            ProgressWrite::Advance {
                org,
                id,
                revision,
                state,
                at,
            } => {
                let row = sqlx::query(UPDATE_PROGRESS.as_str())
                    .bind(org.as_str())
                    .bind(id.as_str())
                    .bind(*revision)
                    .bind(state.version)
                    .bind(state.current_step_id.as_deref())
                    .bind(to_json(&state.completed_step_ids))
                    .bind(state.status.as_str())
                    .bind(state.completed_at.map(Timestamp::micros))
                    .bind(at.micros())
                    .fetch_optional(executor)
                    .await?;
                Ok(Written::Row(
                    row.as_ref().map(progress).transpose()?.map(Box::new),
                ))
            }
            ProgressWrite::Start {
                key,
                state,
                replace,
                at,
            } => {
                let sql = if *replace {
                    RESTART_PROGRESS.as_str()
                } else {
                    START_PROGRESS.as_str()
                };
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(ProgressId::generate().as_str())
                    .bind(key.org_id.as_str())
                    .bind(key.end_user_id.as_str())
                    .bind(key.server_id.as_str())
                    .bind(key.walkthrough_id.as_str())
                    .bind(state.version)
                    .bind(state.current_step_id.as_deref())
                    .bind(to_json(&state.completed_step_ids))
                    .bind(state.status.as_str())
                    .bind(at.micros())
                    .bind(state.completed_at.map(Timestamp::micros))
                    .fetch_optional(executor)
                    .await?;
                Ok(Written::Row(
                    row.as_ref().map(progress).transpose()?.map(Box::new),
                ))
            }
            ProgressWrite::Delete { key } => {
                let done = sqlx::query(
                    "DELETE FROM walkthrough_progress WHERE org_id = $1 AND end_user_id = $2 AND server_id = $3 AND walkthrough_id = $4",
                )
                .bind(key.org_id.as_str())
                .bind(key.end_user_id.as_str())
                .bind(key.server_id.as_str())
                .bind(key.walkthrough_id.as_str())
                .execute(executor)
                .await?;
                Ok(Written::Deleted(done.rows_affected() > 0))
            }
        }
    }
}

/// How progress writes run alone and together, on the store's connections (`held`).
pub(crate) struct ProgressWrites {
    held: Arc<crate::held::Held<Db>>,
    statements: Arc<AtomicU64>,
}

/// The group commit of a store's progress writes, counting its statements with the
/// store's.
pub(crate) fn start(
    held: &Arc<crate::held::Held<Db>>,
    statements: &Arc<AtomicU64>,
) -> GroupCommit<ProgressWrites> {
    let writes = ProgressWrites {
        held: held.clone(),
        statements: statements.clone(),
    };
    GroupCommit::start(writes, LANES)
}

impl ProgressWrites {
    async fn many(&self, writes: &[ProgressWrite]) -> Result<Vec<Written>> {
        // BEGIN, the writes, COMMIT.
        self.statements
            .fetch_add(writes.len() as u64 + 2, Ordering::Relaxed);
        let mut lent = self.held.lend().await?;
        let mut tx = sqlx::Connection::begin_with(lent.connection(), BEGIN_WRITE).await?;
        let mut written = Vec::with_capacity(writes.len());
        for write in writes {
            written.push(write.run_on(traced(&mut *tx)).await?);
        }
        tx.commit().await?;
        lent.finished();
        Ok(written)
    }
}

impl Batches for ProgressWrites {
    type Write = ProgressWrite;
    type Written = Written;

    fn one<'a>(&'a self, write: &'a ProgressWrite) -> BoxFuture<'a, Result<Written>> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        write.run_on(traced(&*self.held)).boxed()
    }

    fn many<'a>(&'a self, writes: &'a [ProgressWrite]) -> BoxFuture<'a, Result<Vec<Written>>> {
        ProgressWrites::many(self, writes).boxed()
    }
}
