//! Where a catalog entry id leads: the platform's catalog, a registry (an id with a '/',
//! at a version), or the organization's own entries.

use guidepost_domain::*;

use super::catalog::CatalogEntry;
use crate::{Caller, CoreError, Platform};

/// The entry `id` as it installs: the platform's, a registry's (at `version`, else its
/// latest), or the organization's own (an unknown or uninstallable one is `Invalid`,
/// saying why); with the registry version it is, for a registry's.
pub async fn entry(
    platform: &Platform,
    caller: &Caller,
    id: &str,
    version: Option<&str>,
) -> Result<(CatalogEntry, Option<String>), CoreError> {
    find(platform, caller.org(), id, version).await
}

/// Whether `id` names a registry entry (only a registry entry's id, its server name,
/// holds a '/').
pub(super) fn is_registry_id(platform: &Platform, id: &str) -> bool {
    platform.config.catalog.find(id).is_none()
        && id.contains('/')
        && id.len() <= 200
        && !id.chars().any(char::is_control)
}

/// The entry `id`: the platform's, a registry's, else the organization's own; a
/// registry's at `version` (its latest if none), answered with the version it is. Only a
/// registry entry has versions to choose from.
pub(super) async fn find(
    platform: &Platform,
    org: &OrgId,
    id: &str,
    version: Option<&str>,
) -> Result<(CatalogEntry, Option<String>), CoreError> {
    if is_registry_id(platform, id) {
        let (entry, version) = super::registry::find(platform, id, version).await?;
        return Ok((entry, Some(version)));
    }
    if version.is_some() {
        let message = format!(
            "{id:?} is not a registry entry, which has versions to choose from; \
             install it, then PATCH its package version"
        );
        return Err(ValidationError::new("version", message).into());
    }
    super::private::find_local(platform, org, id)
        .await
        .map(|entry| (entry, None))
}
