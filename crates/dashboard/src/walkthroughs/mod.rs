//! Walkthroughs: the list and creating one (here), the editor with its fields and ordered
//! steps (`editor`), a step's page with its preview and agent view (`steps`), reviewing
//! and publishing with the version history (`publish`), and assignments to servers
//! (`assignments`).

mod assignments;
mod editor;
mod publish;
mod steps;
mod transfer;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use guidepost_core::walkthroughs::authoring::{self, CreateWalkthrough};
use guidepost_core::walkthroughs::editing;
use guidepost_domain::*;
use serde::Deserialize;

use crate::Dashboard;
use crate::form::{Errors, FormError, FormSpec};
use crate::page::{self, Chrome, ListQuery, PageResult, optional};
use crate::page::{Notice, Section};
use crate::route_table::RouteTable;
use crate::session::{Signed, SignedForm};

pub(crate) fn routes() -> RouteTable<Dashboard> {
    RouteTable::new()
        .route("/walkthroughs", get(list).post(create))
        .route("/walkthroughs/{id}", get(editor::show).post(editor::update))
        .route("/walkthroughs/import", post(transfer::import))
        .route("/walkthroughs/{id}/export", get(transfer::export))
        .route("/walkthroughs/{id}/delete", post(editor::delete))
        .route("/walkthroughs/{id}/steps", post(steps::add))
        .route(
            "/walkthroughs/{id}/steps/{step_id}",
            get(steps::edit).post(steps::save),
        )
        .route(
            "/walkthroughs/{id}/steps/{step_id}/move",
            post(steps::move_step),
        )
        .route(
            "/walkthroughs/{id}/steps/{step_id}/delete",
            post(steps::delete),
        )
        .route(
            "/walkthroughs/{id}/publish",
            get(publish::review).post(publish::publish),
        )
        .route("/walkthroughs/{id}/versions", get(publish::version_history))
        .route(
            "/walkthroughs/{id}/versions/{version}/republish",
            post(publish::republish),
        )
        .route(
            "/walkthroughs/{id}/assignments/{server_id}",
            post(assignments::assign),
        )
        .route(
            "/walkthroughs/{id}/assignments/{server_id}/remove",
            post(assignments::unassign),
        )
}

fn editor_path(id: &WalkthroughId) -> String {
    format!("/app/walkthroughs/{id}")
}

/// 303 to the editor, scrolled to a step, with a notice about it.
fn done_at_step(walkthrough: &WalkthroughId, what: &str, step: &StepId) -> Response {
    Redirect::to(&format!(
        "/app/walkthroughs/{walkthrough}?done={what}&step={step}#step-{step}"
    ))
    .into_response()
}

/// The badge class of a status: the word is always shown too.
fn status_class(status: WalkthroughStatus) -> &'static str {
    match status {
        WalkthroughStatus::Draft => "badge",
        WalkthroughStatus::Published => "badge ok",
        WalkthroughStatus::Archived => "badge warn",
    }
}

/// Browsers send a textarea's line breaks as CR LF; steps keep LF, as the API does, so
/// that the agent view does not show a stripped carriage return on every line.
fn unix_lines(text: &str) -> String {
    text.replace("\r\n", "\n")
}

#[derive(Template)]
#[template(path = "walkthroughs/list.html")]
struct ListPage {
    chrome: Chrome,
    walkthroughs: Vec<ListRow>,
    next_page: Option<String>,
    /// The new-walkthrough form as posted, when it was refused.
    form: CreateForm,
    errors: Errors,
    /// The import form: its key as posted and why it was refused.
    import: ImportState,
}

/// The import form as it comes back after a refusal.
#[derive(Default)]
pub(crate) struct ImportState {
    key: String,
    errors: Errors,
}

/// The new-walkthrough form's inputs are `new-title` and `new-description`.
const CREATE_FORM: FormSpec = FormSpec {
    prefix: "new",
    conflict_field: "title",
};

struct ListRow {
    id: String,
    title: String,
    status: &'static str,
    status_class: &'static str,
    published_version: Option<i64>,
    steps: i64,
    /// Edits in the draft that agents do not get until it is published again.
    unpublished: usize,
}

pub(crate) async fn list(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let (form, errors, import) = Default::default();
    list_page(&app, &signed, &query, form, errors, import).await
}

async fn list_page(
    app: &Dashboard,
    signed: &Signed,
    query: &ListQuery,
    form: CreateForm,
    errors: Errors,
    import: ImportState,
) -> PageResult {
    let request = query.page()?;
    let done = query.done.as_deref();
    let chrome = Chrome::new(app, signed, "Walkthroughs", Section::Walkthroughs, done).await?;
    let listed = editing::list_with_step_counts(&app.platform, signed.caller(), &request).await?;
    let walkthroughs = listed
        .items
        .into_iter()
        .map(|listed| {
            let w = listed.walkthrough;
            ListRow {
                id: w.id.to_string(),
                title: w.title,
                status: w.status.as_str(),
                status_class: status_class(w.status),
                published_version: w.published_version,
                steps: listed.steps,
                unpublished: listed.unpublished,
            }
        })
        .collect();
    let next_page = page::next_page("/app/walkthroughs", listed.next_cursor);
    let status = errors.status().max(import.errors.status());
    Ok(page::render_with(
        status,
        &ListPage {
            chrome,
            walkthroughs,
            next_page,
            form,
            errors,
            import,
        },
    ))
}

#[derive(Deserialize, Default)]
pub(crate) struct CreateForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
}

pub(crate) async fn create(
    State(app): State<Dashboard>,
    SignedForm { signed, form }: SignedForm<CreateForm>,
) -> PageResult {
    let input = CreateWalkthrough {
        title: form.title.clone(),
        description: optional(&form.description),
        tags: None,
        estimated_duration_minutes: None,
        metadata: None,
    };
    match authoring::create(&app.platform, signed.caller(), input, None).await {
        Ok(created) => Ok(page::done(&editor_path(&created.id), Notice::Created)),
        Err(refused) => {
            let errors = FormError::refused(refused, CREATE_FORM)?.into();
            let import = ImportState::default();
            list_page(&app, &signed, &ListQuery::default(), form, errors, import).await
        }
    }
}
