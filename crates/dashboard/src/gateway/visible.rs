//! Text as a reviewer must see it: every control, invisible and bidirectional character
//! (what hides instructions from people but not from models) becomes a visible badge
//! naming its code point, and a changed definition becomes a line diff.

use guidepost_core::text_diff::diff_lines;
use guidepost_core::upstreams::diff::Change;
use serde_json::Value;

use crate::markdown::{self, Shown};

/// A text cut into parts, so that the template shows hidden characters as badges (and
/// escapes everything).
pub(crate) struct Visible {
    pub parts: Vec<Shown>,
}

impl Visible {
    pub fn of(text: &str) -> Self {
        Visible {
            parts: markdown::runs(text),
        }
    }

    /// How many hidden characters it holds.
    pub fn hidden_count(&self) -> usize {
        self.parts.iter().filter(|p| p.hidden).count()
    }
}

/// One line of a diff: `"added"`, `"removed"` or `"same"` (context).
pub(crate) struct DiffLine {
    pub kind: &'static str,
    pub text: Visible,
}

impl DiffLine {
    /// The sign printed before the line, so that colour is not the only signal.
    pub fn sign(&self) -> &'static str {
        match self.kind {
            "added" => "+",
            "removed" => "-",
            _ => " ",
        }
    }
}

/// One changed place of a definition, as lines.
pub(crate) struct DiffBlock {
    pub path: String,
    pub lines: Vec<DiffLine>,
}

/// The changes against the approved definition, each as a line diff of its values.
pub(crate) fn blocks(changes: &[Change]) -> Vec<DiffBlock> {
    changes
        .iter()
        .map(|change| DiffBlock {
            path: change.path.clone(),
            lines: line_diff(&lines_of(&change.before), &lines_of(&change.after)),
        })
        .collect()
}

/// A whole definition as added lines (nothing was approved under its name before).
pub(crate) fn all_added(definition: &Value) -> Vec<DiffLine> {
    lines_of(definition)
        .iter()
        .map(|line| DiffLine {
            kind: "added",
            text: Visible::of(line),
        })
        .collect()
}

/// A definition as readable lines: pretty JSON (which keeps invisible characters as
/// they are, so that they can be shown).
pub(crate) fn pretty_lines(value: &Value) -> Vec<Visible> {
    lines_of(value).iter().map(|l| Visible::of(l)).collect()
}

/// A value's lines: a string's own text (not JSON-quoted, so a reviewer reads exactly
/// what a model reads), nothing for `null`, pretty JSON for the rest.
fn lines_of(value: &Value) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::String(text) => text.split('\n').map(str::to_owned).collect(),
        other => serde_json::to_string_pretty(other)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect(),
    }
}

/// The lines of both values, each marked added, removed or kept, by core's bounded line
/// diff (the same one that reviews walkthrough steps).
fn line_diff(before: &[String], after: &[String]) -> Vec<DiffLine> {
    diff_lines(before, after)
        .into_iter()
        .map(|line| DiffLine {
            kind: line.kind.as_str(),
            text: Visible::of(&line.text),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn shown(visible: &Visible) -> String {
        visible
            .parts
            .iter()
            .map(|p| {
                if p.hidden {
                    format!("[{}]", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }

    #[test]
    fn hidden_characters_become_named_badges() {
        let text = Visible::of("Adds\u{200B} numbers\u{202E}.\u{E0041}\ttab");
        assert_eq!(shown(&text), "Adds[U+200B] numbers[U+202E].[U+E0041]\ttab");
        assert_eq!(text.hidden_count(), 3);
        assert_eq!(shown(&Visible::of("café")), "café");
    }

    #[test]
    fn a_change_is_a_line_diff_of_its_values() {
        let change = Change {
            path: "/description".into(),
            before: json!("Looks a word up.\nSafe."),
            after: json!("Looks a word up\u{200B}.\nSafe."),
        };
        let block = &blocks(&[change])[0];
        let lines: Vec<(&str, String)> = block
            .lines
            .iter()
            .map(|l| (l.kind, shown(&l.text)))
            .collect();
        assert_eq!(
            lines,
            [
                ("removed", "Looks a word up.".to_owned()),
                ("added", "Looks a word up[U+200B].".to_owned()),
                ("same", "Safe.".to_owned()),
            ]
        );
        let added = Change {
            path: "/annotations".into(),
            before: Value::Null,
            after: json!({"readOnlyHint": false}),
        };
        let kinds: Vec<&str> = blocks(&[added])[0].lines.iter().map(|l| l.kind).collect();
        assert_eq!(kinds, ["added", "added", "added"]);
    }
}
