//! The funnel report of a walkthrough: for each step of its newest published
//! version, how many end users reached it and how many completed it, plus totals.
//!
//! The store counts the progress records in one statement, however many there are
//! (`store::FunnelStore`); the report is a pure function of that version and those counts
//! ([`compute`]). Steps are matched by their stable id, so progress pinned to an older
//! version still counts for the steps the newest version kept.

use crate::Caller;
use std::collections::HashMap;

use guidepost_domain::*;
use guidepost_store::FunnelCounts;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{CoreError, Platform};

/// One step of the newest published version.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FunnelStep {
    pub step_id: String,
    pub title: String,
    /// 1-based position in the newest published version.
    pub position: usize,
    /// End users who got to this step: it is their current step or one they completed.
    pub reached: u64,
    /// End users who completed this step.
    pub completed: u64,
    /// `reached - completed`: end users who got to this step and have not completed it,
    /// i.e. whose progress stopped here.
    pub drop_off: u64,
}

/// The walkthrough as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FunnelTotals {
    /// End users who started the walkthrough (on any version).
    pub started: u64,
    /// End users who completed it (on any version).
    pub completed: u64,
    /// `completed / started`, from 0 to 1; 0 when nobody started.
    pub completion_rate: f64,
    /// Median of `completed_at - started_at` over completed progress records, in seconds;
    /// `null` when nobody completed. With an even count, the mean of the two middle values.
    pub median_time_to_complete_seconds: Option<f64>,
}

/// The funnel of a walkthrough. Every count is of distinct end users: one who progressed on
/// several servers counts once (a step is reached or completed if it is on any of their
/// progress records); with `server_id`, only progress on that server counts.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Funnel {
    pub walkthrough_id: WalkthroughId,
    /// The newest published version, whose steps are listed.
    pub version: i64,
    /// The server the report is limited to, if any.
    pub server_id: Option<ServerId>,
    /// In the order of the newest published version.
    pub steps: Vec<FunnelStep>,
    pub totals: FunnelTotals,
}

/// The funnel of `version` from the store's counts of its progress records.
pub(crate) fn compute(
    version: &WalkthroughVersion,
    counts: &FunnelCounts,
) -> (Vec<FunnelStep>, FunnelTotals) {
    let by_step: HashMap<&str, (u64, u64)> = counts
        .steps
        .iter()
        .map(|s| (s.step_id.as_str(), (s.reached, s.completed)))
        .collect();
    let steps = version
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let (reached, completed) = by_step.get(step.id.as_str()).copied().unwrap_or_default();
            FunnelStep {
                step_id: step.id.clone(),
                title: step.title.clone(),
                position: i + 1,
                reached,
                completed,
                drop_off: reached.saturating_sub(completed),
            }
        })
        .collect();
    let (started, completed) = (counts.started, counts.completed);
    let totals = FunnelTotals {
        started,
        completed,
        completion_rate: if started == 0 {
            0.0
        } else {
            completed as f64 / started as f64
        },
        median_time_to_complete_seconds: median_seconds(&counts.middle_durations),
    };
    (steps, totals)
}

/// The median, in seconds, of durations in microseconds whose middle one (an odd count)
/// or two (an even count) are `middle`: with two, their mean.
fn median_seconds(middle: &[i64]) -> Option<f64> {
    let median = match middle {
        [] => return None,
        [one] => *one as f64,
        [low, high, ..] => (*low as f64 + *high as f64) / 2.0,
    };
    Some(median / 1_000_000.0)
}

/// The funnel of a walkthrough's newest published version, over all its progress or only
/// the progress on `server`. `NotFound` when the walkthrough or the server is not the
/// organization's; `Conflict` when the walkthrough was never published.
pub async fn report(
    platform: &Platform,
    caller: &Caller,
    walkthrough: &WalkthroughId,
    server: Option<&ServerId>,
) -> Result<Funnel, CoreError> {
    let org = caller.org();
    let found = platform.store.get_walkthrough(org, walkthrough).await?;
    if let Some(server) = server {
        platform.store.get_server(org, server).await?;
    }
    let Some(newest) = found.published_version else {
        return Err(CoreError::Conflict(format!(
            "walkthrough {walkthrough} has never been published, so it has no funnel yet: publish it first"
        )));
    };
    let version = platform.store.get_version(org, walkthrough, newest).await?;
    let counts = platform
        .store
        .walkthrough_funnel(org, walkthrough, server)
        .await?;
    let (steps, totals) = compute(&version, &counts);
    Ok(Funnel {
        walkthrough_id: walkthrough.clone(),
        version: version.version,
        server_id: server.cloned(),
        steps,
        totals,
    })
}

#[cfg(test)]
mod tests {
    use guidepost_store::StepCount;

    use super::*;

    fn version(steps: &[&str]) -> WalkthroughVersion {
        WalkthroughVersion {
            walkthrough_id: Id::from_trusted("wt_test".into()),
            version: 2,
            title: "W".into(),
            steps: steps
                .iter()
                .map(|id| PublishedStep {
                    id: (*id).into(),
                    title: id.to_uppercase(),
                    section_title: None,
                    content: String::new(),
                })
                .collect(),
            published_at: Timestamp::from_micros(0),
        }
    }

    /// Counts of `(step, reached, completed)`, started and completed, and the middle
    /// completion times in seconds.
    fn counts(
        steps: &[(&str, u64, u64)],
        started: u64,
        completed: u64,
        middle: &[i64],
    ) -> FunnelCounts {
        FunnelCounts {
            steps: steps
                .iter()
                .map(|(id, reached, completed)| StepCount {
                    step_id: (*id).into(),
                    reached: *reached,
                    completed: *completed,
                })
                .collect(),
            started,
            completed,
            middle_durations: middle.iter().map(|s| s * 1_000_000).collect(),
        }
    }

    fn numbers(steps: &[FunnelStep]) -> Vec<(&str, usize, u64, u64, u64)> {
        steps
            .iter()
            .map(|s| {
                (
                    s.step_id.as_str(),
                    s.position,
                    s.reached,
                    s.completed,
                    s.drop_off,
                )
            })
            .collect()
    }

    #[test]
    fn lists_reached_completed_and_drop_off_per_step_in_version_order() {
        let v = version(&["a", "b", "c"]);
        let stored = counts(&[("c", 3, 2), ("a", 5, 4), ("b", 4, 3)], 5, 2, &[60, 180]);
        let (steps, totals) = compute(&v, &stored);
        assert_eq!(
            numbers(&steps),
            [("a", 1, 5, 4, 1), ("b", 2, 4, 3, 1), ("c", 3, 3, 2, 1)]
        );
        assert_eq!(steps[1].title, "B");
        assert_eq!(
            totals,
            FunnelTotals {
                started: 5,
                completed: 2,
                completion_rate: 0.4,
                median_time_to_complete_seconds: Some(120.0),
            }
        );
    }

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_value() {
        let (_, totals) = compute(&version(&["a"]), &counts(&[("a", 3, 3)], 3, 3, &[30]));
        assert_eq!(totals.median_time_to_complete_seconds, Some(30.0));
        assert_eq!(totals.completion_rate, 1.0);
    }

    #[test]
    fn nobody_started_means_zeros_and_no_median() {
        let (steps, totals) = compute(&version(&["a", "b"]), &FunnelCounts::default());
        assert_eq!(numbers(&steps), [("a", 1, 0, 0, 0), ("b", 2, 0, 0, 0)]);
        assert_eq!(totals.started, 0);
        assert_eq!(totals.completion_rate, 0.0);
        assert_eq!(totals.median_time_to_complete_seconds, None);
    }

    #[test]
    fn steps_are_matched_by_id_across_versions() {
        // The newest version dropped "old" and inserted "new" before "b".
        let v = version(&["a", "new", "b"]);
        let pinned = counts(&[("a", 1, 1), ("old", 1, 1), ("b", 1, 0)], 1, 0, &[]);
        let (steps, totals) = compute(&v, &pinned);
        assert_eq!(
            numbers(&steps),
            [("a", 1, 1, 1, 0), ("new", 2, 0, 0, 0), ("b", 3, 1, 0, 1)]
        );
        assert_eq!(totals.started, 1);
    }
}
