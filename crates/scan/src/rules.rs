//! The rules of `scan_rules.toml`: their ids, severities and examples, and the checks of
//! the character-level ones (invisible characters, undecodable blobs, links, length,
//! foreign tool names). The semantic rules' logic is in intent.rs.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
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

/// The rules this file checks (characters, blobs, links, length, names), apart from the
/// semantic ones.
pub(super) fn character_rules() -> &'static [&'static Rule] {
    static RULES: OnceLock<Vec<&'static Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        rules()
            .iter()
            .filter(|r| {
                matches!(
                    r.kind.as_str(),
                    "characters" | "blob" | "url" | "length" | "names"
                )
            })
            .collect()
    })
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

/// The tool names a definition must not name, looked up by the words of a text: a
/// name is a run of letters, digits, `_` and `-` (`send_email`, `fx__echo`); a name with
/// other characters is searched for whole.
pub(super) struct Names<'a> {
    /// Lowercase name → the name as given (borrowed where it is lowercase already).
    words: HashMap<Cow<'a, str>, &'a str, BuildHasherDefault<Fnv>>,
    /// The lengths and first bytes of `words`' keys: a word of a text is hashed and looked
    /// up only where it could be one.
    shapes: Shapes,
    other: Vec<(&'a str, String)>,
}

/// The lengths (127 standing for longer) and first bytes (ASCII) a set of lowercase words
/// has, as bits: a word whose length or first byte is not among them is not in the set.
/// Scanning checks every foreign name against a definition's words and every word of a
/// text against the names; most are told apart here, without hashing.
#[derive(Default, Clone, Copy)]
struct Shapes {
    lengths: u128,
    firsts: u128,
}

impl Shapes {
    fn bits(word: &str) -> (u128, u128) {
        let first = word.bytes().next().map_or(0, |b| b.to_ascii_lowercase());
        (1 << word.len().min(127), 1 << (first & 127))
    }

    fn add(&mut self, word: &str) {
        let (length, first) = Self::bits(word);
        self.lengths |= length;
        self.firsts |= first;
    }

    /// Whether `word` (or its ASCII lowercase) may be one of the words added.
    fn may_hold(&self, word: &str) -> bool {
        let (length, first) = Self::bits(word);
        self.lengths & length != 0 && self.firsts & first != 0
    }
}

/// FNV-1a: tool names are short and not chosen to collide with one another (a
/// collision costs time, never a wrong answer), and this map is built at every scan.
#[derive(Default)]
pub(super) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for byte in bytes {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The words of a definition's texts that could be a tool's name with a separator or a
/// capital in it (`send_email`, `readFile`), lowercase.
#[derive(Default)]
pub(super) struct Words {
    set: std::collections::HashSet<String, BuildHasherDefault<Fnv>>,
    shapes: Shapes,
}

impl Words {
    /// Whether `lower` (lowercase) is one of the words.
    fn contains(&self, lower: &str) -> bool {
        self.shapes.may_hold(lower) && self.set.contains(lower)
    }
}

/// Adds the words of `text` that have a separator or a capital.
pub(super) fn name_like_words(text: &str, words: &mut Words) {
    // A text without a separator or a capital anywhere has no such word.
    if !text
        .bytes()
        .any(|b| b == b'_' || b == b'-' || b.is_ascii_uppercase())
    {
        return;
    }
    for word in text.split(|c: char| !is_name_char(c)) {
        if word.len() >= 3
            && (word.contains(['_', '-']) || word.chars().any(|c| c.is_ascii_uppercase()))
        {
            words.shapes.add(word);
            words.set.insert(word.to_ascii_lowercase());
        }
    }
}

impl<'a> Names<'a> {
    /// The names of `names` but `own` (a tool's own name is never foreign) that the
    /// definition could name: a name with a separator or a capital only where `words`
    /// (the lowercase words of the definition that have one) holds it.
    pub(super) fn new(names: &'a [String], own: &str, words_of_definition: &Words) -> Self {
        let mut words = HashMap::with_hasher(Default::default());
        let mut shapes = Shapes::default();
        let mut other = Vec::new();
        for name in names.iter().filter(|name| name.as_str() != own) {
            let (mut word, mut separator, mut upper) = (true, false, false);
            for byte in name.bytes() {
                word &= byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-';
                separator |= byte == b'_' || byte == b'-';
                upper |= byte.is_ascii_uppercase();
            }
            if !word {
                other.push((name.as_str(), name.to_lowercase()));
                continue;
            }
            // Most names are none of the definition's words: told apart by their shape,
            // before a lowercase copy and a lookup.
            if (separator || upper) && !words_of_definition.shapes.may_hold(name) {
                continue;
            }
            let lower: Cow<'a, str> = if upper {
                Cow::Owned(name.to_ascii_lowercase())
            } else {
                Cow::Borrowed(name.as_str())
            };
            if !(separator || upper) || words_of_definition.contains(lower.as_ref()) {
                shapes.add(&lower);
                words.insert(lower, name.as_str());
            }
        }
        Names {
            words,
            shapes,
            other,
        }
    }

    /// Whether there is no name to look for.
    fn is_empty(&self) -> bool {
        self.words.is_empty() && self.other.is_empty()
    }

    /// Where `raw` (and its ASCII-lowercase `lower`) names one of the names as a whole
    /// word. Written in upper case, a lower-case name is a constant (`USER_INFO`), not
    /// the tool.
    fn find(&self, raw: &str, lower: &str) -> Option<(usize, usize)> {
        let upper =
            |s: &str| s.chars().any(char::is_alphabetic) && !s.chars().any(char::is_lowercase);
        let fits = |at: usize, len: usize, original: &str| {
            let before = lower[..at].chars().next_back();
            let after = lower[at + len..].chars().next();
            let written = raw.get(at..at + len).unwrap_or_default();
            !before.is_some_and(is_name_char)
                && !after.is_some_and(is_name_char)
                && (!upper(written) || upper(original))
        };
        if !self.words.is_empty() {
            let mut at = 0;
            for word in lower.split(|c: char| !is_name_char(c)) {
                let start = at;
                at += word.len()
                    + lower[at + word.len()..]
                        .chars()
                        .next()
                        .map_or(0, char::len_utf8);
                if self.shapes.may_hold(word)
                    && let Some(original) = self.words.get(word).copied()
                    && fits(start, word.len(), original)
                {
                    return Some((start, start + word.len()));
                }
            }
        }
        self.other.iter().find_map(|(original, name)| {
            lower
                .match_indices(name.as_str())
                .find(|(at, _)| fits(*at, name.len(), original))
                .map(|(at, _)| (at, at + name.len()))
        })
    }
}

/// One text of a definition as the character-level rules read it.
pub(super) struct Text<'a> {
    pub raw: &'a str,
    /// Where the model reads it as prose (descriptions and other schema keywords).
    prose: bool,
}

impl<'a> Text<'a> {
    pub(super) fn new(raw: &'a str, place: Place) -> Self {
        Self {
            raw,
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
    let mut in_flag = false;
    let mut previous = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let code = u32::from(c);
        if (0x20..0x7f).contains(&code) {
            previous = Some(c);
            continue;
        }
        let next = chars.peek().map(|(_, n)| *n);
        let before = previous.replace(c);
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
            || (code == 0x200D && emoji(before) && emoji(next))
            || (c == '\r' && next == Some('\n'));
        if !allowed {
            return Some((at, at + c.len_utf8()));
        }
    }
    None
}

fn blob(text: &str, min_length: usize) -> Option<(usize, usize)> {
    let symbol = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-');
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
    // A link has its scheme's `:`, an address its `@`: a text with neither has none.
    if !text.contains([':', '@']) {
        return None;
    }
    let mut at = 0;
    // Words end at any ASCII space (a link may end a line); each is one byte.
    for word in text.split([' ', '\n', '\r', '\t']) {
        let start = at;
        at += word.len() + 1;
        let word = word.trim_end_matches(['.', ',', ')', ';', ':']);
        // Only ASCII letters lowercase to those of the schemes: no copy of the word.
        let scheme = |s: &str| {
            word.get(..s.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(s))
        };
        let url = scheme("http://") || scheme("https://");
        let email = word.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !host.ends_with('.') && !host.contains('@')
        });
        if (url && !documentation_link(word)) || email {
            return Some((start, start + word.len()));
        }
    }
    None
}

/// Hosts whose first label names a documentation site (`docs.github.com`).
const DOCUMENTATION_HOSTS: &[&str] = &["docs", "doc", "developer", "developers", "learn"];

/// First path segments that name documentation (`kubernetes.io/docs/…`).
const DOCUMENTATION_PATHS: &[&str] = &[
    "docs",
    "doc",
    "documentation",
    "reference",
    "guides",
    "manual",
];

/// Names reserved for examples and local use (RFC 2606, RFC 6761 and the like): no
/// documentation is published there, and the corpus's attackers live there.
const RESERVED_NAMES: &[&str] = &[
    "example",
    "test",
    "invalid",
    "localhost",
    "local",
    "internal",
    "example.com",
    "example.net",
    "example.org",
];

/// Whether `link` is a plain link to documentation, which points a reader to the docs
/// rather than the model elsewhere: `https`, to a host by its name (no address, port or
/// credentials, not a name reserved for examples), with nothing but a path and an anchor
/// (no query, no percent escapes), and documentation by its host (`docs.…`,
/// `developers.…`) or its first path segment (`/docs/`, `/reference/`).
fn documentation_link(link: &str) -> bool {
    let Some(rest) = link
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .map(|_| &link[8..])
    else {
        return false;
    };
    let (host, path) = rest.split_at(rest.find(['/', '#']).unwrap_or(rest.len()));
    let host = host.to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let named = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_alphabetic()));
    let reserved = RESERVED_NAMES
        .iter()
        .any(|name| host == *name || host.ends_with(&format!(".{name}")));
    let plain = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~' | b'#'));
    let first_segment = path
        .strip_prefix('/')
        .and_then(|p| p.split(['/', '#']).next())
        .unwrap_or_default();
    named
        && !reserved
        && plain
        && (DOCUMENTATION_HOSTS.contains(&labels[0])
            || DOCUMENTATION_PATHS.contains(&first_segment.to_ascii_lowercase().as_str()))
}

/// Where in `text` the character-level `rule` matches, if it does.
pub(super) fn check(rule: &Rule, text: &Text, foreign_tools: &Names<'_>) -> Option<(usize, usize)> {
    match rule.kind.as_str() {
        "characters" => hidden_character(text.raw, &rule.ranges),
        "blob" => blob(text.raw, rule.min_length),
        // Where the model reads prose; a URL as a parameter's default is the tool's own
        // business (the reference servers have some).
        "url" if text.prose => url_or_email(text.raw),
        // Lowercase (ASCII only, so that offsets stay those of `raw`), and only where
        // there is a name to look for: most definitions name none of the foreign ones.
        "names" if !foreign_tools.is_empty() => {
            foreign_tools.find(text.raw, &text.raw.to_ascii_lowercase())
        }
        "length" if text.prose && text.raw.chars().count() > rule.max_length => {
            Some((0, text.raw.len()))
        }
        _ => None,
    }
}
