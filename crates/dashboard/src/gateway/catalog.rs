//! The catalog (the platform's entries and the organization's own) with a search, and
//! installing an entry with its settings and secrets. Secrets are sent once and never
//! written back into any page, not even when the form comes back with an error.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use guidepost_core::CoreError;
use guidepost_core::upstreams::{self, InstallUpstream, private};
use guidepost_domain::*;
use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::Dashboard;
use crate::form::{Errors, FormError, FormSpec};
use crate::page::{self, Chrome, PageError, PageResult};
use crate::page::{Notice, Section};
use crate::session::{Signed, SignedForm};

#[derive(Template)]
#[template(path = "gateway/catalog.html")]
struct CatalogPage {
    chrome: Chrome,
    query: String,
    entries: Vec<EntryRow>,
    total: usize,
}

struct EntryRow {
    id: String,
    name: String,
    description: String,
    runtime: &'static str,
    source: &'static str,
}

#[derive(Deserialize, Default)]
pub(crate) struct Search {
    #[serde(default)]
    q: String,
}

/// Whether an entry matches the search: its name, id or description contains every word,
/// ignoring case.
fn matches(entry: &CatalogEntry, query: &str) -> bool {
    let haystack = format!("{} {} {}", entry.name, entry.id, entry.description).to_lowercase();
    query
        .to_lowercase()
        .split_whitespace()
        .all(|word| haystack.contains(word))
}

/// `GET /app/gateway/catalog?q=`.
pub(crate) async fn list(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(search): Query<Search>,
) -> PageResult {
    let chrome = Chrome::new(&app, &signed, "Catalog", Section::Gateway, None).await?;
    let listed = private::list(&app.platform, signed.caller()).await?;
    let total = listed.len();
    let query: String = search.q.trim().chars().take(200).collect();
    let entries = listed
        .into_iter()
        .filter(|listed| matches(&listed.entry, &query))
        .map(|listed| EntryRow {
            runtime: listed.entry.spec.runtime(),
            id: listed.entry.id,
            name: listed.entry.name,
            description: listed.entry.description,
            source: listed.source,
        })
        .collect();
    Ok(page::render(&CatalogPage {
        chrome,
        query,
        entries,
        total,
    }))
}

/// The catalog entry `id` as the organization may see it (the platform's or its own).
pub(super) async fn entry(
    app: &Dashboard,
    signed: &Signed,
    id: &str,
) -> Result<CatalogEntry, PageError> {
    private::list(&app.platform, signed.caller())
        .await?
        .into_iter()
        .map(|listed| listed.entry)
        .find(|entry| entry.id == id)
        .ok_or(PageError::NotFound)
}

#[derive(Template)]
#[template(path = "gateway/install.html")]
struct InstallPage {
    chrome: Chrome,
    entry_id: String,
    entry_name: String,
    description: String,
    runtime: &'static str,
    /// Whether it asks for a network (shown before install).
    network: &'static str,
    name: String,
    eager: bool,
    /// A remote (http) entry asks whose account it is reached with.
    remote: bool,
    /// The sign-in chosen (`none`, `organization` or `person`).
    sign_in: String,
    settings: Vec<SettingInput>,
    secrets: Vec<SecretInput>,
    errors: Errors,
}

struct SettingInput {
    name: String,
    description: String,
    kind: &'static str,
    /// What the input shows: the value sent back, else the default.
    value: String,
    required: bool,
}

impl SettingInput {
    fn input_id(&self) -> String {
        format!("config-{}", self.name)
    }

    fn is(&self, value: &str) -> bool {
        self.value == value
    }
}

struct SecretInput {
    name: String,
    description: String,
}

impl SecretInput {
    fn input_id(&self) -> String {
        format!("secret-{}", self.name)
    }
}

/// What was wrong with the form, and the input to go to.
impl InstallPage {
    fn new(chrome: Chrome, entry: &CatalogEntry, form: &BTreeMap<String, String>) -> Self {
        let settings = entry
            .config
            .iter()
            .map(|field| SettingInput {
                name: field.name.clone(),
                description: field.description.clone(),
                kind: field.kind.as_str(),
                value: form
                    .get(&format!("config.{}", field.name))
                    .cloned()
                    .or_else(|| field.default.as_ref().map(text_of))
                    .unwrap_or_default(),
                required: field.default.is_none(),
            })
            .collect();
        InstallPage {
            chrome,
            entry_id: entry.id.clone(),
            entry_name: entry.name.clone(),
            description: entry.description.clone(),
            runtime: entry.spec.runtime(),
            network: network_of(&entry.spec),
            name: form.get("name").cloned().unwrap_or(entry.name.clone()),
            eager: form.get("start").is_some_and(|s| s == "eager"),
            remote: matches!(entry.spec, LaunchSpec::Http { .. }),
            sign_in: form
                .get("sign_in")
                .and_then(|mode| UpstreamSignIn::parse(mode))
                .unwrap_or_default()
                .as_str()
                .to_owned(),
            settings,
            secrets: entry
                .secrets
                .iter()
                .map(|slot| SecretInput {
                    name: slot.name.clone(),
                    description: slot.description.clone(),
                })
                .collect(),
            errors: Errors::none(),
        }
    }

    /// The error, pointed at the input it is about: the setting or secret the message
    /// names, else the group.
    fn with_error(mut self, field: &str, message: String, status: StatusCode) -> Self {
        let named = |name: &str| message.contains(name);
        let anchor = if field == "config" {
            self.settings
                .iter()
                .find(|s| named(&s.name))
                .map_or("settings".into(), SettingInput::input_id)
        } else if field == "secrets" {
            self.secrets
                .iter()
                .find(|s| named(&s.name))
                .map_or("secrets".into(), SecretInput::input_id)
        } else if field == "sign_in" {
            "sign_in".into()
        } else {
            "name".into()
        };
        let mut error = FormError::new(INSTALL_FORM, field, message, status);
        error.anchor = anchor;
        self.errors = error.into();
        self
    }
}

/// The install form's inputs are named by their fields (settings `config-…`, secrets
/// `secret-…`).
const INSTALL_FORM: FormSpec = FormSpec {
    prefix: "",
    conflict_field: "name",
};

/// A default as the input shows it.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `GET /app/gateway/catalog/{entry}/install`.
pub(crate) async fn install_form(
    State(app): State<Dashboard>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    let entry = entry(&app, &signed, &id).await?;
    let title = format!("Install {}", entry.name);
    let chrome = Chrome::new(&app, &signed, title, Section::Gateway, None).await?;
    Ok(page::render(&InstallPage::new(
        chrome,
        &entry,
        &BTreeMap::new(),
    )))
}

/// `POST /app/gateway/catalog/{entry}/install`: installs and goes to the upstream's page;
/// a field that does not do comes back as the form (422) without the secrets.
pub(crate) async fn install(
    State(app): State<Dashboard>,
    Path(id): Path<String>,
    SignedForm { signed, form }: SignedForm<BTreeMap<String, String>>,
) -> PageResult {
    let entry = entry(&app, &signed, &id).await?;
    let installed = match install_input(&entry, &form) {
        Ok(input) => upstreams::install(&app.platform, signed.caller(), input).await,
        Err(invalid) => Err(invalid.into()),
    };
    match installed {
        Ok(upstream) => Ok(page::done(
            &format!("/app/gateway/upstreams/{}", upstream.id),
            Notice::Installed,
        )),
        Err(refused) => {
            let (field, message, status) = match refused {
                CoreError::Invalid(invalid) => (
                    invalid.field,
                    invalid.message,
                    StatusCode::UNPROCESSABLE_ENTITY,
                ),
                CoreError::Conflict(message) => ("name", message, StatusCode::CONFLICT),
                other => return Err(other.into()),
            };
            let title = format!("Install {}", entry.name);
            let chrome = Chrome::new(&app, &signed, title, Section::Gateway, None).await?;
            let page = InstallPage::new(chrome, &entry, &form).with_error(field, message, status);
            Ok(page::render_with(status, &page))
        }
    }
}

/// The install request the form stands for: settings left empty take their defaults,
/// secrets left empty are not given (the core says which one is missing).
fn install_input(
    entry: &CatalogEntry,
    form: &BTreeMap<String, String>,
) -> Result<InstallUpstream, ValidationError> {
    let mut config = BTreeMap::new();
    for field in &entry.config {
        let Some(text) = form
            .get(&format!("config.{}", field.name))
            .filter(|t| !t.trim().is_empty())
        else {
            continue;
        };
        config.insert(field.name.clone(), typed(field, text)?);
    }
    let secrets = entry
        .secrets
        .iter()
        .filter_map(|slot| {
            let value = form.get(&format!("secret.{}", slot.name))?;
            (!value.is_empty()).then(|| (slot.name.clone(), value.clone()))
        })
        .collect();
    let name = form.get("name").map(|n| n.trim()).filter(|n| !n.is_empty());
    Ok(InstallUpstream {
        catalog_entry_id: entry.id.clone(),
        name: name.map(str::to_owned),
        secrets,
        config,
        start: Some(match form.get("start").map(String::as_str) {
            Some("eager") => StartMode::Eager,
            _ => StartMode::OnDemand,
        }),
        sign_in: form
            .get("sign_in")
            .and_then(|mode| guidepost_domain::UpstreamSignIn::parse(mode)),
    })
}

/// A setting's text as the value of its type.
pub(super) fn typed(field: &ConfigField, text: &str) -> Result<Value, ValidationError> {
    let invalid =
        |what: &str| ValidationError::new("config", format!("{} must be {what}", field.name));
    match field.kind {
        ConfigType::String => Ok(Value::String(text.to_owned())),
        ConfigType::Number => serde_json::from_str::<serde_json::Number>(text.trim())
            .map(Value::Number)
            .map_err(|_| invalid("a number")),
        ConfigType::Boolean => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(invalid("true or false")),
        },
    }
}

/// What an entry asks of the network, in words.
pub(super) fn network_of(spec: &guidepost_domain::LaunchSpec) -> &'static str {
    match (spec.runtime(), spec.network()) {
        ("http", _) => "a remote server, reached over https through the outbound fence",
        (_, true) => "yes, through the egress fence (public addresses only)",
        (_, false) => "none",
    }
}
