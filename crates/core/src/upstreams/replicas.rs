//! How many processes of an upstream each node runs: at install, and changed
//! afterwards through `PATCH /api/v1/upstreams/{id}`. More than one only for an entry the
//! catalog marks stateless (a server that keeps state in its process needs every call to
//! reach the same one), never for a remote server (no process here), and at most the
//! operator's `--upstream-max-replicas`.

use guidepost_domain::*;

use crate::{CoreError, Platform};

/// How many processes of `entry` an installation runs on each node: what it asks, else
/// the entry's own number (at most the platform's maximum), else 1.
pub(super) fn of_entry(
    platform: &Platform,
    entry: &CatalogEntry,
    asked: Option<u32>,
) -> Result<u32, ValidationError> {
    let max = max_of(platform);
    let Some(asked) = asked else {
        let default = if entry.stateless {
            entry.replicas.unwrap_or(1)
        } else {
            1
        };
        return Ok(default.clamp(1, max));
    };
    let remote = entry.spec.is_remote();
    checked(max, &entry.name, entry.stateless, remote, asked)
}

/// The number an update asks for, checked against the upstream's catalog entry and the
/// node's room for the processes it adds; the current number when it asks none.
pub(super) async fn changed(
    platform: &Platform,
    org: &OrgId,
    current: &Upstream,
    asked: Option<u32>,
) -> Result<u32, CoreError> {
    let Some(asked) = asked.filter(|asked| *asked != current.replicas) else {
        return Ok(current.replicas);
    };
    let remote = current.spec.is_remote();
    // Only more than one process asks whether the entry is stateless (fewer always may).
    let stateless = asked > 1 && !remote && stateless(platform, org, current).await?;
    let replicas = checked(max_of(platform), &current.name, stateless, remote, asked)?;
    if let Some(added) = replicas.checked_sub(current.replicas).filter(|n| *n > 0) {
        // Every process reserves its own share of the organization's budget.
        platform
            .upstreams
            .admits_replicas(org, &current.spec, added)
            .map_err(|refused| CoreError::Conflict(refused.to_string()))?;
    }
    Ok(replicas)
}

/// Whether the catalog marks the entry the upstream was installed from stateless.
async fn stateless(
    platform: &Platform,
    org: &OrgId,
    upstream: &Upstream,
) -> Result<bool, CoreError> {
    let Some(entry_id) = upstream.catalog_entry_id.as_deref() else {
        return Ok(false);
    };
    let version = upstream.catalog_entry_version.as_deref();
    let (entry, _) = super::entries::find(platform, org, entry_id, version).await?;
    Ok(entry.stateless)
}

fn max_of(platform: &Platform) -> u32 {
    platform.config.max_replicas.max(1)
}

/// `asked` if `name`'s entry may run that many processes per node.
fn checked(
    max: u32,
    name: &str,
    stateless: bool,
    remote: bool,
    asked: u32,
) -> Result<u32, ValidationError> {
    let invalid = |message: String| ValidationError::new("replicas", message);
    if asked == 0 {
        return Err(invalid("must be at least 1".into()));
    }
    if asked == 1 {
        return Ok(1);
    }
    if remote {
        return Err(invalid(format!(
            "{name} is a remote server, which runs no process here: replicas must be 1"
        )));
    }
    if !stateless {
        return Err(invalid(format!(
            "{name} may keep state in its process (the catalog does not mark it stateless), \
             so every call must reach the same one: replicas must be 1"
        )));
    }
    if asked > max {
        return Err(invalid(format!(
            "at most {max} processes per node (the platform's --upstream-max-replicas)"
        )));
    }
    Ok(asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_one_process_only_for_a_stateless_local_entry_within_the_maximum() {
        assert_eq!(checked(4, "e", true, false, 4).unwrap(), 4);
        assert_eq!(checked(4, "e", false, false, 1).unwrap(), 1);
        assert_eq!(checked(4, "e", false, true, 1).unwrap(), 1);
        let refused = |stateless, remote, asked| {
            checked(4, "e", stateless, remote, asked)
                .unwrap_err()
                .to_string()
        };
        assert!(refused(true, false, 0).contains("at least 1"));
        assert!(refused(false, false, 2).contains("stateless"));
        assert!(refused(true, true, 2).contains("remote"));
        assert!(refused(true, false, 5).contains("--upstream-max-replicas"));
    }
}
