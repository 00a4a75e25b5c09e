//! End users as organizations see them: listed and read through the API.
//!
//! A tracking id is a bearer of the person's progress (whoever holds their personal URL
//! continues as them), so only administrators (owners, keys with the `admin` scope) see
//! it; everyone else reads [`HIDDEN`] in its place.

use crate::{Caller, Permission};
use guidepost_domain::*;
pub use guidepost_store::EndUserFilter;
use guidepost_store::{SupportRequestFilter, ToolCallFilter};
use serde::Serialize;
use utoipa::ToSchema;

use crate::walkthroughs::player::version;
use crate::{CoreError, Platform};

pub async fn list(
    platform: &Platform,
    caller: &Caller,
    filter: &EndUserFilter,
    page: &PageRequest,
) -> Result<Page<EndUserSummary>, CoreError> {
    let org = caller.org();
    let mut found = platform.store.list_end_users(org, filter, page).await?;
    for listed in &mut found.items {
        shown_to(caller, &mut listed.end_user);
    }
    Ok(found)
}

/// Hides the tracking id of `end_user` from a caller who may not see it.
fn shown_to(caller: &Caller, end_user: &mut EndUser) {
    end_user.tracking_id = tracking_id_shown_to(caller, end_user.tracking_id.take());
}

/// A tracking id as `caller` sees it: itself to an administrator, [`HIDDEN`] to others.
pub(crate) fn tracking_id_shown_to(caller: &Caller, tracking_id: Option<String>) -> Option<String> {
    tracking_id.map(|id| {
        if caller.may(Permission::Administer) {
            id
        } else {
            HIDDEN.to_owned()
        }
    })
}

/// An end user with their sessions.
pub async fn get_with_sessions(
    platform: &Platform,
    caller: &Caller,
    id: &EndUserId,
) -> Result<(EndUser, Vec<McpSession>), CoreError> {
    let org = caller.org();
    let mut end_user = platform.store.get_end_user(org, id).await?;
    shown_to(caller, &mut end_user);
    let sessions = platform.store.list_sessions_of_end_user(org, id).await?;
    Ok((end_user, sessions))
}

/// How many of a person's progress rows, calls and support requests a picture shows.
const PICTURE_PROGRESS: u32 = 100;
const PICTURE_CALLS: u32 = 20;
const PICTURE_REQUESTS: u32 = 20;

/// The step a person is on, by its place in the version they are pinned to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StepPlace {
    pub id: String,
    pub title: String,
    /// 1-based.
    pub position: usize,
}

/// A person's progress through one walkthrough on one server, in words a support team
/// reads: which walkthrough, which step, how far.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProgressView {
    #[schema(value_type = String)]
    pub server_id: ServerId,
    #[schema(value_type = String)]
    pub walkthrough_id: WalkthroughId,
    pub walkthrough_title: String,
    /// The published version the person is pinned to.
    pub version: i64,
    #[schema(value_type = String)]
    pub status: ProgressStatus,
    /// The step they are on; `None` before they start and once they have finished.
    pub current_step: Option<StepPlace>,
    pub completed_steps: usize,
    pub total_steps: usize,
    pub started_at: Timestamp,
    pub last_activity_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

/// Everything about one person: sessions, progress per server and walkthrough,
/// recent tool calls and support requests.
#[derive(Debug, Clone)]
pub struct Picture {
    pub end_user: EndUser,
    pub sessions: Vec<McpSession>,
    pub progress: Vec<ProgressView>,
    pub recent_tool_calls: Vec<ToolCall>,
    pub support_requests: Vec<SupportRequest>,
}

pub async fn picture(
    platform: &Platform,
    caller: &Caller,
    id: &EndUserId,
) -> Result<Picture, CoreError> {
    let org = caller.org();
    let (end_user, sessions) = get_with_sessions(platform, caller, id).await?;
    let progress = platform
        .store
        .list_progress_of_end_user(org, id, PICTURE_PROGRESS)
        .await?;
    let calls = ToolCallFilter {
        end_user_id: Some(id.clone()),
        ..Default::default()
    };
    let requests = SupportRequestFilter {
        end_user_id: Some(id.clone()),
        ..Default::default()
    };
    Ok(Picture {
        end_user,
        sessions,
        progress: describe_progress(platform, org, progress).await?,
        recent_tool_calls: recent_calls(platform, org, &calls).await?,
        support_requests: platform
            .store
            .list_support_requests(org, &requests, &PageRequest::first(PICTURE_REQUESTS))
            .await?
            .items,
    })
}

/// Where a person is on one server: their progress there and their last calls there (a
/// support request's context). Empty for a request nobody can be traced to.
pub async fn on_server(
    platform: &Platform,
    caller: &Caller,
    end_user: Option<&EndUserId>,
    server: &ServerId,
) -> Result<(Vec<ProgressView>, Vec<ToolCall>), CoreError> {
    let org = caller.org();
    let Some(end_user) = end_user else {
        return Ok((Vec::new(), Vec::new()));
    };
    let progress = platform.store.list_progress(org, end_user, server).await?;
    let calls = ToolCallFilter {
        server_id: Some(server.clone()),
        end_user_id: Some(end_user.clone()),
        ..Default::default()
    };
    Ok((
        describe_progress(platform, org, progress).await?,
        recent_calls(platform, org, &calls).await?,
    ))
}

async fn recent_calls(
    platform: &Platform,
    org: &OrgId,
    filter: &ToolCallFilter,
) -> Result<Vec<ToolCall>, CoreError> {
    let page = PageRequest::first(PICTURE_CALLS);
    Ok(platform
        .store
        .list_tool_calls(org, filter, &page)
        .await?
        .items)
}

/// Progress with its walkthrough's title and step names, from the pinned versions
/// (immutable, so the node's cache reads each once).
async fn describe_progress(
    platform: &Platform,
    org: &OrgId,
    progress: Vec<Progress>,
) -> Result<Vec<ProgressView>, CoreError> {
    let mut views = Vec::with_capacity(progress.len());
    for p in progress {
        let version = &version(platform, org, &p.walkthrough_id, p.version).await?;
        let current_step = p.current_step_id.as_deref().and_then(|id| {
            let at = version.position_of(id)?;
            Some(StepPlace {
                id: id.to_owned(),
                title: version.steps[at].title.clone(),
                position: at + 1,
            })
        });
        views.push(ProgressView {
            server_id: p.server_id,
            walkthrough_id: p.walkthrough_id,
            walkthrough_title: version.title.clone(),
            version: p.version,
            status: p.status,
            current_step,
            completed_steps: p.completed_step_ids.len(),
            total_steps: version.steps.len(),
            started_at: p.started_at,
            last_activity_at: p.last_activity_at,
            completed_at: p.completed_at,
        });
    }
    Ok(views)
}

/// Deletes one person's progress through one walkthrough on one server, so that their
/// next start begins at step 1 of the newest version (a member's reset, audited); nobody
/// else's progress changes. `NotFound` when the person is not the organization's or has
/// no such progress.
pub async fn reset_progress(
    platform: &Platform,
    caller: &Caller,
    end_user: &EndUserId,
    server: &ServerId,
    walkthrough: &WalkthroughId,
) -> Result<(), CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    // Found first, so that another organization's ids are refused before anything happens.
    platform.store.get_end_user(org, end_user).await?;
    let found = platform.store.get_walkthrough(org, walkthrough).await?;
    let key = guidepost_store::ProgressKey {
        org_id: org.clone(),
        end_user_id: end_user.clone(),
        server_id: server.clone(),
        walkthrough_id: walkthrough.clone(),
    };
    platform.cache.forget_progress(&key);
    if !platform.store.delete_progress(&key).await? {
        return Err(CoreError::NotFound);
    }
    let object = crate::audit::Object {
        kind: "walkthrough",
        id: walkthrough.as_str(),
        name: &found.title,
    };
    let detail = serde_json::json!({"end_user_id": end_user, "server_id": server});
    crate::audit::record(platform, caller, AuditAction::ProgressReset, object, detail).await
}
