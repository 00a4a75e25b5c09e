//! The organization's gateway settings, as `PATCH /api/v1/organization`
//! sets them: how a new upstream tool is approved, and whether upstream results reach
//! agents as sent. An owner's settings: other roles are refused before the form is read.

use axum::extract::State;
use guidepost_core::Permission;
use guidepost_core::accounts::organizations::{self, UpdateOrganization};
use guidepost_domain::*;
use serde::Deserialize;

use crate::Dashboard;
use crate::page::{self, Notice, PageError, PageResult};
use crate::session::SignedForm;

/// The organization's settings as the gateway page shows them.
pub(crate) struct GatewaySettings {
    /// `manual` or `trust_on_first_use`.
    pub tool_approval: &'static str,
    pub raw_tool_results: bool,
}

impl GatewaySettings {
    pub fn of(organization: &Organization) -> Self {
        GatewaySettings {
            tool_approval: organization.tool_approval.as_str(),
            raw_tool_results: organization.raw_tool_results,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct SettingsForm {
    #[serde(default)]
    tool_approval: String,
    /// `raw` or `stripped`.
    #[serde(default)]
    tool_results: String,
}

impl SettingsForm {
    fn input(&self) -> Result<UpdateOrganization, PageError> {
        let tool_approval =
            ToolApproval::parse(&self.tool_approval).ok_or_else(|| PageError::Invalid {
                field: "tool_approval".into(),
                message: "choose manual or trust_on_first_use".into(),
            })?;
        let raw_tool_results = match self.tool_results.as_str() {
            "raw" => true,
            "stripped" => false,
            _ => {
                return Err(PageError::Invalid {
                    field: "tool_results".into(),
                    message: "choose raw or stripped".into(),
                });
            }
        };
        Ok(UpdateOrganization {
            tool_approval: Some(tool_approval),
            raw_tool_results: Some(raw_tool_results),
            registry_listed: None,
        })
    }
}

/// `POST /app/gateway/settings`.
pub(crate) async fn save(
    State(app): State<Dashboard>,
    SignedForm { signed, form }: SignedForm<SettingsForm>,
) -> PageResult {
    // Who may is said before what was posted is judged.
    signed.caller().require(Permission::Administer)?;
    organizations::update(&app.platform, signed.caller(), form.input()?).await?;
    Ok(page::done("/app/gateway", Notice::Saved))
}
