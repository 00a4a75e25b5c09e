//! Feedback: what people say of a server with the `send_feedback` tool (a rating from 1
//! to 5 and a text), read and counted per day by the organization beside its support
//! requests, and announced to its webhooks as `feedback.created`.

use guidepost_domain::*;
use serde::Deserialize;
use thiserror::Error;

pub use guidepost_store::{FeedbackFilter, MAX_FEEDBACK_DAYS};

use crate::insights::analytics::aligned_window;
use crate::{Caller, CoreError, Platform};

/// The arguments of `send_feedback`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackInput {
    /// From 1 (poor) to 5 (excellent).
    pub rating: i64,
    pub text: String,
}

#[derive(Debug, Error)]
pub enum FeedbackError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// Whether a server offers `send_feedback`.
pub fn offered_on(server: &McpServer) -> bool {
    server.feedback_tool_enabled
}

/// Records feedback sent on `server` by `end_user` (where known) in `session` (the
/// session era's stored session), with its `feedback.created` webhook deliveries.
pub async fn send(
    platform: &Platform,
    server: &McpServer,
    end_user: Option<&EndUser>,
    session: Option<&SessionId>,
    input: FeedbackInput,
) -> Result<Feedback, FeedbackError> {
    let feedback = NewFeedback {
        org_id: server.org_id.clone(),
        server_id: server.id.clone(),
        end_user_id: end_user.map(|person| person.id.clone()),
        session_id: session.cloned(),
        rating: Rating::new(input.rating)?,
        text: NewFeedback::text_of(&input.text)?,
    };
    let created = platform
        .store
        .create_feedback(&feedback, Timestamp::now())
        .await
        .map_err(CoreError::from)?;
    metrics::counter!("guidepost_feedback_total").increment(1);
    Ok(created)
}

/// The organization's feedback, newest first.
pub async fn list(
    platform: &Platform,
    caller: &Caller,
    filter: &FeedbackFilter,
    page: &PageRequest,
) -> Result<Page<Feedback>, CoreError> {
    Ok(platform
        .store
        .list_feedback(caller.org(), filter, page)
        .await?)
}

/// How much feedback came each day of the last `days` (today included), with its average
/// rating; days without feedback are left out.
pub async fn per_day(
    platform: &Platform,
    caller: &Caller,
    server: Option<&ServerId>,
    days: u32,
) -> Result<Vec<FeedbackDay>, CoreError> {
    if !(1..=MAX_FEEDBACK_DAYS).contains(&days) {
        let message = format!("must be from 1 to {MAX_FEEDBACK_DAYS}, not {days}");
        return Err(ValidationError::new("days", message).into());
    }
    Ok(platform
        .store
        .feedback_per_day(caller.org(), server, first_of(days, Timestamp::now()))
        .await?)
}

/// The start (UTC midnight) of the first of the last `days` days before `now`.
fn first_of(days: u32, now: Timestamp) -> Timestamp {
    aligned_window(now, 24 * 3600, days).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_starts_at_midnight_of_its_first_day() {
        let now = Timestamp::parse_rfc3339("2026-11-29T13:45:00Z").unwrap();
        let first = |days| first_of(days, now).to_rfc3339();
        assert!(first(1).starts_with("2026-11-29T00:00:00"), "{}", first(1));
        assert!(first(7).starts_with("2026-11-23T00:00:00"), "{}", first(7));
    }
}
