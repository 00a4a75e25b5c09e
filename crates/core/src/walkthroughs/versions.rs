//! Published versions as their authors review them: the history (with the people still
//! pinned to each version), an older version published again, and, before publishing,
//! what the draft changes against the newest version, step by step and line by line.

use crate::{Caller, Permission};
use guidepost_domain::*;
pub use guidepost_store::VersionSummary;

use crate::text_diff::matching_pairs;
pub use crate::text_diff::{DiffLine, LineKind, line_diff};
use crate::{CoreError, Platform};

/// Publishes version `from` again, as the newest version: new starts begin on its steps,
/// while progress pinned to any version stays pinned; the draft is left as it is, so
/// the next publish still sends its changes. `NotFound` when there is no such version.
pub async fn republish(
    platform: &Platform,
    caller: &Caller,
    walkthrough: &WalkthroughId,
    from: i64,
) -> Result<WalkthroughVersion, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let version = platform
        .store
        .republish_version(org, walkthrough, from)
        .await?;
    super::authoring::announce_for_walkthrough(platform, org, walkthrough).await;
    let detail = serde_json::json!({"version": version.version, "from_version": from});
    let action = AuditAction::WalkthroughRepublished;
    super::audit::record_by_id(platform, caller, action, walkthrough, detail).await?;
    Ok(version)
}

/// The history lists at most this many versions, newest first.
pub(crate) const MAX_VERSIONS_LISTED: u32 = 200;

/// A walkthrough with its published versions, newest first, each with the people whose
/// unfinished progress is pinned to it.
pub async fn history(
    platform: &Platform,
    caller: &Caller,
    walkthrough: &WalkthroughId,
) -> Result<(Walkthrough, Vec<VersionSummary>), CoreError> {
    let org = caller.org();
    let found = platform.store.get_walkthrough(org, walkthrough).await?;
    let versions = platform
        .store
        .list_versions(org, walkthrough, MAX_VERSIONS_LISTED)
        .await?;
    Ok((found, versions))
}

/// What publishing the draft now would change.
#[derive(Debug, Clone)]
pub struct PublishReview {
    pub walkthrough: Walkthrough,
    /// How many steps the draft has.
    pub draft_steps: usize,
    /// The steps that differ from the newest version, in draft order, then the removed.
    pub changes: Vec<StepChange>,
    /// The published versions, newest first, with the people still on each.
    pub versions: Vec<VersionSummary>,
    /// The people whose unfinished progress is pinned to a published version, so older
    /// than the one publishing creates: they finish on the version they started, while
    /// new starts get the new one. Each person counts once, whatever their servers.
    pub people_on_older_versions: i64,
}

impl PublishReview {
    /// The version that publishing now creates.
    pub fn next_version(&self) -> i64 {
        self.walkthrough.published_version.unwrap_or(0) + 1
    }
}

/// Compares the draft with the newest published version.
pub async fn review(
    platform: &Platform,
    caller: &Caller,
    walkthrough: &WalkthroughId,
) -> Result<PublishReview, CoreError> {
    let org = caller.org();
    let found = platform.store.get_walkthrough(org, walkthrough).await?;
    let draft = platform.store.list_steps(org, walkthrough).await?;
    let published = match found.published_version {
        Some(number) => {
            platform
                .store
                .get_version(org, walkthrough, number)
                .await?
                .steps
        }
        None => Vec::new(),
    };
    let versions = platform
        .store
        .list_versions(org, walkthrough, MAX_VERSIONS_LISTED)
        .await?;
    let people_on_older_versions = platform
        .store
        .people_with_unfinished_progress(org, walkthrough)
        .await?;
    Ok(PublishReview {
        walkthrough: found,
        draft_steps: draft.len(),
        changes: compare(&published, &draft),
        versions,
        people_on_older_versions,
    })
}

/// How many edits the draft holds that agents do not get yet: the steps that differ from
/// the newest published version, and its title if that changed. 0 for a walkthrough never
/// published (its status says so) or whose draft matches what was published.
pub async fn unpublished_changes(
    platform: &Platform,
    caller: &Caller,
    walkthrough: &Walkthrough,
) -> Result<usize, CoreError> {
    let Some(number) = walkthrough.published_version else {
        return Ok(0);
    };
    let org = caller.org();
    let draft = platform.store.list_steps(org, &walkthrough.id).await?;
    let published = platform
        .store
        .get_version(org, &walkthrough.id, number)
        .await?;
    Ok(edits_since(walkthrough, &published, &draft))
}

/// The edits in `draft` (ordered) since `published`: the steps that differ, and the title
/// if it changed.
pub(crate) fn edits_since(
    walkthrough: &Walkthrough,
    published: &WalkthroughVersion,
    draft: &[Step],
) -> usize {
    let retitled = usize::from(published.title != walkthrough.title);
    compare(&published.steps, draft).len() + retitled
}

/// How a step differs from the newest version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Removed,
    /// Its title, section title or content changed (it may have moved too).
    Changed,
    /// Only its place among the other steps changed.
    Moved,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
            ChangeKind::Moved => "moved",
        }
    }
}

/// One step that publishing would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepChange {
    pub kind: ChangeKind,
    pub step_id: String,
    /// The draft's title (the published one for a removed step).
    pub title: String,
    /// 1-based, in the newest version.
    pub before_position: Option<usize>,
    /// 1-based, in the draft.
    pub after_position: Option<usize>,
    /// The title and section title, where they changed.
    pub fields: Vec<FieldChange>,
    /// The content, line by line (empty when it is the same).
    pub lines: Vec<DiffLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    pub before: String,
    pub after: String,
}

/// The changes from `published` to `draft`, matched by step id. A step that kept its
/// place among the others is not "moved" because steps were added or removed around it.
pub(crate) fn compare(published: &[PublishedStep], draft: &[Step]) -> Vec<StepChange> {
    let draft_ids: Vec<&str> = draft.iter().map(|s| s.id.as_str()).collect();
    let common_before: Vec<&str> = published
        .iter()
        .map(|s| s.id.as_str())
        .filter(|id| draft_ids.contains(id))
        .collect();
    let common_after: Vec<&str> = draft_ids
        .iter()
        .copied()
        .filter(|id| common_before.contains(id))
        .collect();
    let kept_in_order: Vec<&str> = matching_pairs(&common_before, &common_after)
        .into_iter()
        .map(|(i, _)| common_before[i])
        .collect();
    let mut changes: Vec<StepChange> = draft
        .iter()
        .enumerate()
        .filter_map(|(index, step)| {
            let before = published
                .iter()
                .position(|p| p.id == step.id.as_str())
                .map(|i| (i, &published[i]));
            let moved = before.is_some() && !kept_in_order.contains(&step.id.as_str());
            changed_step(before, index, step, moved)
        })
        .collect();
    changes.extend(
        published
            .iter()
            .enumerate()
            .filter(|(_, p)| !draft_ids.contains(&p.id.as_str()))
            .map(|(index, p)| StepChange {
                kind: ChangeKind::Removed,
                step_id: p.id.clone(),
                title: p.title.clone(),
                before_position: Some(index + 1),
                after_position: None,
                fields: Vec::new(),
                lines: whole(&p.content, LineKind::Removed),
            }),
    );
    changes
}

/// The change of one draft step, if any.
fn changed_step(
    before: Option<(usize, &PublishedStep)>,
    index: usize,
    step: &Step,
    moved: bool,
) -> Option<StepChange> {
    let Some((before_index, old)) = before else {
        return Some(StepChange {
            kind: ChangeKind::Added,
            step_id: step.id.to_string(),
            title: step.title.clone(),
            before_position: None,
            after_position: Some(index + 1),
            fields: Vec::new(),
            lines: whole(&step.content, LineKind::Added),
        });
    };
    let mut fields = Vec::new();
    if old.title != step.title {
        fields.push(FieldChange {
            field: "title",
            before: old.title.clone(),
            after: step.title.clone(),
        });
    }
    if old.section_title != step.section_title {
        fields.push(FieldChange {
            field: "section title",
            before: old.section_title.clone().unwrap_or_default(),
            after: step.section_title.clone().unwrap_or_default(),
        });
    }
    let edited = !fields.is_empty() || old.content != step.content;
    if !edited && !moved {
        return None;
    }
    Some(StepChange {
        kind: if edited {
            ChangeKind::Changed
        } else {
            ChangeKind::Moved
        },
        step_id: step.id.to_string(),
        title: step.title.clone(),
        before_position: Some(before_index + 1),
        after_position: Some(index + 1),
        fields,
        lines: if old.content == step.content {
            Vec::new()
        } else {
            line_diff(&old.content, &step.content)
        },
    })
}

fn whole(text: &str, kind: LineKind) -> Vec<DiffLine> {
    text.lines()
        .map(|line| DiffLine {
            kind,
            text: line.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(id: &str, title: &str, content: &str) -> PublishedStep {
        PublishedStep {
            id: id.into(),
            title: title.into(),
            section_title: None,
            content: content.into(),
        }
    }

    fn draft(id: &str, title: &str, content: &str) -> Step {
        Step {
            id: Id::from_trusted(id.into()),
            walkthrough_id: Id::from_trusted("wt_x".into()),
            title: title.into(),
            section_title: None,
            content: content.into(),
            next_step_id: None,
        }
    }

    fn kinds(lines: &[DiffLine]) -> Vec<(&str, &str)> {
        lines
            .iter()
            .map(|l| (l.kind.as_str(), l.text.as_str()))
            .collect()
    }

    #[test]
    fn steps_are_matched_by_id_and_shifts_are_not_moves() {
        let before = [
            published("ws_a", "A", "one"),
            published("ws_b", "B", "two"),
            published("ws_c", "C", "three"),
        ];
        // New step first, B edited, C removed: A is not "moved" by the insertion.
        let after = [
            draft("ws_n", "N", "new\ntext"),
            draft("ws_a", "A", "one"),
            draft("ws_b", "B2", "two\nmore"),
        ];
        let changes = compare(&before, &after);
        let summary: Vec<(&str, &str)> = changes
            .iter()
            .map(|c| (c.kind.as_str(), c.step_id.as_str()))
            .collect();
        assert_eq!(
            summary,
            [("added", "ws_n"), ("changed", "ws_b"), ("removed", "ws_c")]
        );
        assert_eq!(
            kinds(&changes[0].lines),
            [("added", "new"), ("added", "text")]
        );
        assert_eq!(changes[1].fields[0].before, "B");
        assert_eq!(changes[1].fields[0].after, "B2");
        assert_eq!(
            kinds(&changes[1].lines),
            [("same", "two"), ("added", "more")]
        );
        assert_eq!(changes[2].before_position, Some(3));
    }

    #[test]
    fn a_reorder_marks_the_step_that_moved() {
        let before = [
            published("ws_a", "A", ""),
            published("ws_b", "B", ""),
            published("ws_c", "C", ""),
        ];
        let after = [
            draft("ws_c", "C", ""),
            draft("ws_a", "A", ""),
            draft("ws_b", "B", ""),
        ];
        let changes = compare(&before, &after);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].kind, ChangeKind::Moved);
        assert_eq!(changes[0].step_id, "ws_c");
        assert_eq!(
            (changes[0].before_position, changes[0].after_position),
            (Some(3), Some(1))
        );
        assert!(
            compare(
                &before,
                &[
                    draft("ws_a", "A", ""),
                    draft("ws_b", "B", ""),
                    draft("ws_c", "C", "")
                ]
            )
            .is_empty()
        );
    }
}
