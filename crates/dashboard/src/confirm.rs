//! Destructive actions ask first, on the server: their form posts without `confirm=yes`
//! the first time, and the answer is a page that says what will be lost, with a form
//! that posts the same action again with `confirm=yes` (and a way back). So they ask
//! without JavaScript too; `app.js` only asks in a dialog and adds the field itself.

use askama::Template;
use guidepost_core::Permission;
use serde::Deserialize;

use crate::Dashboard;
use crate::page::{self, Chrome, PageResult, Section};
use crate::session::Signed;

/// The one field that says the person has already said yes.
#[derive(Deserialize, Default)]
pub(crate) struct Confirm {
    #[serde(default)]
    confirm: Option<String>,
}

impl Confirm {
    pub fn given(&self) -> bool {
        self.confirm.as_deref() == Some("yes")
    }
}

/// What the confirmation page asks.
pub(crate) struct Question {
    pub title: String,
    /// What will be lost, in words.
    pub message: String,
    /// The action's own path, posted again with `confirm=yes`.
    pub action: String,
    /// The button that does it ("Delete server").
    pub button: String,
    /// Where "Cancel" goes.
    pub back: String,
    pub section: Section,
    /// A safer action offered first as the primary button (Reject instead of Approve).
    pub instead: Option<Instead>,
    /// The action's other fields, posted again as they came: (name, value).
    pub fields: Vec<(&'static str, String)>,
}

pub(crate) struct Instead {
    pub action: String,
    pub button: String,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    question: Question,
}

/// The confirmation page for `question`, to someone whose role allows the action (others
/// are refused at once, as the action itself would refuse them).
pub(crate) async fn ask(
    app: &Dashboard,
    signed: &Signed,
    needs: Permission,
    question: Question,
) -> PageResult {
    signed.caller().require(needs)?;
    let chrome = Chrome::new(app, signed, question.title.clone(), question.section, None).await?;
    Ok(page::render(&ConfirmPage { chrome, question }))
}
