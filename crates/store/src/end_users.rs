//! End users.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// Filters for listing end users.
#[derive(Debug, Clone, Default)]
pub struct EndUserFilter {
    pub email: Option<String>,
    pub tracking_id: Option<String>,
}

#[async_trait]
pub trait EndUserStore: Send + Sync {
    /// The end user with this tracking id, created on first sight; `last_seen_at` is
    /// brought up to `now`.
    async fn end_user_for_tracking_id(
        &self,
        org: &OrgId,
        tracking_id: &str,
        now: Timestamp,
    ) -> Result<EndUser>;
    /// A new anonymous end user (known only by its session).
    async fn create_anonymous_end_user(&self, org: &OrgId, now: Timestamp) -> Result<EndUser>;
    /// Platform-wide housekeeping: deletes anonymous end users (no email, not linked to a
    /// person) last seen before `idle_since` that nothing refers to: no progress, no
    /// recorded calls, no support request, no session, no end user linked to them.
    async fn delete_forgotten_end_users(&self, idle_since: Timestamp) -> Result<u64>;
    async fn get_end_user(&self, org: &OrgId, id: &EndUserId) -> Result<EndUser>;
    async fn set_end_user_email(
        &self,
        org: &OrgId,
        id: &EndUserId,
        email: &Email,
        verified: bool,
    ) -> Result<EndUser>;
    async fn list_end_users(
        &self,
        org: &OrgId,
        filter: &EndUserFilter,
        page: &PageRequest,
    ) -> Result<Page<EndUserSummary>>;
    /// The database's plan for `list_end_users` (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on
    /// PostgreSQL), a line per step: tests pin that a search by email or tracking id reads
    /// its index, not every person of the organization.
    async fn explain_end_user_listing(
        &self,
        org: &OrgId,
        filter: &EndUserFilter,
        page: &PageRequest,
    ) -> Result<Vec<String>>;
}
