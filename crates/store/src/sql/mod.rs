//! The SQL shared by both backends, written once. This module tree is compiled twice: as
//! `sqlite::sql` and as `postgres::sql` (each backend declares it with `#[path]`), and
//! each time `Db`, `DbRow`, `ThisStore`, `BACKEND` and `LOCK_ROW` are the parent
//! backend's. The dialect differences live in the backends: connection setup and
//! migrations, how a write transaction begins (`BEGIN_WRITE`: `BEGIN IMMEDIATE` on
//! SQLite; `BEGIN_WRITING` for one whose first statement writes), row locks (`LOCK_ROW`),
//! and how changes are announced (`announce`: NOTIFY on PostgreSQL, in-process on
//! SQLite). Everything else is here, one file per concept, and the store test suite runs
//! it against both.
//!
//! Each file starts with `use super::*`: the imports, row helpers and backend types
//! below are what the files share.

mod approvals;
mod attention;
mod audit;
mod auth;
mod auth_rows;
mod bulk;
mod caps;
mod catalog_entries;
mod connections;
mod end_users;
mod feedback;
mod funnel;
mod interceptors;
mod members;
mod oidc;
mod organizations;
mod personal_data;
mod personal_export;
mod platform;
mod policies;
pub(super) mod progress_writes;
mod quotas;
mod registry;
mod servers;
mod sessions;
mod sign_in_rules;
mod support;
mod support_messages;
mod tasks;
mod tool_call_rollups;
mod tool_calls;
mod upstream_attached;
mod upstream_events;
mod upstream_rows;
mod upstreams;
mod walkthrough_editor;
mod walkthrough_events;
mod walkthrough_rows;
mod walkthroughs;
mod webhooks;

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use guidepost_domain::*;
use sqlx::Row;

use super::{BACKEND, BEGIN_WRITE, BEGIN_WRITING, Db, DbRow, LOCK_ROW, ThisStore};
use crate::{
    Backend, EndUserFilter, EndUserStore, OrganizationStore, Result, ServerStore, SessionStore,
    Store, StoreError, SupportRequestFilter, SupportStore, ToolCallFilter, ToolCallStore, TurnTime,
    WebhookStore, Writer,
};

impl ThisStore {
    /// The pool as an executor (its connections lent statement by statement, `held`),
    /// counting the one statement about to run on it, which runs in a span of its own
    /// (`traced`).
    pub(super) fn run(&self) -> crate::traced::Traced<&crate::held::Held<Db>> {
        self.count(1);
        crate::traced::Traced::new(&*self.held, BACKEND)
    }

    pub(super) fn count(&self, statements: u64) {
        self.statements.fetch_add(statements, Ordering::Relaxed);
    }

    /// A write transaction (`BEGIN_WRITE`: on SQLite it takes the write lock of every
    /// attached file up front).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Db>> {
        self.count(1);
        let begun = self.pool.begin_with(BEGIN_WRITE);
        Ok(crate::traced::bounded(BACKEND, begun).await?)
    }

    /// A transaction whose first statement writes (`BEGIN_WRITING`: deferred on SQLite, so
    /// that it locks only the file that statement writes).
    async fn begin_writing(&self) -> Result<sqlx::Transaction<'static, Db>> {
        self.count(1);
        let begun = self.pool.begin_with(BEGIN_WRITING);
        Ok(crate::traced::bounded(BACKEND, begun).await?)
    }
}

/// Commits a transaction, bounded as its statements are (`traced::bounded`).
async fn commit(tx: sqlx::Transaction<'_, Db>) -> Result<()> {
    Ok(crate::traced::bounded(BACKEND, tx.commit()).await?)
}

/// A transaction's connection as an executor whose statements each run in a span.
fn traced<E>(executor: E) -> crate::traced::Traced<E> {
    crate::traced::Traced::new(executor, BACKEND)
}

/// What turns a statement into a request for its plan (the `explain_*` checks of the
/// indexes a listing uses).
fn explain_prefix() -> &'static str {
    match BACKEND {
        Backend::Sqlite => "EXPLAIN QUERY PLAN ",
        Backend::Postgres => "EXPLAIN ",
    }
}

/// The lines of a plan asked for with [`explain_prefix`].
fn plan_lines(rows: &[DbRow]) -> Result<Vec<String>> {
    rows.iter()
        .map(|row| match BACKEND {
            Backend::Sqlite => text(row, "detail"),
            Backend::Postgres => Ok(row.try_get::<String, _>(0)?),
        })
        .collect()
}

fn text(row: &DbRow, column: &str) -> Result<String> {
    Ok(row.try_get::<String, _>(column)?)
}

fn opt_text(row: &DbRow, column: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(column)?)
}

fn time(row: &DbRow, column: &str) -> Result<Timestamp> {
    Ok(Timestamp::from_micros(row.try_get::<i64, _>(column)?))
}

fn opt_time(row: &DbRow, column: &str) -> Result<Option<Timestamp>> {
    Ok(row
        .try_get::<Option<i64>, _>(column)?
        .map(Timestamp::from_micros))
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {value:?}"))
}

fn parse_email(value: Option<String>) -> Result<Option<Email>> {
    value
        .map(|e| Email::parse(&e).map_err(|_| corrupt("email", &e)))
        .transpose()
}

/// Turns a broken uniqueness rule into a conflict that names the field.
fn unique_conflict(error: sqlx::Error, fields: &[&str]) -> StoreError {
    let conflict = error
        .as_database_error()
        .filter(|e| e.is_unique_violation())
        .map(|e| {
            let detail = format!("{} {}", e.message(), e.constraint().unwrap_or_default());
            let field = fields
                .iter()
                .find(|f| detail.contains(*f))
                .copied()
                .unwrap_or("value");
            StoreError::Conflict(format!("{field} is already taken"))
        });
    conflict.unwrap_or(StoreError::Database(error))
}

fn page_of<T>(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> Cursor) -> Page<T> {
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|last| key(last).encode())
    } else {
        None
    };
    Page { items, next_cursor }
}

/// Keyset paging, newest first: `(created_at, id) < (cursor)`. With no cursor, a bound
/// above every row, so that one statement serves both cases.
fn page_bounds(page: &PageRequest) -> (i64, String, i64) {
    match &page.after {
        Some(c) => (
            c.created_at.micros(),
            c.id.clone(),
            i64::from(page.limit) + 1,
        ),
        None => (i64::MAX, String::new(), i64::from(page.limit) + 1),
    }
}

/// Keyset paging, oldest first: `(created_at, id) > (cursor)`. With no cursor, a bound
/// below every row (every id is longer than the empty string).
fn page_bounds_oldest_first(page: &PageRequest) -> (i64, String, i64) {
    let limit = i64::from(page.limit) + 1;
    match &page.after {
        Some(c) => (c.created_at.micros(), c.id.clone(), limit),
        None => (i64::MIN, String::new(), limit),
    }
}

/// The outcome of a write conditional on the revision `read_at`: the row written; else,
/// when a revision was given and the row is still there, `Changed` (another write moved
/// its revision on), and `NotFound` when it is gone.
async fn written_over<T, U>(
    written: Option<Result<T>>,
    read_at: Option<Timestamp>,
    still_there: impl std::future::Future<Output = Result<U>>,
) -> Result<T> {
    match written {
        Some(row) => row,
        None if read_at.is_some() => still_there.await.and(Err(StoreError::Changed)),
        None => Err(StoreError::NotFound),
    }
}

/// The next `updated_at` of a row whose writes are compared by it (a revision): the time
/// of the write in parameter `$param`, or one microsecond past the stored one, so that a
/// second write in the same microsecond still moves it on.
fn next_revision(param: usize) -> String {
    format!("CASE WHEN ${param} > updated_at THEN ${param} ELSE updated_at + 1 END")
}

fn rows<T>(rows: Vec<DbRow>, map: fn(&DbRow) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(map).collect()
}

fn json_column<T: serde::de::DeserializeOwned>(row: &DbRow, column: &str) -> Result<T> {
    let raw = text(row, column)?;
    serde_json::from_str(&raw).map_err(|_| corrupt(column, &raw))
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("walkthrough values always serialize")
}
