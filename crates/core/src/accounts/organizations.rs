//! Organizations and their API keys. Keys are random, shown once, and stored
//! only as hashes; a request's organization is the one its key belongs to, and what it may
//! do there is what its scopes give (`Caller::api_key`).

use crate::{Caller, Permission};
use guidepost_domain::*;
use guidepost_store::KeyMaker;

use crate::{CoreError, Platform};

/// A key as created: the record and the plaintext, which is never stored.
pub struct CreatedKey {
    pub key: ApiKey,
    pub plaintext: String,
}

/// Creates an organization with a first API key named `default`, which has every scope
/// (it is how the organization's operator makes the rest).
pub async fn create(
    platform: &Platform,
    name: &str,
) -> Result<(Organization, CreatedKey), CoreError> {
    validate_text("name", name, Limits::NAME)?;
    let org = platform.store.create_organization(name.trim()).await?;
    let maker = KeyMaker::Platform;
    let key = insert_api_key(platform, &org.id, maker, "default", &ApiKeyScopes::all()).await?;
    Ok((org, key))
}

/// Makes a key with `scopes` (`None`: [`ApiKeyScopes::default_for_new_keys`]). Only an
/// administrator makes keys, and never one that may do more than the caller may, so a
/// key cannot mint a stronger key that outlives its own revocation.
pub async fn create_api_key(
    platform: &Platform,
    caller: &Caller,
    name: &str,
    scopes: Option<ApiKeyScopes>,
) -> Result<CreatedKey, CoreError> {
    caller.require(Permission::Administer)?;
    let scopes = scopes.unwrap_or_else(ApiKeyScopes::default_for_new_keys);
    let refused: Vec<&str> = scopes
        .iter()
        .filter(|scope| !caller.may_grant(*scope))
        .map(ApiKeyScope::as_str)
        .collect();
    if !refused.is_empty() {
        return Err(CoreError::Forbidden(format!(
            "A new key cannot do more than its maker: you may not grant {}.",
            refused.join(", ")
        )));
    }
    let maker = match caller.actor() {
        Actor::ApiKey(id) => KeyMaker::Key(id),
        Actor::Member(id) => KeyMaker::Member(id),
        Actor::Operator | Actor::Platform | Actor::EndUser(_) => KeyMaker::Platform,
    };
    let created = insert_api_key(platform, caller.org(), maker, name, &scopes).await?;
    let scopes: Vec<&str> = created.key.scopes.iter().map(ApiKeyScope::as_str).collect();
    let detail = serde_json::json!({"scopes": scopes, "prefix": created.key.display_prefix});
    audit_key(
        platform,
        caller,
        AuditAction::ApiKeyCreated,
        &created.key,
        detail,
    )
    .await?;
    Ok(created)
}

async fn audit_key(
    platform: &Platform,
    caller: &Caller,
    action: AuditAction,
    key: &ApiKey,
    detail: serde_json::Value,
) -> Result<(), CoreError> {
    let object = crate::audit::Object {
        kind: "api_key",
        id: key.id.as_str(),
        name: &key.name,
    };
    crate::audit::record(platform, caller, action, object, detail).await
}

async fn insert_api_key(
    platform: &Platform,
    org: &OrgId,
    maker: KeyMaker<'_>,
    name: &str,
    scopes: &ApiKeyScopes,
) -> Result<CreatedKey, CoreError> {
    validate_text("name", name, Limits::NAME)?;
    let secret = ApiKeySecret::generate();
    let key = platform
        .store
        .create_api_key(org, maker, name.trim(), scopes, &secret)
        .await?;
    Ok(CreatedKey {
        key,
        plaintext: secret.plaintext,
    })
}

/// The organization's keys, with their scopes: who may act for it is an administrator's
/// to see.
pub async fn list_api_keys(platform: &Platform, caller: &Caller) -> Result<Vec<ApiKey>, CoreError> {
    caller.require(Permission::Administer)?;
    let org = caller.org();
    Ok(platform.store.list_api_keys(org).await?)
}

/// One page of the organization's keys, oldest first (the API's list).
pub async fn page_api_keys(
    platform: &Platform,
    caller: &Caller,
    page: &PageRequest,
) -> Result<Page<ApiKey>, CoreError> {
    caller.require(Permission::Administer)?;
    Ok(platform.store.page_api_keys(caller.org(), page).await?)
}

pub async fn revoke_api_key(
    platform: &Platform,
    caller: &Caller,
    id: &ApiKeyId,
) -> Result<ApiKey, CoreError> {
    caller.require(Permission::Administer)?;
    let org = caller.org();
    let key = platform.store.revoke_api_key(org, id).await?;
    let detail = serde_json::json!({"prefix": key.display_prefix});
    audit_key(platform, caller, AuditAction::ApiKeyRevoked, &key, detail).await?;
    Ok(key)
}

/// Who acts with a presented API key: its organization, if the key is live. Platform-wide:
/// the lookup is by the secret's hash, and the key names its organization.
pub async fn authenticate(
    platform: &Platform,
    presented: &str,
) -> Result<Option<Caller>, CoreError> {
    let key = platform
        .store
        .find_api_key_by_hash(&hash_secret(presented))
        .await?;
    Ok(key.as_ref().map(Caller::api_key))
}

/// `PATCH /api/v1/organization`.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    /// `manual`: a new upstream tool waits for an administrator's approval;
    /// `trust_on_first_use`: a new, clean tool is approved when first seen.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub tool_approval: Option<ToolApproval>,
    /// `true`: upstream tool results reach agents as sent; `false` (the default): their
    /// control, invisible and bidirectional characters are stripped.
    #[serde(default)]
    pub raw_tool_results: Option<bool>,
    /// `true`: the organization's hosted servers are listed in the platform's registry
    /// API (`GET /v0.1/servers` on the platform host), for registry clients and IDE
    /// marketplaces; `false` (the default): they are not.
    #[serde(default)]
    pub registry_listed: Option<bool>,
}

pub async fn get(platform: &Platform, caller: &Caller) -> Result<Organization, CoreError> {
    let org = caller.org();
    Ok(platform.store.get_organization(org).await?)
}

/// Changes the organization's settings; each change is audited.
pub async fn update(
    platform: &Platform,
    caller: &Caller,
    input: UpdateOrganization,
) -> Result<Organization, CoreError> {
    caller.require(Permission::Administer)?;
    let org = caller.org();
    let mut updated = None;
    if let Some(rule) = input.tool_approval {
        updated = Some(platform.store.set_tool_approval(org, rule).await?);
        let detail = serde_json::json!({"tool_approval": rule});
        audit_setting(
            platform,
            caller,
            AuditAction::OrganizationToolApproval,
            detail,
        )
        .await?;
    }
    if let Some(raw) = input.raw_tool_results {
        updated = Some(platform.store.set_raw_tool_results(org, raw).await?);
        let detail = serde_json::json!({"raw_tool_results": raw});
        audit_setting(
            platform,
            caller,
            AuditAction::OrganizationRawToolResults,
            detail,
        )
        .await?;
    }
    if let Some(listed) = input.registry_listed {
        updated = Some(platform.store.set_registry_listed(org, listed).await?);
        let detail = serde_json::json!({"registry_listed": listed});
        audit_setting(
            platform,
            caller,
            AuditAction::OrganizationRegistryListed,
            detail,
        )
        .await?;
    }
    match updated {
        Some(organization) => Ok(organization),
        None => get(platform, caller).await,
    }
}

async fn audit_setting(
    platform: &Platform,
    caller: &Caller,
    action: AuditAction,
    detail: serde_json::Value,
) -> Result<(), CoreError> {
    let about = crate::upstreams::audit::About {
        detail,
        ..Default::default()
    };
    crate::upstreams::audit::record(platform, caller.org(), caller.actor(), action, about).await
}
