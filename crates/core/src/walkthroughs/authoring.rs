//! Authoring: walkthroughs, their draft steps, publishing and assignments. Every change
//! that can alter what a server's `tools/list` returns is announced to connected clients.

use super::audit;
use crate::{Caller, Permission};
use guidepost_domain::*;
use guidepost_store::NewWalkthrough;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::input::{optional_text, present};
use crate::revision::{merged_until_current, unless_changed};
use crate::{CoreError, Platform};

pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_LENGTH: usize = 50;
pub(crate) const MAX_METADATA_BYTES: usize = 16 * 1024;
pub const MAX_STEP_CONTENT: usize = 100_000;
pub(crate) const MAX_ESTIMATED_MINUTES: i64 = 10_000;

/// `POST /api/v1/walkthroughs`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWalkthrough {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub estimated_duration_minutes: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// `PATCH /api/v1/walkthroughs/{id}`: absent fields stay; `null` clears a nullable one.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWalkthrough {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// `draft` unpublishes, `archived` retires; publishing is `POST …/publish`.
    #[serde(default)]
    pub status: Option<WalkthroughStatus>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub estimated_duration_minutes: Option<Option<i64>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// `POST /api/v1/walkthroughs/{id}/steps`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStep {
    pub title: String,
    pub content: String,
    #[serde(default)]
    pub section_title: Option<String>,
    /// Insert after this step; absent appends.
    #[serde(default)]
    pub after_step_id: Option<String>,
}

/// `PATCH /api/v1/walkthroughs/{id}/steps/{step_id}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStep {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub section_title: Option<Option<String>>,
    /// Present: move the step after this one; `null` moves it first.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub after_step_id: Option<Option<String>>,
}

/// `PUT /api/v1/servers/{id}/walkthroughs/{walkthrough_id}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignWalkthrough {
    #[serde(default)]
    pub display_order: Option<i64>,
    #[serde(default)]
    pub is_enabled: Option<bool>,
}

fn checked_tags(tags: Vec<String>) -> Result<Vec<String>, ValidationError> {
    if tags.len() > MAX_TAGS {
        return Err(ValidationError::new(
            "tags",
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    tags.into_iter()
        .map(|tag| validate_text("tags", &tag, MAX_TAG_LENGTH).map(|_| tag.trim().to_owned()))
        .collect()
}

fn checked_minutes(minutes: Option<i64>) -> Result<Option<i64>, ValidationError> {
    match minutes {
        Some(m) if !(1..=MAX_ESTIMATED_MINUTES).contains(&m) => Err(ValidationError::new(
            "estimated_duration_minutes",
            format!("must be between 1 and {MAX_ESTIMATED_MINUTES}"),
        )),
        other => Ok(other),
    }
}

fn checked_metadata(
    metadata: Option<serde_json::Value>,
) -> Result<serde_json::Value, ValidationError> {
    let metadata = metadata.unwrap_or_else(|| serde_json::json!({}));
    if !metadata.is_object() {
        return Err(ValidationError::new("metadata", "must be a JSON object"));
    }
    if metadata.to_string().len() > MAX_METADATA_BYTES {
        return Err(ValidationError::new(
            "metadata",
            format!("must be at most {MAX_METADATA_BYTES} bytes"),
        ));
    }
    Ok(metadata)
}

pub(crate) fn fields_for_create(
    input: CreateWalkthrough,
) -> Result<WalkthroughFields, ValidationError> {
    validate_text("title", &input.title, Limits::TITLE)?;
    Ok(WalkthroughFields {
        title: input.title.trim().to_owned(),
        description: optional_text("description", input.description, Limits::DESCRIPTION)?,
        status: WalkthroughStatus::Draft,
        estimated_duration_minutes: checked_minutes(input.estimated_duration_minutes)?,
        tags: checked_tags(input.tags.unwrap_or_default())?,
        metadata: checked_metadata(input.metadata)?,
    })
}

fn apply_update(
    current: Walkthrough,
    input: UpdateWalkthrough,
) -> Result<WalkthroughFields, ValidationError> {
    let title = match input.title {
        Some(title) => {
            validate_text("title", &title, Limits::TITLE).map(|_| title.trim().to_owned())?
        }
        None => current.title,
    };
    let status = match input.status {
        Some(WalkthroughStatus::Published) if current.published_version.is_none() => {
            return Err(ValidationError::new(
                "status",
                "publish the walkthrough with POST …/publish first",
            ));
        }
        Some(status) => status,
        None => current.status,
    };
    Ok(WalkthroughFields {
        title,
        description: match input.description {
            Some(value) => optional_text("description", value, Limits::DESCRIPTION)?,
            None => current.description,
        },
        status,
        estimated_duration_minutes: match input.estimated_duration_minutes {
            Some(value) => checked_minutes(value)?,
            None => current.estimated_duration_minutes,
        },
        tags: match input.tags {
            Some(tags) => checked_tags(tags)?,
            None => current.tags,
        },
        metadata: match input.metadata {
            Some(value) => checked_metadata(Some(value))?,
            None => current.metadata,
        },
    })
}

pub(crate) fn step_fields(
    title: String,
    content: String,
    section_title: Option<String>,
) -> Result<StepFields, ValidationError> {
    validate_text("title", &title, Limits::TITLE)?;
    validate_text("content", &content, MAX_STEP_CONTENT)?;
    Ok(StepFields {
        title: title.trim().to_owned(),
        section_title: optional_text("section_title", section_title, Limits::TITLE)?,
        content,
    })
}

/// The fields an update names, each checked as [`step_fields`] checks it; the others are
/// left to the store to keep as they are.
fn step_changes(
    title: Option<String>,
    content: Option<String>,
    section_title: Option<Option<String>>,
) -> Result<StepChanges, ValidationError> {
    if let Some(title) = &title {
        validate_text("title", title, Limits::TITLE)?;
    }
    if let Some(content) = &content {
        validate_text("content", content, MAX_STEP_CONTENT)?;
    }
    Ok(StepChanges {
        title: title.map(|title| title.trim().to_owned()),
        content,
        section_title: section_title
            .map(|section| optional_text("section_title", section, Limits::TITLE))
            .transpose()?,
    })
}

fn step_id(field: &'static str, text: &str) -> Result<StepId, ValidationError> {
    Id::parse(text)
        .ok_or_else(|| ValidationError::new(field, format!("{text:?} is not a step id (ws_…)")))
}

pub async fn create(
    platform: &Platform,
    caller: &Caller,
    input: CreateWalkthrough,
    external_key: Option<String>,
) -> Result<Walkthrough, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let fields = fields_for_create(input)?;
    let created = platform
        .store
        .create_walkthrough(
            org,
            &NewWalkthrough {
                fields,
                external_key,
            },
        )
        .await?;
    audit::record(
        platform,
        caller,
        AuditAction::WalkthroughCreated,
        &created,
        Value::Null,
    )
    .await?;
    Ok(created)
}

/// Updates a walkthrough; a change of status can show or hide it on its servers.
pub async fn update(
    platform: &Platform,
    caller: &Caller,
    id: &WalkthroughId,
    input: UpdateWalkthrough,
) -> Result<Walkthrough, CoreError> {
    update_seen_at(platform, caller, id, input, None).await
}

/// [`update`], from a form that showed the walkthrough at revision `seen` (its
/// `updated_at`): refused with a conflict if it changed since, so that a stale page does
/// not write its status and every other field back over someone else's change.
pub async fn update_seen_at(
    platform: &Platform,
    caller: &Caller,
    id: &WalkthroughId,
    input: UpdateWalkthrough,
    seen: Option<Timestamp>,
) -> Result<Walkthrough, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    // Merged over the walkthrough as stored, and written only over that revision: a
    // publish in between (its status) or another update is never written back over.
    let updated = merged_until_current(|| async {
        let current = platform.store.get_walkthrough(org, id).await?;
        crate::revision::unchanged_since_seen("walkthrough", seen, current.updated_at)?;
        let read_at = Some(current.updated_at);
        let fields = apply_update(current, input.clone())?;
        unless_changed(
            platform
                .store
                .update_walkthrough(org, id, &fields, read_at)
                .await,
        )
    })
    .await?;
    // Its servers' caches hold it (title, description, status): every change is announced.
    announce_for_walkthrough(platform, org, id).await;
    let detail = serde_json::json!({"status": updated.status});
    audit::record(
        platform,
        caller,
        AuditAction::WalkthroughUpdated,
        &updated,
        detail,
    )
    .await?;
    Ok(updated)
}

pub async fn list(
    platform: &Platform,
    caller: &Caller,
    page: &PageRequest,
) -> Result<Page<Walkthrough>, CoreError> {
    let org = caller.org();
    Ok(platform.store.list_walkthroughs(org, page).await?)
}

/// A walkthrough without its steps (one statement), for pages that need its title only.
pub async fn get(
    platform: &Platform,
    caller: &Caller,
    id: &WalkthroughId,
) -> Result<Walkthrough, CoreError> {
    let org = caller.org();
    Ok(platform.store.get_walkthrough(org, id).await?)
}

/// A walkthrough with its draft steps in order.
pub async fn get_with_steps(
    platform: &Platform,
    caller: &Caller,
    id: &WalkthroughId,
) -> Result<(Walkthrough, Vec<Step>), CoreError> {
    let org = caller.org();
    let walkthrough = platform.store.get_walkthrough(org, id).await?;
    let steps = platform.store.list_steps(org, id).await?;
    Ok((walkthrough, steps))
}

/// The walkthroughs assigned to a server, in display order.
pub async fn assignments_of_server(
    platform: &Platform,
    caller: &Caller,
    server: &ServerId,
) -> Result<Vec<Assignment>, CoreError> {
    let org = caller.org();
    platform.store.get_server(org, server).await?;
    Ok(platform.store.list_assignments(org, server).await?)
}

pub async fn delete(
    platform: &Platform,
    caller: &Caller,
    id: &WalkthroughId,
) -> Result<(), CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let servers = platform.store.servers_of_walkthrough(org, id).await?;
    let walkthrough = platform.store.get_walkthrough(org, id).await?;
    platform.store.delete_walkthrough(org, id).await?;
    platform.announce_tools_changed(&servers).await;
    audit::record(
        platform,
        caller,
        AuditAction::WalkthroughDeleted,
        &walkthrough,
        Value::Null,
    )
    .await
}

pub async fn add_step(
    platform: &Platform,
    caller: &Caller,
    walkthrough: &WalkthroughId,
    input: CreateStep,
) -> Result<Step, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let fields = step_fields(input.title, input.content, input.section_title)?;
    let placement = match input.after_step_id {
        Some(after) => StepPlacement::After(step_id("after_step_id", &after)?),
        None => StepPlacement::Last,
    };
    let step = platform
        .store
        .add_step(org, walkthrough, &fields, &placement)
        .await?;
    let detail = serde_json::json!({"step": step.title});
    audit::record_by_id(
        platform,
        caller,
        AuditAction::WalkthroughStepAdded,
        walkthrough,
        detail,
    )
    .await?;
    Ok(step)
}

pub async fn update_step(
    platform: &Platform,
    caller: &Caller,
    walkthrough: &WalkthroughId,
    step: &StepId,
    input: UpdateStep,
) -> Result<Step, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let changes = step_changes(input.title, input.content, input.section_title)?;
    let placement = match input.after_step_id {
        Some(Some(after)) => Some(StepPlacement::After(step_id("after_step_id", &after)?)),
        Some(None) => Some(StepPlacement::First),
        None => None,
    };
    let step = platform
        .store
        .update_step(org, walkthrough, step, &changes, placement.as_ref())
        .await?;
    let detail = serde_json::json!({"step": step.title});
    let action = AuditAction::WalkthroughStepChanged;
    audit::record_by_id(platform, caller, action, walkthrough, detail).await?;
    Ok(step)
}

pub async fn delete_step(
    platform: &Platform,
    caller: &Caller,
    walkthrough: &WalkthroughId,
    step: &StepId,
) -> Result<(), CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    platform.store.delete_step(org, walkthrough, step).await?;
    let detail = serde_json::json!({"step_id": step});
    let action = AuditAction::WalkthroughStepDeleted;
    audit::record_by_id(platform, caller, action, walkthrough, detail).await
}

/// Publishes the draft as a new immutable version and tells the servers that offer it.
pub async fn publish(
    platform: &Platform,
    caller: &Caller,
    walkthrough: &WalkthroughId,
) -> Result<WalkthroughVersion, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let version = platform.store.publish_walkthrough(org, walkthrough).await?;
    announce_for_walkthrough(platform, org, walkthrough).await;
    let detail = serde_json::json!({"version": version.version, "steps": version.steps.len()});
    let action = AuditAction::WalkthroughPublished;
    audit::record_by_id(platform, caller, action, walkthrough, detail).await?;
    Ok(version)
}

pub async fn assign(
    platform: &Platform,
    caller: &Caller,
    server: &ServerId,
    walkthrough: &WalkthroughId,
    input: AssignWalkthrough,
) -> Result<Assignment, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let assignment = platform
        .store
        .assign_walkthrough(
            org,
            server,
            walkthrough,
            input.display_order,
            input.is_enabled,
        )
        .await?;
    platform
        .announce_tools_changed(std::slice::from_ref(server))
        .await;
    let action = AuditAction::WalkthroughAssigned;
    audit::record_assignment(platform, caller, action, server, walkthrough).await?;
    Ok(assignment)
}

pub async fn unassign(
    platform: &Platform,
    caller: &Caller,
    server: &ServerId,
    walkthrough: &WalkthroughId,
) -> Result<(), CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    platform
        .store
        .unassign_walkthrough(org, server, walkthrough)
        .await?;
    platform
        .announce_tools_changed(std::slice::from_ref(server))
        .await;
    let action = AuditAction::WalkthroughUnassigned;
    audit::record_assignment(platform, caller, action, server, walkthrough).await
}

/// Tells the servers that offer a walkthrough that their tool lists may have changed.
pub(crate) async fn announce_for_walkthrough(
    platform: &Platform,
    org: &OrgId,
    walkthrough: &WalkthroughId,
) {
    match platform
        .store
        .servers_of_walkthrough(org, walkthrough)
        .await
    {
        Ok(servers) => platform.announce_tools_changed(&servers).await,
        Err(error) => tracing::warn!(%error, "could not find the servers of a changed walkthrough"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_validates_every_field() {
        let ok: CreateWalkthrough = serde_json::from_value(
            json!({"title": "Intro", "tags": ["a"], "estimated_duration_minutes": 5}),
        )
        .unwrap();
        assert_eq!(
            fields_for_create(ok).unwrap().status,
            WalkthroughStatus::Draft
        );
        for (bad, field) in [
            (json!({"title": " "}), "title"),
            (
                json!({"title": "t", "estimated_duration_minutes": 0}),
                "estimated_duration_minutes",
            ),
            (json!({"title": "t", "tags": ["x".repeat(51)]}), "tags"),
            (json!({"title": "t", "metadata": [1]}), "metadata"),
        ] {
            let input: CreateWalkthrough = serde_json::from_value(bad).unwrap();
            assert_eq!(fields_for_create(input).unwrap_err().field, field);
        }
    }

    #[test]
    fn step_patch_tells_null_from_absent() {
        let first: UpdateStep = serde_json::from_value(json!({"after_step_id": null})).unwrap();
        assert_eq!(first.after_step_id, Some(None));
        let untouched: UpdateStep = serde_json::from_value(json!({"title": "x"})).unwrap();
        assert_eq!(untouched.after_step_id, None);
    }
}
