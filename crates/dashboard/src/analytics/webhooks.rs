//! `/app/support/webhooks`: the URLs that support events are sent to. Creating one shows
//! its signing secret this once (core keeps it sealed under the master key, and refuses
//! to create one without that key: the page says so); a webhook's page lists its recent
//! deliveries and sends a ping on request.

use askama::Template;
use axum::extract::{Query, State};
use guidepost_core::support::webhooks::{self, WebhookInput};
use guidepost_core::{CoreError, Permission};
use guidepost_domain::*;
use http::StatusCode;
use serde::Deserialize;

use super::when;
use crate::Dashboard;
use crate::confirm::{self, Confirm, Question};
use crate::page::IdPath;
use crate::page::{self, Chrome, Done, PageResult};
use crate::page::{Notice, Section};
use crate::session::{Signed, SignedForm};

/// Deliveries a webhook's page shows, newest first.
const DELIVERIES_SHOWN: u32 = 50;

#[derive(Template)]
#[template(path = "support/webhooks.html")]
struct ListPage {
    chrome: Chrome,
    hooks: Vec<HookRow>,
    /// A webhook just created: (id, secret), shown this once.
    created: Option<(String, String)>,
    /// Why the last creation was refused: (field, message).
    error: Option<(String, String)>,
    form: HookForm,
}

struct HookRow {
    id: String,
    url: String,
    events: String,
    created: String,
}

impl HookRow {
    fn of(hook: &Webhook) -> Self {
        HookRow {
            id: hook.id.to_string(),
            url: hook.url.clone(),
            events: hook
                .events
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            created: when(hook.created_at),
        }
    }
}

/// The create form as posted; each event is its own checkbox, absent when unticked.
#[derive(Deserialize, Default)]
pub(crate) struct HookForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    event_created: Option<String>,
    #[serde(default)]
    event_updated: Option<String>,
    #[serde(default)]
    event_upstream_failed: Option<String>,
    #[serde(default)]
    event_upstream_recovered: Option<String>,
    #[serde(default)]
    event_review_requested: Option<String>,
    #[serde(default)]
    event_walkthrough_completed: Option<String>,
    #[serde(default)]
    event_needs_reconnect: Option<String>,
    #[serde(default)]
    event_feedback_created: Option<String>,
    #[serde(default)]
    event_approval_requested: Option<String>,
}

impl HookForm {
    fn events(&self) -> Vec<WebhookEvent> {
        let mut events = Vec::new();
        if self.event_created.is_some() {
            events.push(WebhookEvent::SupportRequestCreated);
        }
        let boxes = [
            (&self.event_updated, WebhookEvent::SupportRequestUpdated),
            (&self.event_upstream_failed, WebhookEvent::UpstreamFailed),
            (
                &self.event_upstream_recovered,
                WebhookEvent::UpstreamRecovered,
            ),
            (
                &self.event_review_requested,
                WebhookEvent::ToolReviewRequested,
            ),
            (
                &self.event_walkthrough_completed,
                WebhookEvent::WalkthroughCompleted,
            ),
            (
                &self.event_needs_reconnect,
                WebhookEvent::ConnectionNeedsReconnect,
            ),
            (&self.event_feedback_created, WebhookEvent::FeedbackCreated),
            (
                &self.event_approval_requested,
                WebhookEvent::ApprovalRequested,
            ),
        ];
        events.extend(
            boxes
                .iter()
                .filter(|(ticked, _)| ticked.is_some())
                .map(|(_, e)| *e),
        );
        events
    }
}

async fn list_page(
    app: &Dashboard,
    signed: &Signed,
    done: Option<&str>,
    outcome: Outcome,
) -> PageResult {
    let chrome = Chrome::new(app, signed, "Webhooks", Section::Support, done).await?;
    let hooks = webhooks::list(&app.platform, signed.caller()).await?;
    let (status, created, error, form) = match outcome {
        Outcome::Fresh => (StatusCode::OK, None, None, fresh_form()),
        Outcome::Created(id, secret) => (StatusCode::OK, Some((id, secret)), None, fresh_form()),
        Outcome::Refused(status, field, message, form) => {
            (status, None, Some((field, message)), *form)
        }
    };
    let page = ListPage {
        chrome,
        hooks: hooks.iter().map(HookRow::of).collect(),
        created,
        error,
        form,
    };
    Ok(page::render_with(status, &page))
}

/// What the list page follows.
enum Outcome {
    Fresh,
    Created(String, String),
    /// The form is boxed: it is the one large variant.
    Refused(StatusCode, String, String, Box<HookForm>),
}

/// A new form subscribes to the support events.
fn fresh_form() -> HookForm {
    HookForm {
        event_created: Some("on".into()),
        event_updated: Some("on".into()),
        ..HookForm::default()
    }
}

pub(crate) async fn list(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(done): Query<Done>,
) -> PageResult {
    list_page(&app, &signed, done.done.as_deref(), Outcome::Fresh).await
}

pub(crate) async fn create(
    State(app): State<Dashboard>,
    SignedForm { signed, form }: SignedForm<HookForm>,
) -> PageResult {
    let input = WebhookInput {
        url: form.url.clone(),
        events: form.events(),
    };
    let outcome = match webhooks::create(&app.platform, signed.caller(), input).await {
        Ok(created) => Outcome::Created(created.webhook.id.to_string(), created.secret),
        // Refusals are answered on the form, which keeps what was typed.
        Err(CoreError::Invalid(why)) => Outcome::Refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            why.field.to_string(),
            why.message,
            Box::new(form),
        ),
        Err(CoreError::Conflict(message)) => Outcome::Refused(
            StatusCode::CONFLICT,
            "webhook".into(),
            message,
            Box::new(form),
        ),
        Err(other) => return Err(other.into()),
    };
    let done = matches!(outcome, Outcome::Created(..)).then_some("created");
    list_page(&app, &signed, done, outcome).await
}

#[derive(Template)]
#[template(path = "support/webhook.html")]
struct ShowPage {
    chrome: Chrome,
    hook: HookRow,
    deliveries: Vec<DeliveryRow>,
}

struct DeliveryRow {
    event: &'static str,
    status: &'static str,
    attempts: u32,
    /// The receiver's answer or why there was none.
    outcome: String,
    next_attempt: String,
    created: String,
}

fn delivery_row(delivery: WebhookDelivery) -> DeliveryRow {
    let outcome = match (delivery.last_status_code, delivery.last_error) {
        (Some(code), Some(error)) => format!("{code}: {error}"),
        (Some(code), None) => format!("answered {code}"),
        (None, Some(error)) => error,
        (None, None) => "not tried yet".into(),
    };
    DeliveryRow {
        event: delivery.event.as_str(),
        status: delivery.status.as_str(),
        attempts: delivery.attempts,
        outcome,
        next_attempt: delivery.next_attempt_at.map_or_else(|| "–".into(), when),
        created: when(delivery.created_at),
    }
}

pub(crate) async fn show(
    State(app): State<Dashboard>,
    signed: Signed,
    IdPath(id): IdPath<WebhookId>,
    Query(done): Query<Done>,
) -> PageResult {
    let caller = signed.caller();
    let hook = webhooks::get(&app.platform, caller, &id).await?;
    let page = PageRequest::first(DELIVERIES_SHOWN);
    let deliveries = webhooks::deliveries(&app.platform, caller, &id, &page).await?;
    let chrome = Chrome::new(
        &app,
        &signed,
        "Webhook",
        Section::Support,
        done.done.as_deref(),
    )
    .await?;
    Ok(page::render(&ShowPage {
        chrome,
        hook: HookRow::of(&hook),
        deliveries: deliveries.items.into_iter().map(delivery_row).collect(),
    }))
}

pub(crate) async fn delete(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<WebhookId>,
    SignedForm { signed, form }: SignedForm<Confirm>,
) -> PageResult {
    if !form.given() {
        let hook = webhooks::get(&app.platform, signed.caller(), &id).await?;
        let question = Question {
            title: "Delete this webhook?".into(),
            message: format!(
                "{} receives no more events, and its delivery history is deleted.",
                hook.url
            ),
            action: format!("/app/support/webhooks/{id}/delete"),
            button: "Delete webhook".into(),
            back: format!("/app/support/webhooks/{id}"),
            section: Section::Support,
            instead: None,
            fields: Vec::new(),
        };
        return confirm::ask(&app, &signed, Permission::Edit, question).await;
    }
    webhooks::delete(&app.platform, signed.caller(), &id).await?;
    Ok(page::done("/app/support/webhooks", Notice::Deleted))
}

pub(crate) async fn test(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<WebhookId>,
    SignedForm { signed, .. }: SignedForm<serde::de::IgnoredAny>,
) -> PageResult {
    webhooks::ping(&app.platform, signed.caller(), &id).await?;
    Ok(page::done(
        &format!("/app/support/webhooks/{id}"),
        Notice::Ping,
    ))
}
