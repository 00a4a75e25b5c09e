//! What is written on a support request after it opens: the team's replies
//! (mailed to the person and shown to them through `get_support`), the team's internal
//! notes (never shown to the person), and the person's own follow-ups.

use serde::Serialize;
use utoipa::ToSchema;

use crate::{SupportMessageId, SupportRequestId, Timestamp};

string_enum! {
    /// Who a message is for.
    SupportMessageKind {
        Reply => "reply",
        Note => "note",
        FollowUp => "follow_up",
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SupportMessage {
    #[schema(value_type = String)]
    pub id: SupportMessageId,
    #[schema(value_type = String)]
    pub support_request_id: SupportRequestId,
    #[schema(value_type = String)]
    pub kind: SupportMessageKind,
    /// Who wrote it: a member's email, `API key …`, or the person's email.
    pub author: String,
    pub body: String,
    pub created_at: Timestamp,
}
