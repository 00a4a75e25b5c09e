//! A walkthrough's editor: its fields, its draft steps in order with the forms that move
//! them (buttons and a position field; drag and drop only fills that field), a form to
//! add a step, its assignments to servers, and deleting it.

use askama::Template;
use axum::extract::{Query, State};
use guidepost_core::walkthroughs::authoring::{self, UpdateWalkthrough};
use guidepost_core::walkthroughs::{funnel, versions};
use guidepost_core::{CoreError, Permission};
use guidepost_domain::*;
use serde::Deserialize;

use super::assignments::{ServerAssignment, server_assignments};
use super::{editor_path, status_class};
use crate::Dashboard;
use crate::confirm::{self, Confirm, Question};
use crate::form::{Errors, FormError, FormSpec};
use crate::page::IdPath;
use crate::page::{self, Chrome, PageError, PageResult, optional};
use crate::page::{Notice, Section};
use crate::session::{Signed, SignedForm};

#[derive(Template)]
#[template(path = "walkthroughs/editor.html")]
struct EditorPage {
    chrome: Chrome,
    id: String,
    /// The walkthrough's revision as this page read it: saving the settings is refused
    /// if it changed since (another tab, another person, a publish), rather than writing
    /// its status and every other field back over that change.
    revision: i64,
    fields: Fields,
    status_class: &'static str,
    published_version: Option<i64>,
    steps: Vec<StepRow>,
    /// What the last move did, said in the page's status region.
    moved: Option<String>,
    servers: Vec<ServerAssignment>,
    more_servers: bool,
    /// Edits in the draft that agents do not get until it is published again.
    unpublished: usize,
    /// The add-step form as posted, when it was refused.
    adding: AddedStep,
    errors: Errors,
}

/// The settings form's inputs are named by their fields; the add-step form's are `add-…`.
const SETTINGS_FORM: FormSpec = FormSpec {
    prefix: "",
    conflict_field: "title",
};
pub(super) const ADD_STEP_FORM: FormSpec = FormSpec {
    prefix: "add",
    conflict_field: "title",
};

/// The add-step form's values.
#[derive(Default)]
pub(super) struct AddedStep {
    pub title: String,
    pub section_title: String,
    pub content: String,
    pub after_step_id: String,
}

/// What was posted to the editor and refused, to show again with why.
pub(super) enum Refused {
    Nothing,
    Settings(FieldsForm, Errors),
    Step(AddedStep, Errors),
}

struct Fields {
    title: String,
    description: String,
    status: String,
    /// Whether "published" may be chosen (it has a published version).
    can_republish: bool,
    tags: String,
    minutes: String,
}

impl Fields {
    fn of(w: &Walkthrough) -> Self {
        Fields {
            title: w.title.clone(),
            description: w.description.clone().unwrap_or_default(),
            status: w.status.as_str().to_owned(),
            can_republish: w.published_version.is_some(),
            tags: w.tags.join(", "),
            minutes: w
                .estimated_duration_minutes
                .map(|m| m.to_string())
                .unwrap_or_default(),
        }
    }

    /// What was posted, for a walkthrough that `can_republish` or not.
    fn posted(form: &FieldsForm, can_republish: bool) -> Self {
        Fields {
            title: form.title.clone(),
            description: form.description.clone(),
            status: form.status.clone(),
            can_republish,
            tags: form.tags.clone(),
            minutes: form.estimated_duration_minutes.clone(),
        }
    }

    /// The statuses the form offers: (value, selected).
    fn statuses(&self) -> Vec<(&'static str, bool)> {
        WalkthroughStatus::ALL
            .iter()
            .filter(|s| **s != WalkthroughStatus::Published || self.can_republish)
            .map(|s| (s.as_str(), s.as_str() == self.status))
            .collect()
    }
}

struct StepRow {
    id: String,
    title: String,
    section_title: Option<String>,
    /// 1-based.
    position: usize,
    is_first: bool,
    is_last: bool,
}

#[derive(Deserialize, Default)]
pub(crate) struct EditorQuery {
    done: Option<String>,
    /// The step the last action was about.
    step: Option<String>,
}

pub(crate) async fn show(
    State(app): State<Dashboard>,
    signed: Signed,
    IdPath(id): IdPath<WalkthroughId>,
    Query(query): Query<EditorQuery>,
) -> PageResult {
    editor_page(&app, &signed, &id, &query, Refused::Nothing).await
}

/// The editor; after a refused form, with what was posted and why.
pub(super) async fn editor_page(
    app: &Dashboard,
    signed: &Signed,
    id: &WalkthroughId,
    query: &EditorQuery,
    refused: Refused,
) -> PageResult {
    let (walkthrough, steps) =
        authoring::get_with_steps(&app.platform, signed.caller(), id).await?;
    let total = steps.len();
    let rows: Vec<StepRow> = steps
        .into_iter()
        .enumerate()
        .map(|(index, s)| StepRow {
            id: s.id.to_string(),
            title: s.title,
            section_title: s.section_title,
            position: index + 1,
            is_first: index == 0,
            is_last: index + 1 == total,
        })
        .collect();
    let moved = moved_announcement(query, &rows);
    // A move is announced with its details instead of the general notice.
    let notice = if moved.is_some() {
        None
    } else {
        query.done.as_deref()
    };
    let title = format!("Walkthrough {}", walkthrough.title);
    let chrome = Chrome::new(app, signed, title, Section::Walkthroughs, notice).await?;
    let (servers, more_servers) = server_assignments(app, signed.caller(), id).await?;
    let unpublished =
        versions::unpublished_changes(&app.platform, signed.caller(), &walkthrough).await?;
    let can_republish = walkthrough.published_version.is_some();
    let (fields, adding, errors) = match refused {
        Refused::Nothing => (
            Fields::of(&walkthrough),
            AddedStep::default(),
            Errors::none(),
        ),
        Refused::Settings(form, errors) => (
            Fields::posted(&form, can_republish),
            AddedStep::default(),
            errors,
        ),
        Refused::Step(adding, errors) => (Fields::of(&walkthrough), adding, errors),
    };
    let status = errors.status();
    Ok(page::render_with(
        status,
        &EditorPage {
            chrome,
            id: id.to_string(),
            revision: walkthrough.updated_at.micros(),
            fields,
            status_class: status_class(walkthrough.status),
            published_version: walkthrough.published_version,
            steps: rows,
            moved,
            servers,
            more_servers,
            unpublished,
            adding,
            errors,
        },
    ))
}

/// "Moved “Install” to position 2 of 3.", read from the list as it is now.
fn moved_announcement(query: &EditorQuery, rows: &[StepRow]) -> Option<String> {
    if query.done.as_deref() != Some("moved") {
        return None;
    }
    let step = query.step.as_deref()?;
    let row = rows.iter().find(|r| r.id == step)?;
    Some(format!(
        "Moved “{}” to position {} of {}.",
        row.title,
        row.position,
        rows.len()
    ))
}

/// The walkthrough's fields as posted.
#[derive(Deserialize)]
pub(crate) struct FieldsForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    estimated_duration_minutes: String,
    /// The revision the page was read at (absent from a form of an older page: no check).
    #[serde(default)]
    revision: Option<i64>,
}

impl FieldsForm {
    fn to_update(&self) -> Result<UpdateWalkthrough, PageError> {
        let status = WalkthroughStatus::parse(&self.status).ok_or_else(|| PageError::Invalid {
            field: "status".into(),
            message: "choose one of the listed statuses".into(),
        })?;
        let minutes = match optional(&self.estimated_duration_minutes) {
            Some(text) => Some(text.parse::<i64>().map_err(|_| PageError::Invalid {
                field: "estimated_duration_minutes".into(),
                message: "must be a whole number of minutes, or empty".into(),
            })?),
            None => None,
        };
        let tags = self
            .tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(UpdateWalkthrough {
            title: Some(self.title.clone()),
            description: Some(optional(&self.description)),
            status: Some(status),
            tags: Some(tags),
            estimated_duration_minutes: Some(minutes),
            metadata: None,
        })
    }
}

pub(crate) async fn update(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<WalkthroughId>,
    SignedForm { signed, form }: SignedForm<FieldsForm>,
) -> PageResult {
    let seen = form.revision.map(Timestamp::from_micros);
    let saved = match form.to_update() {
        Ok(update) => authoring::update_seen_at(&app.platform, signed.caller(), &id, update, seen)
            .await
            .map_err(PageError::from),
        Err(refused) => Err(refused),
    };
    match saved {
        Ok(_) => Ok(page::done(&editor_path(&id), Notice::Saved)),
        Err(refused) => {
            let errors = match refused {
                PageError::Conflict(message) => {
                    FormError::refused(CoreError::Conflict(message), SETTINGS_FORM)?
                }
                other => FormError::of_page(other, SETTINGS_FORM)?,
            };
            let refused = Refused::Settings(form, errors.into());
            editor_page(&app, &signed, &id, &EditorQuery::default(), refused).await
        }
    }
}

pub(crate) async fn delete(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<WalkthroughId>,
    SignedForm { signed, form }: SignedForm<Confirm>,
) -> PageResult {
    if !form.given() {
        let walkthrough = authoring::get(&app.platform, signed.caller(), &id).await?;
        let people = people_with_progress(&app, &signed, &id).await?;
        let progress = match people {
            0 => "Nobody has started it yet.".to_owned(),
            1 => "1 person's progress through it is deleted too.".to_owned(),
            n => format!("{n} people's progress through it is deleted too."),
        };
        let question = Question {
            title: format!("Delete the walkthrough {}?", walkthrough.title),
            message: format!(
                "Its draft, every published version and its assignments are deleted, and \
                 agents stop offering it. {progress} This cannot be undone."
            ),
            action: format!("/app/walkthroughs/{id}/delete"),
            button: "Delete walkthrough".into(),
            back: editor_path(&id),
            section: Section::Walkthroughs,
            instead: None,
            fields: Vec::new(),
        };
        return confirm::ask(&app, &signed, Permission::Edit, question).await;
    }
    authoring::delete(&app.platform, signed.caller(), &id).await?;
    Ok(page::done("/app/walkthroughs", Notice::Deleted))
}

/// How many people's progress a walkthrough holds (one a person and server); a
/// walkthrough never published has none.
async fn people_with_progress(
    app: &Dashboard,
    signed: &Signed,
    id: &WalkthroughId,
) -> Result<u64, PageError> {
    match funnel::report(&app.platform, signed.caller(), id, None).await {
        Ok(report) => Ok(report.totals.started),
        Err(CoreError::Conflict(_)) => Ok(0),
        Err(other) => Err(other.into()),
    }
}
