//! The character-level rules (`scan_rules.toml`).

use std::sync::OnceLock;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    rule: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Rule {
    pub(super) id: String,
    pub(super) severity: String,
    kind: String,
    #[allow(dead_code, reason = "documentation of the rule, read by people")]
    about: String,
    #[serde(default)]
    words: Vec<String>,
    /// Inclusive code point ranges, written as hex pairs; parsed once, when loaded.
    #[serde(default, deserialize_with = "hex_ranges")]
    ranges: Vec<(u32, u32)>,
    #[serde(default)]
    min_length: usize,
    #[serde(default)]
    max_length: usize,
    /// For a `names` rule's examples: the foreign tool names its test scans against.
    #[serde(default)]
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the unit test"))]
    example_names: Vec<String>,
    /// Examples the rule must find, and texts it must let pass (its unit test checks them).
    #[serde(default)]
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the unit test"))]
    matches: Vec<String>,
    #[serde(default)]
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the unit test"))]
    passes: Vec<String>,
}

fn hex_ranges<'de, D: serde::Deserializer<'de>>(from: D) -> Result<Vec<(u32, u32)>, D::Error> {
    let written: Vec<[String; 2]> = Vec::deserialize(from)?;
    let hex = |text: &str| u32::from_str_radix(text, 16).map_err(serde::de::Error::custom);
    written
        .iter()
        .map(|[low, high]| Ok((hex(low)?, hex(high)?)))
        .collect()
}

pub(super) fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let file: RuleFile = toml::from_str(include_str!("scan_rules.toml"))
            .expect("the scanner's rules are checked by its unit test");
        file.rule
    })
}

/// Names with their lowercase form, which matching compares (lowered once per scan, not
/// once per text).
pub(super) fn lowered<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<(String, String)> {
    names
        .into_iter()
        .map(|name| (name.clone(), name.to_lowercase()))
        .collect()
}

/// Whether lowercase `text` holds lowercase `name` as a whole word.
fn names_tool(text: &str, name: &str) -> bool {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(is_name_char) && !after.is_some_and(is_name_char)
    })
}

/// One text of a definition, with the forms the rules compare, made once for all rules.
pub(super) struct Text<'a> {
    raw: &'a str,
    lower: String,
    /// Lowercase with `_` and `-` read as spaces, so that a parameter named
    /// `full_conversation_history` says what its words say.
    spaced: String,
    is_description: bool,
}

impl<'a> Text<'a> {
    pub(super) fn new(raw: &'a str, is_description: bool) -> Self {
        let lower = raw.to_lowercase();
        let spaced = lower.replace(['_', '-'], " ");
        Self {
            raw,
            lower,
            spaced,
            is_description,
        }
    }
}

/// What of `text` the rule matches, if anything (cut to 120 characters).
pub(super) fn check(
    rule: &Rule,
    text: &Text,
    foreign_tools: &[(String, String)],
) -> Option<String> {
    let found = match rule.kind.as_str() {
        "phrase" => rule
            .words
            .iter()
            .find(|word| text.lower.contains(word.as_str()) || text.spaced.contains(word.as_str()))
            .cloned(),
        "characters" => text
            .raw
            .chars()
            .find(|c| {
                let c = u32::from(*c);
                rule.ranges
                    .iter()
                    .any(|(low, high)| (*low..=*high).contains(&c))
            })
            .map(|c| format!("U+{:04X}", u32::from(c))),
        "blob" => blob(text.raw, rule.min_length),
        // Where the model reads prose; a URL as a parameter's default is the tool's own
        // business (the reference servers have some).
        "url" if text.is_description => url_or_email(text.raw),
        "names" => foreign_tools
            .iter()
            .find(|(_, name)| names_tool(&text.lower, name))
            .map(|(original, _)| original.clone()),
        "length" if text.is_description && text.raw.chars().count() > rule.max_length => {
            Some(format!("{} characters", text.raw.chars().count()))
        }
        _ => None,
    };
    found.map(|text| text.chars().take(120).collect())
}

fn blob(text: &str, min_length: usize) -> Option<String> {
    let base64 = |c: char| c.is_ascii_alphanumeric() || "+/=_-".contains(c);
    text.split(|c: char| !base64(c))
        .find(|run| run.len() >= min_length)
        .map(str::to_owned)
}

fn url_or_email(text: &str) -> Option<String> {
    text.split_whitespace().find_map(|word| {
        let lower = word.to_lowercase();
        let url = lower.starts_with("http://") || lower.starts_with("https://");
        let email = word.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !host.ends_with('.')
        });
        (url || email).then(|| word.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_matches_its_examples_and_passes_its_counterexamples() {
        assert!(rules().len() >= 7);
        for rule in rules() {
            assert!(
                ["low", "medium", "high"].contains(&rule.severity.as_str()),
                "{}",
                rule.id
            );
            for text in &rule.matches {
                assert!(
                    check(rule, &Text::new(text, true), &lowered(&rule.example_names)).is_some(),
                    "{} should match {text:?}",
                    rule.id
                );
            }
            for text in &rule.passes {
                assert!(
                    check(rule, &Text::new(text, true), &lowered(&rule.example_names)).is_none(),
                    "{} should pass {text:?}",
                    rule.id
                );
            }
        }
    }
}
