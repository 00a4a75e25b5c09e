//! Support requests: opened by the `get_support` tool, handled through the API.

use crate::{Caller, Permission};
use guidepost_domain::*;
use serde::Deserialize;
use thiserror::Error;

pub use guidepost_store::SupportRequestFilter;

use crate::{CoreError, Platform};

/// The arguments of `get_support`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportInput {
    pub title: String,
    pub problem_description: String,
    #[serde(default)]
    pub problem_context: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Follows up on this earlier request instead of opening one
    /// (`support_messages::follow_up`).
    #[serde(default)]
    pub support_request_id: Option<String>,
}

#[derive(Debug, Error)]
pub enum SupportError {
    #[error(
        "An email address is needed so that the support team can answer. Ask the user for their \
         email address and call get_support again with the `email` argument."
    )]
    EmailRequired,
    #[error(
        "No support request {0} of this user was found on this server. Check the id, or call \
         get_support without support_request_id to open a new request."
    )]
    UnknownRequest(String),
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// Opens a support request. The email comes from the argument (on servers that are not
/// OAuth) or from what is known about the end user; an argument email is remembered on
/// the end user as unverified.
pub async fn open_request(
    platform: &Platform,
    server: &McpServer,
    end_user: Option<&EndUser>,
    input: SupportInput,
) -> Result<SupportRequest, SupportError> {
    validate_text("title", &input.title, Limits::TITLE)?;
    validate_text(
        "problem_description",
        &input.problem_description,
        Limits::DESCRIPTION,
    )?;
    let context = match input.problem_context {
        Some(text) if !text.trim().is_empty() => {
            Some(validate_text("problem_context", &text, Limits::CONTEXT).map(|_| text)?)
        }
        _ => None,
    };
    let email = choose_email(server, end_user, input.email.as_deref())?;
    if let (Some(user), Some(_)) = (end_user, input.email.as_deref()) {
        platform
            .store
            .set_end_user_email(&server.org_id, &user.id, &email, false)
            .await
            .map_err(CoreError::from)?;
        platform.cache.end_user_changed(&server.org_id, &user.id);
    }
    let request = NewSupportRequest {
        org_id: server.org_id.clone(),
        server_id: server.id.clone(),
        end_user_id: end_user.map(|u| u.id.clone()),
        email,
        title: input.title.trim().to_owned(),
        description: input.problem_description,
        context,
    };
    let created = platform
        .store
        .create_support_request(&request, Timestamp::now())
        .await
        .map_err(CoreError::from)?;
    metrics::counter!("guidepost_support_requests_total").increment(1);
    Ok(created)
}

pub(crate) fn choose_email(
    server: &McpServer,
    end_user: Option<&EndUser>,
    argument: Option<&str>,
) -> Result<Email, SupportError> {
    let known = end_user.and_then(|u| u.email.clone());
    if server.auth_mode.requires_token() {
        // On OAuth servers the verified email of the signed-in user is the only one.
        return known.ok_or(SupportError::EmailRequired);
    }
    match argument.map(str::trim).filter(|e| !e.is_empty()) {
        Some(text) => Ok(Email::parse(text)?),
        None => known.ok_or(SupportError::EmailRequired),
    }
}

pub async fn list(
    platform: &Platform,
    caller: &Caller,
    filter: &SupportRequestFilter,
    page: &PageRequest,
) -> Result<Page<SupportRequest>, CoreError> {
    let org = caller.org();
    Ok(platform
        .store
        .list_support_requests(org, filter, page)
        .await?)
}

pub async fn get(
    platform: &Platform,
    caller: &Caller,
    id: &SupportRequestId,
) -> Result<SupportRequest, CoreError> {
    let org = caller.org();
    Ok(platform.store.get_support_request(org, id).await?)
}

pub async fn update_status(
    platform: &Platform,
    caller: &Caller,
    id: &SupportRequestId,
    status: SupportStatus,
) -> Result<SupportRequest, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let request = platform
        .store
        .update_support_request_status(org, id, status, Timestamp::now())
        .await?;
    let object = crate::audit::Object {
        kind: "support_request",
        id: request.id.as_str(),
        name: &request.title,
    };
    let detail = serde_json::json!({"status": request.status});
    crate::audit::record(
        platform,
        caller,
        AuditAction::SupportRequestStatusChanged,
        object,
        detail,
    )
    .await?;
    Ok(request)
}

/// Whether a server offers `get_support`.
pub fn offered_on(server: &McpServer) -> bool {
    server.support_tool_enabled
}
