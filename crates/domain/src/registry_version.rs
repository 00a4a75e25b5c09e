//! Which of a registry server's versions is newer: semantic versioning where
//! both versions parse as it (`1.10.0` after `1.9.2`, a pre-release before its release,
//! build metadata ignored), otherwise the registry's own word (`isLatest`), then the
//! order of publication. What "upgrade available" and the catalog's latest version read.

use std::cmp::Ordering;

use crate::Timestamp;

/// What is known of one version to order it.
#[derive(Debug, Clone, Copy)]
pub struct VersionFacts<'a> {
    pub version: &'a str,
    /// The registry's `isLatest`, when it said one.
    pub is_latest: Option<bool>,
    pub published_at: Timestamp,
}

/// A semantic version: its numbers and its pre-release identifiers.
#[derive(Debug, PartialEq, Eq)]
struct Semver<'a> {
    numbers: [u64; 3],
    pre: Vec<&'a str>,
}

/// `MAJOR.MINOR.PATCH[-PRE][+BUILD]` (a leading `v` allowed), or `None`.
fn semver(text: &str) -> Option<Semver<'_>> {
    let text = text.strip_prefix('v').unwrap_or(text);
    let text = text.split_once('+').map_or(text, |(core, _build)| core);
    let (core, pre) = match text.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (text, None),
    };
    let mut numbers = [0; 3];
    let mut parts = core.split('.');
    for number in &mut numbers {
        let part = parts.next()?;
        let leading_zero = part.len() > 1 && part.starts_with('0');
        if part.is_empty() || leading_zero || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *number = part.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    let pre: Vec<&str> = match pre {
        None => Vec::new(),
        Some(pre) => pre.split('.').collect(),
    };
    let identifier =
        |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    pre.iter()
        .all(identifier)
        .then_some(Semver { numbers, pre })
}

/// Pre-release identifiers in SemVer 2.0's order: numbers below words, numbers by value,
/// words by ASCII, and a shorter list first when it is a prefix of the other.
fn compare_pre(a: &[&str], b: &[&str]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        // A release comes after its pre-releases.
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        (false, false) => {}
    }
    for (x, y) in a.iter().zip(b) {
        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// How two versions compare when both are semantic versions; `None` otherwise.
pub fn compare_semver(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (semver(a)?, semver(b)?);
    Some(
        a.numbers
            .cmp(&b.numbers)
            .then_with(|| compare_pre(&a.pre, &b.pre)),
    )
}

/// How `a` compares with `b` (`Greater`: `a` is newer).
pub fn compare_versions(a: &VersionFacts<'_>, b: &VersionFacts<'_>) -> Ordering {
    if a.version == b.version {
        return Ordering::Equal;
    }
    if let Some(order) = compare_semver(a.version, b.version) {
        return order;
    }
    let latest = |facts: &VersionFacts<'_>| facts.is_latest == Some(true);
    latest(a)
        .cmp(&latest(b))
        .then(a.published_at.cmp(&b.published_at))
        .then_with(|| a.version.cmp(b.version))
}

/// Whether `latest`, the registry's latest version, is an upgrade for an installation of
/// `installed` (which the registry may no longer list): it is, unless they are the same
/// or semantic versioning puts it before.
pub fn is_upgrade(installed: &str, latest: &str) -> bool {
    installed != latest && compare_semver(latest, installed) != Some(Ordering::Less)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(version: &str, is_latest: Option<bool>, published: i64) -> VersionFacts<'_> {
        VersionFacts {
            version,
            is_latest,
            published_at: Timestamp::from_micros(published),
        }
    }

    #[test]
    fn semantic_versions_compare_by_number_not_by_text() {
        let newer = |a, b| compare_semver(a, b) == Some(Ordering::Greater);
        assert!(newer("1.10.0", "1.9.2"), "by number, not by text");
        assert!(newer("2.0.0", "1.99.99"));
        assert!(
            newer("1.0.0", "1.0.0-rc.1"),
            "a release after its pre-release"
        );
        assert!(
            newer("1.0.0-rc.10", "1.0.0-rc.9"),
            "numeric identifiers by value"
        );
        assert!(newer("1.0.0-beta", "1.0.0-alpha.1"));
        assert!(
            newer("1.0.0-alpha.1", "1.0.0-alpha"),
            "the longer list after its prefix"
        );
        assert!(
            newer("1.0.0-alpha.beta", "1.0.0-alpha.1"),
            "a word after a number"
        );
        assert!(newer("v1.2.0", "1.1.9"), "a leading v");
        assert_eq!(
            compare_semver("1.2.3+build.5", "1.2.3"),
            Some(Ordering::Equal)
        );
        for not_semver in [
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "1.2.x",
            "2026-01-01",
            "latest",
            "1.2.3-",
        ] {
            assert_eq!(compare_semver(not_semver, "1.0.0"), None, "{not_semver}");
        }
    }

    #[test]
    fn versions_that_do_not_parse_follow_the_registry_then_publication() {
        let order = |a, b| compare_versions(&a, &b);
        // Semantic versions win over the registry's flag and over the publication order.
        assert_eq!(
            order(facts("1.10.0", None, 1), facts("1.9.0", Some(true), 2)),
            Ordering::Greater
        );
        // Otherwise the registry's isLatest…
        assert_eq!(
            order(
                facts("2026.01", Some(true), 1),
                facts("nightly", Some(false), 2)
            ),
            Ordering::Greater
        );
        // …then the order of publication.
        assert_eq!(
            order(facts("zebra", None, 1), facts("alpha", None, 2)),
            Ordering::Less
        );
        assert_eq!(
            order(facts("1.0.0", None, 5), facts("1.0.0", None, 1)),
            Ordering::Equal
        );
    }

    #[test]
    fn an_upgrade_is_a_different_latest_not_one_semver_puts_before() {
        assert!(is_upgrade("1.0.0", "1.1.0"));
        assert!(is_upgrade("1.9.0", "1.10.0"));
        assert!(!is_upgrade("1.1.0", "1.1.0"));
        assert!(
            !is_upgrade("2.0.0", "1.5.0"),
            "installed is newer than the latest"
        );
        assert!(
            is_upgrade("nightly-1", "nightly-2"),
            "not semver: the registry's latest"
        );
    }
}
