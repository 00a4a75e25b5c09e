//! What needs attention in an organization: open support requests, tools waiting for
//! review, failed or degraded upstreams and webhook deliveries failing (given up on or
//! retrying) in the last week, counted in one statement for the dashboard's overview.

use guidepost_domain::Timestamp;
pub use guidepost_store::Attention;

use crate::{Caller, CoreError, Platform};

/// How far back the overview counts webhook failures.
pub const WEBHOOK_FAILURE_WINDOW_DAYS: i64 = 7;

pub async fn counts(platform: &Platform, caller: &Caller) -> Result<Attention, CoreError> {
    let since = Timestamp::now().plus_seconds(-WEBHOOK_FAILURE_WINDOW_DAYS * 86_400);
    Ok(platform.store.attention(caller.org(), since).await?)
}
