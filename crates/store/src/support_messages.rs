//! Replies, internal notes and follow-ups on support requests.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// A message to write on a request.
#[derive(Debug, Clone)]
pub struct NewSupportMessage<'a> {
    pub request: &'a SupportRequestId,
    pub kind: SupportMessageKind,
    pub author: &'a str,
    pub body: &'a str,
}

/// The most messages one request keeps; the store refuses more (`Conflict`).
pub const MAX_SUPPORT_MESSAGES: i64 = 500;

#[async_trait]
pub trait SupportMessageStore: Send + Sync {
    /// Writes a message on the organization's request (`NotFound` when it has none such;
    /// `Conflict` past [`MAX_SUPPORT_MESSAGES`]).
    async fn add_support_message(
        &self,
        org: &OrgId,
        message: &NewSupportMessage<'_>,
        now: Timestamp,
    ) -> Result<SupportMessage>;
    /// The request's messages of the given kinds, oldest first.
    async fn list_support_messages(
        &self,
        org: &OrgId,
        request: &SupportRequestId,
        kinds: &[SupportMessageKind],
    ) -> Result<Vec<SupportMessage>>;
}
