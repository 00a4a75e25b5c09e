//! What a test needs from the machine (PostgreSQL, Podman, PostgreSQL's server programs),
//! and what happens when it is missing.
//!
//! In CI (`CI` set, as CI services set it) or with `GUIDEPOST_REQUIRE_ALL=1`, a missing
//! environment **fails** the test, naming what is missing: a CI machine that lost
//! PostgreSQL must not report the PostgreSQL proofs green. Elsewhere the test may skip,
//! but it says so twice: on its own output, and with one line in the directory named by
//! `GUIDEPOST_TEST_SKIPS_DIR`, which `scripts/test` counts and prints last, so that a
//! skip is never mistaken for a pass.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Set to `1` to make every missing test environment a failure.
pub const REQUIRE_ALL_VAR: &str = "GUIDEPOST_REQUIRE_ALL";

/// A directory where each skipped test leaves one line (`scripts/test` sets it).
pub const SKIPS_DIR_VAR: &str = "GUIDEPOST_TEST_SKIPS_DIR";

/// Whether every test environment must be present here: `GUIDEPOST_REQUIRE_ALL=1`, or
/// `CI` set to anything but empty, `0` or `false`.
pub fn all_environments_required() -> bool {
    is_on(std::env::var(REQUIRE_ALL_VAR).ok()) || is_on(std::env::var("CI").ok())
}

fn is_on(value: Option<String>) -> bool {
    value.is_some_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
}

/// `true` when `environment` (a name a person recognises: "PostgreSQL", "Podman") is
/// `available`. When it is not: fails the test, naming it and `missing_because`, where
/// all environments are required ([`all_environments_required`]); otherwise records the
/// skip and returns `false`, and the test returns at once.
///
/// ```ignore
/// if !require_environment("Podman", podman_installed(), "podman is not on PATH") {
///     return;
/// }
/// ```
pub fn require_environment(environment: &str, available: bool, missing_because: &str) -> bool {
    let rules = Rules {
        required: all_environments_required(),
        skips_dir: std::env::var_os(SKIPS_DIR_VAR).map(PathBuf::from),
    };
    rules.require(environment, available, missing_because)
}

/// What [`require_environment`] reads from the process's environment, apart so that
/// its own tests need not change process-wide variables.
struct Rules {
    required: bool,
    skips_dir: Option<PathBuf>,
}

impl Rules {
    fn require(&self, environment: &str, available: bool, missing_because: &str) -> bool {
        if available {
            return true;
        }
        let test = current_test_name();
        if self.required {
            panic!(
                "{test} needs {environment}, which is missing here: {missing_because} \
                 ({REQUIRE_ALL_VAR}=1 or CI is set, so a missing environment fails the \
                 test instead of skipping it)"
            );
        }
        println!("skipped: {environment} is missing: {missing_because}");
        if let Some(dir) = &self.skips_dir {
            record_skip(
                dir,
                &format!("{test}: {environment} is missing ({missing_because})"),
            );
        }
        false
    }
}

/// The running test's name: libtest names each test's thread after the test, and a
/// `#[tokio::test]` body runs on that thread.
fn current_test_name() -> String {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map(str::to_owned)
        .or_else(|| std::env::var("NEXTEST_TEST_NAME").ok())
        .unwrap_or_else(|| "a test".to_owned())
}

/// One file per skip, so that tests in parallel processes never interleave their lines.
/// A failure to record is reported, never raised: the skip itself was already printed.
fn record_skip(dir: &Path, line: &str) {
    let file = dir.join(format!(
        "{}-{}.txt",
        std::process::id(),
        crate::random_suffix()
    ));
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        let mut out = std::fs::File::create(&file)?;
        writeln!(out, "{line}")
    });
    if let Err(e) = written {
        eprintln!("cannot record the skip in {}: {e}", file.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_environment_is_recorded_when_it_may_be_skipped() {
        let dir = std::env::temp_dir().join(format!("guidepost-skips-{}", crate::random_suffix()));
        let rules = Rules {
            required: false,
            skips_dir: Some(dir.clone()),
        };
        assert!(rules.require("Thing", true, "never asked"));
        assert!(!dir.exists(), "an available environment records nothing");

        assert!(!rules.require("Thing", false, "thing is not installed"));
        let lines: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
            .collect();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("Thing is missing (thing is not installed)")
                && lines[0].contains("a_missing_environment_is_recorded"),
            "{lines:?}"
        );
    }

    #[test]
    fn a_missing_environment_fails_the_test_when_required() {
        let rules = Rules {
            required: true,
            skips_dir: None,
        };
        assert!(rules.require("Thing", true, "never asked"));
        let failed =
            std::panic::catch_unwind(|| rules.require("Thing", false, "thing is not installed"));
        let message = failed.expect_err("a required environment fails the test");
        let message = message
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            message.contains("needs Thing") && message.contains("thing is not installed"),
            "{message}"
        );
    }

    #[test]
    fn ci_or_the_flag_require_every_environment() {
        for on in ["1", "true", "yes"] {
            assert!(is_on(Some(on.into())), "{on}");
        }
        for off in [None, Some(""), Some("0"), Some("false"), Some("FALSE")] {
            assert!(!is_on(off.map(str::to_owned)), "{off:?}");
        }
    }
}
