//! What a walkthrough's editor needs beyond the API's authoring: the list with draft step
//! counts, a draft step with the revision that a save is checked against (so that two
//! people editing one step cannot silently overwrite each other), moves by position, and
//! the walkthrough's assignments.

use crate::{Caller, Permission};
use guidepost_domain::*;

use super::authoring::step_fields;
use crate::{CoreError, Platform};

/// A walkthrough as the editor's list shows it.
#[derive(Debug, Clone)]
pub struct ListedWalkthrough {
    pub walkthrough: Walkthrough,
    /// How many steps its draft has.
    pub steps: i64,
    /// How many edits its draft holds that agents do not get yet
    /// (`versions::unpublished_changes`).
    pub unpublished: usize,
}

/// A page of the organization's walkthroughs, each with how many draft steps it has and
/// its unpublished edits: two statements whatever the page's length (the page, then every
/// listed draft beside its published version).
pub async fn list_with_step_counts(
    platform: &Platform,
    caller: &Caller,
    page: &PageRequest,
) -> Result<Page<ListedWalkthrough>, CoreError> {
    let org = caller.org();
    let listed = platform.store.list_walkthroughs(org, page).await?;
    let ids: Vec<WalkthroughId> = listed.items.iter().map(|w| w.id.clone()).collect();
    let mut drafts = platform.store.drafts_beside_published(org, &ids).await?;
    let items = listed
        .items
        .into_iter()
        .map(|walkthrough| {
            let draft = drafts
                .iter()
                .position(|d| d.walkthrough_id == walkthrough.id)
                .map(|at| drafts.swap_remove(at));
            let (steps, unpublished) = match draft {
                Some(draft) => {
                    let ordered = in_draft_order(&walkthrough, draft.steps);
                    let unpublished = match &draft.published {
                        Some(published) => {
                            super::versions::edits_since(&walkthrough, published, &ordered)
                        }
                        None => 0,
                    };
                    (ordered.len() as i64, unpublished)
                }
                None => (0, 0),
            };
            ListedWalkthrough {
                walkthrough,
                steps,
                unpublished,
            }
        })
        .collect();
    Ok(Page {
        items,
        next_cursor: listed.next_cursor,
    })
}

/// Draft steps in the order their links give, from the walkthrough's first step; as they
/// came if the links are broken (the editor reports that; the list only counts).
fn in_draft_order(walkthrough: &Walkthrough, mut steps: Vec<Step>) -> Vec<Step> {
    let links: Vec<(String, Option<String>)> = steps
        .iter()
        .map(|s| {
            (
                s.id.to_string(),
                s.next_step_id.as_ref().map(|n| n.to_string()),
            )
        })
        .collect();
    let first = walkthrough.first_step_id.as_ref().map(|f| f.to_string());
    let Ok(order) = chain_order(first.as_deref(), &links) else {
        return steps;
    };
    let mut ordered = Vec::with_capacity(steps.len());
    for id in order {
        if let Some(at) = steps.iter().position(|s| s.id.as_str() == id) {
            ordered.push(steps.swap_remove(at));
        }
    }
    ordered
}

/// A draft step as its editor loads it.
#[derive(Debug, Clone)]
pub struct StepDraft {
    pub walkthrough: Walkthrough,
    pub step: Step,
    /// 1-based position in the draft.
    pub position: usize,
    /// How many steps the draft has.
    pub total: usize,
    /// When the step's fields were last written (microseconds): a save sends it back.
    pub revision: i64,
}

/// A draft step of the organization's walkthrough, with its position and revision.
pub async fn step_draft(
    platform: &Platform,
    caller: &Caller,
    walkthrough: &WalkthroughId,
    step: &StepId,
) -> Result<StepDraft, CoreError> {
    let org = caller.org();
    let found = platform.store.get_walkthrough(org, walkthrough).await?;
    let steps = platform.store.list_steps(org, walkthrough).await?;
    let total = steps.len();
    let (index, found_step) = steps
        .into_iter()
        .enumerate()
        .find(|(_, s)| s.id == *step)
        .ok_or(CoreError::NotFound)?;
    let revision = platform.store.step_revision(org, walkthrough, step).await?;
    Ok(StepDraft {
        walkthrough: found,
        step: found_step,
        position: index + 1,
        total,
        revision: revision.micros(),
    })
}

/// A step's fields as an editor submits them.
#[derive(Debug, Clone)]
pub struct StepEdit {
    pub title: String,
    pub section_title: Option<String>,
    pub content: String,
    /// The revision the editor loaded.
    pub revision: i64,
}

/// What a checked save did.
#[derive(Debug, Clone)]
pub enum SaveOutcome {
    Saved(Step),
    /// Someone saved the step after the editor loaded it; nothing was written. The step
    /// as it is now, with its new revision.
    Conflict(Box<StepDraft>),
}

/// Saves a draft step's fields unless someone else saved it since `edit.revision`.
/// Draft edits are not announced: agents only ever see published versions.
/// The draft of a step, for an editor previewing a change to it (nothing is written,
/// but previewing is part of editing: a viewer may not).
pub async fn preview_step(
    platform: &Platform,
    caller: &Caller,
    walkthrough: &WalkthroughId,
    step: &StepId,
) -> Result<StepDraft, CoreError> {
    caller.require(Permission::Edit)?;
    step_draft(platform, caller, walkthrough, step).await
}

pub async fn save_step(
    platform: &Platform,
    caller: &Caller,
    walkthrough: &WalkthroughId,
    step: &StepId,
    edit: StepEdit,
) -> Result<SaveOutcome, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let fields = step_fields(edit.title, edit.content, edit.section_title)?;
    let revision = Timestamp::from_micros(edit.revision);
    let written = platform
        .store
        .update_step_at_revision(org, walkthrough, step, &fields, revision)
        .await?;
    match written {
        Some(saved) => {
            let detail = serde_json::json!({"step": saved.title});
            let action = AuditAction::WalkthroughStepChanged;
            super::audit::record_by_id(platform, caller, action, walkthrough, detail).await?;
            Ok(SaveOutcome::Saved(saved))
        }
        None => {
            let current = step_draft(platform, caller, walkthrough, step).await?;
            Ok(SaveOutcome::Conflict(Box::new(current)))
        }
    }
}

/// Where to move a draft step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepMove {
    /// One place earlier (the first step stays first).
    Up,
    /// One place later (the last step stays last).
    Down,
    /// To this 1-based position.
    To(usize),
}

/// Moves a draft step; returns its 1-based position afterwards.
pub async fn move_step(
    platform: &Platform,
    caller: &Caller,
    walkthrough: &WalkthroughId,
    step: &StepId,
    to: StepMove,
) -> Result<usize, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let steps = platform.store.list_steps(org, walkthrough).await?;
    let current = steps
        .iter()
        .position(|s| s.id == *step)
        .ok_or(CoreError::NotFound)?;
    let target = target_index(current, steps.len(), to)?;
    if target == current {
        return Ok(current + 1);
    }
    let others: Vec<&Step> = steps.iter().filter(|s| s.id != *step).collect();
    let placement = match target.checked_sub(1).and_then(|i| others.get(i)) {
        Some(before) => StepPlacement::After(before.id.clone()),
        None => StepPlacement::First,
    };
    platform
        .store
        .update_step(
            org,
            walkthrough,
            step,
            &StepChanges::default(),
            Some(&placement),
        )
        .await?;
    let detail = serde_json::json!({"step": steps[current].title, "position": target + 1});
    let action = AuditAction::WalkthroughStepMoved;
    super::audit::record_by_id(platform, caller, action, walkthrough, detail).await?;
    Ok(target + 1)
}

/// The 0-based index a step at `current` of `len` steps moves to.
fn target_index(current: usize, len: usize, to: StepMove) -> Result<usize, ValidationError> {
    match to {
        StepMove::Up => Ok(current.saturating_sub(1)),
        StepMove::Down => Ok((current + 1).min(len.saturating_sub(1))),
        StepMove::To(position) if (1..=len).contains(&position) => Ok(position - 1),
        StepMove::To(_) => Err(ValidationError::new(
            "position",
            format!("must be between 1 and {len}"),
        )),
    }
}

/// A walkthrough's assignments to the organization's servers, by display order.
pub async fn assignments_of_walkthrough(
    platform: &Platform,
    caller: &Caller,
    walkthrough: &WalkthroughId,
) -> Result<Vec<Assignment>, CoreError> {
    let org = caller.org();
    platform.store.get_walkthrough(org, walkthrough).await?;
    Ok(platform
        .store
        .walkthrough_assignments(org, walkthrough)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_stay_inside_the_list() {
        assert_eq!(target_index(0, 3, StepMove::Up), Ok(0));
        assert_eq!(target_index(2, 3, StepMove::Up), Ok(1));
        assert_eq!(target_index(2, 3, StepMove::Down), Ok(2));
        assert_eq!(target_index(0, 3, StepMove::Down), Ok(1));
        assert_eq!(target_index(0, 3, StepMove::To(3)), Ok(2));
        assert_eq!(target_index(2, 3, StepMove::To(1)), Ok(0));
        for outside in [0, 4] {
            let refused = target_index(0, 3, StepMove::To(outside)).unwrap_err();
            assert_eq!(refused.field, "position");
        }
    }
}
