//! An upstream's name, start, processes, sign-in, version, settings and secrets on its
//! page, and the forms that change them (`core::upstreams::update`: a new version, setting
//! or secret starts beside the running one) and roll it back. Secrets are set, never
//! shown: their inputs are always empty, and an empty one keeps the secret it had.

use std::collections::BTreeMap;

use axum::extract::State;
use guidepost_core::upstreams::connections::sign_in_of;
use guidepost_core::upstreams::{self, UpdateUpstream};
use guidepost_domain::*;
use serde_json::Value;

use super::catalog;
use crate::Dashboard;
use crate::page::{self, IdPath, Notice, PageResult};
use crate::session::{Signed, SignedForm};

/// What the page's upgrade section shows.
pub(crate) struct UpgradeForm {
    /// Its package version, when it has one to change (npm and PyPI upstreams), or the
    /// registry version it was installed from.
    pub version: Option<String>,
    /// Whether `version` is its registry entry's (one of `versions`).
    pub from_registry: bool,
    /// Its registry entry's versions, newest first.
    pub versions: Vec<String>,
    /// What the version input holds: the version a link asked for, else `version`.
    pub wanted: Option<String>,
    /// The registry's newer version, when there is one.
    pub upgrade_available: Option<String>,
    pub previous_version: Option<String>,
    pub settings: Vec<SettingRow>,
    pub secrets: Vec<SecretRow>,
    /// Its name, when nodes start it, and how many processes each runs.
    pub name: String,
    pub start: &'static str,
    pub replicas: u32,
    /// Whether its entry lets it run several processes, and the platform's most.
    pub stateless: bool,
    pub max_replicas: u32,
    /// Whose account a remote server is reached with (`None`: not a remote server).
    pub sign_in: Option<&'static str>,
    /// What is done with a result that carries a secret or an instruction to the model.
    pub result_guard: &'static str,
    /// A refused change: the field, what to do, and the input it is about.
    pub error: Option<(String, String, String)>,
}

pub(crate) struct SettingRow {
    pub name: String,
    pub kind: &'static str,
    pub description: String,
    pub value: String,
}

pub(crate) struct SecretRow {
    pub name: String,
    pub description: String,
    pub is_set: bool,
}

/// The section of `upstream` (its catalog entry's settings and secrets, when the entry is
/// still there).
pub(crate) async fn form_of(
    app: &Dashboard,
    signed: &Signed,
    upstream: &Upstream,
    error: Option<ValidationError>,
    wanted: Option<&str>,
) -> Result<UpgradeForm, crate::page::PageError> {
    let entry = entry_of(app, signed, upstream).await;
    let settings: Vec<SettingRow> = entry
        .as_ref()
        .map(|entry| {
            entry
                .config
                .iter()
                .map(|field| SettingRow {
                    value: upstream
                        .config
                        .get(&field.name)
                        .or(field.default.as_ref())
                        .map(text_of)
                        .unwrap_or_default(),
                    name: field.name.clone(),
                    kind: field.kind.as_str(),
                    description: field.description.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let secrets: Vec<SecretRow> = entry
        .as_ref()
        .map(|entry| {
            entry
                .secrets
                .iter()
                .map(|slot| SecretRow {
                    is_set: upstream.secret_names.contains(&slot.name),
                    name: slot.name.clone(),
                    description: slot.description.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let package = upstream.spec.package().is_some();
    let error = error.map(|invalid| {
        let anchor = anchor_of(&invalid, &settings, &secrets);
        (invalid.field.to_string(), invalid.message, anchor)
    });
    let from_registry = upstream.catalog_entry_version.is_some();
    let version = match &upstream.catalog_entry_version {
        Some(version) => Some(version.clone()),
        None => upstream.version.clone().filter(|_| package),
    };
    let versions = match (&upstream.catalog_entry_id, from_registry) {
        (Some(id), true) => upstreams::registry::versions(&app.platform, id).await?,
        _ => Vec::new(),
    };
    let wanted = wanted
        .filter(|w| versions.iter().any(|v| v == w))
        .map(str::to_owned)
        .or_else(|| version.clone());
    Ok(UpgradeForm {
        version,
        from_registry,
        versions,
        wanted,
        upgrade_available: upstream
            .latest_version
            .clone()
            .filter(|_| upstream.upgrade_available),
        previous_version: upstream.previous_version.clone(),
        settings,
        secrets,
        name: upstream.name.clone(),
        start: upstream.start.as_str(),
        replicas: upstream.replicas,
        stateless: entry.as_ref().is_some_and(|e| e.stateless) || upstream.replicas > 1,
        max_replicas: app.platform.config.max_replicas,
        sign_in: upstream
            .spec
            .is_remote()
            .then(|| sign_in_of(upstream).as_str()),
        result_guard: upstream.result_guard.as_str(),
        error,
    })
}

/// The entry it runs (at the registry version it was installed from).
pub(super) async fn entry_of(
    app: &Dashboard,
    signed: &Signed,
    upstream: &Upstream,
) -> Option<CatalogEntry> {
    let id = upstream.catalog_entry_id.as_deref()?;
    let version = upstream.catalog_entry_version.as_deref();
    let (entry, _) = catalog::entry(app, signed, id, version).await.ok()?;
    Some(entry)
}

/// The input a refusal is about, for the error summary's link.
fn anchor_of(invalid: &ValidationError, settings: &[SettingRow], secrets: &[SecretRow]) -> String {
    let named = |name: &str| invalid.message.contains(name);
    match invalid.field {
        "config" => settings
            .iter()
            .find(|s| named(&s.name))
            .map_or("upgrade".into(), |s| format!("setting-{}", s.name)),
        "secrets" => secrets
            .iter()
            .find(|s| named(&s.name))
            .map_or("upgrade".into(), |s| format!("secret-{}", s.name)),
        "version" => "upgrade-version".into(),
        "name" => "upstream-name".into(),
        "start" => "upstream-start".into(),
        "replicas" => "upstream-replicas".into(),
        "sign_in" => "upstream-sign-in".into(),
        _ => "upgrade".into(),
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// What the form asks to change: a version other than the running one, settings whose
/// text changed, secrets given (empty ones keep theirs).
pub(super) fn requested(
    upstream: &Upstream,
    entry: Option<&CatalogEntry>,
    form: &BTreeMap<String, String>,
) -> Result<UpdateUpstream, ValidationError> {
    let running = upstream
        .catalog_entry_version
        .as_deref()
        .or(upstream.version.as_deref());
    let version = form
        .get("version")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty() && Some(*v) != running)
        .map(str::to_owned);
    let mut config = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    if let Some(entry) = entry {
        for field in &entry.config {
            let Some(text) = form.get(&format!("config.{}", field.name)) else {
                continue;
            };
            let now = upstream.config.get(&field.name).or(field.default.as_ref());
            if now.map(text_of).as_deref() != Some(text.as_str()) {
                config.insert(field.name.clone(), catalog::typed(field, text)?);
            }
        }
        for slot in &entry.secrets {
            if let Some(value) = form
                .get(&format!("secret.{}", slot.name))
                .filter(|v| !v.is_empty())
            {
                secrets.insert(slot.name.clone(), value.clone());
            }
        }
    }
    let how = how_it_runs(upstream, form)?;
    Ok(UpdateUpstream {
        version,
        config: (!config.is_empty()).then_some(config),
        secrets: (!secrets.is_empty()).then_some(secrets),
        ..how
    })
}

/// The name, start, processes and sign-in the form changes (those it leaves as they are
/// stay `None`).
fn how_it_runs(
    upstream: &Upstream,
    form: &BTreeMap<String, String>,
) -> Result<UpdateUpstream, ValidationError> {
    let field = |key: &str| form.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    let name = field("name")
        .filter(|name| *name != upstream.name)
        .map(str::to_owned);
    let start = field("start")
        .map(|text| {
            StartMode::parse(text)
                .ok_or_else(|| ValidationError::new("start", "choose eager or on_demand"))
        })
        .transpose()?
        .filter(|start| *start != upstream.start);
    let replicas = field("replicas")
        .map(|text| {
            text.parse::<u32>()
                .map_err(|_| ValidationError::new("replicas", "must be a whole number from 1"))
        })
        .transpose()?
        .filter(|replicas| *replicas != upstream.replicas);
    let sign_in = field("sign_in")
        .map(|text| {
            UpstreamSignIn::parse(text).ok_or_else(|| {
                ValidationError::new("sign_in", "choose none, organization or person")
            })
        })
        .transpose()?
        .filter(|sign_in| *sign_in != sign_in_of(upstream));
    let result_guard = field("result_guard")
        .map(|text| {
            ResultGuard::parse(text).ok_or_else(|| {
                ValidationError::new("result_guard", "choose off, flag, redact or refuse")
            })
        })
        .transpose()?
        .filter(|guard| *guard != upstream.result_guard);
    Ok(UpdateUpstream {
        name,
        start,
        replicas,
        sign_in,
        result_guard,
        ..Default::default()
    })
}

/// `POST …/rollback`.
pub(crate) async fn rollback(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<UpstreamId>,
    SignedForm { signed, .. }: SignedForm<serde::de::IgnoredAny>,
) -> PageResult {
    upstreams::upgrade::rollback(&app.platform, signed.caller(), &id).await?;
    Ok(page::done(
        &format!("/app/gateway/upstreams/{id}"),
        Notice::RolledBack,
    ))
}
