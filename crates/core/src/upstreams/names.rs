//! The names an attachment's tools are exposed under: `{prefix}__{tool}`, within
//! `^[A-Za-z0-9_.-]{1,64}$` (what clients accept). A name too long or with other
//! characters is shortened deterministically, the same on every node and after every
//! restart, with a short hash of the full name so that two long names stay apart.

use guidepost_domain::{ValidationError, hash_secret};

const MAX_NAME: usize = 64;
const MAX_PREFIX: usize = 24;
const HASH_CHARS: usize = 8;

/// Checks an attachment prefix: 1 to 24 of `A-Za-z0-9-`, so that `__` separates it from
/// the tool's name unambiguously.
pub(crate) fn checked_prefix(prefix: &str) -> Result<String, ValidationError> {
    let ok = (1..=MAX_PREFIX).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(prefix.to_owned())
    } else {
        Err(ValidationError::new(
            "prefix",
            format!("must be 1 to {MAX_PREFIX} letters, digits or '-'"),
        ))
    }
}

/// What separates an attachment's prefix from its tool's name.
const SEPARATOR: &str = "__";

/// Whether `name` has the shape of an attached upstream's tool (`{prefix}__{tool}`); no
/// built-in tool's name has it.
pub fn may_be_exposed(name: &str) -> bool {
    name.contains(SEPARATOR)
}

/// The name `tool` of an attachment with `prefix` is exposed under.
pub fn exposed_name(prefix: &str, tool: &str) -> String {
    let full = format!("{prefix}{SEPARATOR}{tool}");
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if full.len() <= MAX_NAME && full.chars().all(allowed) {
        return full;
    }
    let cleaned: String = full
        .chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .take(MAX_NAME - HASH_CHARS - 1)
        .collect();
    let hash = &hash_secret(&full)[..HASH_CHARS];
    format!("{cleaned}_{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prefixed_and_shortened_deterministically() {
        assert_eq!(exposed_name("ev", "echo"), "ev__echo");
        let long = "a".repeat(80);
        let short = exposed_name("ev", &long);
        assert_eq!(short.len(), 64);
        assert_eq!(short, exposed_name("ev", &long), "stable");
        assert_ne!(
            short,
            exposed_name("ev", &"a".repeat(81)),
            "long names stay apart"
        );
        let odd = exposed_name("ev", "say hello!");
        assert!(
            odd.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
            "{odd}"
        );
        assert!(checked_prefix("ev").is_ok());
        for bad in ["", "a_b", "a.b", &"x".repeat(25)] {
            assert!(checked_prefix(bad).is_err(), "{bad}");
        }
    }
}
