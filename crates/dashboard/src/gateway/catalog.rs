//! The catalog (the platform's entries, the organization's own and the registries') with
//! a search, filters, pages and the registries' syncs, and
//! installing an entry with its settings and secrets. Secrets are sent once and never
//! written back into any page, not even when the form comes back with an error.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use guidepost_core::upstreams::catalog_search::{self, CatalogQuery, ListedEntry};
use guidepost_core::upstreams::{self, InstallUpstream, entries, private, registry};
use guidepost_core::{CoreError, Permission};
use guidepost_domain::*;
use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::catalog_form::{self, EntryForm};
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
    runtime: String,
    source: String,
    runtimes: Vec<&'static str>,
    sources: &'static [&'static str],
    entries: Vec<EntryRow>,
    registries: Vec<RegistryRow>,
    /// Where the next page starts, if there is one.
    next_offset: Option<u32>,
    /// The form that adds one of the organization's own entries.
    entry: EntryForm,
    errors: Errors,
}

struct EntryRow {
    id: String,
    name: String,
    description: String,
    runtime: &'static str,
    source: &'static str,
    /// A registry entry's registry, status and version.
    registry: String,
    status: String,
    version: String,
    /// A registry entry's earlier versions, newest first, comma-separated.
    earlier: String,
    /// Why it cannot be installed, if it cannot.
    refusal: Option<String>,
}

struct RegistryRow {
    source: String,
    entries: i64,
    last_finished_at: String,
    last_error: Option<String>,
}

#[derive(Deserialize, Default)]
pub(crate) struct Search {
    #[serde(default)]
    q: String,
    #[serde(default)]
    runtime: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    offset: u32,
    #[serde(default)]
    done: Option<String>,
}

/// Entries per page.
const PAGE_SIZE: u32 = 50;

/// `GET /app/gateway/catalog?q=&runtime=&source=&offset=`.
pub(crate) async fn list(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(search): Query<Search>,
) -> PageResult {
    render(
        &app,
        &signed,
        &search,
        catalog_form::blank(),
        Errors::none(),
    )
    .await
}

/// `POST /app/gateway/catalog`: adds the entry, or shows the catalog again with the form
/// as typed and why it was refused.
pub(crate) async fn add(
    State(app): State<Dashboard>,
    SignedForm { signed, form }: SignedForm<EntryForm>,
) -> PageResult {
    // A member who may not add entries hears that, not what the form lacks.
    signed.caller().require(Permission::Gateway)?;
    let outcome = match form.entry() {
        Ok(entry) => match private::add(&app.platform, signed.caller(), entry).await {
            Ok(_) => Ok(()),
            Err(CoreError::Invalid(why)) => Err(catalog_form::refused(why.field, why.message)),
            Err(CoreError::Conflict(message)) => Err(catalog_form::refused_with(
                "id",
                message,
                StatusCode::CONFLICT,
            )),
            Err(other) => return Err(PageError::from(other)),
        },
        Err(refused) => Err(refused),
    };
    match outcome {
        Ok(()) => Ok(page::done("/app/gateway/catalog", Notice::Created)),
        Err(error) => {
            let search = Search::default();
            render(&app, &signed, &search, form, Errors::from(error)).await
        }
    }
}

/// The catalog page, with the own-entry form as given and its error, if any.
pub(crate) async fn render(
    app: &Dashboard,
    signed: &Signed,
    search: &Search,
    entry: EntryForm,
    errors: Errors,
) -> PageResult {
    let done = search.done.as_deref();
    let chrome = Chrome::new(app, signed, "Catalog", Section::Gateway, done).await?;
    let query: String = search.q.trim().chars().take(200).collect();
    let known = |value: &str, list: &[&str]| list.contains(&value).then(|| value.to_owned());
    let runtimes = RuntimeKind::ALL.map(RuntimeKind::as_str).to_vec();
    let runtime = known(&search.runtime, &runtimes);
    let source = known(&search.source, catalog_search::SOURCES);
    let catalog_query = CatalogQuery {
        q: query.clone(),
        runtime: runtime.clone(),
        source: source.clone(),
        offset: search.offset,
        limit: PAGE_SIZE,
    };
    let page = catalog_search::search(&app.platform, signed.caller(), &catalog_query).await?;
    let entries = page.items.into_iter().map(entry_row).collect();
    let registries = registry::sources(&app.platform)
        .await?
        .into_iter()
        .map(|sync| RegistryRow {
            source: sync.source,
            entries: sync.entries,
            last_finished_at: sync
                .last_finished_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "never".into()),
            last_error: sync.last_error,
        })
        .collect();
    let (runtime, source) = (runtime.unwrap_or_default(), source.unwrap_or_default());
    let status = errors.status();
    Ok(page::render_with(
        status,
        &CatalogPage {
            chrome,
            query,
            runtime,
            source,
            runtimes,
            sources: catalog_search::SOURCES,
            entries,
            registries,
            next_offset: page.next_offset,
            entry,
            errors,
        },
    ))
}

fn entry_row(listed: ListedEntry) -> EntryRow {
    EntryRow {
        runtime: listed.spec.as_ref().map_or("", |s| s.runtime().as_str()),
        id: listed.id,
        name: listed.name,
        description: listed.description,
        source: listed.source,
        registry: listed.registry.unwrap_or_default(),
        status: listed.status.map(|s| s.to_string()).unwrap_or_default(),
        earlier: listed
            .versions
            .iter()
            .filter(|v| listed.version.as_ref() != Some(*v))
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        version: listed.version.unwrap_or_default(),
        refusal: listed.not_installable,
    }
}

/// The catalog entry `id` as it installs (the platform's, a registry's at `version` or
/// its latest, or the organization's own), with the registry version it is.
pub(super) async fn entry(
    app: &Dashboard,
    signed: &Signed,
    id: &str,
    version: Option<&str>,
) -> Result<(CatalogEntry, Option<String>), PageError> {
    match entries::entry(&app.platform, signed.caller(), id, version).await {
        Ok(entry) => Ok(entry),
        Err(guidepost_core::CoreError::Invalid(_)) => Err(PageError::NotFound),
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "gateway/install.html")]
struct InstallPage {
    chrome: Chrome,
    entry_id: String,
    entry_name: String,
    description: String,
    runtime: &'static str,
    /// A registry entry's version shown, and every version kept, newest first (the form
    /// asks which to install when there is more than one).
    version: Option<String>,
    versions: Vec<String>,
    /// Whether it asks for a network (shown before install).
    network: String,
    name: String,
    eager: bool,
    /// A remote (http) entry asks whose account it is reached with.
    remote: bool,
    /// The sign-in chosen (`none`, `organization` or `person`).
    sign_in: String,
    /// Whether the installation gets a way out to the network (packages and containers
    /// ask; the entry's own choice first).
    fenced_network: bool,
    /// A stateless entry asks how many processes each node runs, up to the platform's
    /// maximum.
    stateless: bool,
    replicas: String,
    max_replicas: u32,
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
    fn new(
        chrome: Chrome,
        (entry, version): &(CatalogEntry, Option<String>),
        versions: Vec<String>,
        form: &BTreeMap<String, String>,
        max_replicas: u32,
    ) -> Self {
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
            runtime: entry.spec.runtime().as_str(),
            version: version.clone(),
            versions,
            network: network_of(&entry.spec),
            name: form.get("name").cloned().unwrap_or(entry.name.clone()),
            eager: form.get("start").is_some_and(|s| s == "eager"),
            remote: entry.spec.is_remote(),
            sign_in: form
                .get("sign_in")
                .and_then(|mode| UpstreamSignIn::parse(mode))
                .unwrap_or_default()
                .as_str()
                .to_owned(),
            fenced_network: match form.get("network") {
                Some(choice) => choice == "fenced",
                None => entry.spec.network(),
            },
            stateless: entry.stateless,
            replicas: form.get("replicas").cloned().unwrap_or_else(|| {
                entry
                    .replicas
                    .unwrap_or(1)
                    .clamp(1, max_replicas.max(1))
                    .to_string()
            }),
            max_replicas,
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

    /// Whether `version` is the one this form installs.
    fn is_shown(&self, version: &str) -> bool {
        self.version.as_deref() == Some(version)
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
        } else if field == "replicas" {
            "replicas".into()
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

/// Which version of a registry entry the install form is for (`?version=`); its latest
/// if left out.
#[derive(Deserialize)]
pub(crate) struct VersionChoice {
    #[serde(default)]
    version: Option<String>,
}

impl VersionChoice {
    fn of(version: Option<&String>) -> Option<&str> {
        version.map(|v| v.trim()).filter(|v| !v.is_empty())
    }
}

/// `GET /app/gateway/catalog/{entry}/install`, at `?version=` for a registry entry (its
/// settings and secrets are that version's).
pub(crate) async fn install_form(
    State(app): State<Dashboard>,
    signed: Signed,
    Path(id): Path<String>,
    Query(choice): Query<VersionChoice>,
) -> PageResult {
    let version = VersionChoice::of(choice.version.as_ref());
    let entry = entry(&app, &signed, &id, version).await?;
    let page = install_page(&app, &signed, &entry, &BTreeMap::new()).await?;
    Ok(page::render(&page))
}

/// The install form for `entry` at its version, showing what `form` holds.
async fn install_page(
    app: &Dashboard,
    signed: &Signed,
    entry: &(CatalogEntry, Option<String>),
    form: &BTreeMap<String, String>,
) -> Result<InstallPage, PageError> {
    let versions = match &entry.1 {
        Some(_) => registry::versions(&app.platform, &entry.0.id).await?,
        None => Vec::new(),
    };
    let title = format!("Install {}", entry.0.name);
    let chrome = Chrome::new(app, signed, title, Section::Gateway, None).await?;
    let max_replicas = app.platform.config.max_replicas;
    Ok(InstallPage::new(
        chrome,
        entry,
        versions,
        form,
        max_replicas,
    ))
}

/// `POST /app/gateway/catalog/{entry}/install`: installs and goes to the upstream's page;
/// a field that does not do comes back as the form (422) without the secrets.
pub(crate) async fn install(
    State(app): State<Dashboard>,
    Path(id): Path<String>,
    SignedForm { signed, form }: SignedForm<BTreeMap<String, String>>,
) -> PageResult {
    let version = VersionChoice::of(form.get("version"));
    let entry = entry(&app, &signed, &id, version).await?;
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
            let page = install_page(&app, &signed, &entry, &form).await?;
            let page = page.with_error(field, message, status);
            Ok(page::render_with(status, &page))
        }
    }
}

/// The install request the form stands for: settings left empty take their defaults,
/// secrets left empty are not given (the core says which one is missing).
fn install_input(
    (entry, version): &(CatalogEntry, Option<String>),
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
    let replicas = match form
        .get("replicas")
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
    {
        Some(text) => Some(text.parse::<u32>().map_err(|_| {
            ValidationError::new("replicas", "must be a whole number of processes, 1 or more")
        })?),
        None => None,
    };
    Ok(InstallUpstream {
        catalog_entry_id: entry.id.clone(),
        version: version.clone(),
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
        // Not on the page: the API and a catalog entry's spec set it.
        allow_foreign_oauth_endpoints: None,
        replicas,
        network: match form.get("network") {
            Some(choice) if !entry.spec.is_remote() => Some(choice == "fenced"),
            Some(_) | None => None,
        },
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
pub(super) fn network_of(spec: &guidepost_domain::LaunchSpec) -> String {
    use guidepost_domain::Network;
    match spec.network_access() {
        None => "a remote server, reached over https through the outbound fence".to_owned(),
        Some(Network::Open) => "yes, through the egress fence (public addresses only)".to_owned(),
        Some(Network::Only(hosts)) => format!(
            "only {}, through the egress fence (public addresses only)",
            hosts.join(", ")
        ),
        Some(Network::None) => "none".to_owned(),
    }
}
