//! Upgrading and reconfiguring an installed upstream: a new package
//! version, new settings or new secrets are one new launch. The node fetches and starts
//! it beside the running one (`UpstreamRuntime::switch`); its definitions are judged by
//! `pinning` against what was approved, so a changed or new tool waits for review with
//! its diff while unchanged ones stay approved; calls in flight finish on the old
//! process and new calls go to the new one. The launch it replaced is kept, with its
//! definitions and the decisions taken on them, until `rollback` puts it back.

use std::collections::BTreeMap;

use guidepost_domain::*;
use serde_json::Value;

use super::{
    OnFailedSwitch, attached_servers, audit, catalog::CatalogEntry, config, entries, package,
    private, secrets,
};
use crate::{Caller, CoreError, Permission, Platform};

/// What the API shows as the version of a launch that names none (a command, a remote
/// server).
const UNVERSIONED: &str = "unversioned";

/// The version, settings and secrets a `PATCH` asks for; `None` each when left out.
pub(super) struct Requested<'a> {
    pub version: Option<&'a str>,
    pub config: Option<&'a BTreeMap<String, Value>>,
    pub secrets: Option<&'a BTreeMap<String, String>>,
}

impl Requested<'_> {
    fn is_empty(&self) -> bool {
        self.version.is_none() && self.config.is_none() && self.secrets.is_none()
    }
}

/// The launch `current` would have with what was asked (its `spec` already carrying any
/// new sign-in); `None` when nothing of its launch was asked to change.
pub(super) async fn requested_launch(
    platform: &Platform,
    current: &Upstream,
    spec: LaunchSpec,
    asked: &Requested<'_>,
) -> Result<Option<UpstreamLaunch>, CoreError> {
    if asked.is_empty() {
        return Ok(None);
    }
    let from_registry = current
        .catalog_entry_id
        .as_deref()
        .is_some_and(|id| entries::is_registry_id(platform, id));
    if let (Some(version), true) = (asked.version, from_registry) {
        return registry_version_launch(platform, current, spec, version, asked)
            .await
            .map(Some);
    }
    let org = &current.org_id;
    let entry = match (asked.config, asked.secrets) {
        (None, None) => None,
        _ => Some(entry_of(platform, current).await?),
    };
    let mut launch = UpstreamLaunch {
        spec,
        secrets_sealed: current.secrets_sealed.clone(),
        config: current.config.clone(),
        catalog_entry_version: current.catalog_entry_version.clone(),
    };
    if let (Some(given), Some(entry)) = (asked.config, &entry) {
        launch.config.extend(given.clone());
        let rendered = config::rendered(entry, launch.config.clone())?;
        launch.spec = kept_version_and_choices(rendered, &launch.spec);
    }
    if let (Some(given), Some(entry)) = (asked.secrets, &entry) {
        let changed = secrets::sealed_some(platform, org, entry, given.clone())?;
        launch.secrets_sealed.extend(changed);
    }
    if let Some(version) = asked.version {
        launch.spec = with_version(launch.spec, version)?;
    }
    Ok(Some(launch))
}

/// The launch of another version of the registry entry `current` was installed from:
/// that version's server.json rendered with the settings and secrets it keeps (those the
/// version still declares) and those given, its sign-in kept.
async fn registry_version_launch(
    platform: &Platform,
    current: &Upstream,
    spec: LaunchSpec,
    version: &str,
    asked: &Requested<'_>,
) -> Result<UpstreamLaunch, CoreError> {
    let id = current.catalog_entry_id.as_deref().unwrap_or_default();
    let (entry, entry_version) =
        entries::find(platform, &current.org_id, id, Some(version)).await?;
    let declares_setting = |name: &String| entry.config.iter().any(|f| &f.name == name);
    let mut settings: BTreeMap<String, Value> = current
        .config
        .iter()
        .filter(|(name, _)| declares_setting(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    settings.extend(asked.config.cloned().unwrap_or_default());
    let rendered = config::rendered(&entry, settings.clone())?;
    let declares_secret = |name: &String| entry.secrets.iter().any(|s| &s.name == name);
    let mut sealed: BTreeMap<String, String> = current
        .secrets_sealed
        .iter()
        .filter(|(name, _)| declares_secret(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let given = asked.secrets.cloned().unwrap_or_default();
    sealed.extend(secrets::sealed_some(
        platform,
        &current.org_id,
        &entry,
        given,
    )?);
    secrets::require_all(&entry, |name| sealed.contains_key(name))?;
    Ok(UpstreamLaunch {
        spec: kept_choices(rendered, &spec),
        secrets_sealed: sealed,
        config: settings,
        catalog_entry_version: entry_version,
    })
}

/// Whether the upstream already runs exactly this launch (nothing to upgrade).
pub(super) fn runs(upstream: &Upstream, launch: &UpstreamLaunch) -> bool {
    upstream.spec == launch.spec
        && upstream.secrets_sealed == launch.secrets_sealed
        && upstream.config == launch.config
        && upstream.catalog_entry_version == launch.catalog_entry_version
}

/// The catalog entry it was installed from (at the registry version it runs): its
/// settings and secrets are declared there. One installed as its request described it
/// stands for its own entry: no settings, and the secrets it was given.
async fn entry_of(platform: &Platform, current: &Upstream) -> Result<CatalogEntry, CoreError> {
    let Some(id) = &current.catalog_entry_id else {
        return Ok(private::entry_of_direct(current));
    };
    let version = current.catalog_entry_version.as_deref();
    let (entry, _) = entries::find(platform, &current.org_id, id, version).await?;
    Ok(entry)
}

/// A freshly rendered spec with the choices its installer made that the upstream has now:
/// its sign-in and its allowance of foreign OAuth endpoints, and a network given at install.
fn kept_choices(mut rendered: LaunchSpec, now: &LaunchSpec) -> LaunchSpec {
    // server.json says nothing about a network: one given at install outlives it.
    if now.network() && !now.is_remote() {
        rendered = rendered.with_network(true);
    }
    if let (Some(remote), Some(running)) = (rendered.remote_mut(), now.remote()) {
        remote.sign_in = running.sign_in;
        remote.allow_foreign_oauth_endpoints = running.allow_foreign_oauth_endpoints;
    }
    rendered
}

/// A freshly rendered spec with the version and installer's choices the upstream runs now
/// (an upgrade and a sign-in change outlive a change of settings).
fn kept_version_and_choices(mut rendered: LaunchSpec, now: &LaunchSpec) -> LaunchSpec {
    if let (Some(package), Some(running)) = (rendered.package_mut(), now.package()) {
        package.version.clone_from(&running.version);
    }
    kept_choices(rendered, now)
}

/// The spec with another exact package version (npm and PyPI upstreams only).
fn with_version(mut spec: LaunchSpec, wanted: &str) -> Result<LaunchSpec, CoreError> {
    let Some(package) = spec.package_mut() else {
        let message = "only npm and PyPI upstreams have a package version to change";
        return Err(ValidationError::new("version", message).into());
    };
    wanted.clone_into(&mut package.version);
    package::check(&spec).map_err(|mut error| {
        error.field = "version";
        error
    })?;
    Ok(spec)
}

/// Its launch as it runs now, with its definitions and their decisions.
async fn release_of(
    platform: &Platform,
    upstream: &Upstream,
) -> Result<UpstreamRelease, CoreError> {
    let definitions = platform
        .store
        .list_upstream_tools(&upstream.org_id, &upstream.id)
        .await?;
    Ok(UpstreamRelease {
        launch: UpstreamLaunch {
            spec: upstream.spec.clone(),
            secrets_sealed: upstream.secrets_sealed.clone(),
            config: upstream.config.clone(),
            catalog_entry_version: upstream.catalog_entry_version.clone(),
        },
        definitions,
    })
}

fn version_label(spec: &LaunchSpec) -> &str {
    spec.version().unwrap_or(UNVERSIONED)
}

/// Stores the new launch, keeping the one it replaces for a rollback, and has this node
/// switch to it. Audited as `upstream.upgraded` with what changed (the names of the
/// settings and secrets, never their values).
pub(super) async fn upgrade(
    platform: &Platform,
    caller: &Caller,
    current: &Upstream,
    launch: UpstreamLaunch,
) -> Result<Upstream, CoreError> {
    let org = caller.org();
    let release = release_of(platform, current).await?;
    let from = version_label(&current.spec).to_owned();
    let updated = platform
        .store
        .change_upstream_launch(org, &current.id, &launch, Some((&release, &from)))
        .await?;
    let settings = differing(&current.config, &launch.config);
    let secrets_changed = differing(&current.secrets_sealed, &launch.secrets_sealed);
    let about = audit::About {
        upstream: Some(&current.id),
        detail: serde_json::json!({
            "from_version": from,
            "to_version": version_label(&launch.spec),
            "settings_changed": settings,
            "secrets_changed": secrets_changed,
        }),
        ..Default::default()
    };
    audit::record(
        platform,
        org,
        caller.actor(),
        AuditAction::UpstreamUpgraded,
        about,
    )
    .await?;
    // Other nodes switch when a call finds the new launch in the record, which calls read
    // from the node cache: every node reads it again.
    let servers = attached_servers(platform, org, &current.id).await?;
    platform.announce_tools_changed(&servers).await;
    platform
        .upstreams
        .switch(platform, &updated, OnFailedSwitch::Undo);
    Ok(updated)
}

/// The names whose values differ between two maps (added, removed or changed), sorted.
fn differing<V: PartialEq>(
    before: &BTreeMap<String, V>,
    after: &BTreeMap<String, V>,
) -> Vec<String> {
    let names: std::collections::BTreeSet<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|name| before.get(*name) != after.get(*name))
        .collect();
    names.into_iter().cloned().collect()
}

/// Puts back the launch the last upgrade replaced, with the definitions and decisions it
/// had (so its approvals hold again), and has this node switch to it. The launch it
/// leaves is kept in turn: a second rollback goes forward again.
pub async fn rollback(
    platform: &Platform,
    caller: &Caller,
    id: &UpstreamId,
) -> Result<Upstream, CoreError> {
    caller.require(Permission::Gateway)?;
    let org = caller.org();
    let current = platform.store.get_upstream(org, id).await?;
    let previous = platform
        .store
        .previous_release(org, id)
        .await?
        .ok_or_else(|| {
            CoreError::Conflict(
                "there is no earlier version to roll back to: it was never upgraded or \
                 reconfigured"
                    .into(),
            )
        })?;
    platform
        .upstreams
        .admits(org, &previous.launch.spec)
        .map_err(|refused| CoreError::Conflict(refused.to_string()))?;
    let back = PutBack {
        actor: caller.actor(),
        action: AuditAction::UpstreamRolledBack,
        why: None,
    };
    let updated = put_back(platform, &current, previous, back).await?;
    platform
        .upstreams
        .switch(platform, &updated, OnFailedSwitch::TakeOver);
    Ok(updated)
}

/// A node could not start the launch an upgrade put in place (`tried`): the record goes
/// back to the launch it replaced, as a rollback by the platform, so that the version
/// that ran goes on serving, here and on every node, instead of none; the audit event
/// (`upstream.upgrade_undone`) and the status say why. Nothing is done when the record
/// no longer holds that launch (a newer upgrade or a rollback came since). The record as
/// it now is, when it went back.
pub async fn undo_failed_upgrade(
    platform: &Platform,
    tried: &Upstream,
) -> Result<Option<Upstream>, CoreError> {
    let org = &tried.org_id;
    let current = platform.store.get_upstream(org, &tried.id).await?;
    let still_tried = current.spec == tried.spec
        && current.config == tried.config
        && current.secrets_sealed == tried.secrets_sealed;
    let previous = platform.store.previous_release(org, &tried.id).await?;
    let (true, Some(previous)) = (still_tried, previous) else {
        return Ok(None);
    };
    let why = current
        .last_error
        .clone()
        .unwrap_or_else(|| "it did not start".to_owned());
    let back = PutBack {
        actor: &Actor::Platform,
        action: AuditAction::UpstreamUpgradeUndone,
        why: Some(&why),
    };
    let updated = put_back(platform, &current, previous, back).await?;
    let said = format!(
        "{} did not start ({why}); the upgrade was undone and {} serves again",
        version_label(&tried.spec),
        version_label(&updated.spec),
    );
    let status = UpstreamStatus::Ready;
    super::record_status(
        platform,
        &updated,
        status,
        Some(&said),
        None,
        updated.restarts,
    )
    .await?;
    Ok(Some(updated))
}

/// Who puts a launch back, and how the audit log tells it.
struct PutBack<'a> {
    actor: &'a Actor,
    action: AuditAction,
    why: Option<&'a str>,
}

/// Makes `previous` the launch of `current` again, with its definitions, keeping the one
/// it leaves as the release a rollback returns to; audited as `back` says.
async fn put_back(
    platform: &Platform,
    current: &Upstream,
    previous: UpstreamRelease,
    back: PutBack<'_>,
) -> Result<Upstream, CoreError> {
    let (org, id) = (&current.org_id, &current.id);
    let leaving = release_of(platform, current).await?;
    let from = version_label(&current.spec).to_owned();
    let updated = platform
        .store
        .change_upstream_launch(org, id, &previous.launch, Some((&leaving, &from)))
        .await?;
    for kind in DefinitionKind::ALL {
        let restored: Vec<UpstreamTool> = previous
            .definitions
            .iter()
            .filter(|definition| definition.kind == kind)
            .cloned()
            .collect();
        platform
            .store
            .replace_upstream_tools(org, id, kind, &restored)
            .await?;
    }
    let mut detail = serde_json::json!({
        "from_version": from,
        "to_version": version_label(&previous.launch.spec),
    });
    if let Some(why) = back.why {
        detail["why"] = Value::String(why.to_owned());
    }
    let about = audit::About {
        upstream: Some(id),
        detail,
        ..Default::default()
    };
    audit::record(platform, org, back.actor, back.action, about).await?;
    let servers = attached_servers(platform, org, id).await?;
    platform.announce_tools_changed(&servers).await;
    Ok(updated)
}

/// The supervisor's word that a node switched to an upstream's new launch (`ready`) or
/// gave up starting it and switched anyway (its status says why): audited as
/// `upstream.switched` by the platform.
pub async fn record_switch(
    platform: &Platform,
    upstream: &Upstream,
    ready: bool,
) -> Result<(), CoreError> {
    let about = audit::About {
        upstream: Some(&upstream.id),
        detail: serde_json::json!({
            "version": version_label(&upstream.spec),
            "ready": ready,
        }),
        ..Default::default()
    };
    audit::record(
        platform,
        &upstream.org_id,
        &Actor::Platform,
        AuditAction::UpstreamSwitched,
        about,
    )
    .await
}
