//! Interactive walkthroughs: walkthroughs with draft steps, immutable published
//! versions, assignments to servers, and per-user progress.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::id::*;

string_enum! {
    /// Whether end users can see a walkthrough: only `published` ones are offered.
    WalkthroughStatus { Draft => "draft", Published => "published", Archived => "archived" }
}

string_enum! {
    ProgressStatus { NotStarted => "not_started", InProgress => "in_progress", Completed => "completed" }
}

#[derive(Debug, Clone, Serialize)]
pub struct Walkthrough {
    pub id: WalkthroughId,
    pub org_id: OrgId,
    pub title: String,
    pub description: Option<String>,
    pub status: WalkthroughStatus,
    pub estimated_duration_minutes: Option<i64>,
    pub tags: Vec<String>,
    pub metadata: serde_json::Value,
    pub first_step_id: Option<StepId>,
    /// The newest published version, if any.
    pub published_version: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The settable fields of a walkthrough.
#[derive(Debug, Clone)]
pub struct WalkthroughFields {
    pub title: String,
    pub description: Option<String>,
    pub status: WalkthroughStatus,
    pub estimated_duration_minutes: Option<i64>,
    pub tags: Vec<String>,
    pub metadata: serde_json::Value,
}

/// A draft step, as authors edit it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub id: StepId,
    pub walkthrough_id: WalkthroughId,
    pub title: String,
    pub section_title: Option<String>,
    pub content: String,
    pub next_step_id: Option<StepId>,
}

/// The settable fields of a step.
#[derive(Debug, Clone)]
pub struct StepFields {
    pub title: String,
    pub section_title: Option<String>,
    pub content: String,
}

/// What an update changes in a step; a field left `None` keeps what is stored, so that two
/// editors changing different fields of one step do not undo each other.
#[derive(Debug, Clone, Default)]
pub struct StepChanges {
    pub title: Option<String>,
    pub content: Option<String>,
    /// `Some(None)` clears the section title.
    pub section_title: Option<Option<String>>,
}

impl StepChanges {
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.content.is_none() && self.section_title.is_none()
    }
}

impl From<StepFields> for StepChanges {
    fn from(fields: StepFields) -> Self {
        Self {
            title: Some(fields.title),
            content: Some(fields.content),
            section_title: Some(fields.section_title),
        }
    }
}

/// Where a step goes in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepPlacement {
    /// At the end.
    Last,
    /// First in the list.
    First,
    /// Right after this step.
    After(StepId),
}

/// A step as frozen in a published version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedStep {
    pub id: String,
    pub title: String,
    pub section_title: Option<String>,
    pub content: String,
}

/// An immutable published version: the ordered steps at the moment of publishing.
#[derive(Debug, Clone, Serialize)]
pub struct WalkthroughVersion {
    pub walkthrough_id: WalkthroughId,
    pub version: i64,
    pub title: String,
    pub steps: Vec<PublishedStep>,
    pub published_at: Timestamp,
}

impl WalkthroughVersion {
    pub fn position_of(&self, step_id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == step_id)
    }
}

/// A walkthrough assigned to a server.
#[derive(Debug, Clone, Serialize)]
pub struct Assignment {
    pub server_id: ServerId,
    pub walkthrough_id: WalkthroughId,
    pub display_order: i64,
    pub is_enabled: bool,
    pub assigned_at: Timestamp,
}

/// A walkthrough as an end user on a server sees it: published, assigned and enabled,
/// with its newest version (shared: every tool call of the server reads it, and a
/// version never changes).
#[derive(Debug, Clone)]
pub struct AvailableWalkthrough {
    pub walkthrough: Walkthrough,
    pub display_order: i64,
    pub latest: std::sync::Arc<WalkthroughVersion>,
}

/// One end user's progress through one walkthrough on one server.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub id: ProgressId,
    pub org_id: OrgId,
    pub end_user_id: EndUserId,
    pub server_id: ServerId,
    pub walkthrough_id: WalkthroughId,
    /// The pinned version.
    pub version: i64,
    pub current_step_id: Option<String>,
    pub completed_step_ids: Vec<String>,
    pub status: ProgressStatus,
    pub started_at: Timestamp,
    pub last_activity_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    /// Bumped by every write; a write succeeds only on the revision it read, so that two
    /// concurrent advances can never both apply.
    pub revision: i64,
}

impl Progress {
    /// Whether this progress is further along than `other` (de-anonymization keeps the
    /// more advanced of two): completed beats in progress beats not started; then more
    /// completed steps; then the more recent activity.
    pub fn is_ahead_of(&self, other: &Progress) -> bool {
        let rank = |p: &Progress| {
            let status = match p.status {
                ProgressStatus::NotStarted => 0,
                ProgressStatus::InProgress => 1,
                ProgressStatus::Completed => 2,
            };
            (status, p.completed_step_ids.len(), p.last_activity_at)
        };
        rank(self) > rank(other)
    }
}

/// The state a progress write sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressState {
    pub version: i64,
    pub current_step_id: Option<String>,
    pub completed_step_ids: Vec<String>,
    pub status: ProgressStatus,
    pub completed_at: Option<Timestamp>,
}

impl ProgressState {
    /// A fresh start at the first step of `version`.
    pub fn start(version: &WalkthroughVersion) -> Self {
        let first = version.steps.first().map(|s| s.id.clone());
        Self {
            version: version.version,
            status: if first.is_some() {
                ProgressStatus::InProgress
            } else {
                ProgressStatus::Completed
            },
            completed_at: if first.is_some() {
                None
            } else {
                Some(Timestamp::now())
            },
            current_step_id: first,
            completed_step_ids: Vec::new(),
        }
    }

    pub fn of(progress: &Progress) -> Self {
        Self {
            version: progress.version,
            current_step_id: progress.current_step_id.clone(),
            completed_step_ids: progress.completed_step_ids.clone(),
            status: progress.status,
            completed_at: progress.completed_at,
        }
    }
}

/// What `next_walkthrough_step` does to a progress, decided without I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advance {
    /// Write this state; `completed_now` when it finished the walkthrough.
    Moved {
        state: ProgressState,
        completed_now: bool,
    },
    /// Nothing to do: the step (or the whole walkthrough) was already completed.
    AlreadyDone,
    /// The caller named a step that is not their current one.
    NotCurrent { expected: Option<String> },
}

/// Completes the current step and moves to the next one of the pinned version.
/// With `claimed_step`, only that step may be completed: if it already is, nothing
/// happens (idempotent retries); if it is another step, the caller is told.
pub fn advance(
    version: &WalkthroughVersion,
    state: &ProgressState,
    claimed_step: Option<&str>,
) -> Advance {
    if state.status == ProgressStatus::Completed {
        return Advance::AlreadyDone;
    }
    if let Some(claimed) = claimed_step {
        if state.completed_step_ids.iter().any(|id| id == claimed) {
            return Advance::AlreadyDone;
        }
        if state.current_step_id.as_deref() != Some(claimed) {
            return Advance::NotCurrent {
                expected: state.current_step_id.clone(),
            };
        }
    }
    let Some(current) = state.current_step_id.clone() else {
        return Advance::AlreadyDone;
    };
    let mut completed = state.completed_step_ids.clone();
    completed.push(current.clone());
    let next = version
        .position_of(&current)
        .and_then(|i| version.steps.get(i + 1))
        .map(|s| s.id.clone());
    let completed_now = next.is_none();
    let state = ProgressState {
        version: state.version,
        status: if completed_now {
            ProgressStatus::Completed
        } else {
            ProgressStatus::InProgress
        },
        completed_at: completed_now.then(Timestamp::now),
        current_step_id: next,
        completed_step_ids: completed,
    };
    Advance::Moved {
        state,
        completed_now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(status: ProgressStatus, done: usize, at: i64) -> Progress {
        Progress {
            id: Id::generate(),
            org_id: Id::generate(),
            end_user_id: Id::generate(),
            server_id: Id::generate(),
            walkthrough_id: Id::generate(),
            version: 1,
            current_step_id: None,
            completed_step_ids: (0..done).map(|i| format!("ws_{i}")).collect(),
            status,
            started_at: Timestamp::from_micros(0),
            last_activity_at: Timestamp::from_micros(at),
            completed_at: None,
            revision: 1,
        }
    }

    #[test]
    fn the_more_advanced_progress_is_ahead() {
        let done = progress(ProgressStatus::Completed, 2, 1);
        let far = progress(ProgressStatus::InProgress, 5, 1);
        let near = progress(ProgressStatus::InProgress, 1, 9);
        let recent_near = progress(ProgressStatus::InProgress, 1, 10);
        assert!(done.is_ahead_of(&far), "completion wins");
        assert!(far.is_ahead_of(&near), "then completed steps");
        assert!(recent_near.is_ahead_of(&near), "then recency");
        assert!(!near.is_ahead_of(&near));
    }

    fn version(steps: &[&str]) -> WalkthroughVersion {
        WalkthroughVersion {
            walkthrough_id: Id::generate(),
            version: 1,
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
            published_at: Timestamp::now(),
        }
    }

    #[test]
    fn advancing_walks_every_step_then_completes() {
        let v = version(&["a", "b", "c"]);
        let mut state = ProgressState::start(&v);
        assert_eq!(state.current_step_id.as_deref(), Some("a"));
        for expected_next in [Some("b"), Some("c"), None] {
            let Advance::Moved {
                state: next,
                completed_now,
            } = advance(&v, &state, None)
            else {
                panic!("should move")
            };
            assert_eq!(next.current_step_id.as_deref(), expected_next);
            assert_eq!(completed_now, expected_next.is_none());
            state = next;
        }
        assert_eq!(state.completed_step_ids, ["a", "b", "c"]);
        assert_eq!(state.status, ProgressStatus::Completed);
        assert_eq!(advance(&v, &state, None), Advance::AlreadyDone);
    }

    #[test]
    fn a_claimed_step_is_idempotent() {
        let v = version(&["a", "b"]);
        let start = ProgressState::start(&v);
        let Advance::Moved { state, .. } = advance(&v, &start, Some("a")) else {
            panic!("should move")
        };
        assert_eq!(
            advance(&v, &state, Some("a")),
            Advance::AlreadyDone,
            "a retry changes nothing"
        );
        assert_eq!(
            advance(&v, &start, Some("b")),
            Advance::NotCurrent {
                expected: Some("a".into())
            }
        );
    }

    #[test]
    fn an_empty_version_starts_completed() {
        let state = ProgressState::start(&version(&[]));
        assert_eq!(state.status, ProgressStatus::Completed);
        assert_eq!(state.current_step_id, None);
    }
}

/// The most steps a walkthrough may have.
pub const MAX_STEPS: usize = 1000;

/// Why a step list cannot be what a write asks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("the stored step list is broken: {0}")]
    Broken(String),
    #[error("step {0} is not a step of this walkthrough")]
    UnknownStep(String),
    #[error("a step cannot be placed after itself")]
    AfterItself,
    #[error("a walkthrough has at most {MAX_STEPS} steps")]
    TooManySteps,
}

/// Orders draft steps from their links, checking that the list is whole: one head, no
/// cycle, every step reachable.
pub fn chain_order(
    first: Option<&str>,
    links: &[(String, Option<String>)],
) -> Result<Vec<String>, ChainError> {
    let next_of: std::collections::HashMap<&str, Option<&str>> = links
        .iter()
        .map(|(id, next)| (id.as_str(), next.as_deref()))
        .collect();
    let mut order = Vec::with_capacity(links.len());
    let mut seen = std::collections::HashSet::new();
    let mut cursor = first;
    while let Some(id) = cursor {
        if !seen.insert(id) {
            return Err(ChainError::Broken(format!("cycle at step {id}")));
        }
        let next = next_of
            .get(id)
            .ok_or_else(|| ChainError::Broken(format!("missing step {id}")))?;
        order.push(id.to_owned());
        cursor = *next;
    }
    if order.len() != links.len() {
        return Err(ChainError::Broken(format!(
            "{} steps are unreachable",
            links.len() - order.len()
        )));
    }
    Ok(order)
}

/// Places `step` in `order` (removing it first if present).
pub fn place_step(
    order: &mut Vec<String>,
    step: &str,
    placement: &StepPlacement,
) -> Result<(), ChainError> {
    if let StepPlacement::After(after) = placement
        && after.as_str() == step
    {
        return Err(ChainError::AfterItself);
    }
    order.retain(|id| id != step);
    let index = match placement {
        StepPlacement::Last => order.len(),
        StepPlacement::First => 0,
        StepPlacement::After(after) => {
            order
                .iter()
                .position(|id| id == after.as_str())
                .ok_or_else(|| ChainError::UnknownStep(after.to_string()))?
                + 1
        }
    };
    if order.len() >= MAX_STEPS {
        return Err(ChainError::TooManySteps);
    }
    order.insert(index, step.to_owned());
    Ok(())
}

/// The links that make `order`: the head, and each step's next step.
pub fn chain_links(order: &[String]) -> (Option<String>, Vec<(String, Option<String>)>) {
    let links = order
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), order.get(i + 1).cloned()))
        .collect();
    (order.first().cloned(), links)
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    fn links(pairs: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), b.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn orders_a_whole_list_and_refuses_broken_ones() {
        let ok = links(&[("b", Some("c")), ("a", Some("b")), ("c", None)]);
        assert_eq!(chain_order(Some("a"), &ok).unwrap(), ["a", "b", "c"]);
        let cycle = links(&[("a", Some("b")), ("b", Some("a"))]);
        assert!(matches!(
            chain_order(Some("a"), &cycle),
            Err(ChainError::Broken(_))
        ));
        let orphan = links(&[("a", None), ("b", None)]);
        assert!(matches!(
            chain_order(Some("a"), &orphan),
            Err(ChainError::Broken(_))
        ));
    }

    #[test]
    fn placement_moves_inserts_and_refuses_strangers() {
        let mut order: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        place_step(&mut order, "c", &StepPlacement::First).unwrap();
        assert_eq!(order, ["c", "a", "b"]);
        let after_b = StepPlacement::After(Id::from_trusted("b".into()));
        place_step(&mut order, "d", &after_b).unwrap();
        assert_eq!(order, ["c", "a", "b", "d"]);
        let after_self = StepPlacement::After(Id::from_trusted("a".into()));
        assert_eq!(
            place_step(&mut order, "a", &after_self),
            Err(ChainError::AfterItself)
        );
        let stranger = StepPlacement::After(Id::from_trusted("zz".into()));
        assert_eq!(
            place_step(&mut order, "a", &stranger),
            Err(ChainError::UnknownStep("zz".into()))
        );
        let (first, links) = chain_links(&order);
        assert_eq!(chain_order(first.as_deref(), &links).unwrap(), order);
    }
}
