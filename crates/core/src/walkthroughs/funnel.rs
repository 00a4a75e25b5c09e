//! The funnel report of a walkthrough (SPEC §6): for each step of its newest published
//! version, how many end users reached it and how many completed it, plus totals.
//!
//! The report is a pure function of that version and the stored progress ([`compute`]);
//! [`report`] only loads them. Steps are matched by their stable id, so progress pinned to
//! an older version still counts for the steps the newest version kept.

use crate::Caller;
use std::collections::{HashMap, HashSet};

use guidepost_domain::*;
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

/// The funnel of `version` over `progress` (all of it: filter by server before calling).
pub fn compute(
    version: &WalkthroughVersion,
    progress: &[Progress],
) -> (Vec<FunnelStep>, FunnelTotals) {
    let mut reached: HashMap<&str, HashSet<&EndUserId>> = HashMap::new();
    let mut completed: HashMap<&str, HashSet<&EndUserId>> = HashMap::new();
    let mut started = HashSet::new();
    let mut finished = HashSet::new();
    let mut durations = Vec::new();
    for record in progress {
        if record.status == ProgressStatus::NotStarted {
            continue;
        }
        let user = &record.end_user_id;
        started.insert(user);
        for step in &record.completed_step_ids {
            reached.entry(step).or_default().insert(user);
            completed.entry(step).or_default().insert(user);
        }
        if let Some(current) = &record.current_step_id {
            reached.entry(current).or_default().insert(user);
        }
        if record.status == ProgressStatus::Completed {
            finished.insert(user);
            if let Some(done) = record.completed_at {
                durations.push((done.micros() - record.started_at.micros()).max(0));
            }
        }
    }
    let count = |map: &HashMap<&str, HashSet<&EndUserId>>, id: &str| {
        map.get(id).map_or(0, |users| users.len() as u64)
    };
    let steps = version
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let reached = count(&reached, &step.id);
            let completed = count(&completed, &step.id);
            FunnelStep {
                step_id: step.id.clone(),
                title: step.title.clone(),
                position: i + 1,
                reached,
                completed,
                drop_off: reached - completed,
            }
        })
        .collect();
    let started = started.len() as u64;
    let completed = finished.len() as u64;
    let totals = FunnelTotals {
        started,
        completed,
        completion_rate: if started == 0 {
            0.0
        } else {
            completed as f64 / started as f64
        },
        median_time_to_complete_seconds: median_seconds(durations),
    };
    (steps, totals)
}

/// The median of durations in microseconds, in seconds.
fn median_seconds(mut micros: Vec<i64>) -> Option<f64> {
    if micros.is_empty() {
        return None;
    }
    micros.sort_unstable();
    let middle = micros.len() / 2;
    let median = if micros.len() % 2 == 1 {
        micros[middle] as f64
    } else {
        (micros[middle - 1] as f64 + micros[middle] as f64) / 2.0
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
    let mut progress = platform
        .store
        .walkthrough_progress(org, walkthrough)
        .await?;
    if let Some(server) = server {
        progress.retain(|p| p.server_id == *server);
    }
    let (steps, totals) = compute(&version, &progress);
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

    /// Progress of `user` with these steps completed, at `current`; completed after
    /// `seconds` when `current` is `None`.
    fn progress(
        user: &str,
        server: &str,
        done: &[&str],
        current: Option<&str>,
        seconds: i64,
    ) -> Progress {
        let started_at = Timestamp::from_micros(1_000_000_000);
        let finished = current.is_none();
        Progress {
            id: Id::generate(),
            org_id: Id::from_trusted("org_test".into()),
            end_user_id: Id::from_trusted(user.into()),
            server_id: Id::from_trusted(server.into()),
            walkthrough_id: Id::from_trusted("wt_test".into()),
            version: 1,
            current_step_id: current.map(str::to_owned),
            completed_step_ids: done.iter().map(|s| (*s).to_owned()).collect(),
            status: if finished {
                ProgressStatus::Completed
            } else {
                ProgressStatus::InProgress
            },
            started_at,
            last_activity_at: started_at,
            completed_at: finished.then(|| started_at.plus_seconds(seconds)),
            revision: 1,
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
    fn counts_reached_completed_and_drop_off_per_step() {
        let v = version(&["a", "b", "c"]);
        let all = [
            progress("msu_1", "ms_1", &[], Some("a"), 0),
            progress("msu_2", "ms_1", &["a"], Some("b"), 0),
            progress("msu_3", "ms_1", &["a", "b"], Some("c"), 0),
            progress("msu_4", "ms_1", &["a", "b", "c"], None, 60),
            progress("msu_5", "ms_1", &["a", "b", "c"], None, 180),
        ];
        let (steps, totals) = compute(&v, &all);
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
        let v = version(&["a"]);
        let all = [
            progress("msu_1", "ms_1", &["a"], None, 10),
            progress("msu_2", "ms_1", &["a"], None, 1000),
            progress("msu_3", "ms_1", &["a"], None, 30),
        ];
        let (_, totals) = compute(&v, &all);
        assert_eq!(totals.median_time_to_complete_seconds, Some(30.0));
        assert_eq!(totals.completion_rate, 1.0);
    }

    #[test]
    fn nobody_started_means_zeros_and_no_median() {
        let (steps, totals) = compute(&version(&["a", "b"]), &[]);
        assert_eq!(numbers(&steps), [("a", 1, 0, 0, 0), ("b", 2, 0, 0, 0)]);
        assert_eq!(totals.started, 0);
        assert_eq!(totals.completion_rate, 0.0);
        assert_eq!(totals.median_time_to_complete_seconds, None);
    }

    #[test]
    fn steps_are_matched_by_id_across_versions() {
        // The newest version dropped "old" and inserted "new" before "b".
        let v = version(&["a", "new", "b"]);
        let pinned = [progress("msu_1", "ms_1", &["a", "old"], Some("b"), 0)];
        let (steps, totals) = compute(&v, &pinned);
        assert_eq!(
            numbers(&steps),
            [("a", 1, 1, 1, 0), ("new", 2, 0, 0, 0), ("b", 3, 1, 0, 1)]
        );
        assert_eq!(totals.started, 1);
    }

    #[test]
    fn an_end_user_on_several_servers_counts_once() {
        let v = version(&["a", "b"]);
        let all = [
            progress("msu_1", "ms_1", &["a", "b"], None, 40),
            progress("msu_1", "ms_2", &[], Some("a"), 0),
            progress("msu_2", "ms_2", &["a"], Some("b"), 0),
        ];
        let (steps, totals) = compute(&v, &all);
        assert_eq!(numbers(&steps), [("a", 1, 2, 2, 0), ("b", 2, 2, 1, 1)]);
        assert_eq!((totals.started, totals.completed), (2, 1));
        assert_eq!(totals.completion_rate, 0.5);
        assert_eq!(totals.median_time_to_complete_seconds, Some(40.0));
    }

    #[test]
    fn not_started_progress_is_ignored() {
        let mut idle = progress("msu_1", "ms_1", &[], Some("a"), 0);
        idle.status = ProgressStatus::NotStarted;
        let (steps, totals) = compute(&version(&["a"]), &[idle]);
        assert_eq!(numbers(&steps), [("a", 1, 0, 0, 0)]);
        assert_eq!(totals.started, 0);
    }
}
