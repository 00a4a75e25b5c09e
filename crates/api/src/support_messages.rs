//! `/api/v1/support-requests/{id}/messages`: the team's replies (mailed to the person,
//! shown to them through `get_support`), internal notes, and the person's follow-ups.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use guidepost_core::Platform;
use guidepost_core::mail::Mail;
use guidepost_core::support::messages::{self, ReplyMail};
use guidepost_domain::{Cursor, Page, SupportMessage, SupportRequestId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::OrgAuth;
use crate::error::ApiError;
use crate::extract::{IdPath, Json, Query};
use crate::pagination::PageQuery;

/// `POST /api/v1/support-requests/{id}/messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// `reply`: mailed to the person and shown to them when they follow up through
    /// `get_support`; `note`: for the team only.
    #[schema(value_type = String)]
    pub kind: WrittenKind,
    /// Plain text, at most 20,000 characters.
    pub body: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WrittenKind {
    Reply,
    Note,
}

/// A message as written, and for a reply whether its mail went out.
#[derive(Debug, Serialize, ToSchema)]
pub struct WrittenMessage {
    #[serde(flatten)]
    pub message: SupportMessage,
    /// For a reply: `true` when the mail server took it (the reply is kept either way).
    pub mailed: Option<bool>,
}

/// The messages on a support request, oldest first: replies, notes and follow-ups.
#[utoipa::path(get, path = "/api/v1/support-requests/{id}/messages", tag = "support",
    operation_id = "support_request_messages_list",
    params(("id" = String, Path, description = "Support request id, `sr_…`"), PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of the messages, oldest first", body = Page<SupportMessage>),
        (status = 404, description = "No such support request in this organization"),
        (status = 422, description = "Invalid cursor or limit"),
    ))]
pub(crate) async fn list(
    State(platform): State<Platform>,
    auth: OrgAuth,
    IdPath(id): IdPath<SupportRequestId>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<SupportMessage>>, ApiError> {
    let page = query.request()?;
    // At most `MAX_SUPPORT_MESSAGES` (500) on a request: read whole and cut.
    let all = messages::list(&platform, &auth.caller, &id).await?;
    Ok(Json(Page::of_oldest_first(all, &page, |m| Cursor {
        created_at: m.created_at,
        id: m.id.to_string(),
    })))
}

/// Reply to the person (by email, and in `get_support`), or write an internal note.
#[utoipa::path(post, path = "/api/v1/support-requests/{id}/messages", tag = "support",
    operation_id = "support_request_messages_create",
    params(("id" = String, Path, description = "Support request id, `sr_…`")),
    request_body = NewMessage, security(("bearer" = [])),
    responses(
        (status = 201, description = "Written (and, for a reply, mailed)", body = WrittenMessage),
        (status = 404, description = "No such support request in this organization"),
        (status = 409, description = "The request holds its most messages"),
        (status = 422, description = "Empty or too long"),
    ))]
pub(crate) async fn create(
    State(platform): State<Platform>,
    Extension(mail): Extension<Arc<dyn Mail>>,
    auth: OrgAuth,
    IdPath(id): IdPath<SupportRequestId>,
    Json(input): Json<NewMessage>,
) -> Result<(StatusCode, Json<WrittenMessage>), ApiError> {
    let caller = &auth.caller;
    let written = match input.kind {
        WrittenKind::Reply => {
            let (message, sent) =
                messages::reply(&platform, mail.as_ref(), caller, &id, &input.body).await?;
            WrittenMessage {
                message,
                mailed: Some(sent == ReplyMail::Sent),
            }
        }
        WrittenKind::Note => WrittenMessage {
            message: messages::note(&platform, caller, &id, &input.body).await?,
            mailed: None,
        },
    };
    Ok((StatusCode::CREATED, Json(written)))
}
