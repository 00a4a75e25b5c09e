//! Connections on the dashboard: an upstream's sign-in mode in words, the state
//! of the organization's connection and how many people connected theirs, the Connect
//! button (a form whose answer sends the browser straight into the flow) and Disconnect,
//! which asks for a confirmation the server checks, so it works without JavaScript.

use askama::Template;
use axum::extract::State;
use guidepost_core::Caller;
use guidepost_core::upstreams::{self, connections};
use guidepost_domain::*;
use serde::Deserialize;

use crate::Dashboard;
use crate::page::IdPath;
use crate::page::{self, Chrome, Notice, PageError, PageResult, Section};
use crate::session::SignedForm;

/// What the Disconnect forms carry in their confirmation checkbox, checked here.
pub(crate) const DISCONNECT_CONFIRMATION: &str = "disconnect";

/// A sign-in mode in words, for the upstream page.
pub(crate) fn sign_in_words(mode: UpstreamSignIn) -> &'static str {
    match mode {
        UpstreamSignIn::None => {
            "none: every call carries the entry's own headers, the same for everyone"
        }
        UpstreamSignIn::Organization => {
            "the organization's account: an editor connects it once, and every call goes as it"
        }
        UpstreamSignIn::Person => {
            "each person's own account: people connect theirs the first time they call"
        }
    }
}

/// A connection's status in words, with the badge class that goes with it.
pub(crate) fn status_words(view: &ConnectionView) -> (String, &'static str) {
    match (view.status, &view.account) {
        (ConnectionStatus::Active, Some(account)) => (format!("connected as {account}"), "ok"),
        (ConnectionStatus::Active, None) => ("connected".into(), "ok"),
        (ConnectionStatus::NeedsReconnect, _) => (
            "needs reconnecting: the upstream refused to renew its access".into(),
            "danger",
        ),
    }
}

/// The connection section of an upstream page that has sign-in.
pub(crate) struct ConnectionState {
    /// The organization's connection in words, and its badge class.
    pub organization: String,
    pub tone: &'static str,
    /// Whether there is an organization connection to disconnect.
    pub connected: bool,
    /// How many people connected their own account (`person` upstreams only).
    pub people: Option<usize>,
}

impl ConnectionState {
    pub fn people_words(&self) -> String {
        match self.people {
            Some(1) => "1 person has connected their own account.".into(),
            Some(n) => format!("{n} people have connected their own account."),
            None => String::new(),
        }
    }
}

/// The connection section of `upstream`'s page, if it signs in.
pub(crate) async fn state(
    app: &Dashboard,
    caller: &Caller,
    upstream: &Upstream,
) -> Result<Option<ConnectionState>, PageError> {
    let mode = connections::sign_in_of(upstream);
    if mode.is_none() {
        return Ok(None);
    }
    let all = connections::list(&app.platform, caller, &upstream.id).await?;
    let organization_key = ConnectionOwner::Organization.key();
    let found = all.iter().find(|c| c.owner == organization_key);
    let (organization, tone) = match found {
        Some(view) => status_words(view),
        None => ("not connected".into(), "warn"),
    };
    let people = all.iter().filter(|c| c.owner != organization_key).count();
    Ok(Some(ConnectionState {
        connected: found.is_some(),
        organization,
        tone,
        people: (mode == UpstreamSignIn::Person).then_some(people),
    }))
}

/// `POST …/connect`: a connect link for the organization's account, and 303 to it, so the
/// browser goes on to the upstream's sign-in and comes back to the platform's callback.
pub(crate) async fn connect(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<UpstreamId>,
    SignedForm { signed, .. }: SignedForm<serde::de::IgnoredAny>,
) -> PageResult {
    let link = connections::connect_link(&app.platform, signed.caller(), &id).await?;
    let upstream = upstreams::get(&app.platform, signed.caller(), &id).await?;
    let title = format!("Connect {}", upstream.name);
    let chrome = Chrome::new(&app, &signed, &title, Section::Gateway, None).await?;
    Ok(page::render(&ConnectPage {
        chrome,
        id: id.to_string(),
        name: upstream.name,
        link: link.url,
        expires: crate::when::when(link.expires_at),
    }))
}

/// The connect link, as a link the editor follows: a form's answer cannot send the
/// browser on to another site's sign-in, since the dashboard's policy keeps form
/// submissions (and their redirects) on its own origin.
#[derive(Template)]
#[template(path = "gateway/connect.html")]
struct ConnectPage {
    chrome: Chrome,
    id: String,
    name: String,
    link: String,
    expires: String,
}

#[derive(Deserialize)]
pub(crate) struct DisconnectForm {
    #[serde(default)]
    confirm: String,
}

impl DisconnectForm {
    /// Refuses a form whose confirmation box was not ticked.
    pub(crate) fn confirmed(&self) -> Result<(), PageError> {
        if self.confirm != DISCONNECT_CONFIRMATION {
            return Err(PageError::Invalid {
                field: "confirm".into(),
                message: "tick the box to confirm: calls stop until someone connects again".into(),
            });
        }
        Ok(())
    }
}

/// `POST …/disconnect`: removes the organization's connection and revokes its tokens.
pub(crate) async fn disconnect(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<UpstreamId>,
    SignedForm { signed, form }: SignedForm<DisconnectForm>,
) -> PageResult {
    form.confirmed()?;
    let owner = ConnectionOwner::Organization;
    connections::disconnect(&app.platform, signed.caller(), &id, &owner).await?;
    Ok(page::done(
        &format!("/app/gateway/upstreams/{id}"),
        Notice::Disconnected,
    ))
}

/// `POST /app/end-users/{id}/upstreams/{upstream}/disconnect`: removes one person's
/// connection to an upstream.
pub(crate) async fn disconnect_person(
    State(app): State<Dashboard>,
    IdPath((person, id)): IdPath<(EndUserId, UpstreamId)>,
    SignedForm { signed, form }: SignedForm<DisconnectForm>,
) -> PageResult {
    form.confirmed()?;
    let owner = ConnectionOwner::Person(person.clone());
    connections::disconnect(&app.platform, signed.caller(), &id, &owner).await?;
    Ok(page::done(
        &format!("/app/end-users/{person}"),
        Notice::Disconnected,
    ))
}
