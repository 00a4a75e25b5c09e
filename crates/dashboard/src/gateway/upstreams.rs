//! An installed upstream's page: its status and last error, recent logs (for editors and
//! owners only: logs can hold secrets), its tools with their review state, the servers
//! that attach it, its sign-in and connections; and the forms that restart, attach,
//! detach, connect, disconnect and uninstall it.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::response::Response;
use guidepost_core::upstreams::{self, AttachUpstream, overview};
use guidepost_core::{CoreError, Permission, hosting::servers};
use guidepost_domain::*;
use serde::Deserialize;

use super::connections::{self, ConnectionState};
use super::upgrade::{self, UpgradeForm};
use super::{state_tone, status_tone};
use crate::Dashboard;
use crate::confirm::{self, Confirm, Question};
use crate::form::{Errors, FormError, FormSpec};
use crate::page::IdPath;
use crate::page::{self, Chrome, Done, PageError, PageResult};
use crate::page::{Notice, Section};
use crate::session::{Signed, SignedForm};

/// The most log lines a page shows (the newest).
const LOG_LINES: usize = 200;
/// How often the page reloads itself while the upstream installs or starts.
const REFRESH_SECONDS: u32 = 3;

#[derive(Template)]
#[template(path = "gateway/upstream.html")]
pub(crate) struct UpstreamPage {
    chrome: Chrome,
    id: String,
    name: String,
    status: &'static str,
    tone: &'static str,
    last_error: Option<String>,
    /// There is a last error, but it can quote the logs, so a viewer is not shown it.
    last_error_hidden: bool,
    /// Stopped for idleness: said in words, not as an error.
    stopped_idle: bool,
    /// Why it failed, in words, with the line that says so (for those who read logs).
    diagnosis: Option<UpstreamDiagnosis>,
    /// Still installing or starting: the page reloads itself after this many seconds (a
    /// meta refresh, so without JavaScript too) until it runs or fails.
    refresh_seconds: Option<u32>,
    restarts: i64,
    /// Processes of it on each node.
    replicas: u32,
    runtime: &'static str,
    network: String,
    confinement: Option<String>,
    catalog_entry: Option<String>,
    start: &'static str,
    /// Whose account a remote upstream is reached with, in words (remote upstreams only).
    sign_in: Option<&'static str>,
    /// The organization's connection and the people's, when it signs in.
    connection: Option<ConnectionState>,
    secret_names: Vec<String>,
    /// The newest log lines, for editors and owners only: an upstream may print a
    /// secret it was given, and viewers never see secrets.
    logs: Option<RecentLogs>,
    tools: Vec<ToolRow>,
    attachments: Vec<AttachmentRow>,
    /// The organization's servers, for the attach form: (id, name).
    servers: Vec<(String, String)>,
    /// Its version, settings and secrets, and the forms that change them.
    upgrade: UpgradeForm,
    /// Whether it has failed: attaching it then warns that its tools will not appear.
    failed: bool,
    /// The attach form as posted, when it was refused.
    attach: AttachForm,
    errors: Errors,
}

/// The attach form's inputs are `attach-server` and `attach-prefix`.
const ATTACH_FORM: FormSpec = FormSpec {
    prefix: "attach",
    conflict_field: "prefix",
};

struct RecentLogs {
    text: String,
    lines: usize,
}

struct ToolRow {
    kind: &'static str,
    kind_label: &'static str,
    name: String,
    state: &'static str,
    tone: &'static str,
    findings: usize,
}

struct AttachmentRow {
    server_id: String,
    server_name: String,
    prefix: String,
    allowed_tools: Option<String>,
    allowed_prompts: Option<String>,
    /// The per-call timeout in words ("60 s").
    timeout: String,
}

/// A timeout in milliseconds as a person reads it.
fn timeout_words(ms: i64) -> String {
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

/// `GET /app/gateway/upstreams/{id}`; `?version=` fills the upgrade form with a
/// registry version (the "Upgrade available" link).
pub(crate) async fn show(
    State(app): State<Dashboard>,
    signed: Signed,
    IdPath(id): IdPath<UpstreamId>,
    Query(done): Query<Done>,
    Query(wanted): Query<WantedVersion>,
) -> PageResult {
    let fresh = AttachForm::default();
    let refused = Refused::Attach(Errors::none(), wanted.version);
    upstream_page(&app, &signed, &id, done.done.as_deref(), fresh, refused).await
}

/// The page reloading itself after `seconds`, if given, by the `Refresh` header, which
/// browsers follow with JavaScript off too. The page says so in a status line.
fn reloading(mut response: Response, seconds: Option<u32>) -> Response {
    if let Some(seconds) = seconds {
        let name = axum::http::HeaderName::from_static("refresh");
        response
            .headers_mut()
            .insert(name, HeaderValue::from(seconds));
    }
    response
}

#[derive(serde::Deserialize)]
pub(crate) struct WantedVersion {
    version: Option<String>,
}

/// What the page shows refused, if anything: the attach form (with the version a link
/// asked for, if any), or a change to its version or settings.
pub(crate) enum Refused {
    Attach(Errors, Option<String>),
    Upgrade(ValidationError),
}

/// An upstream's page; after a refused form, with the form as posted and why.
pub(crate) async fn upstream_page(
    app: &Dashboard,
    signed: &Signed,
    id: &UpstreamId,
    done: Option<&str>,
    attach: AttachForm,
    refused: Refused,
) -> PageResult {
    let caller = signed.caller();
    let upstream = upstreams::get(&app.platform, caller, id).await?;
    let (errors, upgrade_refused, wanted) = match refused {
        Refused::Attach(errors, wanted) => (errors, None, wanted),
        Refused::Upgrade(invalid) => (Errors::none(), Some(invalid), None),
    };
    let status = if upgrade_refused.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        errors.status()
    };
    let upgrade =
        upgrade::form_of(app, signed, &upstream, upgrade_refused, wanted.as_deref()).await?;
    let title = format!("Upstream {}", upstream.name);
    let done = notice_as_it_stands(done, upstream.status);
    let chrome = Chrome::new(app, signed, title, Section::Gateway, done).await?;
    let tools = upstreams::tools(&app.platform, caller, id).await?;
    let may_read_logs = signed.caller().may(Permission::Gateway);
    let logs = if may_read_logs {
        let all = upstreams::logs(&app.platform, caller, id).await?;
        let recent = &all[all.len().saturating_sub(LOG_LINES)..];
        Some(RecentLogs {
            text: recent.join("\n"),
            lines: recent.len(),
        })
    } else {
        None
    };
    let connection = connections::state(app, caller, &upstream).await?;
    let sign_in = upstream.spec.is_remote().then(|| {
        connections::sign_in_words(guidepost_core::upstreams::connections::sign_in_of(
            &upstream,
        ))
    });
    let attachments = overview::attachments(&app.platform, caller, id).await?;
    let server_list = servers::list(&app.platform, caller, &PageRequest::first(200))
        .await?
        .items;
    let names: HashMap<ServerId, String> = server_list
        .iter()
        .map(|s| (s.id.clone(), s.name.clone()))
        .collect();
    let refresh_seconds = matches!(
        upstream.status,
        UpstreamStatus::Installing | UpstreamStatus::Starting
    )
    .then_some(REFRESH_SECONDS);
    let page = page::render_with(
        status,
        &UpstreamPage {
            chrome,
            upgrade,
            failed: upstream.status == UpstreamStatus::Failed,
            attach,
            errors,
            id: upstream.id.to_string(),
            status: upstream.status.as_str(),
            tone: status_tone(upstream.status),
            last_error: upstream.last_error.clone().filter(|_| may_read_logs),
            // Core gives no last error to a caller who may not read it.
            last_error_hidden: upstream.status == UpstreamStatus::Failed && !may_read_logs,
            stopped_idle: upstream.status == UpstreamStatus::Stopped
                && upstream.last_fault == Some(UpstreamFault::StoppedIdle),
            diagnosis: upstream.diagnosis.clone().filter(|_| may_read_logs),
            refresh_seconds,
            restarts: upstream.restarts,
            replicas: upstream.replicas,
            runtime: upstream.spec.runtime().as_str(),
            network: super::catalog::network_of(&upstream.spec),
            confinement: upstream.confinement.clone(),
            catalog_entry: upstream.catalog_entry_id.clone(),
            start: upstream.start.as_str(),
            sign_in,
            connection,
            secret_names: upstream.secret_names.clone(),
            name: upstream.name,
            logs,
            tools: tools
                .into_iter()
                .map(|reviewed| ToolRow {
                    kind: reviewed.tool.kind.as_str(),
                    kind_label: reviewed.tool.kind.label(),
                    state: reviewed.tool.state.as_str(),
                    tone: state_tone(reviewed.tool.state),
                    findings: reviewed.tool.findings.len(),
                    name: reviewed.tool.name,
                })
                .collect(),
            attachments: attachments
                .into_iter()
                .map(|a| AttachmentRow {
                    server_name: names.get(&a.server_id).cloned().unwrap_or_default(),
                    server_id: a.server_id.to_string(),
                    prefix: a.prefix,
                    allowed_tools: a.allowed_tools.map(|list| list.join(", ")),
                    allowed_prompts: a.allowed_prompts.map(|list| list.join(", ")),
                    timeout: timeout_words(a.timeout_ms),
                })
                .collect(),
            servers: server_list
                .into_iter()
                .map(|s| (s.id.to_string(), s.name))
                .collect(),
        },
    );
    Ok(reloading(page, refresh_seconds))
}

/// `POST …/upgrade`.
pub(crate) async fn upgrade(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<UpstreamId>,
    SignedForm { signed, form }: SignedForm<BTreeMap<String, String>>,
) -> PageResult {
    let caller = signed.caller();
    // Who may is said before what was posted is judged.
    caller.require(Permission::Gateway)?;
    let upstream = upstreams::get(&app.platform, caller, &id).await?;
    let entry = upgrade::entry_of(&app, &signed, &upstream).await;
    let mut notice = Notice::Upgrading;
    let changed = match upgrade::requested(&upstream, entry.as_ref(), &form) {
        Ok(input) => {
            if input.version.is_none() && input.config.is_none() && input.secrets.is_none() {
                notice = Notice::Saved;
            }
            // Through core even when nothing changed: who may change it is core's to say.
            upstreams::update(&app.platform, caller, &id, input).await
        }
        Err(invalid) => Err(invalid.into()),
    };
    match changed {
        Ok(_) => Ok(page::done(&format!("/app/gateway/upstreams/{id}"), notice)),
        Err(CoreError::Invalid(invalid)) => {
            let refused = Refused::Upgrade(invalid);
            upstream_page(&app, &signed, &id, None, AttachForm::default(), refused).await
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST …/restart`.
pub(crate) async fn restart(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<UpstreamId>,
    SignedForm { signed, .. }: SignedForm<serde::de::IgnoredAny>,
) -> PageResult {
    upstreams::restart(&app.platform, signed.caller(), &id).await?;
    Ok(page::done(
        &format!("/app/gateway/upstreams/{id}"),
        Notice::Restarted,
    ))
}

#[derive(Deserialize, Default)]
pub(crate) struct AttachForm {
    #[serde(default)]
    server_id: String,
    #[serde(default)]
    prefix: String,
    /// Tool names separated by commas or lines; empty: all of them.
    #[serde(default)]
    allowed_tools: String,
    /// Prompt names, the same way.
    #[serde(default)]
    allowed_prompts: String,
    /// Whole seconds; empty: the default (60).
    #[serde(default)]
    timeout_seconds: String,
}

/// The longest per-call timeout the form offers, as core allows it (10 minutes).
const MAX_TIMEOUT_SECONDS: i64 = 600;

impl AttachForm {
    fn input(&self) -> Result<AttachUpstream, PageError> {
        Ok(AttachUpstream {
            prefix: self.prefix.trim().to_owned(),
            allowed_tools: names_listed(&self.allowed_tools),
            allowed_prompts: names_listed(&self.allowed_prompts),
            timeout_ms: self.timeout_ms()?,
        })
    }

    fn timeout_ms(&self) -> Result<Option<i64>, PageError> {
        let text = self.timeout_seconds.trim();
        if text.is_empty() {
            return Ok(None);
        }
        match text.parse::<i64>() {
            Ok(seconds) if (1..=MAX_TIMEOUT_SECONDS).contains(&seconds) => Ok(Some(seconds * 1000)),
            _ => Err(PageError::Invalid {
                field: "timeout_ms".into(),
                message: format!(
                    "must be a whole number of seconds from 1 to {MAX_TIMEOUT_SECONDS}"
                ),
            }),
        }
    }
}

/// Names separated by commas or lines; `None` when there are none (no restriction).
fn names_listed(text: &str) -> Option<Vec<String>> {
    let names: Vec<String> = text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    (!names.is_empty()).then_some(names)
}

/// `POST …/attach`: the upstream's tools appear on the server as `{prefix}__{tool}`.
pub(crate) async fn attach(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<UpstreamId>,
    SignedForm { signed, form }: SignedForm<AttachForm>,
) -> PageResult {
    let server: ServerId = page::id_or_not_found(&form.server_id)?;
    let caller = signed.caller();
    // Who may is said before what was posted is judged.
    caller.require(Permission::Gateway)?;
    let refused = match form.input() {
        Ok(input) => upstreams::attach(&app.platform, caller, &server, &id, input)
            .await
            .err()
            .map(|refused| FormError::refused(refused, ATTACH_FORM)),
        Err(invalid) => Some(FormError::of_page(invalid, ATTACH_FORM)),
    };
    if let Some(refused) = refused {
        let errors = refused?.into();
        return upstream_page(
            &app,
            &signed,
            &id,
            None,
            form,
            Refused::Attach(errors, None),
        )
        .await;
    }
    // A failed upstream attaches, but offers no tools until it runs again: say so.
    let upstream = upstreams::get(&app.platform, caller, &id).await?;
    let notice = if upstream.status == UpstreamStatus::Failed {
        Notice::AttachedButFailed
    } else {
        Notice::Attached
    };
    Ok(page::done(&format!("/app/gateway/upstreams/{id}"), notice))
}

/// `POST …/detach/{server}`: asks first on the server (`confirm=yes`), as the server's
/// agents lose the upstream's tools.
pub(crate) async fn detach(
    State(app): State<Dashboard>,
    IdPath((id, server)): IdPath<(UpstreamId, ServerId)>,
    SignedForm { signed, form }: SignedForm<Confirm>,
) -> PageResult {
    let caller = signed.caller();
    if !form.given() {
        let upstream = upstreams::get(&app.platform, caller, &id).await?;
        let attached = servers::get(&app.platform, caller, &server).await?;
        let question = Question {
            title: format!("Detach {} from {}?", upstream.name, attached.name),
            message: format!(
                "{} stops offering the tools of {} at once; attach it again to bring them back.",
                attached.name, upstream.name
            ),
            action: format!("/app/gateway/upstreams/{id}/detach/{server}"),
            button: "Detach".into(),
            back: format!("/app/gateway/upstreams/{id}"),
            section: Section::Gateway,
            instead: None,
            fields: Vec::new(),
        };
        return confirm::ask(&app, &signed, Permission::Gateway, question).await;
    }
    upstreams::detach(&app.platform, caller, &server, &id).await?;
    Ok(page::done(
        &format!("/app/gateway/upstreams/{id}"),
        Notice::Detached,
    ))
}

/// `POST …/uninstall`: stops it; the servers that attached it lose its tools.
pub(crate) async fn uninstall(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<UpstreamId>,
    SignedForm { signed, form }: SignedForm<Confirm>,
) -> PageResult {
    if !form.given() {
        let caller = signed.caller();
        let upstream = upstreams::get(&app.platform, caller, &id).await?;
        let attached = overview::attachments(&app.platform, caller, &id)
            .await?
            .len();
        let servers = match attached {
            0 => "No server attaches it.".to_owned(),
            1 => "The 1 server that attaches it loses its tools.".to_owned(),
            n => format!("The {n} servers that attach it lose its tools."),
        };
        let question = Question {
            title: format!("Uninstall {}?", upstream.name),
            message: format!(
                "It is stopped and removed with its reviews and connections. {servers}"
            ),
            action: format!("/app/gateway/upstreams/{id}/uninstall"),
            button: "Uninstall".into(),
            back: format!("/app/gateway/upstreams/{id}"),
            section: Section::Gateway,
            instead: None,
            fields: Vec::new(),
        };
        return confirm::ask(&app, &signed, Permission::Gateway, question).await;
    }
    upstreams::uninstall(&app.platform, signed.caller(), &id).await?;
    Ok(page::done("/app/gateway", Notice::Uninstalled))
}

/// The notice after an action, as the upstream now stands: "Installed." is no word to show
/// beside a failure (the diagnosis says what happened), nor while the install is still
/// under way.
fn notice_as_it_stands(done: Option<&str>, status: UpstreamStatus) -> Option<&str> {
    match (done, status) {
        (Some("installed"), UpstreamStatus::Failed | UpstreamStatus::Degraded) => None,
        (Some("installed"), UpstreamStatus::Installing | UpstreamStatus::Starting) => {
            Some("installing")
        }
        (done, _) => done,
    }
}

#[cfg(test)]
mod notice_tests {
    use super::*;

    #[test]
    fn installed_is_said_only_of_an_upstream_that_is_neither_under_way_nor_failed() {
        let after_install = |status| notice_as_it_stands(Some("installed"), status);
        assert_eq!(
            after_install(UpstreamStatus::Installing),
            Some("installing")
        );
        assert_eq!(after_install(UpstreamStatus::Starting), Some("installing"));
        assert_eq!(after_install(UpstreamStatus::Failed), None);
        assert_eq!(after_install(UpstreamStatus::Degraded), None);
        assert_eq!(after_install(UpstreamStatus::Ready), Some("installed"));
        assert_eq!(after_install(UpstreamStatus::Stopped), Some("installed"));
        let restarted = notice_as_it_stands(Some("restarted"), UpstreamStatus::Starting);
        assert_eq!(restarted, Some("restarted"));
    }
}
