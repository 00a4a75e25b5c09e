//! Publishing: the review page (what the draft changes against the newest version, step by
//! step and line by line, and who stays on an older version), the publish action, and
//! the version history, where an older version can be published again.

use askama::Template;
use axum::extract::{Path, Query, State};
use guidepost_core::walkthroughs::authoring;
use guidepost_core::walkthroughs::versions::{
    self, ChangeKind, DiffLine, FieldChange, LineKind, StepChange, VersionSummary,
};
use guidepost_domain::*;

use super::editor_path;
use crate::Dashboard;
use crate::page::IdPath;
use crate::page::{self, Chrome, Done, PageError, PageResult};
use crate::page::{Notice, Section};
use crate::session::{Signed, SignedForm};

/// A version as the pages list it.
struct VersionRow {
    version: i64,
    published_at: String,
    step_count: i64,
    people: i64,
    /// The form that publishes it again, on an older version for a member who may edit.
    republish: Option<String>,
}

impl From<&VersionSummary> for VersionRow {
    fn from(v: &VersionSummary) -> Self {
        VersionRow {
            version: v.version,
            published_at: v.published_at.to_rfc3339(),
            step_count: v.step_count,
            people: v.people,
            republish: None,
        }
    }
}

/// One changed step, ready for the page.
struct ChangeView {
    kind: &'static str,
    badge_class: &'static str,
    title: String,
    /// Where it was and is: "was step 3, now step 1".
    place: String,
    fields: Vec<FieldChange>,
    lines: Vec<LineView>,
}

/// A line of a content diff: its CSS class and the sign and word that say the same
/// without colour.
struct LineView {
    class: &'static str,
    sign: &'static str,
    said: &'static str,
    text: String,
}

impl From<&DiffLine> for LineView {
    fn from(line: &DiffLine) -> Self {
        let (class, sign, said) = match line.kind {
            LineKind::Added => ("diff-added", "+", "added: "),
            LineKind::Removed => ("diff-removed", "-", "removed: "),
            LineKind::Same => ("", " ", ""),
        };
        LineView {
            class,
            sign,
            said,
            text: line.text.clone(),
        }
    }
}

impl From<StepChange> for ChangeView {
    fn from(change: StepChange) -> Self {
        ChangeView {
            kind: change.kind.as_str(),
            badge_class: match change.kind {
                ChangeKind::Added => "badge ok",
                ChangeKind::Removed => "badge danger",
                ChangeKind::Changed => "badge warn",
                ChangeKind::Moved => "badge",
            },
            lines: change.lines.iter().map(LineView::from).collect(),
            place: place(change.before_position, change.after_position),
            title: change.title,
            fields: change.fields,
        }
    }
}

fn place(before: Option<usize>, after: Option<usize>) -> String {
    match (before, after) {
        (Some(b), Some(a)) if a == b => format!("Step {a}"),
        (Some(b), Some(a)) => format!("Was step {b}, now step {a}"),
        (None, Some(a)) => format!("New step {a}"),
        (Some(b), None) => format!("Was step {b}"),
        (None, None) => String::new(),
    }
}

#[derive(Template)]
#[template(path = "walkthroughs/publish.html")]
struct ReviewPage {
    chrome: Chrome,
    id: String,
    title: String,
    latest: Option<i64>,
    next_version: i64,
    draft_steps: usize,
    changes: Vec<ChangeView>,
    versions: Vec<VersionRow>,
    people_on_older: i64,
}

pub(crate) async fn review(
    State(app): State<Dashboard>,
    signed: Signed,
    IdPath(id): IdPath<WalkthroughId>,
) -> PageResult {
    let review = versions::review(&app.platform, signed.caller(), &id).await?;
    let title = format!("Publish {}", review.walkthrough.title);
    let chrome = Chrome::new(&app, &signed, title, Section::Walkthroughs, None).await?;
    Ok(page::render(&ReviewPage {
        chrome,
        id: id.to_string(),
        next_version: review.next_version(),
        people_on_older: review.people_on_older_versions,
        versions: review.versions.iter().map(VersionRow::from).collect(),
        latest: review.walkthrough.published_version,
        title: review.walkthrough.title,
        draft_steps: review.draft_steps,
        changes: review.changes.into_iter().map(ChangeView::from).collect(),
    }))
}

pub(crate) async fn publish(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<WalkthroughId>,
    SignedForm { signed, .. }: SignedForm<serde::de::IgnoredAny>,
) -> PageResult {
    authoring::publish(&app.platform, signed.caller(), &id).await?;
    Ok(page::done(&editor_path(&id), Notice::Published))
}

#[derive(Template)]
#[template(path = "walkthroughs/versions.html")]
struct VersionsPage {
    chrome: Chrome,
    id: String,
    title: String,
    versions: Vec<VersionRow>,
}

pub(crate) async fn version_history(
    State(app): State<Dashboard>,
    signed: Signed,
    IdPath(id): IdPath<WalkthroughId>,
    Query(done): Query<Done>,
) -> PageResult {
    let (walkthrough, listed) = versions::history(&app.platform, signed.caller(), &id).await?;
    let title = format!("Versions of {}", walkthrough.title);
    let done = done.done.as_deref();
    let chrome = Chrome::new(&app, &signed, title, Section::Walkthroughs, done).await?;
    let may_edit = chrome.can_edit;
    let mut rows: Vec<VersionRow> = listed.iter().map(VersionRow::from).collect();
    // The newest comes first, and is already what new starts get.
    for row in rows.iter_mut().skip(1).filter(|_| may_edit) {
        row.republish = Some(format!(
            "/app/walkthroughs/{id}/versions/{}/republish",
            row.version
        ));
    }
    Ok(page::render(&VersionsPage {
        chrome,
        id: id.to_string(),
        title: walkthrough.title,
        versions: rows,
    }))
}

/// `POST …/versions/{version}/republish`: the version is published again, as the newest.
pub(crate) async fn republish(
    State(app): State<Dashboard>,
    Path((id, version)): Path<(String, String)>,
    SignedForm { signed, .. }: SignedForm<serde::de::IgnoredAny>,
) -> PageResult {
    let id: WalkthroughId = page::id_or_not_found(&id)?;
    let version: i64 = version.parse().map_err(|_| PageError::NotFound)?;
    versions::republish(&app.platform, signed.caller(), &id, version).await?;
    Ok(page::done(
        &format!("/app/walkthroughs/{id}/versions"),
        Notice::Published,
    ))
}
