//! The two services that use the store: importing a parsed directory as a walkthrough,
//! and exporting a walkthrough's draft.

use crate::{Caller, Permission};
use guidepost_domain::*;
use guidepost_store::NewWalkthrough;
use serde::Serialize;

use super::{StepSource, WalkthroughSource, align, validate_key};
use crate::walkthroughs::authoring::{self, CreateWalkthrough};
use crate::{CoreError, Platform};

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub walkthrough_id: WalkthroughId,
    pub external_key: String,
    /// The walkthrough did not exist and was created.
    pub created: bool,
    /// The draft (fields or steps) was written. `false` means the import wrote nothing to
    /// the draft.
    pub changed: bool,
    pub steps_added: usize,
    pub steps_updated: usize,
    pub steps_deleted: usize,
    pub step_count: usize,
    /// This import created a new published version.
    pub published: bool,
    /// The newest published version after the import, if any.
    pub published_version: Option<i64>,
    pub status: WalkthroughStatus,
}

fn same_fields(current: &Walkthrough, wanted: &WalkthroughFields) -> bool {
    current.title == wanted.title
        && current.description == wanted.description
        && current.tags == wanted.tags
        && current.estimated_duration_minutes == wanted.estimated_duration_minutes
}

fn same_step(current: &Step, wanted: &StepFields) -> bool {
    current.title == wanted.title
        && current.section_title == wanted.section_title
        && current.content == wanted.content
}

/// Imports a parsed directory as the walkthrough with external key `key`, creating it
/// when the organization has none.
///
/// Idempotent: when the walkthrough's fields and its ordered steps already equal the
/// source, nothing is written. Otherwise the fields are updated and the steps reconciled
/// (`align`): a step matched by its title in order, or by its place between matched ones
/// when retitled, is updated in place (its id stays); the others are added where they
/// stand or deleted. Every change goes through the store's list operations, so the
/// linked list stays whole. Status and metadata are kept.
///
/// With `publish`, a new version is published only when the draft's title or steps
/// differ from the newest published version (or there is none); an unpublished or
/// archived walkthrough whose newest version already matches is set back to published
/// without a new version.
///
/// Each step write is its own transaction: if the store fails halfway, importing again
/// finishes the job.
pub async fn import(
    platform: &Platform,
    caller: &Caller,
    key: &str,
    source: WalkthroughSource,
    publish: bool,
) -> Result<ImportReport, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    validate_key(key)?;
    if source.steps.len() > MAX_STEPS {
        return Err(ValidationError::new(
            "steps",
            format!("a walkthrough has at most {MAX_STEPS} steps"),
        )
        .into());
    }
    let mut fields = authoring::fields_for_create(CreateWalkthrough {
        title: source.title,
        description: source.description,
        tags: Some(source.tags),
        estimated_duration_minutes: source.estimated_duration_minutes,
        metadata: None,
    })?;
    let wanted_steps = source
        .steps
        .into_iter()
        .map(|s| authoring::step_fields(s.title, s.content, s.section))
        .collect::<Result<Vec<_>, _>>()?;

    let store = &platform.store;
    let (mut walkthrough, created, current_steps) =
        match store.find_walkthrough_by_key(org, key).await? {
            Some(existing) => {
                let steps = store.list_steps(org, &existing.id).await?;
                (existing, false, steps)
            }
            None => {
                let new = NewWalkthrough {
                    fields: fields.clone(),
                    external_key: Some(key.to_owned()),
                };
                (store.create_walkthrough(org, &new).await?, true, Vec::new())
            }
        };
    let id = walkthrough.id.clone();

    let mut changed = created;
    if !created && !same_fields(&walkthrough, &fields) {
        fields.status = walkthrough.status;
        fields.metadata = walkthrough.metadata.clone();
        let before = walkthrough.title.clone();
        // Over the revision read above: a publish or an edit since is a conflict to retry,
        // not a status or metadata written back over.
        let read_at = Some(walkthrough.updated_at);
        walkthrough = store.update_walkthrough(org, &id, &fields, read_at).await?;
        if walkthrough.title != before {
            authoring::announce_for_walkthrough(platform, org, &id).await;
        }
        changed = true;
    }

    let current_titles: Vec<&str> = current_steps.iter().map(|s| s.title.as_str()).collect();
    let wanted_titles: Vec<&str> = wanted_steps.iter().map(|s| s.title.as_str()).collect();
    let kept = align::keep_ids(&current_titles, &wanted_titles);
    let mut still_there = vec![false; current_steps.len()];
    for index in kept.iter().flatten() {
        still_there[*index] = true;
    }
    let (mut added, mut updated, mut deleted) = (0, 0, 0);
    for (current, stays) in current_steps.iter().zip(still_there) {
        if !stays {
            store.delete_step(org, &id, &current.id).await?;
            deleted += 1;
        }
    }
    // The kept steps are in order already: each new one goes right after the step before it.
    let mut final_ids: Vec<StepId> = Vec::with_capacity(wanted_steps.len());
    for (wanted, keeps) in wanted_steps.iter().zip(&kept) {
        match keeps.map(|index| &current_steps[index]) {
            Some(current) => {
                if !same_step(current, wanted) {
                    store
                        .update_step(org, &id, &current.id, &wanted.clone().into(), None)
                        .await?;
                    updated += 1;
                }
                final_ids.push(current.id.clone());
            }
            None => {
                let at = match final_ids.last() {
                    Some(previous) => StepPlacement::After(previous.clone()),
                    None => StepPlacement::First,
                };
                let step = store.add_step(org, &id, wanted, &at).await?;
                added += 1;
                final_ids.push(step.id);
            }
        }
    }
    changed |= added + updated + deleted > 0;

    let mut published = false;
    if publish {
        let draft: Vec<PublishedStep> = final_ids
            .into_iter()
            .zip(&wanted_steps)
            .map(|(id, s)| PublishedStep {
                id: id.to_string(),
                title: s.title.clone(),
                section_title: s.section_title.clone(),
                content: s.content.clone(),
            })
            .collect();
        let up_to_date = match walkthrough.published_version {
            Some(number) => {
                let latest = store.get_version(org, &id, number).await?;
                latest.title == fields.title && latest.steps == draft
            }
            None => false,
        };
        if !up_to_date {
            let version = authoring::publish(platform, caller, &id).await?;
            walkthrough.published_version = Some(version.version);
            walkthrough.status = WalkthroughStatus::Published;
            published = true;
        } else if walkthrough.status != WalkthroughStatus::Published {
            let update = authoring::UpdateWalkthrough {
                status: Some(WalkthroughStatus::Published),
                ..Default::default()
            };
            walkthrough = authoring::update(platform, caller, &id, update).await?;
        }
    }

    if changed {
        let detail = serde_json::json!({
            "created": created, "steps_added": added, "steps_updated": updated,
            "steps_deleted": deleted,
        });
        let action = AuditAction::WalkthroughImported;
        crate::walkthroughs::audit::record(platform, caller, action, &walkthrough, detail).await?;
    }
    Ok(ImportReport {
        walkthrough_id: id,
        external_key: key.to_owned(),
        created,
        changed,
        steps_added: added,
        steps_updated: updated,
        steps_deleted: deleted,
        step_count: wanted_steps.len(),
        published,
        published_version: walkthrough.published_version,
        status: walkthrough.status,
    })
}

/// A walkthrough's draft as files would describe it (render it with
/// [`render_walkthrough`](super::render_walkthrough)).
pub async fn export(
    platform: &Platform,
    caller: &Caller,
    walkthrough: &WalkthroughId,
) -> Result<WalkthroughSource, CoreError> {
    let org = caller.org();
    let found = platform.store.get_walkthrough(org, walkthrough).await?;
    let steps = platform.store.list_steps(org, walkthrough).await?;
    Ok(WalkthroughSource {
        title: found.title,
        description: found.description,
        tags: found.tags,
        estimated_duration_minutes: found.estimated_duration_minutes,
        steps: steps
            .into_iter()
            .map(|s| StepSource {
                title: s.title,
                section: s.section_title,
                content: s.content,
            })
            .collect(),
    })
}
