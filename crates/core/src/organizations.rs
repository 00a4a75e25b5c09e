//! Organizations and their API keys (SPEC §7). Keys are random, shown once, and stored
//! only as hashes; a request's organization is the one its key belongs to.

use guidepost_domain::*;

use crate::{CoreError, Platform};

/// A key as created: the record and the plaintext, which is never stored.
pub struct CreatedKey {
    pub key: ApiKey,
    pub plaintext: String,
}

/// Creates an organization with a first API key named `default`.
pub async fn create(
    platform: &Platform,
    name: &str,
) -> Result<(Organization, CreatedKey), CoreError> {
    validate_text("name", name, Limits::NAME)?;
    let org = platform.store.create_organization(name.trim()).await?;
    let key = create_api_key(platform, &org.id, "default").await?;
    Ok((org, key))
}

pub async fn create_api_key(
    platform: &Platform,
    org: &OrgId,
    name: &str,
) -> Result<CreatedKey, CoreError> {
    validate_text("name", name, Limits::NAME)?;
    let secret = ApiKeySecret::generate();
    let key = platform
        .store
        .create_api_key(org, name.trim(), &secret)
        .await?;
    Ok(CreatedKey {
        key,
        plaintext: secret.plaintext,
    })
}

pub async fn list_api_keys(platform: &Platform, org: &OrgId) -> Result<Vec<ApiKey>, CoreError> {
    Ok(platform.store.list_api_keys(org).await?)
}

pub async fn revoke_api_key(
    platform: &Platform,
    org: &OrgId,
    id: &ApiKeyId,
) -> Result<ApiKey, CoreError> {
    Ok(platform.store.revoke_api_key(org, id).await?)
}

/// The live key a presented secret belongs to, if any. Platform-wide: the lookup is by
/// the secret's hash, and the key names its organization.
pub async fn authenticate(
    platform: &Platform,
    presented: &str,
) -> Result<Option<ApiKey>, CoreError> {
    Ok(platform
        .store
        .find_api_key_by_hash(&hash_secret(presented))
        .await?)
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
}

pub async fn get(platform: &Platform, org: &OrgId) -> Result<Organization, CoreError> {
    Ok(platform.store.get_organization(org).await?)
}

/// Changes the organization's settings; a change of `tool_approval` is audited.
pub async fn update(
    platform: &Platform,
    actor: &Actor,
    org: &OrgId,
    input: UpdateOrganization,
) -> Result<Organization, CoreError> {
    let Some(rule) = input.tool_approval else {
        return get(platform, org).await;
    };
    let updated = platform.store.set_tool_approval(org, rule).await?;
    let about = crate::upstreams::audit::About {
        detail: serde_json::json!({"tool_approval": rule}),
        ..Default::default()
    };
    crate::upstreams::audit::record(platform, org, actor, "organization.tool_approval", about)
        .await?;
    Ok(updated)
}
