//! A walkthrough's editor: its fields, its draft steps in order with the forms that move
//! them (buttons and a position field; drag and drop only fills that field), a form to
//! add a step, its assignments to servers, and deleting it.

use askama::Template;
use axum::extract::{Query, State};
use guidepost_core::walkthroughs::authoring::{self, UpdateWalkthrough};
use guidepost_core::walkthroughs::funnel;
use guidepost_core::{CoreError, Permission};
use guidepost_domain::*;
use serde::Deserialize;

use super::assignments::{ServerAssignment, server_assignments};
use super::{editor_path, status_class};
use crate::Dashboard;
use crate::confirm::{self, Confirm, Question};
use crate::page::IdPath;
use crate::page::{self, Chrome, PageError, PageResult, optional};
use crate::page::{Notice, Section};
use crate::session::{Signed, SignedForm};

#[derive(Template)]
#[template(path = "walkthroughs/editor.html")]
struct EditorPage {
    chrome: Chrome,
    id: String,
    fields: Fields,
    status_class: &'static str,
    published_version: Option<i64>,
    steps: Vec<StepRow>,
    /// What the last move did, said in the page's status region.
    moved: Option<String>,
    servers: Vec<ServerAssignment>,
    more_servers: bool,
}

struct Fields {
    title: String,
    description: String,
    status: &'static str,
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
            status: w.status.as_str(),
            can_republish: w.published_version.is_some(),
            tags: w.tags.join(", "),
            minutes: w
                .estimated_duration_minutes
                .map(|m| m.to_string())
                .unwrap_or_default(),
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
    let (walkthrough, steps) =
        authoring::get_with_steps(&app.platform, signed.caller(), &id).await?;
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
    let moved = moved_announcement(&query, &rows);
    // A move is announced with its details instead of the general notice.
    let notice = if moved.is_some() {
        None
    } else {
        query.done.as_deref()
    };
    let title = format!("Walkthrough {}", walkthrough.title);
    let chrome = Chrome::new(&app, &signed, title, Section::Walkthroughs, notice).await?;
    let (servers, more_servers) = server_assignments(&app, signed.caller(), &id).await?;
    Ok(page::render(&EditorPage {
        chrome,
        id: id.to_string(),
        fields: Fields::of(&walkthrough),
        status_class: status_class(walkthrough.status),
        published_version: walkthrough.published_version,
        steps: rows,
        moved,
        servers,
        more_servers,
    }))
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
}

impl FieldsForm {
    fn into_update(self) -> Result<UpdateWalkthrough, PageError> {
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
            title: Some(self.title),
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
    authoring::update(&app.platform, signed.caller(), &id, form.into_update()?).await?;
    Ok(page::done(&editor_path(&id), Notice::Saved))
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
