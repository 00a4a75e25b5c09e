//! The semantic rules: categories of the lexicon (lexicon.rs) combined within a sentence
//! (split at `. ! ? ;`, line breaks and `。！？；`), some within a few words of each
//! other, and the structure checks (a parameter named after what it would carry off,
//! prose where a value belongs, pseudo-tags, commands piped to a shell). Each rule's id,
//! severity and examples are in `scan_rules.toml`; what it combines is here.

mod addresses;
mod combine;
mod mood;
mod shape;
mod steering;
mod structure;

pub(super) use combine::analyze;
pub(super) use structure::{names_secret, steers, structure};

use super::lexicon::{Cat, Hit, lexicon};
use super::normalize::{Normalized, is_cjk};

/// Where a text sits in a definition, which decides what it may ask for: a parameter's
/// description is read as what to fill it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Place {
    Name,
    Title,
    Description,
    Annotation,
    /// `textual` when the parameter takes text (a number or a choice among an enum's
    /// values cannot carry a conversation).
    ParameterName {
        input: bool,
        textual: bool,
    },
    /// A description, title or other keyword of a schema; `property` when it describes a
    /// property (something the model fills, in an input schema).
    SchemaText {
        input: bool,
        property: bool,
        textual: bool,
    },
    Value {
        kind: ValueKind,
        input: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum ValueKind {
    Default,
    Enum,
    Example,
    Const,
}

impl Place {
    /// Whether the text says what the model is to put into a parameter.
    pub(crate) fn fills(self) -> bool {
        match self {
            Place::ParameterName { input, textual } => input && textual,
            Place::Value { input, .. } => input,
            Place::SchemaText {
                input,
                property,
                textual,
            } => input && property && textual,
            _ => false,
        }
    }

    pub(crate) fn output(self) -> bool {
        matches!(
            self,
            Place::SchemaText { input: false, .. }
                | Place::ParameterName { input: false, .. }
                | Place::Value { input: false, .. }
        )
    }
}

/// What the rules know of the definition around a text (normalized).
pub(super) struct Scope<'a> {
    /// The input schema's property names (three characters or more), as one automaton.
    pub params: Option<&'a aho_corasick::AhoCorasick>,
    /// The tool's own name.
    pub own_name: &'a str,
}

/// A rule that fired, over `start..end` of the normalized text.
#[derive(Debug, Clone, Copy)]
pub(super) struct Flag {
    pub rule: &'static str,
    pub start: usize,
    pub end: usize,
}

pub(super) const SECRECY: &str = "secrecy";
pub(super) const OVERRIDE: &str = "prompt-override";
pub(super) const SECRET_REQUEST: &str = "secret-request";
pub(super) const CONTEXT: &str = "context-exfiltration";
pub(super) const CROSS_TOOL: &str = "cross-tool-instructions";
pub(super) const OUTPUT: &str = "output-instructions";
pub(super) const MODEL: &str = "model-instructions";
pub(super) const CONSENT: &str = "consent-bypass";
pub(super) const FORCED: &str = "forced-tool-choice";
pub(super) const PREFERENCE: &str = "tool-preference";
pub(super) const PARAMETER_NAME: &str = "parameter-name";
pub(super) const PROSE_VALUE: &str = "prose-in-value";
pub(super) const LONG_VALUE: &str = "long-value";
pub(super) const PSEUDO_TAG: &str = "pseudo-tag";
pub(super) const COMMAND: &str = "command-execution";

use Cat::*;

/// Verbs that open an imperative sentence.
const VERBS: &[Cat] = &[Transmit, Acquire, Ask, Obey, ObeyStrong, Destructive];
/// Words after which a verb is still imperative (`and send`, `then read`, `please pass`).
const IMPERATIVE_LEAD: &[&str] = &[
    "and",
    "then",
    "also",
    "please",
    "first",
    "so",
    "just",
    "simply",
    "now",
    "und",
    "dann",
    "et",
    "puis",
    "y",
    "luego",
    "e",
    "depois",
    "poi",
    "и",
    "затем",
    "请",
    "并",
    "然后",
    "先",
];

/// Words for the model that make a label before a colon (`Assistant:`, `Asistente:`).
const LABEL_WORDS: &[&str] = &[
    "assistant",
    "model",
    "assistants",
    "ai",
    "llm",
    "claude",
    "chatgpt",
    "gpt",
    "copilot",
    "gemini",
    "ai assistant",
    "ai agent",
    "asistente",
    "assistente",
    "assistent",
    "asystent",
    "asystencie",
    "ассистент",
    "ассистенту",
    "助手",
    "アシスタント",
    "어시스턴트",
    "ki",
    "ia",
    "ии",
];

/// Words that name the model (as against `you`, which may be anyone).
const MODEL_WORDS: &[&str] = &[
    "assistant",
    "the ai",
    "an ai",
    "ai assistant",
    "ai agent",
    "ai model",
    "the model",
    "language model",
    "llm",
    "claude",
    "chatgpt",
    "gpt",
    "copilot",
    "gemini",
    "chatbot",
    "asistente",
    "assistente",
    "assistent",
    "asystent",
    "ассистент",
    "модел",
    "助手",
    "助理",
    "模型",
    "アシスタント",
    "モデル",
    "어시스턴트",
    "모델",
    "l'ia",
    "la ia",
    "a ia",
    "ki",
];

struct Clause {
    hits: Vec<(Hit, u32)>,
    mask: u64,
    start: usize,
}

impl Clause {
    fn has(&self, cat: Cat) -> bool {
        self.mask & cat.bit() != 0
    }

    fn any(&self, cats: &[Cat]) -> bool {
        cats.iter().any(|c| self.has(*c))
    }

    fn of(&self, cat: Cat) -> impl Iterator<Item = &(Hit, u32)> {
        self.hits.iter().filter(move |(h, _)| h.cat == cat)
    }

    /// The span of a hit of `a` within `window` words of a hit of `b`.
    fn near(&self, a: Cat, b: Cat, window: u32) -> Option<(usize, usize)> {
        for (x, tx) in self.of(a) {
            for (y, ty) in self.of(b) {
                if tx.abs_diff(*ty) <= window {
                    return Some((x.start.min(y.start), x.end.max(y.end)));
                }
            }
        }
        None
    }

    /// From the first to the last hit of any of `cats`.
    fn span(&self, cats: &[Cat]) -> (usize, usize) {
        let mut found = self.hits.iter().filter(|(h, _)| cats.contains(&h.cat));
        let Some((first, _)) = found.next() else {
            return (self.start, self.start);
        };
        let (mut start, mut end) = (first.start, first.end);
        for (h, _) in found {
            start = start.min(h.start);
            end = end.max(h.end);
        }
        (start, end)
    }
}

/// The word count before each hit's start (a Chinese or Japanese character counts as
/// half a word: two of them make about one), so that "within n words" can be measured.
/// `hits` are sorted by start.
fn word_positions(text: &str, hits: &[Hit]) -> Vec<u32> {
    let mut positions = Vec::with_capacity(hits.len());
    let mut count = 0u32;
    let mut previous_word = false;
    let mut next = 0;
    for (at, c) in text.char_indices() {
        while next < hits.len() && hits[next].start <= at {
            positions.push(count / 2);
            next += 1;
        }
        if next == hits.len() {
            break;
        }
        let word = c.is_alphanumeric();
        if is_cjk(c) {
            count += 1;
        } else if word && !previous_word {
            count += 2;
        }
        previous_word = word && !is_cjk(c);
    }
    positions.resize(hits.len(), count / 2);
    positions
}

/// Sentence and clause ends: `. ! ? ;` before a space or the end, line breaks, `。！？；`.
pub(crate) fn clauses(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let next = chars.peek().map(|(_, n)| *n);
        let ends = match c {
            '\n' | '。' | '！' | '？' | '；' => true,
            '.' | '!' | '?' | ';' => next.is_none_or(|n| n == ' ' || n == '\n'),
            _ => false,
        };
        if ends {
            let end = at + c.len_utf8();
            if end > start {
                out.push((start, end));
            }
            start = end;
        }
    }
    if start < text.len() {
        out.push((start, text.len()));
    }
    out
}

/// The categories found in one text: by the lexicon, and by shape.
pub(super) fn read(raw: &str, n: &Normalized, place: Place, scope: &Scope) -> Vec<Hit> {
    let mut hits = lexicon().hits(n);
    shape::structural_hits(raw, n, place, scope, &mut hits);
    hits.sort_by_key(|h| (h.start, h.end));
    hits
}

/// Whether a place named at `at` is written to rather than read from (`to ~/.npmrc`,
/// `in your .env`).
fn destination(text: &str, at: usize) -> bool {
    text[..at]
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .rev()
        .take(2)
        .any(|w| ["to", "into", "in", "inside", "within", "onto"].contains(&w))
}

/// Whether the clause names the model itself (`the assistant`, `the AI`), not only `you`.
fn names_model(text: &str, c: &Clause) -> bool {
    c.of(Address).any(|(h, _)| {
        let word = &text[h.start..h.end];
        MODEL_WORDS
            .iter()
            .any(|w| word == *w || word.starts_with(w))
    })
}

fn c_start(c: &Clause) -> usize {
    c.start
}

/// Where the sentence that opens `bytes` ends: at a line break or `;`, at `.`, `!` or `?`
/// before a space, a line or the end, or at `。`. A dot inside an address
/// (`audit.example`, `config.json`) does not end it. `None` if none ends it here.
fn sentence_end(bytes: &[u8]) -> Option<usize> {
    bytes.iter().enumerate().position(|(i, &b)| match b {
        b'\n' | b';' => true,
        b'.' | b'!' | b'?' => matches!(bytes.get(i + 1), Some(b' ' | b'\n') | None),
        // `。` (E3 80 82)
        0xE3 => bytes.get(i + 1..i + 3) == Some(&[0x80, 0x82]),
        _ => false,
    })
}

/// The clause's text to its sentence's end (`sentence_end`), looked for a little past
/// the clause's strict end, not through the whole text.
fn c_text<'t>(c: &Clause, text: &'t str) -> &'t str {
    let strict = c_end(c, text);
    let limit = (strict + 256).min(text.len());
    let end = sentence_end(&text.as_bytes()[c.start..limit]).map_or(limit, |i| c.start + i);
    let end = end.max(strict).min(limit);
    // `limit` may fall inside a character: back to its start.
    let end = (c.start..=end)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(c.start);
    &text[c.start..end]
}

/// Where the clause ends (the start of the next sentence, or the end of the text).
fn c_end(c: &Clause, text: &str) -> usize {
    c.hits
        .last()
        .map_or(c.start, |(h, _)| h.end.max(c.start))
        .max(
            text[c.start..]
                .find(['.', '!', '?', ';', '\n', '。'])
                .map_or(text.len(), |i| c.start + i),
        )
}

/// Whether the clause opens with a verb (`Send …`, `Then read …`, `…: pass …`).
fn imperative(text: &str, c: &Clause) -> bool {
    VERBS.iter().any(|verb| imperative_of(text, c, *verb))
}

/// Whether the clause opens with a verb of `cat`.
fn imperative_of(text: &str, c: &Clause, cat: Cat) -> bool {
    c.hits.iter().any(|(h, _)| {
        if h.cat != cat {
            return false;
        }
        let before = text[c.start..h.start].trim_end();
        if before.is_empty()
            || before.ends_with([',', ':', '(', '-', '"', '\'', '`', '\n', '—', '，', '：'])
        {
            return true;
        }
        let last = before
            .rsplit(|ch: char| !ch.is_alphanumeric())
            .next()
            .unwrap_or(before);
        IMPERATIVE_LEAD.contains(&last)
            || IMPERATIVE_LEAD
                .iter()
                .any(|w| w.chars().all(is_cjk) && before.ends_with(w))
    })
}

fn push(hits: &mut Vec<Hit>, cat: Cat, start: usize, end: usize) {
    hits.push(Hit { cat, start, end });
}
