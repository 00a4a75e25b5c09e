//! Who is stuck at a step of a walkthrough: the people whose progress is still at that
//! step of the newest published version, with no activity for a chosen number of days,
//! the longest inactive first. The funnel counts them; this names them, so that a team
//! can reach out or reset one person's progress (`accounts::end_users::reset_progress`).

use guidepost_domain::*;
use guidepost_store::StuckAt;
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::end_users::tracking_id_shown_to;
use crate::{Caller, CoreError, Platform};

/// The most people one list names; `total` counts them all.
pub const STUCK_LIMIT: u32 = 200;
/// The inactivity asked about when none is chosen, in days.
pub const DEFAULT_INACTIVE_DAYS: u32 = 7;
/// The longest inactivity asked about, in days.
pub const MAX_INACTIVE_DAYS: u32 = 3650;

/// One person stuck at the step.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StuckPerson {
    #[schema(value_type = String)]
    pub end_user_id: EndUserId,
    pub email: Option<String>,
    /// `(hidden)` to a caller who may not administer: it carries the person's progress.
    pub tracking_id: Option<String>,
    /// The server their progress is on.
    #[schema(value_type = String)]
    pub server_id: ServerId,
    /// The published version they are pinned to.
    pub version: i64,
    pub started_at: Timestamp,
    pub last_activity_at: Timestamp,
}

/// The people stuck at one step.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StuckAtStep {
    #[schema(value_type = String)]
    pub walkthrough_id: WalkthroughId,
    pub step_id: String,
    pub step_title: String,
    /// 1-based, in the newest published version.
    pub position: usize,
    /// Counted: no activity for at least this many days.
    pub inactive_days: u32,
    /// How many people are stuck there in all.
    pub total: u64,
    /// The longest inactive first, at most 200.
    pub people: Vec<StuckPerson>,
}

/// The people at `step_id` of `walkthrough`'s newest published version with no activity
/// for `inactive_days` (0: any), on every server or only on `server`. `NotFound` when the
/// walkthrough, the server or the step is not the organization's; `Conflict` when the
/// walkthrough was never published.
pub async fn stuck_at(
    platform: &Platform,
    caller: &Caller,
    walkthrough: &WalkthroughId,
    step_id: &str,
    inactive_days: u32,
    server: Option<&ServerId>,
) -> Result<StuckAtStep, CoreError> {
    let org = caller.org();
    if inactive_days > MAX_INACTIVE_DAYS {
        let message = format!("must be at most {MAX_INACTIVE_DAYS}");
        return Err(ValidationError::new("inactive_days", &message).into());
    }
    let found = platform.store.get_walkthrough(org, walkthrough).await?;
    if let Some(server) = server {
        platform.store.get_server(org, server).await?;
    }
    let Some(newest) = found.published_version else {
        return Err(CoreError::Conflict(format!(
            "walkthrough {walkthrough} has never been published, so nobody can be stuck in it"
        )));
    };
    let version = platform.store.get_version(org, walkthrough, newest).await?;
    let at = version.position_of(step_id).ok_or(CoreError::NotFound)?;
    let place = StuckAt {
        step_id,
        inactive_since: Timestamp::now().plus_seconds(-i64::from(inactive_days) * 86_400),
        server,
    };
    let (rows, total) = platform
        .store
        .stuck_at_step(org, walkthrough, &place, STUCK_LIMIT)
        .await?;
    let people = rows
        .into_iter()
        .map(|row| StuckPerson {
            end_user_id: row.progress.end_user_id,
            email: row.email,
            tracking_id: tracking_id_shown_to(caller, row.tracking_id),
            server_id: row.progress.server_id,
            version: row.progress.version,
            started_at: row.progress.started_at,
            last_activity_at: row.progress.last_activity_at,
        })
        .collect();
    Ok(StuckAtStep {
        walkthrough_id: walkthrough.clone(),
        step_id: step_id.to_owned(),
        step_title: version.steps[at].title.clone(),
        position: at + 1,
        inactive_days,
        total,
        people,
    })
}
