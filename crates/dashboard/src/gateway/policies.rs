//! The organization's call-time policies and quotas (`guardrails`): the policies in force
//! with their recent versions, a form that publishes a new set (a refused draft comes
//! back in the form with why, never lost), "would this call pass?" against the policies
//! in force or the draft, and the quotas. Who may run the gateway publishes and tries;
//! everyone reads.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use guidepost_core::guardrails::decide::{self, SampleCall, SampleCaller};
use guidepost_core::guardrails::{interceptors, policies, quotas};
use guidepost_core::hosting::servers;
use guidepost_core::{CoreError, Permission};
use guidepost_domain::*;
use serde::Deserialize;
use serde_json::Value;

use crate::Dashboard;
use crate::page::{self, Chrome, PageResult, Section};
use crate::session::{Signed, SignedForm};

/// Versions listed under the policies in force.
const VERSIONS_SHOWN: u32 = 10;

#[derive(Template)]
#[template(path = "gateway/policies.html")]
struct PoliciesPage {
    chrome: Chrome,
    in_force: Option<VersionRow>,
    versions: Vec<VersionRow>,
    /// What the publish form holds: a refused draft, else the source in force.
    source: String,
    /// Why the draft was refused, or what publishing it warned of.
    problem: Option<String>,
    warnings: Vec<String>,
    /// The servers a sample call may be made on: id and name.
    servers: Vec<(String, String)>,
    sample: SampleForm,
    decision: Option<DecisionRow>,
    quotas: Vec<String>,
    interceptors: Vec<InterceptorRow>,
}

/// An interceptor as the page lists it: its name, URL, and how it is asked, in words.
struct InterceptorRow {
    name: String,
    url: String,
    how: String,
}

impl InterceptorRow {
    fn of(interceptor: &Interceptor) -> Self {
        let phases: Vec<&str> = interceptor.phases.iter().map(|p| p.as_str()).collect();
        let mode = match interceptor.mode {
            InterceptMode::Enforce => "enforced",
            InterceptMode::Audit => "audit only",
        };
        let how = format!(
            "{}; {mode}; waits {} ms, then {}",
            phases.join(" and "),
            interceptor.timeout_ms,
            match interceptor.on_failure {
                InterceptFailure::Open => "lets the call go on",
                InterceptFailure::Closed => "refuses the call",
            }
        );
        Self {
            name: interceptor.name.clone(),
            url: interceptor.url.clone(),
            how,
        }
    }
}

struct VersionRow {
    version: i64,
    published_by: String,
    when: String,
    names: String,
}

impl VersionRow {
    fn of(version: &PolicyVersion) -> Self {
        let names = match version.names.is_empty() {
            true => "none: policies off".to_owned(),
            false => version.names.join(", "),
        };
        Self {
            version: version.version,
            published_by: version.published_by.clone(),
            when: crate::when::when(version.created_at),
            names,
        }
    }
}

/// The "would this call pass?" form, as posted (or empty).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct SampleForm {
    #[serde(default)]
    server_id: String,
    #[serde(default)]
    tool: String,
    #[serde(default)]
    arguments: String,
    /// `person`, `end_user` or `anonymous`.
    #[serde(default)]
    caller: String,
    #[serde(default)]
    email: String,
    /// Comma-separated.
    #[serde(default)]
    groups: String,
    /// Empty for a person who is not a member.
    #[serde(default)]
    role: String,
    #[serde(default)]
    client: String,
    /// `draft` to try the draft in the publish form, else the policies in force.
    #[serde(default)]
    against: String,
    #[serde(default)]
    source: String,
}

struct DecisionRow {
    allowed: bool,
    /// `Allowed`, `Refused`, or `Needs approval`.
    verdict: &'static str,
    text: String,
}

#[derive(Deserialize)]
pub(crate) struct PublishForm {
    #[serde(default)]
    source: String,
}

#[derive(Deserialize, Default)]
pub(crate) struct PageQuery {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /app/gateway/policies`.
pub(crate) async fn show(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(query): Query<PageQuery>,
) -> PageResult {
    let page = page_of(&app, &signed, query.done.as_deref()).await?;
    Ok(page::render(&page))
}

/// `POST /app/gateway/policies`: publishes the form's policies.
pub(crate) async fn publish(
    State(app): State<Dashboard>,
    SignedForm { signed, form }: SignedForm<PublishForm>,
) -> PageResult {
    signed.caller().require(Permission::Gateway)?;
    let published = policies::publish(&app.platform, signed.caller(), &form.source).await;
    match published {
        Ok(published) if published.warnings.is_empty() => {
            Ok(page::done("/app/gateway/policies", page::Notice::Saved))
        }
        Ok(published) => {
            // Published, with what the writer should know: shown, not lost in a redirect.
            let mut page = page_of(&app, &signed, Some("saved")).await?;
            page.warnings = published.warnings;
            Ok(page::render(&page))
        }
        Err(CoreError::Invalid(invalid)) => {
            let mut page = page_of(&app, &signed, None).await?;
            page.source = form.source;
            page.problem = Some(invalid.message);
            Ok(page::render_with(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /app/gateway/policies/test`: would this call pass?
pub(crate) async fn test(
    State(app): State<Dashboard>,
    SignedForm { signed, form }: SignedForm<SampleForm>,
) -> PageResult {
    signed.caller().require(Permission::Gateway)?;
    let mut page = page_of(&app, &signed, None).await?;
    if form.against == "draft" {
        page.source = form.source.clone();
    }
    let answer = match sample_of(&form) {
        Ok(sample) => decide::try_call(&app.platform, signed.caller(), &sample).await,
        Err(invalid) => Err(invalid.into()),
    };
    page.sample = form;
    Ok(match answer {
        Ok(decided) => {
            page.decision = Some(DecisionRow {
                allowed: decided.decision == "allow",
                verdict: match decided.decision {
                    "allow" => "Allowed",
                    "approval" => "Needs approval",
                    _ => "Refused",
                },
                text: decided
                    .message
                    .unwrap_or_else(|| "Allowed: no policy refuses this call.".to_owned()),
            });
            page::render(&page)
        }
        Err(CoreError::Invalid(invalid)) => {
            page.problem = Some(format!("{}: {}", invalid.field, invalid.message));
            page::render_with(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(other) => return Err(other.into()),
    })
}

fn sample_of(form: &SampleForm) -> Result<SampleCall, ValidationError> {
    let server_id = Id::parse(form.server_id.trim())
        .ok_or_else(|| ValidationError::new("server_id", "choose a server"))?;
    let arguments: Value = match form.arguments.trim() {
        "" => Value::Object(Default::default()),
        text => serde_json::from_str(text)
            .map_err(|error| ValidationError::new("arguments", format!("not JSON: {error}")))?,
    };
    let caller = match form.caller.as_str() {
        "person" => SampleCaller::Person {
            email: form.email.trim().to_owned(),
            identity_provider: None,
            groups: form
                .groups
                .split(',')
                .map(str::trim)
                .filter(|group| !group.is_empty())
                .map(str::to_owned)
                .collect(),
            role: Some(form.role.trim())
                .filter(|role| !role.is_empty())
                .map(str::to_owned),
        },
        "end_user" => SampleCaller::EndUser,
        _ => SampleCaller::Anonymous,
    };
    Ok(SampleCall {
        source: (form.against == "draft").then(|| form.source.clone()),
        server_id,
        tool: form.tool.trim().to_owned(),
        arguments,
        caller,
        client: form.client.trim().to_owned(),
        annotations: None,
    })
}

async fn page_of(
    app: &Dashboard,
    signed: &Signed,
    done: Option<&str>,
) -> Result<PoliciesPage, page::PageError> {
    let caller = signed.caller();
    let chrome = Chrome::new(app, signed, "Policies", Section::Gateway, done).await?;
    let in_force = policies::current(&app.platform, caller).await?;
    let versions = policies::versions(&app.platform, caller, VERSIONS_SHOWN).await?;
    let every_server = PageRequest::first(Limits::SERVERS as u32);
    let servers = servers::list(&app.platform, caller, &every_server)
        .await?
        .items
        .into_iter()
        .map(|server| (server.id.to_string(), server.name))
        .collect();
    let quotas = quotas::current(&app.platform, caller).await?;
    let interceptors = interceptors::list(&app.platform, caller).await?;
    Ok(PoliciesPage {
        chrome,
        source: in_force
            .as_ref()
            .map(|version| version.source.clone())
            .unwrap_or_default(),
        in_force: in_force.as_ref().map(VersionRow::of),
        versions: versions.iter().map(VersionRow::of).collect(),
        problem: None,
        warnings: Vec::new(),
        servers,
        sample: SampleForm {
            caller: "person".to_owned(),
            ..Default::default()
        },
        decision: None,
        quotas: quotas.rules.iter().map(QuotaRule::describe).collect(),
        interceptors: interceptors.iter().map(InterceptorRow::of).collect(),
    })
}
