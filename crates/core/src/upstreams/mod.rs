//! The gateway's rules: installing upstream MCP servers from the catalog,
//! attaching them to hosted servers under a prefix, and which of their tools a hosted
//! server offers. Running them is the gateway's supervisor (`UpstreamRuntime`), one per
//! node; core tells it what was installed and asks it to call.
//!
//! `tools/list` is served from the stored, approved definitions, so listing never waits
//! for an upstream to start. What is approved is `pinning`'s rule.

mod attachments;
pub mod audit;
pub mod catalog;
pub mod catalog_search;
pub mod config;
pub mod connections;
pub mod diagnosis;
pub mod diff;
mod direct;
pub mod entries;
pub mod features;
mod fit;
mod install;
mod names;
mod offered;
pub mod overview;
pub mod package;
mod pinning;
pub mod private;
pub mod registry;
mod replicas;
pub(crate) mod result_guard;
pub(crate) mod results;
mod runtime;
// The tool-definition scanner is a crate of its own; core scans with it under this name.
pub use guidepost_scan as scan;
pub mod secrets;
mod shadowing;
pub mod upgrade;
pub mod uris;

use crate::{Caller, Permission};
use std::collections::BTreeMap;

use guidepost_domain::*;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::revision::{merged_until_current, unless_changed};
use crate::{CoreError, Platform};
pub use attachments::{AttachUpstream, attach, detach};
pub use direct::DirectUpstream;
pub use install::{InstallUpstream, install, install_direct};
pub use names::{exposed_name, may_be_exposed};
pub(crate) use offered::AttachedTools;
pub use offered::{NotCallable, OfferedTool, call, callable, offered, offered_tool};
pub use pinning::{approve_clean, decide, is_clean, record_definitions};
pub use runtime::{
    CallContext, CallProgress, CallerClient, CallingPerson, NotAdmitted, OnFailedSwitch,
    ProgressSink, RelayError, Subscriber, UpstreamAnswer, UpstreamCallError, UpstreamRequest,
    UpstreamRuntime,
};

/// Default and bounds of an attachment's call timeout.
const DEFAULT_TIMEOUT_MS: i64 = 60_000;
const MAX_TIMEOUT_MS: i64 = 10 * 60_000;

/// `PATCH /api/v1/upstreams/{id}`: what may change after install. A new `version`,
/// `config` or `secrets` is an upgrade: the new launch is fetched and started beside the
/// running one, its changed or new tools wait for review, and `POST …/rollback` puts the
/// replaced one back.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUpstream {
    #[serde(default)]
    pub name: Option<String>,
    /// Another version: of its registry entry when it was installed from one (one of
    /// the entry's `versions`, rendered with its settings and secrets kept), else another
    /// exact version of its npm or PyPI package.
    #[serde(default)]
    pub version: Option<String>,
    /// Settings to change, by name (the others keep their values).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<BTreeMap<String, Value>>,
    /// Secrets to set, by name (the others are kept); sealed, and never shown again.
    #[serde(default)]
    pub secrets: Option<BTreeMap<String, String>>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub start: Option<StartMode>,
    /// A remote server's sign-in (`none` or `organization`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub sign_in: Option<UpstreamSignIn>,
    /// A remote server's: let its authorization server keep endpoints off its issuer's
    /// origin (refused otherwise, against mix-up); only for a server you trust.
    #[serde(default)]
    pub allow_foreign_oauth_endpoints: Option<bool>,
    /// Processes of it on each node (more than 1 only for an entry the catalog marks
    /// `stateless`, at most the platform's `--upstream-max-replicas`); every node's pool
    /// follows at its next call.
    #[serde(default)]
    pub replicas: Option<u32>,
    /// What is done with a result that carries a secret or an instruction aimed at the
    /// model: `off`, `flag` (a warning added for the agent), `redact` (the matched spans
    /// replaced) or `refuse` (the result withheld). Each finding is audited.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub result_guard: Option<ResultGuard>,
}

pub async fn get(
    platform: &Platform,
    caller: &Caller,
    id: &UpstreamId,
) -> Result<Upstream, CoreError> {
    let org = caller.org();
    let upstream = platform.store.get_upstream(org, id).await?;
    Ok(as_seen_by(platform, caller, upstream))
}

pub async fn list(platform: &Platform, caller: &Caller) -> Result<Vec<Upstream>, CoreError> {
    let org = caller.org();
    let upstreams = platform.store.list_upstreams(org).await?;
    Ok(upstreams
        .into_iter()
        .map(|upstream| as_seen_by(platform, caller, upstream))
        .collect())
}

/// [`with_confinement`] for `caller`: its last error and the diagnosis quote the
/// upstream's own output, which may hold what it was given (a key in an error line), so
/// only a caller who may read its logs (`Permission::Gateway`) reads them, as the
/// dashboard shows them.
fn as_seen_by(platform: &Platform, caller: &Caller, mut upstream: Upstream) -> Upstream {
    if !caller.may(Permission::Gateway) {
        upstream.last_error = None;
    }
    with_confinement(platform, upstream)
}

/// The upstream with what confinement this node applies to it, and why it failed, in
/// words, from its last error and this node's log of it.
fn with_confinement(platform: &Platform, mut upstream: Upstream) -> Upstream {
    upstream.confinement = platform.upstreams.confinement(&upstream.spec);
    if let Some(error) = upstream.last_error.as_deref() {
        let logs = platform.upstreams.logs(&upstream.id);
        let fault = upstream.last_fault.as_ref();
        upstream.diagnosis = diagnosis::diagnose(Some(error), fault, &logs);
    }
    upstream
}

/// Stops and uninstalls; hosted servers that attached it lose its tools.
pub async fn uninstall(
    platform: &Platform,
    caller: &Caller,
    id: &UpstreamId,
) -> Result<(), CoreError> {
    caller.require(Permission::Gateway)?;
    let actor = caller.actor();
    let org = caller.org();
    let upstream = platform.store.get_upstream(org, id).await?;
    let servers = attached_servers(platform, org, id).await?;
    platform.upstreams.discard(&upstream.id).await;
    platform.store.delete_upstream(org, id).await?;
    let about = audit::About {
        upstream: Some(id),
        detail: serde_json::json!({"name": upstream.name}),
        ..Default::default()
    };
    audit::record(
        platform,
        org,
        actor,
        AuditAction::UpstreamUninstalled,
        about,
    )
    .await?;
    platform.announce_tools_changed(&servers).await;
    Ok(())
}

/// Renames it, changes when nodes start it or its sign-in, or upgrades it: another
/// package version, settings or secrets (`upgrade`).
pub async fn update(
    platform: &Platform,
    caller: &Caller,
    id: &UpstreamId,
    input: UpdateUpstream,
) -> Result<Upstream, CoreError> {
    caller.require(Permission::Gateway)?;
    let org = caller.org();
    let Merged {
        current,
        updated,
        spec,
        launch,
        replicas,
    } = merged_until_current(|| merge_and_write(platform, org, id, &input)).await?;
    if updated.result_guard != current.result_guard {
        let about = audit::About {
            upstream: Some(id),
            detail: serde_json::json!({"from": current.result_guard, "to": updated.result_guard}),
            ..Default::default()
        };
        let action = AuditAction::UpstreamResultGuardSet;
        audit::record(platform, org, caller.actor(), action, about).await?;
    }
    if replicas != current.replicas {
        let about = audit::About {
            upstream: Some(id),
            detail: serde_json::json!({"from": current.replicas, "to": replicas}),
            ..Default::default()
        };
        let action = AuditAction::UpstreamReplicasChanged;
        audit::record(platform, org, caller.actor(), action, about).await?;
    }
    // Calls read the upstream's record from the node cache: every node reads it again
    // (its pool follows `replicas`, a new sign-in reaches its calls).
    let servers = attached_servers(platform, org, id).await?;
    platform.announce_tools_changed(&servers).await;
    if spec != current.spec {
        let about = audit::About {
            upstream: Some(id),
            detail: sign_in_detail(&input),
            ..Default::default()
        };
        audit::record(
            platform,
            org,
            caller.actor(),
            AuditAction::UpstreamSignInChanged,
            about,
        )
        .await?;
    }
    if let Some(launch) = launch.filter(|launch| !upgrade::runs(&updated, launch)) {
        return upgrade::upgrade(platform, caller, &updated, launch).await;
    }
    if spec != current.spec {
        // Its running connection was made with the old credentials.
        return relaunch(platform, &updated).await;
    }
    Ok(updated)
}

/// What a change of a remote server's sign-in says in the audit log: the allowance of
/// foreign endpoints only when it was given, so that the log shows who lowered the
/// mix-up defence.
fn sign_in_detail(input: &UpdateUpstream) -> Value {
    let mut detail = serde_json::json!({"sign_in": input.sign_in});
    if let Some(allowed) = input.allow_foreign_oauth_endpoints {
        detail[connections::issuer::ALLOW_FOREIGN_ENDPOINTS] = Value::Bool(allowed);
    }
    detail
}

/// An update merged over the upstream as stored and written ([`merge_and_write`]), with
/// what the rest of the update goes on from.
struct Merged {
    current: Upstream,
    updated: Upstream,
    spec: LaunchSpec,
    launch: Option<UpstreamLaunch>,
    replicas: u32,
}

/// One attempt at an update: the upstream as stored, the input merged over it and
/// checked, and the record written only if nobody wrote it since it was read (else
/// `None`: an upgrade, a rollback or another update came between, and is not undone).
async fn merge_and_write(
    platform: &Platform,
    org: &OrgId,
    id: &UpstreamId,
    input: &UpdateUpstream,
) -> Result<Option<Merged>, CoreError> {
    let current = platform.store.get_upstream(org, id).await?;
    let name = input.name.clone().unwrap_or(current.name.clone());
    validate_text("name", &name, Limits::NAME)?;
    let start = input.start.unwrap_or(current.start);
    let spec = connections::with_foreign_endpoints(
        connections::with_sign_in(current.spec.clone(), input.sign_in)?,
        input.allow_foreign_oauth_endpoints,
    )?;
    let asked = upgrade::Requested {
        version: input.version.as_deref(),
        config: input.config.as_ref(),
        secrets: input.secrets.as_ref(),
    };
    let launch = upgrade::requested_launch(platform, &current, spec.clone(), &asked).await?;
    // Refused before anything is written: a PATCH is applied whole or not at all.
    if let Some(launch) = launch.as_ref().filter(|l| !upgrade::runs(&current, l)) {
        platform
            .upstreams
            .admits(org, &launch.spec)
            .map_err(|refused| CoreError::Conflict(refused.to_string()))?;
    }
    let replicas = replicas::changed(platform, org, &current, input.replicas).await?;
    let spec_now = if launch.is_some() {
        &current.spec
    } else {
        &spec
    };
    let settings = guidepost_store::UpstreamSettings {
        name: name.trim(),
        start,
        spec: spec_now,
        replicas,
        result_guard: input.result_guard.unwrap_or(current.result_guard),
        sign_in: spec.sign_in(),
    };
    let read_at = Some(current.updated_at);
    let written = platform
        .store
        .update_upstream(org, id, &settings, read_at)
        .await;
    Ok(unless_changed(written)?.map(|updated| Merged {
        current,
        updated,
        spec,
        launch,
        replicas,
    }))
}

/// At a node's start: starts every `eager` upstream that has not failed.
pub async fn start_eager(platform: &Platform) -> Result<usize, CoreError> {
    let eager: Vec<Upstream> = platform
        .store
        .list_all_upstreams()
        .await?
        .into_iter()
        .filter(|u| u.start == StartMode::Eager && u.status != UpstreamStatus::Failed)
        .collect();
    for upstream in &eager {
        platform.upstreams.start(platform, upstream);
    }
    Ok(eager.len())
}

/// Stops it on this node and starts it afresh, with its restart count back at zero (a
/// `failed` upstream stays failed until restarted).
pub async fn restart(
    platform: &Platform,
    caller: &Caller,
    id: &UpstreamId,
) -> Result<Upstream, CoreError> {
    caller.require(Permission::Gateway)?;
    let actor = caller.actor();
    let org = caller.org();
    let upstream = platform.store.get_upstream(org, id).await?;
    let about = audit::About {
        upstream: Some(id),
        ..Default::default()
    };
    audit::record(platform, org, actor, AuditAction::UpstreamRestarted, about).await?;
    relaunch(platform, &upstream).await
}

/// Starts it on this node only, to see what it writes as it starts (the CLI, which
/// serves nothing: `guidepost upstream logs`); the other nodes are left as they are.
/// Returns the record as it was, whose status and last error say how the serving nodes
/// last found it.
pub async fn try_here(
    platform: &Platform,
    caller: &Caller,
    id: &UpstreamId,
) -> Result<Upstream, CoreError> {
    caller.require(Permission::Gateway)?;
    let org = caller.org();
    let before = platform.store.get_upstream(org, id).await?;
    start_afresh_here(platform, org, id).await?;
    Ok(before)
}

/// Starts it afresh with its restart count at zero: here at once, and on every other node
/// that runs it once that node sees the restart's time (at its next call, after the
/// announcement below, or within a ping interval: the gateway's `Supervisor::reconcile`).
pub(crate) async fn relaunch(
    platform: &Platform,
    upstream: &Upstream,
) -> Result<Upstream, CoreError> {
    let (org, id) = (&upstream.org_id, &upstream.id);
    // Marked first, so that the process started here carries the mark and is not taken
    // for one started before it.
    platform
        .store
        .mark_upstream_restarted(org, id, Timestamp::now())
        .await?;
    let upstream = start_afresh_here(platform, org, id).await?;
    // Calls read the upstream's record from the node cache: the other nodes read it again.
    let servers = attached_servers(platform, org, id).await?;
    platform.announce_tools_changed(&servers).await;
    Ok(upstream)
}

/// Stops it on this node and starts it from its record again, `starting` with its
/// restart count at zero; the record it was started from.
async fn start_afresh_here(
    platform: &Platform,
    org: &OrgId,
    id: &UpstreamId,
) -> Result<Upstream, CoreError> {
    platform.upstreams.stop(id).await;
    platform
        .store
        .set_upstream_status(org, id, UpstreamStatus::Starting, None, None, 0)
        .await?;
    let upstream = platform.store.get_upstream(org, id).await?;
    platform.upstreams.start(platform, &upstream);
    Ok(upstream)
}

/// A tool as its reviewers see it: its stored record, and how it differs from the
/// definition last approved under its name.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct ReviewedTool {
    #[serde(flatten)]
    pub tool: UpstreamTool,
    /// What changed since the definition last approved under this name; `null` when it is
    /// that definition, or when none was approved.
    pub diff_from_approved: Option<Vec<diff::Change>>,
}

/// Its stored tools, as last discovered, each with its diff from what was approved.
pub async fn tools(
    platform: &Platform,
    caller: &Caller,
    id: &UpstreamId,
) -> Result<Vec<ReviewedTool>, CoreError> {
    let org = caller.org();
    platform.store.get_upstream(org, id).await?;
    let tools = platform.store.list_upstream_tools(org, id).await?;
    let approved = platform.store.approved_tool_definitions(org, id).await?;
    Ok(tools
        .into_iter()
        .map(|tool| {
            let diff_from_approved = approved
                .get(&(tool.kind, tool.name.clone()))
                .map(|before| diff::diff(before, &tool.definition))
                .filter(|changes| !changes.is_empty());
            ReviewedTool {
                tool,
                diff_from_approved,
            }
        })
        .collect())
}

/// Its recent stderr lines on this node.
pub async fn logs(
    platform: &Platform,
    caller: &Caller,
    id: &UpstreamId,
) -> Result<Vec<String>, CoreError> {
    caller.require(Permission::Gateway)?;
    let org = caller.org();
    let upstream = platform.store.get_upstream(org, id).await?;
    Ok(platform.upstreams.logs(&upstream.id))
}

async fn attached_servers(
    platform: &Platform,
    org: &OrgId,
    id: &UpstreamId,
) -> Result<Vec<ServerId>, CoreError> {
    Ok(platform.store.servers_attaching(org, id).await?)
}

/// Platform-wide, how many upstream tools are in each state (for `/metrics`).
pub async fn tools_by_state(platform: &Platform) -> Result<Vec<(ToolState, i64)>, CoreError> {
    Ok(platform.store.count_upstream_tools_by_state().await?)
}

/// The record of an upstream a node runs, as its supervisor reads it again (to see what
/// other nodes did to it: `NotFound` once uninstalled).
pub async fn current_record(
    platform: &Platform,
    org: &OrgId,
    id: &UpstreamId,
) -> Result<Upstream, CoreError> {
    Ok(platform.store.get_upstream(org, id).await?)
}

/// The supervisor's status write (its definition writes are `pinning::record_definitions`).
pub async fn record_status(
    platform: &Platform,
    upstream: &Upstream,
    status: UpstreamStatus,
    last_error: Option<&str>,
    last_fault: Option<&UpstreamFault>,
    restarts: i64,
) -> Result<(), CoreError> {
    let label = upstream.id.to_string();
    metrics::gauge!("guidepost_upstream_up", "upstream" => label.clone())
        .set(f64::from(u8::from(status == UpstreamStatus::Ready)));
    // Apart from `up`: an on-demand upstream that is merely stopped is not failed.
    metrics::gauge!("guidepost_upstream_failed", "upstream" => label.clone())
        .set(f64::from(u8::from(status == UpstreamStatus::Failed)));
    metrics::gauge!("guidepost_upstream_restarts", "upstream" => label).set(restarts as f64);
    Ok(platform
        .store
        .set_upstream_status(
            &upstream.org_id,
            &upstream.id,
            status,
            last_error,
            last_fault,
            restarts,
        )
        .await?)
}
