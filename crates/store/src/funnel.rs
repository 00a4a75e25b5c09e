//! A walkthrough's funnel, counted by the database: who started, reached and
//! completed each step, and the middle of the completion times, over any number of
//! progress records, in one statement that reads none of them out.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// How many distinct end users got to a step (it is their current step or one they
/// completed) and completed it, by step id: ids of every version progress is pinned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepCount {
    pub step_id: String,
    pub reached: u64,
    pub completed: u64,
}

/// A funnel's counts. Every count is of distinct end users over the progress records that
/// have started (one who progressed on several servers counts once).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunnelCounts {
    pub steps: Vec<StepCount>,
    pub started: u64,
    pub completed: u64,
    /// The middle one (an odd count) or two (an even count) of the completed records'
    /// `completed_at - started_at`, in microseconds (never below 0), smallest first; empty
    /// when none completed.
    pub middle_durations: Vec<i64>,
}

#[async_trait]
pub trait FunnelStore: Send + Sync {
    /// The counts of the funnel of `walkthrough` of `org` over its progress on every
    /// server, or only on `server`: one statement.
    async fn walkthrough_funnel(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        server: Option<&ServerId>,
    ) -> Result<FunnelCounts>;

    /// The progress records of `walkthrough` still in progress at `step_id` with no
    /// activity since `inactive_since` (on every server, or only on `server`), each with
    /// its person's email and tracking id, the longest inactive first, at most `limit`,
    /// and how many there are in all: one statement.
    async fn stuck_at_step(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        step: &StuckAt<'_>,
        limit: u32,
    ) -> Result<(Vec<StuckPerson>, u64)>;
}

/// A person stuck at a step: their progress and who they are.
#[derive(Debug, Clone)]
pub struct StuckPerson {
    pub progress: Progress,
    pub email: Option<String>,
    pub tracking_id: Option<String>,
}

/// Where people are stuck: at a step, inactive since a time, maybe on one server.
#[derive(Debug, Clone, Copy)]
pub struct StuckAt<'a> {
    pub step_id: &'a str,
    pub inactive_since: Timestamp,
    pub server: Option<&'a ServerId>,
}
