//! Feedback sent through `send_feedback`.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// Filters for listing feedback.
#[derive(Debug, Clone, Default)]
pub struct FeedbackFilter {
    pub server_id: Option<ServerId>,
    pub end_user_id: Option<EndUserId>,
}

/// The most days [`FeedbackStore::feedback_per_day`] counts at once.
pub const MAX_FEEDBACK_DAYS: u32 = 366;

#[async_trait]
pub trait FeedbackStore: Send + Sync {
    /// Stores the feedback and its `feedback.created` webhook deliveries together
    /// (`NotFound` when the server, or the end user, is not the organization's).
    async fn create_feedback(&self, feedback: &NewFeedback, now: Timestamp) -> Result<Feedback>;
    /// The organization's feedback, newest first.
    async fn list_feedback(
        &self,
        org: &OrgId,
        filter: &FeedbackFilter,
        page: &PageRequest,
    ) -> Result<Page<Feedback>>;
    /// How much feedback came each day (UTC) from `since` on, with its average rating,
    /// oldest day first; days without any are left out.
    async fn feedback_per_day(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
    ) -> Result<Vec<FeedbackDay>>;
}
