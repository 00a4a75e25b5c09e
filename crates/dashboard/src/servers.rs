//! Servers: the list, creating one, and a server's page with every field, custom-domain
//! verification, install buttons and snippets, and the exact `tools/list` an agent sees.

use askama::Template;
use axum::extract::{Query, State};
use base64::Engine as _;
use guidepost_core::accounts::organizations::{self, UpdateOrganization};
use guidepost_core::hosting::servers::{self, CreateServer, InstallSnippets, UpdateServer};
use guidepost_core::{Permission, accounts::oidc, hosting::domains, hosting::urls};
use guidepost_domain::*;
use http::StatusCode;
use serde::Deserialize;

use crate::Dashboard;
use crate::confirm::{self, Confirm, Question};
use crate::form::{Errors, FormError, FormSpec};
use crate::identity_provider_form::{ProviderForm, ProviderPanel};
use crate::page::IdPath;
use crate::page::{self, Chrome, Done, ListQuery, PageError, PageResult};
use crate::page::{Notice, Section};
use crate::session::{Signed, SignedForm};

#[derive(Template)]
#[template(path = "servers/list.html")]
struct ListPage {
    chrome: Chrome,
    servers: Vec<ServerRow>,
    next_page: Option<String>,
    /// Whether the platform's registry lists the organization's servers.
    registry_listed: bool,
    /// Where that listing is (`GET /v0.1/servers` on the platform host).
    registry_url: String,
}

struct ServerRow {
    id: String,
    name: String,
    slug: String,
    url: String,
    auth_mode: &'static str,
}

pub(crate) async fn list(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let chrome = Chrome::new(
        &app,
        &signed,
        "Servers",
        Section::Servers,
        query.done.as_deref(),
    )
    .await?;
    let listed = servers::list(&app.platform, signed.caller(), &query.page()?).await?;
    let servers = listed
        .items
        .into_iter()
        .map(|s| ServerRow {
            id: s.id.to_string(),
            url: urls::mcp_url(&app.platform.config, &s),
            name: s.name,
            slug: s.slug.as_str().to_owned(),
            auth_mode: auth_mode_words(s.auth_mode),
        })
        .collect();
    let next_page = page::next_page("/app/servers", listed.next_cursor);
    let organization = organizations::get(&app.platform, signed.caller()).await?;
    let config = &app.platform.config;
    Ok(page::render(&ListPage {
        chrome,
        servers,
        next_page,
        registry_listed: organization.registry_listed,
        registry_url: format!(
            "{}/v0.1/servers",
            config.origin_for_host(&config.base_domain)
        ),
    }))
}

/// The form's fields, shared by the new-server page and a server's page.
struct Fields {
    name: String,
    slug: String,
    auth_mode: String,
    walkthrough_tools_enabled: bool,
    support_tool_enabled: bool,
    feedback_tool_enabled: bool,
    custom_domain: String,
    product_name: String,
    instructions: String,
    allowed_origins: String,
    /// Whether `custom_oauth` is offered: the server has an identity provider (or is in
    /// that mode already).
    custom_oauth_offered: bool,
}

impl Fields {
    fn of(server: &McpServer) -> Self {
        Fields {
            name: server.name.clone(),
            slug: server.slug.as_str().to_owned(),
            auth_mode: server.auth_mode.as_str().to_owned(),
            walkthrough_tools_enabled: server.walkthrough_tools_enabled,
            support_tool_enabled: server.support_tool_enabled,
            feedback_tool_enabled: server.feedback_tool_enabled,
            custom_domain: server
                .pending_domain
                .as_ref()
                .map(|p| p.domain.clone())
                .or_else(|| server.custom_domain.clone())
                .unwrap_or_default(),
            product_name: server.product_name.clone().unwrap_or_default(),
            instructions: server.instructions.clone().unwrap_or_default(),
            allowed_origins: server.allowed_origins.join("\n"),
            custom_oauth_offered: server.auth_mode == AuthMode::CustomOauth,
        }
    }

    /// What was posted, to show again beside the reason it was refused.
    fn posted(form: &ServerForm) -> Self {
        Fields {
            name: form.name.clone(),
            slug: form.slug.clone(),
            auth_mode: form.auth_mode.clone(),
            walkthrough_tools_enabled: form.walkthrough_tools_enabled.is_some(),
            support_tool_enabled: form.support_tool_enabled.is_some(),
            feedback_tool_enabled: form.feedback_tool_enabled.is_some(),
            custom_domain: form.custom_domain.clone(),
            product_name: form.product_name.clone(),
            instructions: form.instructions.clone(),
            allowed_origins: form.allowed_origins.clone(),
            custom_oauth_offered: form.auth_mode == "custom_oauth",
        }
    }

    /// (value, words, selected) of each mode offered.
    fn auth_modes(&self) -> Vec<(&'static str, &'static str, bool)> {
        AuthMode::ALL
            .iter()
            .filter(|m| **m != AuthMode::CustomOauth || self.custom_oauth_offered)
            .map(|m| {
                (
                    m.as_str(),
                    auth_mode_words(*m),
                    m.as_str() == self.auth_mode,
                )
            })
            .collect()
    }

    /// The chosen mode in words.
    fn auth_mode_in_words(&self) -> &str {
        match AuthMode::parse(&self.auth_mode) {
            Some(mode) => auth_mode_words(mode),
            None => &self.auth_mode,
        }
    }
}

/// Who may connect, in words; forms post the API's value.
fn auth_mode_words(mode: AuthMode) -> &'static str {
    match mode {
        AuthMode::None => "Anyone, without signing in",
        AuthMode::CollectEmail => "Anyone, asked for their email",
        AuthMode::PlatformOauth => "People who sign in with Guidepost",
        AuthMode::CustomOauth => "People who sign in with your identity provider",
    }
}

#[derive(Template)]
#[template(path = "servers/new.html")]
struct NewPage {
    chrome: Chrome,
    fields: Fields,
    errors: Errors,
}

/// The server form's inputs are named by their fields; a taken slug is a conflict.
const SERVER_FORM: FormSpec = FormSpec {
    prefix: "",
    conflict_field: "slug",
};

/// A conflict on the server form: a domain another server holds, or a taken slug.
fn server_form_error(error: PageError) -> Result<FormError, PageError> {
    match error {
        PageError::Conflict(message)
            if message.contains(guidepost_core::revision::CHANGED_SINCE_SEEN) =>
        {
            Ok(FormError::new(
                SERVER_FORM,
                "name",
                message,
                StatusCode::CONFLICT,
            ))
        }
        PageError::Conflict(message) if message.contains("domain") => Ok(FormError::new(
            SERVER_FORM,
            "custom_domain",
            message,
            StatusCode::CONFLICT,
        )),
        PageError::Conflict(message) => Ok(FormError::new(
            SERVER_FORM,
            "slug",
            message,
            StatusCode::CONFLICT,
        )),
        other => FormError::of_page(other, SERVER_FORM),
    }
}

async fn new_page(app: &Dashboard, signed: &Signed, fields: Fields, errors: Errors) -> PageResult {
    let chrome = Chrome::new(app, signed, "New server", Section::Servers, None).await?;
    let status = errors.status();
    Ok(page::render_with(
        status,
        &NewPage {
            chrome,
            fields,
            errors,
        },
    ))
}

pub(crate) async fn new_form(State(app): State<Dashboard>, signed: Signed) -> PageResult {
    let fields = Fields {
        name: String::new(),
        slug: String::new(),
        auth_mode: "none".to_owned(),
        walkthrough_tools_enabled: true,
        support_tool_enabled: true,
        feedback_tool_enabled: false,
        custom_domain: String::new(),
        product_name: String::new(),
        instructions: String::new(),
        allowed_origins: String::new(),
        custom_oauth_offered: false,
    };
    new_page(&app, &signed, fields, Errors::none()).await
}

/// A server form as posted. Checkboxes are absent when unticked.
#[derive(Deserialize)]
pub(crate) struct ServerForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    auth_mode: String,
    #[serde(default)]
    walkthrough_tools_enabled: Option<String>,
    #[serde(default)]
    support_tool_enabled: Option<String>,
    #[serde(default)]
    feedback_tool_enabled: Option<String>,
    #[serde(default)]
    custom_domain: String,
    #[serde(default)]
    product_name: String,
    #[serde(default)]
    instructions: String,
    #[serde(default)]
    allowed_origins: String,
    /// The revision the page was read at (absent from a form of an older page: no check).
    #[serde(default)]
    revision: Option<i64>,
}

impl ServerForm {
    fn auth_mode(&self) -> Result<AuthMode, PageError> {
        AuthMode::parse(&self.auth_mode).ok_or_else(|| PageError::Invalid {
            field: "auth_mode".into(),
            message: "choose one of the listed sign-in modes".into(),
        })
    }

    fn origins(&self) -> Vec<String> {
        self.allowed_origins
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

pub(crate) async fn create(
    State(app): State<Dashboard>,
    SignedForm { signed, form }: SignedForm<ServerForm>,
) -> PageResult {
    match try_create(&app, &signed, &form).await {
        Ok(server) => Ok(page::done(
            &format!("/app/servers/{}", server.id),
            Notice::Created,
        )),
        Err(refused) => {
            let errors = server_form_error(refused)?.into();
            new_page(&app, &signed, Fields::posted(&form), errors).await
        }
    }
}

async fn try_create(
    app: &Dashboard,
    signed: &Signed,
    form: &ServerForm,
) -> Result<McpServer, PageError> {
    let input = CreateServer {
        name: form.name.clone(),
        slug: form.slug.clone(),
        kind: None,
        auth_mode: Some(form.auth_mode()?),
        walkthrough_tools_enabled: Some(form.walkthrough_tools_enabled.is_some()),
        support_tool_enabled: Some(form.support_tool_enabled.is_some()),
        feedback_tool_enabled: Some(form.feedback_tool_enabled.is_some()),
        custom_domain: page::optional(&form.custom_domain),
        product_name: page::optional(&form.product_name),
        instructions: page::optional(&form.instructions),
        allowed_origins: Some(form.origins()),
    };
    Ok(servers::create(&app.platform, signed.caller(), input).await?)
}

#[derive(Template)]
#[template(path = "servers/show.html")]
struct ShowPage {
    chrome: Chrome,
    id: String,
    /// The server's revision as this page read it: saving the settings is refused if it
    /// changed since (another tab, another person), rather than writing over that change.
    revision: i64,
    fields: Fields,
    mcp_url: String,
    path_url: String,
    custom_domain: Option<String>,
    challenge: Option<domains::DomainChallenge>,
    snippets: Snippets,
    tools_json: String,
    tool_count: usize,
    switches: Vec<crate::tool_switches::SwitchRow>,
    identity_provider: ProviderPanel,
    errors: Errors,
}

struct Snippets {
    cursor: String,
    vscode: String,
    claude_code: String,
    cursor_link: String,
    vscode_link: String,
}

impl Snippets {
    fn of(server: &McpServer, snippets: &InstallSnippets) -> Self {
        let config = serde_json::json!({ "url": snippets.url });
        // Cursor's install links carry the config as standard base64.
        let encoded = base64::engine::general_purpose::STANDARD.encode(config.to_string());
        let vscode = serde_json::json!({
            "name": server.slug.as_str(), "type": "http", "url": snippets.url,
        });
        Snippets {
            cursor: pretty(&snippets.cursor),
            vscode: pretty(&snippets.vscode),
            claude_code: snippets.claude_code.clone(),
            cursor_link: format!(
                "cursor://anysphere.cursor-deeplink/mcp/install?{}",
                serde_urlencoded::to_string([("name", server.slug.as_str()), ("config", &encoded)])
                    .unwrap_or_default()
            ),
            vscode_link: format!(
                "vscode:mcp/install?{}",
                page::percent_encode(&vscode.to_string())
            ),
        }
    }
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

pub(crate) async fn show(
    State(app): State<Dashboard>,
    signed: Signed,
    IdPath(id): IdPath<ServerId>,
    Query(done): Query<Done>,
) -> PageResult {
    show_page(&app, &signed, &id, done.done.as_deref(), Again::default()).await
}

/// What a refused form leaves on the server's page: its fields as posted, and why.
#[derive(Default)]
pub(crate) struct Again {
    settings: Option<Fields>,
    identity_provider: Option<ProviderForm>,
    errors: Errors,
}

impl Again {
    fn settings(posted: Fields, errors: Errors) -> Self {
        Again {
            settings: Some(posted),
            identity_provider: None,
            errors,
        }
    }

    /// A refused identity provider form (`None`: its removal).
    pub(crate) fn identity_provider(posted: Option<ProviderForm>, errors: Errors) -> Self {
        Again {
            settings: None,
            identity_provider: posted,
            errors,
        }
    }
}

/// A server's page; after a refused form, with its fields as posted and why.
pub(crate) async fn show_page(
    app: &Dashboard,
    signed: &Signed,
    id: &ServerId,
    done: Option<&str>,
    again: Again,
) -> PageResult {
    let server = servers::get(&app.platform, signed.caller(), id).await?;
    let title = format!("Server {}", server.name);
    let chrome = Chrome::new(app, signed, title, Section::Servers, done).await?;
    let config = &app.platform.config;
    let tools = guidepost_mcp::listed_tools(&app.platform, &server).await?;
    let snippets = servers::install_snippets(config, &server, None);
    let switches = crate::tool_switches::rows(app, signed, id).await?;
    let provider = oidc::provider_of(&app.platform, &server).await?;
    let identity_provider = ProviderPanel::new(
        provider.as_ref(),
        again.identity_provider.as_ref(),
        oidc::redirect_uris(config, &server),
        config.master_key.is_some(),
    );
    let mut fields = again.settings.unwrap_or_else(|| Fields::of(&server));
    fields.custom_oauth_offered |= provider.is_some();
    let errors = again.errors;
    let status = errors.status();
    Ok(page::render_with(
        status,
        &ShowPage {
            chrome,
            id: server.id.to_string(),
            revision: server.updated_at.micros(),
            fields,
            mcp_url: urls::mcp_url(config, &server),
            path_url: urls::path_mcp_url(config, &server),
            custom_domain: server.custom_domain.clone(),
            challenge: server.pending_domain.as_ref().map(domains::challenge),
            snippets: Snippets::of(&server, &snippets),
            tool_count: tools.as_array().map_or(0, Vec::len),
            tools_json: serde_json::to_string_pretty(&tools).unwrap_or_default(),
            switches,
            identity_provider,
            errors,
        },
    ))
}

pub(crate) async fn update(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<ServerId>,
    SignedForm { signed, form }: SignedForm<ServerForm>,
) -> PageResult {
    match try_update(&app, &signed, &id, &form).await {
        Ok(()) => Ok(page::done(&format!("/app/servers/{id}"), Notice::Saved)),
        Err(refused) => {
            let errors = server_form_error(refused)?.into();
            let again = Again::settings(Fields::posted(&form), errors);
            show_page(&app, &signed, &id, None, again).await
        }
    }
}

async fn try_update(
    app: &Dashboard,
    signed: &Signed,
    id: &ServerId,
    form: &ServerForm,
) -> Result<(), PageError> {
    let input = UpdateServer {
        name: Some(form.name.clone()),
        slug: Some(form.slug.clone()),
        auth_mode: Some(form.auth_mode()?),
        walkthrough_tools_enabled: Some(form.walkthrough_tools_enabled.is_some()),
        support_tool_enabled: Some(form.support_tool_enabled.is_some()),
        feedback_tool_enabled: Some(form.feedback_tool_enabled.is_some()),
        custom_domain: Some(page::optional(&form.custom_domain)),
        product_name: Some(page::optional(&form.product_name)),
        instructions: Some(page::optional(&form.instructions)),
        allowed_origins: Some(form.origins()),
    };
    let seen = form.revision.map(Timestamp::from_micros);
    servers::update_seen_at(&app.platform, signed.caller(), id, input, seen).await?;
    Ok(())
}

pub(crate) async fn verify_domain(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<ServerId>,
    SignedForm { signed, .. }: SignedForm<serde::de::IgnoredAny>,
) -> PageResult {
    let verified = match domains::verify(&app.platform, signed.caller(), &id).await {
        Ok(verified) => verified,
        Err(refused) => {
            // Said beside the check's button: what the DNS lookup found, and what to publish.
            let why = FormError::refused(refused, SERVER_FORM)?;
            let spec = FormSpec {
                prefix: "",
                conflict_field: "domain_check",
            };
            let errors = FormError::new(spec, "domain_check", why.message, why.status).into();
            let again = Again {
                errors,
                ..Again::default()
            };
            return show_page(&app, &signed, &id, None, again).await;
        }
    };
    let what = if verified.custom_domain.is_some() && verified.pending_domain.is_none() {
        Notice::Verified
    } else {
        Notice::NotVerified
    };
    Ok(page::done(&format!("/app/servers/{id}"), what))
}

pub(crate) async fn delete(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<ServerId>,
    SignedForm { signed, form }: SignedForm<Confirm>,
) -> PageResult {
    if !form.given() {
        let server = servers::get(&app.platform, signed.caller(), &id).await?;
        let question = Question {
            title: format!("Delete the server {}?", server.name),
            message: format!(
                "Its address {} stops answering at once, and the agents and people connected \
                 to it lose its tools. Its walkthrough assignments and upstream attachments go \
                 with it. This cannot be undone.",
                urls::mcp_url(&app.platform.config, &server)
            ),
            action: format!("/app/servers/{id}/delete"),
            button: "Delete server".into(),
            back: format!("/app/servers/{id}"),
            section: Section::Servers,
            instead: None,
            fields: Vec::new(),
        };
        return confirm::ask(&app, &signed, Permission::Edit, question).await;
    }
    servers::delete(&app.platform, signed.caller(), &id).await?;
    Ok(page::done("/app/servers", Notice::Deleted))
}

#[derive(Deserialize)]
pub(crate) struct ListingForm {
    #[serde(default)]
    listed: String,
}

/// `POST /app/registry-listing`: lists the organization's servers in the platform's
/// registry (`listed=true`) or stops (an owner's setting; core refuses the others).
pub(crate) async fn registry_listing(
    State(app): State<Dashboard>,
    SignedForm { signed, form }: SignedForm<ListingForm>,
) -> PageResult {
    let listed = form.listed == "true";
    let input = UpdateOrganization {
        tool_approval: None,
        raw_tool_results: None,
        registry_listed: Some(listed),
    };
    organizations::update(&app.platform, signed.caller(), input).await?;
    let notice = if listed {
        Notice::Listed
    } else {
        Notice::Unlisted
    };
    Ok(page::done("/app/servers", notice))
}
