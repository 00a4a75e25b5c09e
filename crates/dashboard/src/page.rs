//! What every page shares: the chrome around it (who is signed in, where they are, the
//! form token), notices after an action, rendering, and error pages.

use askama::Template;
use axum::extract::{FromRequestParts, Path};
use axum::response::{Html, IntoResponse, Redirect, Response};
use guidepost_core::{Permission, accounts::members, accounts::organizations};
use guidepost_domain::{Cursor, Id, IdKind, Limits, PageRequest};
use http::StatusCode;
use http::request::Parts;

use crate::Dashboard;
use crate::assets;
use crate::session::Signed;

pub(crate) use crate::error::{PageError, not_found};
// Every page names its section with the rest of its chrome.
pub(crate) use crate::section::Section;

/// The frame of every signed-in page.
pub(crate) struct Chrome {
    pub title: String,
    /// The navigation entry to mark as current.
    pub section: Section,
    pub org_name: String,
    pub email: String,
    pub role: &'static str,
    pub can_edit: bool,
    /// Whether the gateway's controls show (install, attach, review).
    pub can_run_gateway: bool,
    pub is_owner: bool,
    pub csrf: String,
    pub assets: &'static str,
    pub notice: Option<Notice>,
    /// The person's other organizations: (id, name).
    pub other_orgs: Vec<(String, String)>,
}

impl Chrome {
    pub async fn new(
        app: &Dashboard,
        signed: &Signed,
        title: impl Into<String>,
        section: Section,
        done: Option<&str>,
    ) -> Result<Self, PageError> {
        // The person's memberships name the current organization too; it is read on its
        // own only for someone in more organizations than one read lists.
        let (current, others): (Vec<_>, Vec<_>) =
            members::memberships(&app.platform, &signed.signed_in)
                .await?
                .into_iter()
                .partition(|m| m.member.org_id == *signed.caller().org());
        let org_name = match current.into_iter().next() {
            Some(membership) => membership.org_name,
            None => {
                organizations::get(&app.platform, signed.caller())
                    .await?
                    .name
            }
        };
        let other_orgs = others
            .into_iter()
            .map(|m| (m.member.org_id.to_string(), m.org_name))
            .collect();
        Ok(Chrome {
            title: title.into(),
            section,
            org_name,
            email: signed.member.email.as_str().to_owned(),
            role: signed.member.role.as_str(),
            can_edit: signed.caller().may(Permission::Edit),
            can_run_gateway: signed.caller().may(Permission::Gateway),
            is_owner: signed.caller().may(Permission::Administer),
            csrf: signed.csrf.clone(),
            assets: assets::prefix(),
            notice: done.and_then(Notice::parse),
            other_orgs,
        })
    }

    pub fn nav(&self) -> &'static [Section] {
        &Section::ALL
    }
}

/// What a page says after an action (`?done=`). A fixed set, so a link cannot put words
/// in the dashboard's mouth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    Created,
    Saved,
    Deleted,
    Moved,
    Published,
    Assigned,
    Unassigned,
    Invited,
    InvitedUnmailed,
    Verified,
    NotVerified,
    Status,
    Approved,
    Rejected,
    Installed,
    Installing,
    Attached,
    AttachedButFailed,
    Detached,
    Restarted,
    Uninstalled,
    Revoked,
    Ping,
    Switched,
    Erased,
    Disconnected,
    Upgrading,
    RolledBack,
    Listed,
    Unlisted,
    ToolOn,
    ToolOff,
    ProgressReset,
}

impl Notice {
    const ALL: [Notice; 33] = [
        Notice::Created,
        Notice::Saved,
        Notice::Deleted,
        Notice::Moved,
        Notice::Published,
        Notice::Assigned,
        Notice::Unassigned,
        Notice::Invited,
        Notice::InvitedUnmailed,
        Notice::Verified,
        Notice::NotVerified,
        Notice::Status,
        Notice::Approved,
        Notice::Rejected,
        Notice::Installed,
        Notice::Installing,
        Notice::Attached,
        Notice::AttachedButFailed,
        Notice::Detached,
        Notice::Restarted,
        Notice::Uninstalled,
        Notice::Revoked,
        Notice::Ping,
        Notice::Switched,
        Notice::Erased,
        Notice::Disconnected,
        Notice::Upgrading,
        Notice::RolledBack,
        Notice::Listed,
        Notice::Unlisted,
        Notice::ToolOn,
        Notice::ToolOff,
        Notice::ProgressReset,
    ];

    /// Its word in the `?done=` of a redirect.
    fn key(self) -> &'static str {
        match self {
            Notice::Created => "created",
            Notice::Saved => "saved",
            Notice::Deleted => "deleted",
            Notice::Moved => "moved",
            Notice::Published => "published",
            Notice::Assigned => "assigned",
            Notice::Unassigned => "unassigned",
            Notice::Invited => "invited",
            Notice::InvitedUnmailed => "invited-unmailed",
            Notice::Verified => "verified",
            Notice::NotVerified => "not-verified",
            Notice::Status => "status",
            Notice::Approved => "approved",
            Notice::Rejected => "rejected",
            Notice::Installed => "installed",
            Notice::Installing => "installing",
            Notice::Attached => "attached",
            Notice::AttachedButFailed => "attached-failed",
            Notice::Detached => "detached",
            Notice::Restarted => "restarted",
            Notice::Uninstalled => "uninstalled",
            Notice::Revoked => "revoked",
            Notice::Ping => "ping",
            Notice::Switched => "switched",
            Notice::Erased => "erased",
            Notice::Disconnected => "disconnected",
            Notice::Upgrading => "upgrading",
            Notice::RolledBack => "rolled-back",
            Notice::Listed => "listed",
            Notice::Unlisted => "unlisted",
            Notice::ToolOn => "tool-on",
            Notice::ToolOff => "tool-off",
            Notice::ProgressReset => "progress-reset",
        }
    }

    /// What the page says.
    pub fn text(self) -> &'static str {
        match self {
            Notice::Created => "Created.",
            Notice::Saved => "Saved.",
            Notice::Deleted => "Deleted.",
            Notice::Moved => "Moved.",
            Notice::Published => "Published: agents now get the new version.",
            Notice::Assigned => "Assignment saved.",
            Notice::Unassigned => "Unassigned.",
            Notice::Invited => "Invited: they can sign in with their email now.",
            Notice::InvitedUnmailed => {
                "Invited: they can sign in with their email now. No invitation mail went out \
                 (this address had enough of them this hour, or the mail failed): tell them \
                 yourself."
            }
            Notice::Verified => "The domain is verified.",
            Notice::NotVerified => "The TXT record was not found yet; DNS can take a while.",
            Notice::Status => "Status changed.",
            Notice::Approved => "Approved: agents can call this tool now.",
            Notice::Rejected => "Rejected: agents will not see this tool.",
            Notice::Installed => "Installed.",
            Notice::Installing => {
                "Installing: Guidepost fetches and starts it in the background; its status \
                 below says when it is ready."
            }
            Notice::Attached => "Attached.",
            Notice::AttachedButFailed => {
                "Attached, but this upstream has failed: the server offers none of its tools \
                 until it runs again. Its last error and logs are below; fix the cause and \
                 restart it."
            }
            Notice::Detached => "Detached.",
            Notice::Restarted => "Restart requested.",
            Notice::Uninstalled => {
                "Uninstalled: the servers that attached it no longer offer its tools."
            }
            Notice::Revoked => "Revoked.",
            Notice::Ping => "A ping is queued for delivery.",
            Notice::Switched => "Switched organization.",
            Notice::Erased => {
                "Erased: their email, tracking id, sessions and sign-ins are gone; their calls, \
                 requests and progress stay, anonymous."
            }
            Notice::Disconnected => {
                "Disconnected: its tokens are revoked, and calls ask to connect again."
            }
            Notice::Upgrading => {
                "Switching: the new launch starts beside the running one, which answers \
                 until it is up. Changed or new tools wait for review."
            }
            Notice::RolledBack => {
                "Rolling back: the earlier version starts again with the approvals it had."
            }
            Notice::Listed => "Listed: the platform's registry lists your servers now.",
            Notice::Unlisted => "Unlisted: the platform's registry no longer lists your servers.",
            Notice::ToolOn => "Switched on: this server's agents see the tool again.",
            Notice::ToolOff => "Switched off: this server's agents no longer see the tool.",
            Notice::ProgressReset => {
                "Reset: their progress through that walkthrough is gone; their next start \
                 begins at step 1."
            }
        }
    }

    /// The notice's class beside `notice`: a warning, work still under way, or (none) a
    /// success.
    pub fn tone(self) -> &'static str {
        match self {
            Notice::AttachedButFailed | Notice::NotVerified => "warn",
            Notice::Installing => "pending",
            _ => "",
        }
    }

    fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|notice| notice.key() == key)
    }
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct Done {
    pub done: Option<String>,
}

/// A list page's query: the notice after an action, and where the list continues.
#[derive(serde::Deserialize, Default)]
pub(crate) struct ListQuery {
    pub done: Option<String>,
    pub cursor: Option<String>,
}

impl ListQuery {
    /// The page of the list to show: the largest page size, after the cursor.
    pub fn page(&self) -> Result<PageRequest, PageError> {
        Ok(PageRequest {
            after: cursor(self.cursor.as_deref())?,
            limit: Limits::PAGE_SIZE_MAX,
        })
    }
}

/// The link to a list's next page, if there is one.
pub(crate) fn next_page(path: &str, next_cursor: Option<String>) -> Option<String> {
    next_cursor.map(|cursor| {
        let query = serde_urlencoded::to_string([("cursor", cursor)]).unwrap_or_default();
        format!("{path}?{query}")
    })
}

/// `text` percent-encoded for a URL's path segment or query.
pub(crate) fn percent_encode(text: &str) -> String {
    let encoded = serde_urlencoded::to_string([("x", text)]).unwrap_or_default();
    encoded.trim_start_matches("x=").replace('+', "%20")
}

/// Renders a page template as a 200 HTML response.
pub(crate) fn render(template: &impl Template) -> Response {
    render_with(StatusCode::OK, template)
}

pub(crate) fn render_with(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "a dashboard template failed to render");
            PageError::Internal.into_response()
        }
    }
}

/// 303 to a page after an action, with a notice.
pub(crate) fn done(path: &str, notice: Notice) -> Response {
    let separator = if path.contains('?') { '&' } else { '?' };
    let key = notice.key();
    Redirect::to(&format!("{path}{separator}done={key}")).into_response()
}

pub(crate) type PageResult = Result<Response, PageError>;

/// An optional text field: blank is none.
pub(crate) fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The ids of a path, parsed: `IdPath<Id<K>>` for `{id}`, `IdPath<(Id<A>, Id<B>)>` for two.
/// Text that is not an id of its kind is simply not found, as another organization's id
/// would be.
pub(crate) struct IdPath<T>(pub T);

impl<K: IdKind + Send + Sync, S: Send + Sync> FromRequestParts<S> for IdPath<Id<K>> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| PageError::NotFound)?;
        id_or_not_found(&raw).map(IdPath)
    }
}

impl<A, B, S> FromRequestParts<S> for IdPath<(Id<A>, Id<B>)>
where
    A: IdKind + Send + Sync,
    B: IdKind + Send + Sync,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        let Path((first, second)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| PageError::NotFound)?;
        Ok(IdPath((
            id_or_not_found(&first)?,
            id_or_not_found(&second)?,
        )))
    }
}

/// An id from the URL or a form; text that is not one is simply not found, as another
/// organization's id would be.
pub(crate) fn id_or_not_found<K: IdKind>(text: &str) -> Result<Id<K>, PageError> {
    Id::parse(text).ok_or(PageError::NotFound)
}

/// Where a list continues, from its `cursor` query: `None` (the first page) when absent
/// or blank; a damaged one is named back to the person.
pub(crate) fn cursor(text: Option<&str>) -> Result<Option<Cursor>, PageError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => Cursor::decode(text)
            .map(Some)
            .ok_or_else(|| PageError::Invalid {
                field: "cursor".into(),
                message: "this page link is damaged; start again from the first page".into(),
            }),
    }
}

#[cfg(test)]
mod tests {
    use guidepost_domain::{Timestamp, WalkthroughId};

    use super::*;

    #[test]
    fn ids_that_do_not_parse_are_not_found() {
        let wrong: Result<WalkthroughId, _> = id_or_not_found("not-an-id");
        assert!(matches!(wrong, Err(PageError::NotFound)));
        let id: WalkthroughId = id_or_not_found("wt_abc12345").unwrap();
        assert_eq!(id.as_str(), "wt_abc12345");
    }

    #[test]
    fn a_blank_cursor_is_the_first_page_and_a_damaged_one_is_named() {
        assert_eq!(cursor(None).unwrap(), None);
        assert_eq!(cursor(Some("  ")).unwrap(), None);
        let next = Cursor {
            created_at: Timestamp::from_micros(42),
            id: "wt_abc".into(),
        };
        assert_eq!(cursor(Some(&next.encode())).unwrap(), Some(next));
        assert!(matches!(
            cursor(Some("garbage")),
            Err(PageError::Invalid { field, .. }) if field == "cursor"
        ));
    }
}
