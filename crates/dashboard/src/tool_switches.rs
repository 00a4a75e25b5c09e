//! A server's tools with a switch each: `POST /app/servers/{id}/tools` turns
//! one tool on or off on that server alone. A plain form per tool, so it works without
//! script; the rules and the audit are core's (`tool_switches`).

use axum::extract::State;
use guidepost_core::hosting::tool_switches::{self, SwitchSource};
use guidepost_domain::*;
use serde::Deserialize;

use crate::Dashboard;
use crate::page::{self, IdPath, Notice, PageError, PageResult};
use crate::session::{Signed, SignedForm};

/// One tool of the server as its page lists it.
pub(crate) struct SwitchRow {
    pub name: String,
    /// Where it comes from, in words.
    pub source: String,
    pub enabled: bool,
}

/// The server's tools that can be switched, built-in ones first.
pub(crate) async fn rows(
    app: &Dashboard,
    signed: &Signed,
    id: &ServerId,
) -> Result<Vec<SwitchRow>, PageError> {
    let (_, switches) = tool_switches::switches(&app.platform, signed.caller(), id).await?;
    Ok(switches
        .into_iter()
        .map(|switch| SwitchRow {
            source: match switch.source {
                SwitchSource::Builtin => "Guidepost".to_owned(),
                SwitchSource::Upstream { upstream_name, .. } => {
                    format!("Upstream {upstream_name}")
                }
            },
            name: switch.name,
            enabled: switch.enabled,
        })
        .collect())
}

#[derive(Deserialize)]
pub(crate) struct SwitchForm {
    #[serde(default)]
    name: String,
    /// `true` to switch the tool on, anything else to switch it off.
    #[serde(default)]
    enabled: String,
}

/// `POST /app/servers/{id}/tools`: one tool on or off, then back to the server's page.
pub(crate) async fn switch(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<ServerId>,
    SignedForm { signed, form }: SignedForm<SwitchForm>,
) -> PageResult {
    let enabled = form.enabled == "true";
    tool_switches::set_enabled(&app.platform, signed.caller(), &id, &form.name, enabled).await?;
    let notice = if enabled {
        Notice::ToolOn
    } else {
        Notice::ToolOff
    };
    Ok(page::done(&format!("/app/servers/{id}"), notice))
}
