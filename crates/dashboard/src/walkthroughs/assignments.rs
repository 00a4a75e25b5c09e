//! A walkthrough's assignments, on its editor: every server of the organization with its
//! display order and whether the walkthrough is offered there; assigning (or changing an
//! assignment) and unassigning.

use axum::extract::State;
use guidepost_core::walkthroughs::authoring::{self, AssignWalkthrough};
use guidepost_core::walkthroughs::editing;
use guidepost_core::{Caller, hosting::servers};
use guidepost_domain::*;
use serde::Deserialize;

use super::editor_path;
use crate::Dashboard;
use crate::page::IdPath;
use crate::page::Notice;
use crate::page::{self, PageError, PageResult};
use crate::session::SignedForm;

/// One server's row in the editor's assignment table.
pub(super) struct ServerAssignment {
    pub id: String,
    pub name: String,
    pub assigned: bool,
    pub display_order: i64,
    pub is_enabled: bool,
}

/// The organization's servers (the first 200) with this walkthrough's assignment on each,
/// and whether there are more servers than shown.
pub(super) async fn server_assignments(
    app: &Dashboard,
    caller: &Caller,
    walkthrough: &WalkthroughId,
) -> Result<(Vec<ServerAssignment>, bool), PageError> {
    let assignments =
        editing::assignments_of_walkthrough(&app.platform, caller, walkthrough).await?;
    let listed = servers::list(
        &app.platform,
        caller,
        &PageRequest::first(Limits::PAGE_SIZE_MAX),
    )
    .await?;
    let rows = listed
        .items
        .into_iter()
        .map(|server| {
            let assignment = assignments.iter().find(|a| a.server_id == server.id);
            ServerAssignment {
                id: server.id.to_string(),
                name: server.name,
                assigned: assignment.is_some(),
                display_order: assignment.map_or(0, |a| a.display_order),
                // A new assignment is offered unless the box is cleared.
                is_enabled: assignment.is_none_or(|a| a.is_enabled),
            }
        })
        .collect();
    Ok((rows, listed.next_cursor.is_some()))
}

/// An assignment as posted; the checkbox is absent when cleared.
#[derive(Deserialize)]
pub(crate) struct AssignForm {
    #[serde(default)]
    display_order: String,
    #[serde(default)]
    is_enabled: Option<String>,
}

pub(crate) async fn assign(
    State(app): State<Dashboard>,
    IdPath((id, server)): IdPath<(WalkthroughId, ServerId)>,
    SignedForm { signed, form }: SignedForm<AssignForm>,
) -> PageResult {
    let display_order = match form.display_order.trim() {
        "" => 0,
        text => text.parse::<i64>().map_err(|_| PageError::Invalid {
            field: "display_order".into(),
            message: "must be a whole number (lower numbers are offered first)".into(),
        })?,
    };
    let input = AssignWalkthrough {
        display_order: Some(display_order),
        is_enabled: Some(form.is_enabled.is_some()),
    };
    authoring::assign(&app.platform, signed.caller(), &server, &id, input).await?;
    Ok(page::done(&editor_path(&id), Notice::Assigned))
}

pub(crate) async fn unassign(
    State(app): State<Dashboard>,
    IdPath((id, server)): IdPath<(WalkthroughId, ServerId)>,
    SignedForm { signed, .. }: SignedForm<serde::de::IgnoredAny>,
) -> PageResult {
    authoring::unassign(&app.platform, signed.caller(), &server, &id).await?;
    Ok(page::done(&editor_path(&id), Notice::Unassigned))
}
