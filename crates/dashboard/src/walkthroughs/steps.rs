//! A walkthrough's steps: adding one, a step's page (its fields, the sanitized Markdown
//! preview and the exact text an agent receives, for the saved text or for text posted
//! with "Preview" before saving), saving against the revision the page was loaded at
//! (a 409 page with both texts when someone saved in between), moving and deleting.

use askama::Template;
use axum::extract::State;
use guidepost_core::Permission;
use guidepost_core::walkthroughs::authoring::{self, CreateStep};
use guidepost_core::walkthroughs::editing::{self, SaveOutcome, StepDraft, StepEdit, StepMove};
use guidepost_domain::*;
use http::StatusCode;
use serde::Deserialize;

use super::editor;
use super::{done_at_step, editor_path, unix_lines};
use crate::Dashboard;
use crate::confirm::{self, Confirm, Question};
use crate::form::FormError;
use crate::markdown::{self, Shown};
use crate::page::IdPath;
use crate::page::{self, Chrome, PageError, PageResult, optional};
use crate::page::{Notice, Section};
use crate::session::{Signed, SignedForm};

/// A new step as posted from the editor.
#[derive(Deserialize)]
pub(crate) struct AddForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    section_title: String,
    #[serde(default)]
    content: String,
    /// Empty: at the end.
    #[serde(default)]
    after_step_id: String,
}

pub(crate) async fn add(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<WalkthroughId>,
    SignedForm { signed, form }: SignedForm<AddForm>,
) -> PageResult {
    let input = CreateStep {
        title: form.title.clone(),
        content: unix_lines(&form.content),
        section_title: optional(&form.section_title),
        after_step_id: optional(&form.after_step_id),
    };
    match authoring::add_step(&app.platform, signed.caller(), &id, input).await {
        Ok(step) => Ok(done_at_step(&id, "created", &step.id)),
        Err(refused) => {
            let errors = FormError::refused(refused, editor::ADD_STEP_FORM)?.into();
            let adding = editor::AddedStep {
                title: form.title,
                section_title: form.section_title,
                content: form.content,
                after_step_id: form.after_step_id,
            };
            let refused = editor::Refused::Step(adding, errors);
            editor::editor_page(&app, &signed, &id, &Default::default(), refused).await
        }
    }
}

/// The step form's fields, as shown.
struct StepText {
    title: String,
    section_title: String,
    content: String,
    revision: i64,
}

#[derive(Template)]
#[template(path = "walkthroughs/step.html")]
struct StepPage {
    chrome: Chrome,
    walkthrough_id: String,
    walkthrough_title: String,
    step_id: String,
    position: usize,
    total: usize,
    fields: StepText,
    /// Whether the preview shows posted text that is not saved.
    unsaved: bool,
    preview_html: String,
    agent: Vec<Shown>,
    hidden_count: usize,
}

impl StepPage {
    fn new(chrome: Chrome, draft: &StepDraft, fields: StepText, unsaved: bool) -> Self {
        let walkthrough_id = draft.walkthrough.id.to_string();
        let step_id = draft.step.id.to_string();
        let section = optional(&fields.section_title);
        let agent = markdown::agent_view(&AgentStep {
            walkthrough_title: &draft.walkthrough.title,
            walkthrough_id: &walkthrough_id,
            position: draft.position,
            total: draft.total,
            section_title: section.as_deref(),
            step_title: fields.title.trim(),
            step_id: &step_id,
            content: &fields.content,
        });
        StepPage {
            chrome,
            walkthrough_title: draft.walkthrough.title.clone(),
            position: draft.position,
            total: draft.total,
            unsaved,
            preview_html: markdown::safe_html(&fields.content),
            hidden_count: agent.iter().filter(|s| s.hidden).count(),
            agent,
            fields,
            walkthrough_id,
            step_id,
        }
    }
}

fn saved_fields(draft: &StepDraft) -> StepText {
    StepText {
        title: draft.step.title.clone(),
        section_title: draft.step.section_title.clone().unwrap_or_default(),
        content: draft.step.content.clone(),
        revision: draft.revision,
    }
}

async fn step_chrome(
    app: &Dashboard,
    signed: &Signed,
    draft: &StepDraft,
    done: Option<&str>,
) -> Result<Chrome, PageError> {
    let title = format!(
        "Step {} of {}: {}",
        draft.position, draft.total, draft.step.title
    );
    Chrome::new(app, signed, title, Section::Walkthroughs, done).await
}

pub(crate) async fn edit(
    State(app): State<Dashboard>,
    signed: Signed,
    IdPath((id, step_id)): IdPath<(WalkthroughId, StepId)>,
    axum::extract::Query(done): axum::extract::Query<page::Done>,
) -> PageResult {
    let draft = editing::step_draft(&app.platform, signed.caller(), &id, &step_id).await?;
    let chrome = step_chrome(&app, &signed, &draft, done.done.as_deref()).await?;
    let fields = saved_fields(&draft);
    Ok(page::render(&StepPage::new(chrome, &draft, fields, false)))
}

/// The step form as posted: "Save" or "Preview".
#[derive(Deserialize)]
pub(crate) struct StepForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    section_title: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    revision: String,
}

impl StepForm {
    fn fields(&self) -> Result<StepText, PageError> {
        Ok(StepText {
            title: self.title.clone(),
            section_title: self.section_title.clone(),
            content: unix_lines(&self.content),
            revision: self
                .revision
                .trim()
                .parse()
                .map_err(|_| PageError::Invalid {
                    field: "revision".into(),
                    message: "the form is damaged; reload the step and edit again".into(),
                })?,
        })
    }
}

#[derive(Template)]
#[template(path = "walkthroughs/conflict.html")]
struct ConflictPage {
    chrome: Chrome,
    walkthrough_id: String,
    step_id: String,
    saved: StepText,
    /// The posted text ("yours"), at the saved text's revision.
    fields: StepText,
}

pub(crate) async fn save(
    State(app): State<Dashboard>,
    IdPath((id, step_id)): IdPath<(WalkthroughId, StepId)>,
    SignedForm { signed, form }: SignedForm<StepForm>,
) -> PageResult {
    let posted = form.fields()?;
    if form.action == "preview" {
        // Nothing is written: the page shows the posted text, still at the revision it
        // was loaded at, so that saving it later is checked the same way.
        let draft = editing::preview_step(&app.platform, signed.caller(), &id, &step_id).await?;
        let chrome = step_chrome(&app, &signed, &draft, None).await?;
        return Ok(page::render(&StepPage::new(chrome, &draft, posted, true)));
    }
    let edit = StepEdit {
        title: posted.title.clone(),
        section_title: optional(&posted.section_title),
        content: posted.content.clone(),
        revision: posted.revision,
    };
    match editing::save_step(&app.platform, signed.caller(), &id, &step_id, edit).await? {
        SaveOutcome::Saved(_) => Ok(page::done(
            &format!("/app/walkthroughs/{id}/steps/{step_id}"),
            Notice::Saved,
        )),
        SaveOutcome::Conflict(current) => {
            let chrome = step_chrome(&app, &signed, &current, None).await?;
            let fields = StepText {
                // Saving "yours" from the conflict page writes over what is saved now.
                revision: current.revision,
                ..posted
            };
            let page = ConflictPage {
                chrome,
                walkthrough_id: id.to_string(),
                step_id: step_id.to_string(),
                saved: saved_fields(&current),
                fields,
            };
            Ok(page::render_with(StatusCode::CONFLICT, &page))
        }
    }
}

/// A move as posted: `direction` (up, down) from the buttons, or `position` (1-based)
/// from the "move to position" form, which drag and drop fills too.
#[derive(Deserialize)]
pub(crate) struct MoveForm {
    #[serde(default)]
    direction: String,
    #[serde(default)]
    position: String,
}

impl MoveForm {
    fn target(&self) -> Result<StepMove, PageError> {
        match self.direction.as_str() {
            "up" => return Ok(StepMove::Up),
            "down" => return Ok(StepMove::Down),
            _ => {}
        }
        self.position
            .trim()
            .parse::<usize>()
            .map(StepMove::To)
            .map_err(|_| PageError::Invalid {
                field: "position".into(),
                message: "must be the number of a place in the list (1 is first)".into(),
            })
    }
}

pub(crate) async fn move_step(
    State(app): State<Dashboard>,
    IdPath((id, step_id)): IdPath<(WalkthroughId, StepId)>,
    SignedForm { signed, form }: SignedForm<MoveForm>,
) -> PageResult {
    let target = form.target()?;
    editing::move_step(&app.platform, signed.caller(), &id, &step_id, target).await?;
    Ok(done_at_step(&id, "moved", &step_id))
}

pub(crate) async fn delete(
    State(app): State<Dashboard>,
    IdPath((id, step_id)): IdPath<(WalkthroughId, StepId)>,
    SignedForm { signed, form }: SignedForm<Confirm>,
) -> PageResult {
    if !form.given() {
        let draft = editing::step_draft(&app.platform, signed.caller(), &id, &step_id).await?;
        let question = Question {
            title: format!("Delete the step {}?", draft.step.title),
            message: "It leaves the draft; published versions keep it until you publish again."
                .into(),
            action: format!("{}/steps/{step_id}/delete", editor_path(&id)),
            button: "Delete step".into(),
            back: editor_path(&id),
            section: Section::Walkthroughs,
            instead: None,
            fields: Vec::new(),
        };
        return confirm::ask(&app, &signed, Permission::Edit, question).await;
    }
    authoring::delete_step(&app.platform, signed.caller(), &id, &step_id).await?;
    Ok(page::done(&editor_path(&id), Notice::Deleted))
}
