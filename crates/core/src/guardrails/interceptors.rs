//! Registering an organization's interceptors (`intercept` asks them at call time): a
//! URL checked like a webhook's, the phases it is asked on, how long a call waits for it,
//! what a call meets when it fails, and whether its answers are carried out or only
//! audited. Its signing secret is shown once and kept sealed.

use guidepost_domain::*;
use guidepost_store::NewInterceptor;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{self, Object};
use crate::{Caller, CoreError, Permission, Platform};

/// What `POST /api/v1/interceptors` takes.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InterceptorInput {
    /// Unique in the organization, at most 100 characters.
    pub name: String,
    /// An `https://…` URL on a public address, at most 2048 characters (`http://` and
    /// private addresses only where the operator allows them, as for webhooks).
    pub url: String,
    /// `request`, `result`, or both.
    #[schema(value_type = Vec<String>)]
    pub phases: Vec<InterceptPhase>,
    /// Milliseconds a call waits for the answer: 50 to 10000 (default 2000).
    #[serde(default)]
    pub timeout_ms: Option<u32>,
    /// `open` (default: the call goes on) or `closed` (refused) when the interceptor
    /// does not answer as the contract says.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub on_failure: Option<InterceptFailure>,
    /// `enforce` (default) or `audit` (answers only recorded).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub mode: Option<InterceptMode>,
}

/// A new interceptor with its secret, which is shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedInterceptor {
    #[serde(flatten)]
    pub interceptor: Interceptor,
    /// The signing secret (`icsec_…`) of `Guidepost-Signature`. Store it now.
    pub secret: String,
}

const NAME_MAX: usize = 100;

/// The sealing context of an interceptor's secret: it opens only on its interceptor.
pub(crate) fn sealing_context(org: &OrgId, id: &InterceptorId) -> String {
    format!("interceptor:{org}:{id}")
}

/// Registers an interceptor. Who runs the gateway may: it judges the calls relayed.
pub async fn create(
    platform: &Platform,
    caller: &Caller,
    input: InterceptorInput,
) -> Result<CreatedInterceptor, CoreError> {
    caller.require(Permission::Gateway)?;
    let interceptor = checked(caller.org(), input, platform)?;
    let Some(key) = &platform.config.master_key else {
        let message = "cannot be created: this platform runs without a master key to keep the \
                       signing secret (start it with --master-key or GUIDEPOST_MASTER_KEY)";
        return Err(ValidationError::new("interceptor", message).into());
    };
    let secret = random_token("icsec_");
    let context = sealing_context(&interceptor.org_id, &interceptor.id);
    let new = NewInterceptor {
        secret_sealed: key.seal(&secret, &context),
        interceptor,
    };
    let interceptor = platform.store.create_interceptor(&new).await?;
    audit_change(
        platform,
        caller,
        AuditAction::InterceptorCreated,
        &interceptor,
    )
    .await?;
    super::policies::announce_organization(platform, caller.org()).await?;
    Ok(CreatedInterceptor {
        interceptor,
        secret,
    })
}

fn checked(
    org: &OrgId,
    input: InterceptorInput,
    platform: &Platform,
) -> Result<Interceptor, CoreError> {
    let name = input.name.trim().to_owned();
    validate_text("name", &name, NAME_MAX)?;
    let url =
        crate::support::webhooks::validate_url(&input.url, platform.config.webhooks_allow_private)?;
    let mut phases = Vec::new();
    for phase in input.phases {
        if !phases.contains(&phase) {
            phases.push(phase);
        }
    }
    if phases.is_empty() {
        return Err(ValidationError::new("phases", "name request, result, or both").into());
    }
    let (shortest, longest, default) = INTERCEPT_TIMEOUT_MS;
    let timeout_ms = input.timeout_ms.unwrap_or(default);
    if !(shortest..=longest).contains(&timeout_ms) {
        let message = format!("must be from {shortest} to {longest} milliseconds");
        return Err(ValidationError::new("timeout_ms", message).into());
    }
    Ok(Interceptor {
        id: InterceptorId::generate(),
        org_id: org.clone(),
        name,
        url,
        phases,
        timeout_ms,
        on_failure: input.on_failure.unwrap_or(InterceptFailure::Open),
        mode: input.mode.unwrap_or(InterceptMode::Enforce),
        created_at: Timestamp::now(),
    })
}

/// The organization's interceptors, in the order they are asked.
pub async fn list(platform: &Platform, caller: &Caller) -> Result<Vec<Interceptor>, CoreError> {
    let stored = platform.store.interceptors(caller.org()).await?;
    Ok(stored
        .into_iter()
        .map(|sealed| sealed.interceptor)
        .collect())
}

pub async fn delete(
    platform: &Platform,
    caller: &Caller,
    id: &InterceptorId,
) -> Result<(), CoreError> {
    caller.require(Permission::Gateway)?;
    let org = caller.org();
    let found = list(platform, caller).await?;
    let interceptor = found
        .into_iter()
        .find(|interceptor| interceptor.id == *id)
        .ok_or(CoreError::NotFound)?;
    platform.store.delete_interceptor(org, id).await?;
    audit_change(
        platform,
        caller,
        AuditAction::InterceptorDeleted,
        &interceptor,
    )
    .await?;
    super::policies::announce_organization(platform, org).await
}

async fn audit_change(
    platform: &Platform,
    caller: &Caller,
    action: AuditAction,
    interceptor: &Interceptor,
) -> Result<(), CoreError> {
    let object = Object {
        kind: "interceptor",
        id: interceptor.id.as_str(),
        name: &interceptor.name,
    };
    let detail = serde_json::json!({
        "url": interceptor.url,
        "phases": interceptor.phases,
        "on_failure": interceptor.on_failure,
        "mode": interceptor.mode,
    });
    audit::record(platform, caller, action, object, detail).await
}
