//! The rules of `scan_rules.toml`: their ids, severities and examples, and the checks of
//! the character-level ones (invisible characters, undecodable blobs, links, length,
//! foreign tool names). The semantic rules' logic is in intent.rs.

use std::sync::OnceLock;

use serde::Deserialize;

use super::decode;
use super::intent::Place;

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
    pub(super) kind: String,
    #[allow(dead_code, reason = "documentation of the rule, read by people")]
    about: String,
    /// Inclusive code point ranges, written as hex pairs; parsed once, when loaded.
    #[serde(default, deserialize_with = "hex_ranges")]
    ranges: Vec<(u32, u32)>,
    #[serde(default)]
    min_length: usize,
    #[serde(default)]
    max_length: usize,
    /// For the examples: the foreign tool names their scan uses.
    #[serde(default)]
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the unit test"))]
    pub(super) example_names: Vec<String>,
    /// For the examples: where in a definition they sit (`description` when absent;
    /// `parameter-description`, `parameter-name`, `default`, `enum`, `examples`,
    /// `output-description`, `title`, `annotation`).
    #[serde(default)]
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the unit test"))]
    pub(super) place: Option<String>,
    /// Examples the rule must find, and texts it must let pass (its unit test checks them).
    #[serde(default)]
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the unit test"))]
    pub(super) matches: Vec<String>,
    #[serde(default)]
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the unit test"))]
    pub(super) passes: Vec<String>,
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

/// The severity of a rule by its id (`high` for an id the file does not know).
pub(super) fn severity(id: &str) -> &'static str {
    match rules().iter().find(|r| r.id == id) {
        Some(rule) if rule.severity == "low" => "low",
        _ => "high",
    }
}

/// Names with their lowercase form, which matching compares (lowered once per scan, not
/// once per text).
pub(super) fn lowered<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<(String, String)> {
    names
        .into_iter()
        .map(|name| (name.clone(), name.to_lowercase()))
        .collect()
}

/// Where lowercase `text` holds lowercase `name` as a whole word. Written in upper case,
/// a lower-case name is a constant (`USER_INFO`), not the tool.
fn names_tool(raw: &str, text: &str, (original, name): &(String, String)) -> Option<usize> {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let upper = |s: &str| s.chars().any(char::is_alphabetic) && !s.chars().any(char::is_lowercase);
    text.match_indices(name.as_str())
        .find(|(at, _)| {
            let before = text[..*at].chars().next_back();
            let after = text[at + name.len()..].chars().next();
            let written = raw.get(*at..at + name.len()).unwrap_or_default();
            !before.is_some_and(is_name_char)
                && !after.is_some_and(is_name_char)
                && !(upper(written) && !upper(original))
        })
        .map(|(at, _)| at)
}

/// One text of a definition as the character-level rules read it.
pub(super) struct Text<'a> {
    pub raw: &'a str,
    /// Lowercase (ASCII only, so that offsets stay those of `raw`).
    lower: String,
    /// Where the model reads it as prose (descriptions and other schema keywords).
    prose: bool,
}

impl<'a> Text<'a> {
    pub(super) fn new(raw: &'a str, place: Place) -> Self {
        Self {
            raw,
            lower: raw.to_ascii_lowercase(),
            prose: matches!(place, Place::Description | Place::SchemaText { .. }),
        }
    }
}

fn emoji(c: Option<char>) -> bool {
    c.is_some_and(|c| matches!(u32::from(c), 0x2600..=0x27BF | 0x1F000..=0x1FAFF | 0xFE0F))
}

/// The first character in `ranges` that is not where it belongs: a joiner between two
/// emoji, the tags of a flag emoji (🏴 then tags) and a carriage return before a line
/// feed are.
fn hidden_character(text: &str, ranges: &[(u32, u32)]) -> Option<(usize, usize)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut in_flag = false;
    for (i, (at, c)) in chars.iter().enumerate() {
        let code = u32::from(*c);
        let previous = i.checked_sub(1).map(|p| chars[p].1);
        let next = chars.get(i + 1).map(|(_, n)| *n);
        if code == 0x1F3F4 {
            in_flag = true;
            continue;
        }
        let tag = (0xE0020..=0xE007F).contains(&code);
        if !tag {
            in_flag = false;
        }
        if !ranges
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&code))
        {
            continue;
        }
        let allowed = (tag && in_flag)
            || (code == 0x200D && emoji(previous) && emoji(next))
            || (*c == '\r' && next == Some('\n'));
        if !allowed {
            return Some((*at, at + c.len_utf8()));
        }
    }
    None
}

fn blob(text: &str, min_length: usize) -> Option<(usize, usize)> {
    let symbol = |c: char| c.is_ascii_alphanumeric() || "+/=_-".contains(c);
    let mut at = 0;
    for run in text.split(|c: char| !symbol(c)) {
        let start = at;
        at += run.len()
            + text[at + run.len()..]
                .chars()
                .next()
                .map_or(0, char::len_utf8);
        if run.len() >= min_length && decode::decoded(run, false).is_empty() {
            return Some((start, start + run.len()));
        }
    }
    None
}

fn url_or_email(text: &str) -> Option<(usize, usize)> {
    let mut at = 0;
    for word in text.split(' ') {
        let start = at;
        at += word.len() + 1;
        let word = word.trim_end_matches(['.', ',', ')', ';', ':']);
        let lower = word.to_lowercase();
        let url = lower.starts_with("http://") || lower.starts_with("https://");
        let email = word.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !host.ends_with('.') && !host.contains('@')
        });
        if url || email {
            return Some((start, start + word.len()));
        }
    }
    None
}

/// Where in `text` the character-level `rule` matches, if it does.
pub(super) fn check(
    rule: &Rule,
    text: &Text,
    foreign_tools: &[(String, String)],
) -> Option<(usize, usize)> {
    match rule.kind.as_str() {
        "characters" => hidden_character(text.raw, &rule.ranges),
        "blob" => blob(text.raw, rule.min_length),
        // Where the model reads prose; a URL as a parameter's default is the tool's own
        // business (the reference servers have some).
        "url" if text.prose => url_or_email(text.raw),
        "names" => foreign_tools.iter().find_map(|names| {
            names_tool(text.raw, &text.lower, names).map(|at| (at, at + names.1.len()))
        }),
        "length" if text.prose && text.raw.chars().count() > rule.max_length => {
            Some((0, text.raw.len()))
        }
        _ => None,
    }
}
