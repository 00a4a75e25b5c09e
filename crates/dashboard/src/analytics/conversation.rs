//! `/app/support/{id}/conversation`: the replies to a support request's person (mailed to
//! them, and shown when they follow up through `get_support`), the team's internal notes,
//! and the person's follow-ups, with a form for each kind the team writes (editors only).

use askama::Template;
use axum::extract::{Query, State};
use guidepost_core::support::messages::{self, ReplyMail};
use guidepost_core::support::requests::{self};
use guidepost_domain::*;
use serde::Deserialize;

use super::when;
use crate::Dashboard;
use crate::page::IdPath;
use crate::page::{self, Chrome, PageResult};
use crate::page::{Notice, Section};
use crate::session::{Signed, SignedForm};

#[derive(Template)]
#[template(path = "support/conversation.html")]
struct ConversationPage {
    chrome: Chrome,
    id: String,
    request: SupportRequest,
    messages: Vec<MessageRow>,
    /// After a reply: whether its mail went out.
    sent: Option<bool>,
}

struct MessageRow {
    kind: &'static str,
    label: &'static str,
    author: String,
    when: String,
    body: String,
}

#[derive(Deserialize, Default)]
pub(crate) struct ConversationQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    sent: Option<String>,
}

/// `GET /app/support/{id}/conversation`.
pub(crate) async fn show(
    State(app): State<Dashboard>,
    signed: Signed,
    IdPath(id): IdPath<SupportRequestId>,
    Query(query): Query<ConversationQuery>,
) -> PageResult {
    let caller = signed.caller();
    let request = requests::get(&app.platform, caller, &id).await?;
    let messages = messages::list(&app.platform, caller, &id).await?;
    let title = format!("Replies and notes: {}", request.title);
    let done = query.done.as_deref();
    let chrome = Chrome::new(&app, &signed, title, Section::Support, done).await?;
    Ok(page::render(&ConversationPage {
        chrome,
        id: id.to_string(),
        request,
        messages: messages.into_iter().map(row).collect(),
        sent: query.sent.as_deref().map(|sent| sent == "yes"),
    }))
}

fn row(message: SupportMessage) -> MessageRow {
    let (kind, label) = match message.kind {
        SupportMessageKind::Reply => ("reply", "Reply, mailed to them"),
        SupportMessageKind::Note => ("note", "Internal note"),
        SupportMessageKind::FollowUp => ("follow-up", "Their follow-up"),
    };
    MessageRow {
        kind,
        label,
        author: message.author,
        when: when(message.created_at),
        body: message.body,
    }
}

#[derive(Deserialize)]
pub(crate) struct MessageForm {
    #[serde(default)]
    body: String,
}

/// `POST /app/support/{id}/reply`: stored, then mailed to the person.
pub(crate) async fn reply(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<SupportRequestId>,
    SignedForm { signed, form }: SignedForm<MessageForm>,
) -> PageResult {
    let caller = signed.caller();
    let (_, mail) =
        messages::reply(&app.platform, app.mail.as_ref(), caller, &id, &form.body).await?;
    let sent = if mail == ReplyMail::Sent { "yes" } else { "no" };
    let to = format!("/app/support/{id}/conversation?sent={sent}");
    Ok(page::done(&to, Notice::Saved))
}

/// `POST /app/support/{id}/note`: for the team only.
pub(crate) async fn note(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<SupportRequestId>,
    SignedForm { signed, form }: SignedForm<MessageForm>,
) -> PageResult {
    messages::note(&app.platform, signed.caller(), &id, &form.body).await?;
    let to = format!("/app/support/{id}/conversation");
    Ok(page::done(&to, Notice::Saved))
}
