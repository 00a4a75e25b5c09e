//! Replies and internal notes on support requests, and the person's follow-ups.
//!
//! A reply is stored, then mailed to the request's email through the mail path (`Mail`);
//! the person also reads it when they follow up through `get_support` with the request's
//! id. A note stays with the team: the tool never shows it. Both are audited.

use guidepost_domain::*;
use guidepost_store::NewSupportMessage;

use crate::audit::{self, Object};
use crate::mail::Mail;
use crate::support::requests::{SupportError, SupportInput, choose_email};
use crate::{Caller, CoreError, Permission, Platform};

/// Whether a reply's mail went out (the reply is kept either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMail {
    Sent,
    Failed,
}

/// The team's messages on a request, replies and notes alike, oldest first.
pub async fn list(
    platform: &Platform,
    caller: &Caller,
    request: &SupportRequestId,
) -> Result<Vec<SupportMessage>, CoreError> {
    let org = caller.org();
    platform.store.get_support_request(org, request).await?;
    let kinds = [
        SupportMessageKind::Reply,
        SupportMessageKind::Note,
        SupportMessageKind::FollowUp,
    ];
    Ok(platform
        .store
        .list_support_messages(org, request, &kinds)
        .await?)
}

/// Writes a reply and mails it to the person.
pub async fn reply(
    platform: &Platform,
    mail: &dyn Mail,
    caller: &Caller,
    request: &SupportRequestId,
    body: &str,
) -> Result<(SupportMessage, ReplyMail), CoreError> {
    let (message, request) =
        write(platform, caller, request, SupportMessageKind::Reply, body).await?;
    let org = platform.store.get_organization(caller.org()).await?;
    let subject = format!("Re: {}", request.title);
    let text = format!(
        "{body}\n\n-- \n{org} support, about your request \"{title}\" ({id}).\n\
         Your assistant can show this answer too: ask it to follow up on support request {id}.\n",
        body = message.body,
        org = org.name,
        title = request.title,
        id = request.id,
    );
    let sent = match mail.send(&request.email, &subject, &text).await {
        Ok(()) => ReplyMail::Sent,
        Err(error) => {
            tracing::warn!(%error, "a support reply was not mailed; it is kept on the request");
            ReplyMail::Failed
        }
    };
    Ok((message, sent))
}

/// Writes an internal note, which the person never sees.
pub async fn note(
    platform: &Platform,
    caller: &Caller,
    request: &SupportRequestId,
    body: &str,
) -> Result<SupportMessage, CoreError> {
    let (message, _) = write(platform, caller, request, SupportMessageKind::Note, body).await?;
    Ok(message)
}

async fn write(
    platform: &Platform,
    caller: &Caller,
    request: &SupportRequestId,
    kind: SupportMessageKind,
    body: &str,
) -> Result<(SupportMessage, SupportRequest), CoreError> {
    caller.require(Permission::Edit)?;
    validate_text("body", body, Limits::DESCRIPTION)?;
    let org = caller.org();
    let found = platform.store.get_support_request(org, request).await?;
    let new = NewSupportMessage {
        request,
        kind,
        author: caller.name(),
        body: body.trim(),
    };
    let message = platform
        .store
        .add_support_message(org, &new, Timestamp::now())
        .await?;
    let object = Object {
        kind: "support_request",
        id: found.id.as_str(),
        name: &found.title,
    };
    let action = match kind {
        SupportMessageKind::Reply => AuditAction::SupportRequestReplied,
        _ => AuditAction::SupportRequestNoted,
    };
    let detail = serde_json::json!({"message_id": message.id, "body": message.body});
    audit::record(platform, caller, action, object, detail).await?;
    Ok((message, found))
}

/// A person following up on their request through `get_support`: the request, the
/// team's replies (oldest first; never a note), and their new description kept as a
/// follow-up. The request must be this server's and the person's (their email or their
/// end user); anything else is unknown, whether it exists or not.
pub async fn follow_up(
    platform: &Platform,
    server: &McpServer,
    end_user: Option<&EndUser>,
    input: SupportInput,
    request_id: &str,
) -> Result<(SupportRequest, Vec<SupportMessage>), SupportError> {
    let unknown = || SupportError::UnknownRequest(request_id.to_owned());
    let id = SupportRequestId::parse(request_id.trim()).ok_or_else(unknown)?;
    validate_text(
        "problem_description",
        &input.problem_description,
        Limits::DESCRIPTION,
    )?;
    let email = choose_email(server, end_user, input.email.as_deref())?;
    let org = &server.org_id;
    let request = match platform.store.get_support_request(org, &id).await {
        Ok(found) => found,
        Err(guidepost_store::StoreError::NotFound) => return Err(unknown()),
        Err(other) => return Err(CoreError::from(other).into()),
    };
    let same_user = end_user.is_some_and(|u| request.end_user_id.as_ref() == Some(&u.id));
    if request.server_id != server.id || !(same_user || request.email == email) {
        return Err(unknown());
    }
    let new = NewSupportMessage {
        request: &id,
        kind: SupportMessageKind::FollowUp,
        author: email.as_str(),
        body: input.problem_description.trim(),
    };
    let store = &platform.store;
    let now = Timestamp::now();
    store
        .add_support_message(org, &new, now)
        .await
        .map_err(|error| match error {
            // Full: no retry can succeed, a new request can.
            guidepost_store::StoreError::Conflict(full) => {
                let message = format!(
                    "{full}, and this one is full. Call get_support without \
                     support_request_id to open a new request, naming this one ({id})."
                );
                SupportError::Invalid(ValidationError::new("support_request_id", message))
            }
            other => CoreError::from(other).into(),
        })?;
    let replies = store
        .list_support_messages(org, &id, &[SupportMessageKind::Reply])
        .await
        .map_err(CoreError::from)?;
    Ok((request, replies))
}
