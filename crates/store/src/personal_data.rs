//! A person's data (issue 29): everything stored about one end user, read whole for an
//! export, and erased on request while the records that count (tool calls, support
//! requests, walkthrough progress) stay as anonymous ones.

use std::collections::BTreeMap;

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// One stored row, column by column (secrets such as token hashes and transport ids left
/// out).
pub type ExportedRow = serde_json::Map<String, serde_json::Value>;

/// Every table's rows about one person, by table name; a table with no row about them is
/// present with an empty list.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PersonalData {
    pub tables: BTreeMap<String, Vec<ExportedRow>>,
}

/// What an erasure changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Erasure {
    /// The anonymous end user the person's calls, requests and progress now belong to.
    pub tombstone: Option<EndUserId>,
    pub sessions_deleted: u64,
    pub grants_deleted: u64,
    pub login_sessions_deleted: u64,
    pub progress_kept_anonymous: u64,
    pub tool_calls_kept_anonymous: u64,
    pub support_requests_kept_anonymous: u64,
}

#[async_trait]
pub trait PersonalDataStore: Send + Sync {
    /// Every table's rows about the end user `id` of `org`, the anonymous end users linked
    /// to them (their personal URLs) included. `NotFound` when there is no such end user.
    async fn export_end_user(&self, org: &OrgId, id: &EndUserId) -> Result<PersonalData>;
    /// Erases the end user `id` of `org` in one transaction (see the implementation for
    /// what is deleted and what is kept anonymous). `NotFound` when there is no such end
    /// user.
    async fn erase_end_user(&self, org: &OrgId, id: &EndUserId) -> Result<Erasure>;
    /// Platform-wide diagnostics (tests, an operator's check after an erasure): the
    /// `(table, column)` pairs of every table whose text holds `needle`, compared without
    /// regard to case.
    async fn find_text_anywhere(&self, needle: &str) -> Result<Vec<(String, String)>>;
}
