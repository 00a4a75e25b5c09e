//! What people say of a server through `send_feedback`: a rating from 1 to 5 and a text,
//! kept per person and session, counted per day, and sent to the organization's webhooks
//! as `feedback.created`.

use serde::Serialize;
use utoipa::ToSchema;

use crate::{EndUserId, FeedbackId, Limits, OrgId, ServerId, SessionId, Timestamp};
use crate::{ValidationError, validate_text};

/// One piece of feedback.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Feedback {
    #[schema(value_type = String)]
    pub id: FeedbackId,
    #[schema(value_type = String)]
    pub org_id: OrgId,
    #[schema(value_type = String)]
    pub server_id: ServerId,
    /// The person who sent it, where one is known.
    #[schema(value_type = Option<String>)]
    pub end_user_id: Option<EndUserId>,
    /// The session it was sent in (`mss_…`; none in the stateless era).
    #[schema(value_type = Option<String>)]
    pub session_id: Option<SessionId>,
    /// From 1 (poor) to 5 (excellent).
    #[schema(value_type = u8, minimum = 1, maximum = 5)]
    pub rating: Rating,
    pub text: String,
    pub created_at: Timestamp,
}

/// Feedback to store, checked: the rating within 1–5, the text within its limit.
#[derive(Debug, Clone)]
pub struct NewFeedback {
    pub org_id: OrgId,
    pub server_id: ServerId,
    pub end_user_id: Option<EndUserId>,
    pub session_id: Option<SessionId>,
    pub rating: Rating,
    pub text: String,
}

/// A rating from 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Rating(u8);

impl Rating {
    pub const MIN: u8 = 1;
    pub const MAX: u8 = 5;

    pub fn new(value: i64) -> Result<Self, ValidationError> {
        match u8::try_from(value) {
            Ok(value) if (Self::MIN..=Self::MAX).contains(&value) => Ok(Self(value)),
            _ => Err(ValidationError::new(
                "rating",
                format!("must be a whole number from 1 to 5, not {value}"),
            )),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl NewFeedback {
    /// Checks the text (trimmed, not empty, within [`Limits::FEEDBACK`]).
    pub fn text_of(text: &str) -> Result<String, ValidationError> {
        validate_text("text", text, Limits::FEEDBACK)?;
        Ok(text.trim().to_owned())
    }
}

/// The feedback of one day (UTC): how many, and their average rating.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FeedbackDay {
    /// The day, as `YYYY-MM-DD`.
    pub day: String,
    pub count: u64,
    pub average_rating: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rating_is_one_to_five() {
        assert_eq!(Rating::new(1).unwrap().get(), 1);
        assert_eq!(Rating::new(5).unwrap().get(), 5);
        for wrong in [0, 6, -1, 256] {
            let refused = Rating::new(wrong).unwrap_err();
            assert!(refused.to_string().contains("from 1 to 5"), "{refused}");
        }
    }

    #[test]
    fn a_text_is_trimmed_and_bounded() {
        assert_eq!(NewFeedback::text_of("  works  ").unwrap(), "works");
        assert!(NewFeedback::text_of("   ").is_err());
        assert!(NewFeedback::text_of(&"x".repeat(Limits::FEEDBACK + 1)).is_err());
    }
}
