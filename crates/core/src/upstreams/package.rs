//! What an npm or PyPI entry names, wherever the entry comes from: the
//! built-in catalog, the operator's `--catalog` file or an organization's private
//! entries. The package name and version reach `npm install` and `pip install` (after
//! `--`, as a package spec), so a name is a plain registry name that cannot read as an
//! option or a path, and a version is one exact release: nothing a registry could
//! resolve to something else later (ranges, tags, partial versions).

use guidepost_domain::{LaunchSpec, ValidationError};

/// npm's longest package name.
const NPM_NAME_MAX: usize = 214;
/// The longest PyPI project name taken.
const PYPI_NAME_MAX: usize = 100;
const VERSION_MAX: usize = 64;

const EXACT: &str = "must be an exact version, such as 1.2.3 (no ranges or tags)";

/// Checks the package and version of an npm or PyPI entry; other runtimes pass.
pub(crate) fn check(spec: &LaunchSpec) -> Result<(), ValidationError> {
    match spec {
        LaunchSpec::Npm(npm) => {
            check_npm_name(&npm.package)?;
            check_npm_version(&npm.version)
        }
        LaunchSpec::Pypi(pypi) => {
            check_pypi_name(&pypi.package)?;
            check_pypi_version(&pypi.version)
        }
        LaunchSpec::Http(_) | LaunchSpec::Container(_) | LaunchSpec::Command(_) => Ok(()),
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> ValidationError {
    ValidationError::new(field, message.into())
}

/// What every package name is refused for, whichever registry it names.
fn check_name_basics(name: &str, max: usize) -> Result<(), ValidationError> {
    if name.is_empty() {
        return Err(invalid("spec.package", "must not be empty"));
    }
    if name.len() > max {
        return Err(invalid("spec.package", format!("at most {max} characters")));
    }
    if name.starts_with('-') {
        return Err(invalid(
            "spec.package",
            format!("{name:?} starts with '-', which an installer would read as an option"),
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "spec.package",
            "must not contain spaces or control characters",
        ));
    }
    if name.contains("..") {
        return Err(invalid("spec.package", "must not contain '..'"));
    }
    Ok(())
}

/// An npm package name, as the registry takes new ones: `name` or `@scope/name`, each
/// part of a-z, 0-9, '-', '.', '_' and '~', starting with a letter or digit.
pub(crate) fn check_npm_name(name: &str) -> Result<(), ValidationError> {
    check_name_basics(name, NPM_NAME_MAX)?;
    let part = |p: &str| {
        p.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~".contains(c))
    };
    let ok = match name.strip_prefix('@') {
        Some(scoped) => scoped
            .split_once('/')
            .is_some_and(|(scope, name)| part(scope) && part(name)),
        None => part(name) && !matches!(name, "node_modules" | "favicon.ico"),
    };
    if !ok {
        return Err(invalid(
            "spec.package",
            "must be an npm package name, such as @scope/name (lowercase letters, digits, '-', '.', '_')",
        ));
    }
    Ok(())
}

/// A PyPI project name (PEP 508): letters, digits, '.', '_' and '-', starting and ending
/// with a letter or digit.
pub(crate) fn check_pypi_name(name: &str) -> Result<(), ValidationError> {
    check_name_basics(name, PYPI_NAME_MAX)?;
    let ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok {
        return Err(invalid(
            "spec.package",
            "must be a PyPI project name, such as mcp-server-time",
        ));
    }
    Ok(())
}

/// An exact npm version: full semver, `MAJOR.MINOR.PATCH` with an optional
/// `-prerelease` and `+build` (no `v`, no ranges, no tags such as `latest`).
pub(crate) fn check_npm_version(version: &str) -> Result<(), ValidationError> {
    if is_semver(version) {
        Ok(())
    } else {
        Err(invalid("spec.version", EXACT))
    }
}

/// An exact PyPI version: a PEP 440 release of at least two numeric components, in its
/// normal form (`1.0`, `2026.10.19`, `1.2.3rc1`, `1.0.post1`, `1.0.dev2`, with an
/// optional `N!` epoch); no specifiers (`>=1`, `~=1.0`), wildcards (`1.*`), partial
/// versions (`1`) or local versions (`+local`, which PyPI does not host).
pub(crate) fn check_pypi_version(version: &str) -> Result<(), ValidationError> {
    if is_pep440_release(version) {
        Ok(())
    } else {
        Err(invalid(
            "spec.version",
            format!(
                "{EXACT}; for PyPI a release of at least two numbers, such as 1.0 or 2026.10.19"
            ),
        ))
    }
}

fn is_number(part: &str) -> bool {
    !part.is_empty() && part.len() <= 20 && part.bytes().all(|b| b.is_ascii_digit())
}

/// A semver numeric identifier: `0`, or digits without a leading zero.
fn is_semver_number(part: &str) -> bool {
    is_number(part) && (part == "0" || !part.starts_with('0'))
}

fn is_semver(version: &str) -> bool {
    if version.is_empty() || version.len() > VERSION_MAX {
        return false;
    }
    let (rest, build) = match version.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (version, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let identifier =
        |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let numbers: Vec<&str> = core.split('.').collect();
    numbers.len() == 3
        && numbers.iter().all(|n| is_semver_number(n))
        && pre.is_none_or(|pre| {
            pre.split('.').all(|id| {
                identifier(id) && (!id.bytes().all(|b| b.is_ascii_digit()) || is_semver_number(id))
            })
        })
        && build.is_none_or(|build| build.split('.').all(identifier))
}

fn is_pep440_release(version: &str) -> bool {
    if version.is_empty() || version.len() > VERSION_MAX {
        return false;
    }
    let mut rest = version;
    if let Some((epoch, after)) = rest.split_once('!') {
        if !is_number(epoch) {
            return false;
        }
        rest = after;
    }
    // `.devN`, then `.postN`, then the pre-release, each optional, from the end.
    if let Some((before, n)) = rest.rsplit_once(".dev") {
        if !is_number(n) {
            return false;
        }
        rest = before;
    }
    if let Some((before, n)) = rest.rsplit_once(".post") {
        if !is_number(n) {
            return false;
        }
        rest = before;
    }
    // The release's last component may carry `aN`, `bN` or `rcN`. The digits are cut off
    // by what they are, not by a byte count: a version may hold any character.
    let head = rest.trim_end_matches(|c: char| c.is_ascii_digit());
    let pre_number = &rest[head.len()..];
    let release = ["rc", "a", "b"]
        .iter()
        .find_map(|tag| head.strip_suffix(tag).filter(|_| is_number(pre_number)))
        .unwrap_or(rest);
    let numbers: Vec<&str> = release.split('.').collect();
    numbers.len() >= 2 && numbers.iter().all(|n| is_number(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_versions_are_full_semver() {
        for ok in [
            "1.2.3",
            "0.0.0",
            "2026.8.31",
            "10.20.30",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-0.3.7",
            "1.0.0-x.7.z.92",
            "1.0.0-rc.1+build.5",
            "1.0.0+20130313144700",
            "1.0.0-beta+exp.sha.5114f85",
        ] {
            assert!(check_npm_version(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1",
            "1.x",
            "1.2",
            "1.2.x",
            "1.2.*",
            "^1.3.0",
            "~1.3.0",
            ">=1.0.0",
            "1.0.0 - 2.0.0",
            "1.0.0 || 2.0.0",
            "v1.2.3",
            "=1.2.3",
            "latest",
            "next",
            "01.2.3",
            "1.02.3",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3-a..b",
            "1.2.3+",
            "1.2.3+a..b",
            "1.2.3.4",
            "-1.2.3",
            "1.2.3 ",
            " 1.2.3",
            "1.2.3-a_b",
            "1.2.3\n",
        ] {
            let error = check_npm_version(bad).unwrap_err();
            assert_eq!(error.field, "spec.version", "{bad}");
            assert!(
                error.message.contains("exact version"),
                "{bad}: {}",
                error.message
            );
        }
        assert!(check_npm_version(&format!("1.2.3-{}", "a".repeat(VERSION_MAX))).is_err());
    }

    #[test]
    fn pypi_versions_are_exact_releases_of_two_numbers_or_more() {
        for ok in [
            "1.0",
            "2026.10.19",
            "1.2.3",
            "1.2.3rc1",
            "1.0a1",
            "1.0b2",
            "1.0.post1",
            "1.0.dev2",
            "1.0rc1.post2.dev3",
            "1.0.post1.dev0",
            "1!2.0",
            "0.0.1",
        ] {
            assert!(check_pypi_version(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1",
            "1.x",
            ">=1",
            "==1.0",
            "~=1.0",
            "1.*",
            "1.0.*",
            "latest",
            "1.0+local",
            "1.0 ",
            "1.0,<2",
            "1.0rc",
            "rc1",
            "1rc1",
            "1.post1",
            "1.0.post",
            "1.0.dev",
            "v1.0",
            "1.0-1",
            "1.0.RC1",
            "1..0",
            ".1.0",
            "1.0.",
            "!1.0",
            "x!1.0",
            "1.0;os_name=='nt'",
            "1.0a1b2",
            "1.0.dev1.post1",
            "-1.0",
            // Not ASCII: cut before a character of two bytes, this one panicked.
            "1.0é",
            "1.0é.dev1",
            "é",
            "1.0rc１",
        ] {
            let error = check_pypi_version(bad).unwrap_err();
            assert_eq!(error.field, "spec.version", "{bad}");
            assert!(
                error.message.contains("exact version"),
                "{bad}: {}",
                error.message
            );
        }
    }

    #[test]
    fn package_names_cannot_read_as_options_or_paths() {
        for ok in [
            "left-pad",
            "@modelcontextprotocol/server-everything",
            "a",
            "lodash.get",
            "a_b~c",
        ] {
            assert!(check_npm_name(ok).is_ok(), "{ok}");
        }
        for ok in [
            "mcp-server-time",
            "six",
            "Django",
            "zope.interface",
            "a_b",
            "A1",
        ] {
            assert!(check_pypi_name(ok).is_ok(), "{ok}");
        }
        let option = |error: ValidationError| {
            assert_eq!(error.field, "spec.package");
            assert!(error.message.contains("option"), "{}", error.message);
        };
        for name in ["-g", "--prefix", "--prefix=/tmp", "-"] {
            option(check_npm_name(name).unwrap_err());
            option(check_pypi_name(name).unwrap_err());
        }
        for bad in [
            "",
            "../../etc",
            "a..b",
            ".hidden",
            "_private",
            "Upper",
            "a b",
            "a\tb",
            "a\nb",
            "@scope",
            "@scope/",
            "@/name",
            "@-x/name",
            "@scope/-g",
            "@scope/a/b",
            "a/b",
            "node_modules",
            "file:/etc",
            "git+https://x",
            "left-pad@1.0.0",
            "http://x/y.tgz",
        ] {
            assert_eq!(
                check_npm_name(bad).unwrap_err().field,
                "spec.package",
                "{bad:?}"
            );
        }
        assert!(check_npm_name(&"a".repeat(NPM_NAME_MAX)).is_ok());
        assert!(check_npm_name(&"a".repeat(NPM_NAME_MAX + 1)).is_err());
        for bad in [
            "",
            "a..b",
            "a b",
            "a-",
            ".a",
            "_a",
            "a/b",
            "six==1.0",
            "six[extra]",
            "./dir",
            "a\u{0}",
            "six;x",
        ] {
            assert_eq!(
                check_pypi_name(bad).unwrap_err().field,
                "spec.package",
                "{bad:?}"
            );
        }
        assert!(check_pypi_name(&"a".repeat(PYPI_NAME_MAX + 1)).is_err());
    }

    #[test]
    fn the_check_reads_the_spec_of_each_runtime() {
        let spec =
            |value: serde_json::Value| -> LaunchSpec { serde_json::from_value(value).unwrap() };
        let npm = |package: &str, version: &str| {
            check(&spec(
                serde_json::json!({"runtime": "npm", "package": package, "version": version}),
            ))
        };
        let pypi = |package: &str, version: &str| {
            check(&spec(
                serde_json::json!({"runtime": "pypi", "package": package, "version": version}),
            ))
        };
        assert!(npm("left-pad", "1.3.0").is_ok());
        assert_eq!(npm("-g", "1.3.0").unwrap_err().field, "spec.package");
        assert_eq!(npm("left-pad", "1.x").unwrap_err().field, "spec.version");
        assert!(pypi("six", "1.16.0").is_ok());
        assert_eq!(pypi("--prefix", "1.0").unwrap_err().field, "spec.package");
        assert_eq!(pypi("six", "1").unwrap_err().field, "spec.version");
        let remote = spec(serde_json::json!({"runtime": "http", "url": "https://example.com/mcp"}));
        assert!(check(&remote).is_ok());
    }
}
