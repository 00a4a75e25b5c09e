//! An installation's secrets: given once at install, sealed with the master key
//! (bound to the organization and the secret's name), never shown again (the API lists
//! their names), and opened only by the supervisor when it launches the upstream, which
//! passes them by environment or header, never on a command line.

use std::collections::BTreeMap;

use guidepost_domain::{OrgId, Upstream, ValidationError};

use super::catalog::CatalogEntry;
use crate::secrets::SecretError;
use crate::{CoreError, Platform};

/// The longest secret value.
const SECRET_MAX: usize = 4096;

/// What a sealed secret is bound to: copied to another organization or name, it does not
/// open.
fn context(org: &OrgId, name: &str) -> String {
    format!("upstream-secret:{org}:{name}")
}

/// Checks the given secrets against the entry's slots (each one given, no other) and
/// seals them.
pub(super) fn sealed(
    platform: &Platform,
    org: &OrgId,
    entry: &CatalogEntry,
    given: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, CoreError> {
    refuse_unknown(entry, &given)?;
    require_all(entry, |name| given.contains_key(name))?;
    sealed_some(platform, org, entry, given)
}

/// Refuses, naming it, the first secret the entry requires that `held` says is missing.
pub(super) fn require_all(
    entry: &CatalogEntry,
    held: impl Fn(&str) -> bool,
) -> Result<(), CoreError> {
    match entry.secrets.iter().find(|s| s.required && !held(&s.name)) {
        Some(missing) => {
            let message = format!(
                "{} needs {}: {}",
                entry.id, missing.name, missing.description
            );
            Err(ValidationError::new("secrets", message).into())
        }
        None => Ok(()),
    }
}

/// Seals some of the entry's secrets (a change after install: the others are kept);
/// a name the entry does not declare is refused.
pub(super) fn sealed_some(
    platform: &Platform,
    org: &OrgId,
    entry: &CatalogEntry,
    given: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, CoreError> {
    refuse_unknown(entry, &given)?;
    if given.is_empty() {
        return Ok(BTreeMap::new());
    }
    seal_each(platform, org, given)
}

fn refuse_unknown(entry: &CatalogEntry, given: &BTreeMap<String, String>) -> Result<(), CoreError> {
    if let Some(unknown) = given
        .keys()
        .find(|name| !entry.secrets.iter().any(|s| &s.name == *name))
    {
        let known: Vec<&str> = entry.secrets.iter().map(|s| s.name.as_str()).collect();
        let message = format!(
            "{} takes no secret {unknown:?} (it takes {known:?})",
            entry.id
        );
        return Err(ValidationError::new("secrets", message).into());
    }
    Ok(())
}

fn seal_each(
    platform: &Platform,
    org: &OrgId,
    given: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, CoreError> {
    let Some(key) = &platform.config.master_key else {
        let message = "cannot be stored: this platform runs without a master key to encrypt \
                       secrets (start it with --master-key or GUIDEPOST_MASTER_KEY)";
        return Err(ValidationError::new("secrets", message).into());
    };
    let mut sealed = BTreeMap::new();
    for (name, value) in given {
        let printable =
            !value.is_empty() && value.len() <= SECRET_MAX && !value.chars().any(char::is_control);
        if !printable {
            let message =
                format!("{name} must be 1 to {SECRET_MAX} bytes without control characters");
            return Err(ValidationError::new("secrets", message).into());
        }
        sealed.insert(name.clone(), key.seal(&value, &context(org, &name)));
    }
    Ok(sealed)
}

/// Why an upstream's secrets cannot be opened; then it is not launched, and its status
/// says this.
#[derive(Debug, thiserror::Error)]
pub enum SecretsUnopened {
    #[error(
        "this platform runs without its master key, so the upstream's secrets cannot be opened"
    )]
    NoMasterKey,
    #[error("the secret {name} cannot be opened: {why}; install it again")]
    Sealed { name: String, why: SecretError },
}

/// The upstream's secrets in plain text, for its launch.
pub fn opened(
    platform: &Platform,
    upstream: &Upstream,
) -> Result<BTreeMap<String, String>, SecretsUnopened> {
    if upstream.secrets_sealed.is_empty() {
        return Ok(BTreeMap::new());
    }
    let Some(key) = &platform.config.master_key else {
        return Err(SecretsUnopened::NoMasterKey);
    };
    upstream
        .secrets_sealed
        .iter()
        .map(|(name, sealed)| {
            let value = key
                .open(sealed, &context(&upstream.org_id, name))
                .map_err(|why| SecretsUnopened::Sealed {
                    name: name.clone(),
                    why,
                })?;
            Ok((name.clone(), value))
        })
        .collect()
}
