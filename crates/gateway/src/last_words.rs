//! An upstream's last words: the last line it wrote to stderr, which its status
//! (`last_error`) carries to the organization's members who may read its logs (never to
//! MCP clients: a call that finds it failed is told so without them). The line is the
//! upstream's to choose, and a careless server prints the key it was given ("invalid
//! token sk-…"), so what leaves here has each secret value the installation holds
//! replaced, no control characters (no terminal escapes, no bidirectional overrides), and
//! at most `MAX_CHARS` characters.
//!
//! Redaction is a guard against accidents, not against an upstream that means to leak its
//! secret: that one can encode it as it likes.

/// The longest line shown.
pub(crate) const MAX_CHARS: usize = 500;
/// What a secret value reads as.
pub(crate) const REDACTED: &str = "[redacted]";

/// `line` with every value of `secrets` replaced by [`REDACTED`].
pub(crate) fn redacted(line: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(line.to_owned(), |text, secret| {
            text.replace(secret.as_str(), REDACTED)
        })
}

/// `line` as it may be shown: redacted, without control characters, bounded.
pub(crate) fn shown(line: &str, secrets: &[String]) -> String {
    // Redacted before and after the control characters go: a secret split by one is whole
    // again once it is dropped.
    let printable: String = redacted(line, secrets)
        .chars()
        .filter(|c| !is_unprintable(*c))
        .collect();
    bounded(redacted(&printable, secrets))
}

/// Control characters, and the invisible marks that reorder the text around them.
fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// At most `MAX_CHARS` characters. Every secret was replaced whole before the cut, and the
/// log ring cuts a line only past 4 KiB, later than this: no cut leaves a secret's start.
fn bounded(text: String) -> String {
    if text.chars().count() <= MAX_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_CHARS).collect();
    cut.push_str(" …");
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_words_are_redacted_printable_and_bounded() {
        let secrets = vec!["sk-live-4242".to_owned()];
        assert_eq!(
            shown("auth failed for sk-live-4242\u{1b}]0;owned\u{7}", &secrets),
            "auth failed for [redacted]]0;owned"
        );
        // Split by a control character, it is still found.
        assert_eq!(shown("key sk-live\u{1b}-4242", &secrets), "key [redacted]");
        let long = format!("{}{}", "x".repeat(MAX_CHARS - 4), "sk-live-4242 and more");
        let cut = shown(&long, &secrets);
        assert!(cut.chars().count() <= MAX_CHARS + 2, "{cut}");
        assert!(
            !cut.contains("sk-l"),
            "no start of a secret at the cut: {cut}"
        );
        assert!(cut.ends_with("[red …"), "{cut}");
        assert_eq!(shown("plain words", &[]), "plain words");
        assert_eq!(redacted("sk-live-4242\u{7}", &secrets), "[redacted]\u{7}");
    }
}
