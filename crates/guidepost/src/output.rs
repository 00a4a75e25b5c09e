//! Command output: text for people, JSON (`--json`) for scripts, notes on stderr.
//!
//! Everything the CLI writes to a terminal passes through here (the crate denies the print
//! macros elsewhere), because much of it is text someone else chose: an upstream's tool
//! names and stderr, a content repository's file names, an organization's names. A control
//! character in it would reach the operator's terminal as a command (`ESC ] 0; … BEL` sets
//! its title, other sequences rewrite the screen or answer back), so each one is shown as
//! an escape instead (`\x1b`, `\u{9b}`). Newlines and tabs are kept: the text renderers use
//! them for their layout.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write as _;

use serde::Serialize;

pub fn print<T: Serialize>(json: bool, value: &T, text: impl FnOnce(&T) -> String) {
    let out = if json {
        // serde_json escapes C0 controls in strings but leaves DEL and the C1 controls
        // raw; those can appear only inside strings, where `\u00XX` is their JSON escape.
        let pretty = serde_json::to_string_pretty(value).expect("command results always serialize");
        escaped(&pretty, |c, out| {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        })
        .into_owned()
    } else {
        visible(&text(value)).into_owned()
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is no error of the command's.
    let _ = writeln!(stdout, "{out}");
}

/// A line on stderr (progress, a warning, the error a command ended with), written as
/// `eprintln!` would be.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::note_line(format_args!($($arg)*))
    };
}
pub(crate) use note;

pub fn note_line(text: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{}", visible(&text.to_string()));
}

/// Rewrites the current stderr line (a terminal's live progress).
pub fn progress(text: impl std::fmt::Display) {
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "\r{}   ", visible(&text.to_string()));
    let _ = stderr.flush();
}

/// `text` with its control characters (but newlines and tabs) and the bidirectional
/// overrides (which reorder what a terminal shows) written as visible escapes.
pub fn visible(text: &str) -> Cow<'_, str> {
    escaped(text, |c, out| {
        let _ = match u32::from(c) {
            code @ 0..=0x7f => write!(out, "\\x{code:02x}"),
            code => write!(out, "\\u{{{code:x}}}"),
        };
    })
}

/// Whether a terminal would act on `c` rather than show it.
fn needs_escape(c: char) -> bool {
    (c.is_control() && !matches!(c, '\n' | '\t'))
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escaped(text: &str, escape: impl Fn(char, &mut String)) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if needs_escape(c) {
            escape(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::visible;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(
            visible("evil\u{1b}]0;pwned\u{7}name"),
            "evil\\x1b]0;pwned\\x07name"
        );
        assert_eq!(visible("a\rb\u{7f}c\u{9b}31m"), "a\\x0db\\x7fc\\u{9b}31m");
        assert_eq!(visible("abc\u{202e}fed"), "abc\\u{202e}fed");
        let layout = "Upstream up_1: ready\n\tTools (2): echo, ünïcode";
        assert_eq!(visible(layout), layout, "the CLI's own layout stays");
    }
}
