//! An organization's call-time policies (Cedar, `guidepost-policy`): published as
//! versions, each checked against the schema before it is stored, audited, and put in
//! force on every node by announcing the organization's servers (`decide` keeps the
//! compiled set per server, forgotten with the server's other entries).

use guidepost_domain::*;
pub use guidepost_policy::SCHEMA;
use guidepost_policy::{CallPolicies, PolicyRejected};
/// The most versions [`versions`] lists at once.
pub use guidepost_store::MAX_POLICY_VERSIONS;
use serde::Serialize;
use utoipa::ToSchema;

use crate::audit::{self, Object};
use crate::{Caller, CoreError, Permission, Platform};

/// A source as checked: its policies' names, and what the writer should know.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckedPolicies {
    pub names: Vec<String>,
    pub warnings: Vec<String>,
}

/// A publication: the version now in force, with the check's warnings.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublishedPolicies {
    pub version: PolicyVersion,
    pub warnings: Vec<String>,
}

/// Checks `source` without publishing it: its size, its syntax, its names and its
/// agreement with the schema. For who may publish: drafting is part of publishing.
pub fn check(caller: &Caller, source: &str) -> Result<CheckedPolicies, CoreError> {
    caller.require(Permission::Gateway)?;
    compile_checked(source)
}

fn compile_checked(source: &str) -> Result<CheckedPolicies, CoreError> {
    NewPolicyVersion::check_source(source)?;
    let compiled = CallPolicies::compile(source).map_err(rejected)?;
    Ok(CheckedPolicies {
        names: compiled.names,
        warnings: compiled.warnings,
    })
}

pub(crate) fn rejected(why: PolicyRejected) -> CoreError {
    ValidationError::new("source", why.to_string()).into()
}

/// Publishes `source` as the organization's policies in force (an empty source turns
/// them off). Who runs the gateway may: the policies govern the calls it relays.
pub async fn publish(
    platform: &Platform,
    caller: &Caller,
    source: &str,
) -> Result<PublishedPolicies, CoreError> {
    caller.require(Permission::Gateway)?;
    let checked = compile_checked(source)?;
    let new = NewPolicyVersion {
        org_id: caller.org().clone(),
        source: source.to_owned(),
        names: checked.names,
        published_by: caller.name().to_owned(),
    };
    let version = platform
        .store
        .publish_policies(&new, Timestamp::now())
        .await?;
    let number = version.version.to_string();
    let object = Object {
        kind: "policy",
        id: &number,
        name: &format!("version {number}"),
    };
    let detail = serde_json::json!({"version": version.version, "policies": version.names});
    audit::record(
        platform,
        caller,
        AuditAction::PolicyPublished,
        object,
        detail,
    )
    .await?;
    announce_organization(platform, caller.org()).await?;
    Ok(PublishedPolicies {
        version,
        warnings: checked.warnings,
    })
}

/// Every node forgets what it keeps of the organization's servers (their compiled
/// policies and quotas among it).
pub(crate) async fn announce_organization(
    platform: &Platform,
    org: &OrgId,
) -> Result<(), CoreError> {
    let servers = platform
        .store
        .list_servers(org, &PageRequest::first(Limits::SERVERS as u32))
        .await?;
    let ids: Vec<ServerId> = servers.items.into_iter().map(|server| server.id).collect();
    platform.announce_tools_changed(&ids).await;
    Ok(())
}

/// The version in force, if any was published.
pub async fn current(
    platform: &Platform,
    caller: &Caller,
) -> Result<Option<PolicyVersion>, CoreError> {
    Ok(platform.store.current_policies(caller.org()).await?)
}

/// The newest versions, newest first.
pub async fn versions(
    platform: &Platform,
    caller: &Caller,
    limit: u32,
) -> Result<Vec<PolicyVersion>, CoreError> {
    Ok(platform.store.policy_versions(caller.org(), limit).await?)
}

/// One version, by number.
pub async fn version(
    platform: &Platform,
    caller: &Caller,
    number: i64,
) -> Result<PolicyVersion, CoreError> {
    let found = platform.store.policy_version(caller.org(), number).await?;
    found.ok_or(CoreError::NotFound)
}
