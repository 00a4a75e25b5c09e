//! Attaching an upstream to a hosted server, with its prefix, the tools and prompts it
//! offers there and its per-call timeout, and detaching it; both audited, and announced to
//! the nodes that cache the server's tools.

use guidepost_domain::*;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS, audit, fit, names, shadowing};
use crate::{Caller, CoreError, Permission, Platform};

/// `PUT /api/v1/servers/{id}/upstreams/{upstream_id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachUpstream {
    /// The upstream's tools appear as `{prefix}__{tool}`.
    pub prefix: String,
    /// Only these of its tools (by the upstream's names), when set. Once the upstream has
    /// listed its tools, a name it does not offer is refused.
    #[serde(default)]
    pub allowed_tools: Option<Vec<String>>,
    /// Only these of its prompts (by the upstream's names), when set; all by default.
    #[serde(default)]
    pub allowed_prompts: Option<Vec<String>>,
    /// Per call, default 60000.
    #[serde(default)]
    pub timeout_ms: Option<i64>,
}

/// What an attach's audit event says (its allowed prompts only when it has a list).
fn attach_detail(attached: &Attachment) -> Value {
    let mut detail =
        serde_json::json!({"prefix": attached.prefix, "allowed_tools": attached.allowed_tools});
    if let Some(prompts) = &attached.allowed_prompts {
        detail["allowed_prompts"] = serde_json::json!(prompts);
    }
    detail
}

/// Attaches an upstream to a hosted server of the same organization. A prefix another
/// attachment of the server uses, or a tool name that would collide, is refused.
pub async fn attach(
    platform: &Platform,
    caller: &Caller,
    server: &ServerId,
    id: &UpstreamId,
    input: AttachUpstream,
) -> Result<Attachment, CoreError> {
    caller.require(Permission::Gateway)?;
    let actor = caller.actor();
    let org = caller.org();
    let prefix = names::checked_prefix(&input.prefix)?;
    let timeout_ms = input.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(
            ValidationError::new("timeout_ms", format!("must be 1 to {MAX_TIMEOUT_MS}")).into(),
        );
    }
    for (field, list) in [
        ("allowed_tools", &input.allowed_tools),
        ("allowed_prompts", &input.allowed_prompts),
    ] {
        if list
            .as_ref()
            .is_some_and(|l| l.len() > Limits::UPSTREAM_TOOLS)
        {
            let message = format!("at most {} names", Limits::UPSTREAM_TOOLS);
            return Err(ValidationError::new(field, message).into());
        }
        // No kept definition has a longer name (or an empty one): such a name could only
        // be a mistake, and it would be stored and shown as it came.
        let unfit = |name: &String| name.is_empty() || name.len() > Limits::DEFINITION_KEY;
        if let Some(name) = list.iter().flatten().find(|name| unfit(name)) {
            let shown: String = name.chars().take(40).collect();
            let message = format!(
                "each name is 1 to {} bytes; {shown:?}{} is not",
                Limits::DEFINITION_KEY,
                if shown.len() < name.len() { "…" } else { "" }
            );
            return Err(ValidationError::new(field, message).into());
        }
    }
    let attachment = Attachment {
        server_id: server.clone(),
        upstream_id: id.clone(),
        prefix,
        allowed_tools: input.allowed_tools,
        allowed_prompts: input.allowed_prompts,
        timeout_ms,
        attached_at: Timestamp::now(),
    };
    fit::check_attach(platform, org, &attachment).await?;
    let attached = platform.store.attach_upstream(org, &attachment).await?;
    shadowing::recheck(platform, org, server).await?;
    let about = audit::About {
        upstream: Some(id),
        server: Some(server),
        detail: attach_detail(&attached),
        ..Default::default()
    };
    audit::record(platform, org, actor, AuditAction::UpstreamAttached, about).await?;
    platform
        .announce_tools_changed(std::slice::from_ref(server))
        .await;
    Ok(attached)
}

pub async fn detach(
    platform: &Platform,
    caller: &Caller,
    server: &ServerId,
    id: &UpstreamId,
) -> Result<(), CoreError> {
    caller.require(Permission::Gateway)?;
    let actor = caller.actor();
    let org = caller.org();
    platform.store.detach_upstream(org, server, id).await?;
    let about = audit::About {
        upstream: Some(id),
        server: Some(server),
        ..Default::default()
    };
    audit::record(platform, org, actor, AuditAction::UpstreamDetached, about).await?;
    platform
        .announce_tools_changed(std::slice::from_ref(server))
        .await;
    Ok(())
}
