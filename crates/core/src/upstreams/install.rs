//! Installing an upstream: from a catalog entry (the platform's, a
//! registry's at a version, or the organization's own), or described in the request
//! itself, which is checked as an organization's own entry would be.

use std::collections::BTreeMap;

use guidepost_domain::*;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::catalog::CatalogEntry;
use super::direct::DirectUpstream;
use super::entries;
use super::{audit, config, connections, private, replicas, secrets, with_confinement};
use crate::{Caller, CoreError, Permission, Platform};

/// `POST /api/v1/upstreams`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallUpstream {
    /// A catalog entry's id (`GET /api/v1/catalog`).
    pub catalog_entry_id: String,
    /// A registry entry's version (one of its `versions`); its latest if left out.
    #[serde(default)]
    pub version: Option<String>,
    /// A name for this installation; the entry's name if left out.
    #[serde(default)]
    pub name: Option<String>,
    /// The secrets the entry requires, by name (they are sealed, and never shown again).
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// The entry's settings, by name (those left out take their defaults).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: BTreeMap<String, Value>,
    /// `eager`: every node starts it when the node starts; `on_demand` (the default): a
    /// node starts it on its first call there. The installing node starts it at once
    /// either way, to discover its tools.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub start: Option<StartMode>,
    /// A remote server's sign-in: `none` (the entry's headers only), `organization` (one
    /// account, connected by an editor after install: `POST …/connect`); the entry's
    /// own if left out.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub sign_in: Option<UpstreamSignIn>,
    /// A remote server's: let its authorization server's metadata name endpoints off its
    /// issuer's origin, refused otherwise against mix-up (RFC 9700 §4.4). Only for a
    /// server you trust and know to be laid out so; the entry's own if left out.
    #[serde(default)]
    pub allow_foreign_oauth_endpoints: Option<bool>,
    /// Give a package or container a way out to the network, through the egress fence
    /// (public addresses only): the entry's own choice if left out. A registry entry asks
    /// for none, as server.json cannot say; a server that calls an API needs it.
    #[serde(default)]
    pub network: Option<bool>,
    /// Processes of it on each node, calls going to the least busy: the entry's number
    /// (1 unless it says) if left out. More than 1 only for an entry the catalog marks
    /// `stateless`, and at most the platform's `--upstream-max-replicas`.
    #[serde(default)]
    pub replicas: Option<u32>,
}

/// Installs an upstream from the catalog and starts it on this node.
pub async fn install(
    platform: &Platform,
    caller: &Caller,
    input: InstallUpstream,
) -> Result<Upstream, CoreError> {
    caller.require(Permission::Gateway)?;
    let (entry, entry_version) = entries::find(
        platform,
        caller.org(),
        &input.catalog_entry_id,
        input.version.as_deref(),
    )
    .await?;
    let name = input.name.clone().unwrap_or_else(|| entry.name.clone());
    let installing = Installing {
        catalog_entry_id: Some(entry.id.clone()),
        entry_version,
        name,
        entry,
        input,
    };
    install_entry(platform, caller, installing).await
}

/// Installs an upstream described in the request itself (`{name, runtime, …}`), checked
/// as an organization's own catalog entry is, without adding one to the catalog.
pub async fn install_direct(
    platform: &Platform,
    caller: &Caller,
    direct: DirectUpstream,
) -> Result<Upstream, CoreError> {
    caller.require(Permission::Gateway)?;
    let entry = private::inline_entry(platform, &direct)?;
    let input = InstallUpstream {
        catalog_entry_id: String::new(),
        version: None,
        name: None,
        secrets: direct.secrets,
        config: BTreeMap::new(),
        start: direct.start,
        sign_in: None,
        allow_foreign_oauth_endpoints: None,
        network: None,
        replicas: None,
    };
    let installing = Installing {
        catalog_entry_id: None,
        entry_version: None,
        name: direct.name,
        entry,
        input,
    };
    install_entry(platform, caller, installing).await
}

/// What is installed: the entry as it runs (the catalog's, or the request's own) and the
/// request's choices.
struct Installing {
    catalog_entry_id: Option<String>,
    entry_version: Option<String>,
    name: String,
    entry: CatalogEntry,
    input: InstallUpstream,
}

async fn install_entry(
    platform: &Platform,
    caller: &Caller,
    installing: Installing,
) -> Result<Upstream, CoreError> {
    let Installing {
        catalog_entry_id,
        entry_version,
        name,
        entry,
        input,
    } = installing;
    let actor = caller.actor();
    let org = caller.org();
    validate_text("name", &name, Limits::NAME)?;
    let replicas = replicas::of_entry(platform, &entry, input.replicas)?;
    let new = NewUpstream {
        name: name.trim().to_owned(),
        start: input.start.unwrap_or(StartMode::OnDemand),
        replicas,
        catalog_entry_id: catalog_entry_id.clone(),
        catalog_entry_version: entry_version,
        spec: connections::with_foreign_endpoints(
            connections::with_sign_in(
                with_network(
                    config::rendered(&entry, input.config.clone())?,
                    input.network,
                )?,
                input.sign_in,
            )?,
            input.allow_foreign_oauth_endpoints,
        )?,
        secrets_sealed: secrets::sealed(platform, org, &entry, input.secrets)?,
        config: input.config,
    };
    // The installing node starts it at once: refused here, not failed later.
    platform
        .upstreams
        .admits_replicas(org, &new.spec, new.replicas)
        .map_err(|refused| CoreError::Conflict(refused.to_string()))?;
    let upstream = with_confinement(platform, platform.store.create_upstream(org, &new).await?);
    let mut detail = match &catalog_entry_id {
        Some(id) => serde_json::json!({"catalog_entry_id": id, "name": upstream.name}),
        None => {
            let runtime = upstream.spec.runtime().as_str();
            serde_json::json!({"runtime": runtime, "name": upstream.name})
        }
    };
    if let Some(version) = &upstream.catalog_entry_version {
        detail["version"] = serde_json::json!(version);
    }
    let about = audit::About {
        upstream: Some(&upstream.id),
        detail,
        ..Default::default()
    };
    audit::record(platform, org, actor, AuditAction::UpstreamInstalled, about).await?;
    platform.upstreams.start(platform, &upstream);
    Ok(upstream)
}

/// The rendered spec with the network the installer asked for, if they asked.
fn with_network(spec: LaunchSpec, asked: Option<bool>) -> Result<LaunchSpec, ValidationError> {
    match asked {
        None => Ok(spec),
        Some(_) if spec.is_remote() => Err(ValidationError::new(
            "network",
            "a remote server is reached over the network; network applies to packages and \
             containers only",
        )),
        Some(wanted) => Ok(spec.with_network(wanted)),
    }
}
