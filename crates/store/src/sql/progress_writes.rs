//! Walkthrough progress writes, the hottest writes there are (every step a caller takes
//! is one), committed in groups under load (`crate::group_commit`): each is still one
//! statement with its own result, but the writes that queue while a commit is running
//! share the next commit.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
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

/// A resume: the progress becomes the caller's most recently active, its state and
/// revision unchanged (the revision says when the state changed, and an advance read
/// before the resume is still right). A clock behind the one that wrote last does not
/// move the time back.
static RESUME_PROGRESS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE walkthrough_progress SET last_activity_at = \
         CASE WHEN last_activity_at < $5 THEN $5 ELSE last_activity_at END \
         WHERE org_id = $1 AND end_user_id = $2 AND server_id = $3 AND walkthrough_id = $4 \
         RETURNING {PROGRESS_COLUMNS}"
    )
});

/// One write of a caller's progress.
pub(crate) enum ProgressWrite {
    /// Moves the progress on, unless it moved past `revision` since it was read.
    Advance(Advance),
    /// Starts the progress: over whatever there was (`replace`), or only where there was
    /// none.
    Start {
        key: ProgressKey,
        state: ProgressState,
        replace: bool,
        at: Timestamp,
    },
    /// Marks the progress active now (a resume), if there is one.
    Resume {
        key: ProgressKey,
        at: Timestamp,
    },
    Delete {
        key: ProgressKey,
    },
}

/// A move of a caller's progress row `id` to `state`, written only if the row is still at
/// `revision`.
pub(crate) struct Advance {
    org: OrgId,
    id: ProgressId,
    revision: i64,
    state: ProgressState,
    at: Timestamp,
}

impl Advance {
    /// Binds the advance's 9 values, in the order of `UPDATE_PROGRESS`'s `$1`…`$9` and of
    /// a row of `advance_together_sql`'s values.
    fn bind_to<'q>(
        &'q self,
        query: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>,
    ) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments> {
        let state = &self.state;
        query
            .bind(self.org.as_str())
            .bind(self.id.as_str())
            .bind(self.revision)
            .bind(state.version)
            .bind(state.current_step_id.as_deref())
            .bind(to_json(&state.completed_step_ids))
            .bind(state.status.as_str())
            .bind(state.completed_at.map(Timestamp::micros))
            .bind(self.at.micros())
    }
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
        ProgressWrite::Advance(Advance {
            org: org.clone(),
            id: id.clone(),
            revision,
            state: state.clone(),
            at,
        })
    }

    fn as_advance(&self) -> Option<&Advance> {
        match self {
            ProgressWrite::Advance(advance) => Some(advance),
            _ => None,
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
            ProgressWrite::Advance(advance) => {
                let row = advance
                    .bind_to(sqlx::query(UPDATE_PROGRESS.as_str()))
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
            ProgressWrite::Resume { key, at } => {
                let row = sqlx::query(sqlx::AssertSqlSafe(RESUME_PROGRESS.as_str()))
                    .bind(key.org_id.as_str())
                    .bind(key.end_user_id.as_str())
                    .bind(key.server_id.as_str())
                    .bind(key.walkthrough_id.as_str())
                    .bind(at.micros())
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
    turn: crate::write_turn::WriteTurn,
}

/// The group commit of a store's progress writes, counting its statements with the
/// store's.
pub(crate) fn start(
    held: &Arc<crate::held::Held<Db>>,
    statements: &Arc<AtomicU64>,
    turn: &crate::write_turn::WriteTurn,
) -> GroupCommit<ProgressWrites> {
    let writes = ProgressWrites {
        held: held.clone(),
        statements: statements.clone(),
        turn: turn.clone(),
    };
    GroupCommit::start(writes, LANES)
}

impl ProgressWrites {
    /// A batch as few statements as it can be: each run of advances one statement
    /// (`advance_together`), every other write one of its own. A batch that is one
    /// statement needs no transaction around it; under load most are, as most writes are
    /// advances.
    async fn many(&self, writes: &[ProgressWrite]) -> Result<Vec<Written>> {
        let statements = statements_of(writes);
        let _turn = self.turn.take(crate::write_turn::Writer::Progress).await;
        let mut lent = self.held.lend().await?;
        let mut written = Vec::with_capacity(writes.len());
        if let [only] = statements.as_slice() {
            self.statements.fetch_add(1, Ordering::Relaxed);
            run_statement(&writes[only.clone()], lent.connection(), &mut written).await?;
        } else {
            // BEGIN, the statements, COMMIT.
            self.statements
                .fetch_add(statements.len() as u64 + 2, Ordering::Relaxed);
            // Its first statement writes: a deferred BEGIN locks only the file it writes
            // (`BEGIN_WRITING`), not the recorded calls' file beside it.
            let mut tx = sqlx::Connection::begin_with(lent.connection(), BEGIN_WRITING).await?;
            for statement in statements {
                run_statement(&writes[statement], &mut tx, &mut written).await?;
            }
            super::commit(tx).await?;
        }
        lent.finished();
        Ok(written)
    }
}

/// The batch cut into the statements that run it, in order: a run of advances of distinct
/// rows together, any other write alone. (Two advances of one row stay apart: the second
/// must see the first's revision.)
fn statements_of(writes: &[ProgressWrite]) -> Vec<Range<usize>> {
    let mut statements: Vec<Range<usize>> = Vec::new();
    let mut rows_in_run: HashSet<&str> = HashSet::new();
    for (index, write) in writes.iter().enumerate() {
        let joins_the_run = match (write, statements.last()) {
            (ProgressWrite::Advance(advance), Some(last)) => {
                writes[last.start].as_advance().is_some()
                    && !rows_in_run.contains(advance.id.as_str())
            }
            _ => false,
        };
        if !joins_the_run {
            rows_in_run.clear();
            statements.push(index..index);
        }
        if let Some(advance) = write.as_advance() {
            rows_in_run.insert(advance.id.as_str());
        }
        if let Some(last) = statements.last_mut() {
            last.end = index + 1;
        }
    }
    statements
}

/// Runs `writes` (one statement of [`statements_of`]) on `connection`, adding what each
/// wrote to `written`.
async fn run_statement(
    writes: &[ProgressWrite],
    connection: &mut <Db as sqlx::Database>::Connection,
    written: &mut Vec<Written>,
) -> Result<()> {
    let advances: Option<Vec<&Advance>> = writes.iter().map(ProgressWrite::as_advance).collect();
    match advances {
        Some(advances) if advances.len() > 1 => {
            written.extend(advance_together(&advances, connection).await?);
        }
        _ => {
            for write in writes {
                written.push(write.run_on(traced(&mut *connection)).await?);
            }
        }
    }
    Ok(())
}

/// Advances of distinct rows as one statement: an UPDATE joined to their values. Each
/// advance that found its row at the revision it read gets the row back; one that did
/// not gets `None`, as alone.
async fn advance_together(
    advances: &[&Advance],
    connection: &mut <Db as sqlx::Database>::Connection,
) -> Result<Vec<Written>> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(advance_together_sql(advances.len())));
    for advance in advances {
        query = advance.bind_to(query);
    }
    let rows = query.fetch_all(traced(&mut *connection)).await?;
    let mut by_id: HashMap<String, Progress> = HashMap::with_capacity(rows.len());
    for row in &rows {
        let written = progress(row)?;
        by_id.insert(written.id.as_str().to_owned(), written);
    }
    Ok(advances
        .iter()
        .map(|advance| Written::Row(by_id.remove(advance.id.as_str()).map(Box::new)))
        .collect())
}

/// The UPDATE of `count` advances at once: their values as a table `w`, whose columns
/// are named apart from the progress table's so that `SET` and `RETURNING` read the
/// progress row. (Both SQLite, since 3.33, and PostgreSQL take `UPDATE … FROM`.)
fn advance_together_sql(count: usize) -> String {
    const ADVANCE_COLUMNS: usize = 9;
    let values = (0..count)
        .map(|advance| {
            let placeholders: Vec<String> = (1..=ADVANCE_COLUMNS)
                .map(|column| format!("${}", advance * ADVANCE_COLUMNS + column))
                .collect();
            format!("({})", placeholders.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH w (w_org, w_id, w_revision, w_version, w_step, w_done, w_status, w_completed_at, w_at) \
         AS (VALUES {values}) \
         UPDATE walkthrough_progress SET version = w.w_version, current_step_id = w.w_step, \
         completed_step_ids = w.w_done, status = w.w_status, completed_at = w.w_completed_at, \
         last_activity_at = w.w_at, revision = walkthrough_progress.revision + 1 \
         FROM w WHERE walkthrough_progress.org_id = w.w_org AND walkthrough_progress.id = w.w_id \
         AND walkthrough_progress.revision = w.w_revision RETURNING {PROGRESS_COLUMNS}"
    )
}

impl Batches for ProgressWrites {
    type Write = ProgressWrite;
    type Written = Written;

    fn one<'a>(&'a self, write: &'a ProgressWrite) -> BoxFuture<'a, Result<Written>> {
        async move {
            let _turn = self.turn.take(crate::write_turn::Writer::Progress).await;
            self.statements.fetch_add(1, Ordering::Relaxed);
            write.run_on(traced(&*self.held)).await
        }
        .boxed()
    }

    fn many<'a>(&'a self, writes: &'a [ProgressWrite]) -> BoxFuture<'a, Result<Vec<Written>>> {
        ProgressWrites::many(self, writes).boxed()
    }
}
