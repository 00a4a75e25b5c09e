//! The tool-definition scanner: offline and deterministic, its rules as
//! data (`scan_rules.toml`, each with examples its unit test checks; the lexicons of
//! intent in `scan_lexicon.toml`). It reads every text of a definition a model reads
//! (`pieces`): the name, title and description, every string of the annotations, and in
//! the input and output schemas at any depth every property name, description, title,
//! default, enum value, example, const and other string keyword.
//!
//! Each text is checked by character-level rules (rules.rs: invisible characters,
//! foreign tool names, blobs, links, length), then normalized (normalize.rs) and read by
//! the semantic rules (intent.rs): categories of the lexicon (lexicon.rs) combined within
//! a sentence, and checks of structure. Encoded runs that decode to text (decode.rs) are
//! read again. A finding names the rule, where it matched (`path`, and `span`: byte
//! offsets into the text at `path`) and what; a finding of high severity quarantines the
//! tool, a low one is shown.
//!
//! The crate's whole API is [`scan`], [`quarantines`], [`text_at`] and [`distinctive`],
//! and, for tools' results, [`scan_result_text`] (results.rs).
//! Its corpus and the tests measured on it are in `tests/`, the classifier's training in
//! `classifier/train.rs` (a test), and what was tried and learned in the README.
//!
//! **Architecture Invariant:** the scanner is pure: no I/O, no clock, no state between
//! calls, and nothing of Guidepost but the domain's `Finding`. Core decides what a finding
//! does to a tool.

mod classifier;
mod decode;
mod intent;
mod lexicon;
mod normalize;
mod results;
mod rules;

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use guidepost_domain::{Finding, Span};
use serde_json::Value;

use intent::{Place, Scope, ValueKind};
pub use results::{RESULT_TEXT_READ, scan_result_text};

/// Whether a finding quarantines its tool: high severity, and `medium`, which findings
/// stored before severities were only high and low may still carry.
pub fn quarantines(finding: &Finding) -> bool {
    finding.severity != "low"
}

/// One text of a definition (borrowed from it), where it is, and what kind of place that
/// is.
struct Piece<'a> {
    path: String,
    text: &'a str,
    place: Place,
}

/// Every finding in a definition. `foreign_tools` are the tool names it must not name
/// (shadowing): Guidepost's built-in tools and the tools attached beside it.
pub fn scan(definition: &Value, foreign_tools: &[String]) -> Vec<Finding> {
    let pieces = pieces(definition);
    // A tool's own name is not shadowing, even where it equals a foreign one (another
    // Guidepost's `get_support`, or a second installation of one server): exposed names
    // keep them apart, and a collision of those is refused at attach.
    let own = definition
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut words = rules::Words::default();
    for piece in &pieces {
        rules::name_like_words(piece.text, &mut words);
    }
    let foreign = rules::Names::new(foreign_tools, own, &words);
    let (params, own_name) = scope_of(&pieces, own);
    let scope = Scope {
        params: params.as_ref(),
        own_name: &own_name,
    };
    let mut findings: Vec<Finding> = Vec::new();
    let mut add = |rule: &str, path: &str, text: &str, (start, end): (usize, usize)| {
        if findings.iter().any(|f| f.rule == rule && f.path == path) {
            return;
        }
        findings.push(Finding {
            rule: rule.to_owned(),
            severity: rules::severity(rule).to_owned(),
            path: path.to_owned(),
            matched: excerpt(text, start, end),
            span: Some(Span { start, end }),
        });
    };
    // A parameter that asks for a secret or private data without a word of why: no
    // description of its own, and the tool's description does not name it.
    // Normalized only where a parameter needs it (most have a description of their own).
    let description = std::cell::OnceCell::new();
    let description = || {
        description.get_or_init(|| {
            pieces
                .iter()
                .find(|p| p.place == Place::Description)
                .map(|p| normalize::normalize(p.text).text)
                .unwrap_or_default()
        })
    };
    let top_level = |path: &str| {
        path.strip_prefix("inputSchema.properties.")
            .is_some_and(|rest| !rest.contains(".properties.") && !rest.contains('['))
    };
    let described: std::collections::HashSet<&str> = pieces
        .iter()
        .filter(|p| matches!(p.place, Place::SchemaText { .. }))
        .filter_map(|p| p.path.rsplit_once('.').map(|(owner, _)| owner))
        .collect();
    for piece in pieces.iter().filter(|p| {
        matches!(p.place, Place::ParameterName { input: true, .. }) && top_level(&p.path)
    }) {
        let name = normalize::normalize(piece.text);
        // The name first: the description is normalized only for a name that asks.
        let explained = || {
            described.contains(piece.path.as_str()) || description().contains(name.text.as_str())
        };
        if intent::names_secret(&name) && !explained() {
            add(
                intent::PARAMETER_NAME,
                &piece.path,
                piece.text,
                (0, piece.text.len()),
            );
        }
    }
    // Big schemas repeat their texts (the same description under every branch of an
    // `anyOf`, the same short titles and names under every item): each text is read once
    // per place, its findings given to every path.
    let mut read: HashMap<(&str, Place), Vec<Found>, BuildHasherDefault<rules::Fnv>> =
        HashMap::with_capacity_and_hasher(pieces.len(), Default::default());
    for piece in &pieces {
        let found = read
            .entry((piece.text, piece.place))
            .or_insert_with(|| read_text(piece.text, piece.place, &scope, &foreign));
        for found in found.iter() {
            let path = match found.encoding {
                Some(encoding) => format!("{} ({encoding})", piece.path),
                None => piece.path.clone(),
            };
            add(found.rule, &path, piece.text, found.span);
        }
    }
    findings
}

/// What the sentence rules know of a definition: its input parameters' names (three
/// characters or more) as one automaton, and its own name, normalized.
fn scope_of(pieces: &[Piece], own: &str) -> (Option<aho_corasick::AhoCorasick>, String) {
    let mut params: Vec<String> = pieces
        .iter()
        .filter(|p| matches!(p.place, Place::ParameterName { input: true, .. }))
        .map(|p| normalize::normalize(p.text).text)
        .filter(|p| p.len() >= 3)
        .collect();
    params.sort_unstable();
    params.dedup();
    let params = (!params.is_empty())
        .then(|| {
            aho_corasick::AhoCorasick::builder()
                .kind(Some(aho_corasick::AhoCorasickKind::NoncontiguousNFA))
                .build(&params)
                .ok()
        })
        .flatten();
    (params, normalize::normalize(own).text)
}

/// Each text of a definition with its place, normalized, and the categories read in it
/// (what the classifier is trained on).
#[cfg(test)]
fn readings(definition: &Value) -> Vec<(Place, normalize::Normalized, Vec<lexicon::Hit>)> {
    let pieces = pieces(definition);
    let own = definition
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (params, own_name) = scope_of(&pieces, own);
    let scope = Scope {
        params: params.as_ref(),
        own_name: &own_name,
    };
    pieces
        .iter()
        .map(|p| {
            let n = normalize::normalize(p.text);
            let hits = intent::read(p.text, &n, p.place, &scope);
            (p.place, n, hits)
        })
        .collect()
}

/// A finding in one text, before it has a path: the rule, the encoding it was found
/// under (if any), and where in the text.
struct Found {
    rule: &'static str,
    encoding: Option<&'static str>,
    span: (usize, usize),
}

/// Every finding in one text at a place.
fn read_text(raw: &str, place: Place, scope: &Scope, foreign: &rules::Names<'_>) -> Vec<Found> {
    let mut out = Vec::new();
    let text = rules::Text::new(raw, place);
    let normalized = normalize::normalize(raw);
    let hits = intent::read(raw, &normalized, place, scope);
    for rule in rules::character_rules() {
        if let Some(span) = rules::check(rule, &text, foreign) {
            // A foreign tool named in passing is reported; named where the sentence
            // steers it, or a Guidepost built-in tool, it quarantines. A value that is
            // only a name (an enum of operations) steers nothing by itself: another
            // server's tool may share the name.
            let id = if rule.kind == "names"
                && !builtin(&raw[span.0..span.1])
                && !intent::steers(
                    &normalized,
                    &hits,
                    normalized.original_to_normalized(span.0),
                    normalized.original_to_normalized(span.1),
                ) {
                TOOL_MENTION
            } else {
                rule.id.as_str()
            };
            out.push(Found {
                rule: id,
                encoding: None,
                span,
            });
        }
    }
    let mut flags = intent::analyze(&normalized, &hits, place);
    let structure = intent::structure(raw, &normalized, &hits, place, &flags);
    flags.extend(structure);
    if let Some((start, end)) = classifier::classify(&normalized, &hits, place) {
        flags.push(intent::Flag {
            rule: classifier::CLASSIFIER,
            start,
            end,
        });
    }
    for flag in &flags {
        out.push(Found {
            rule: flag.rule,
            encoding: None,
            span: normalized.original(raw, flag.start, flag.end),
        });
    }
    // Named in the raw text too: leetspeak folding reads `rot13` as `rotie`.
    let names_rot13 = |t: &str| {
        ["rot13", "rot 13", "rot-13", "caesar"]
            .iter()
            .any(|w| t.contains(w))
    };
    let rot13 = (normalized.text.contains(['3', 'c']) && names_rot13(&normalized.text))
        || (raw.contains("13") && names_rot13(&raw.to_ascii_lowercase()));
    let encoded = raw.len() >= decode::MIN_RUN || rot13;
    for hidden in encoded
        .then(|| decode::decoded(raw, rot13))
        .into_iter()
        .flatten()
    {
        let decoded = normalize::normalize(&hidden.text);
        let hits = intent::read(&hidden.text, &decoded, place, scope);
        let mut flags = intent::analyze(&decoded, &hits, place);
        flags.extend(intent::structure(
            &hidden.text,
            &decoded,
            &hits,
            place,
            &flags,
        ));
        let span = (hidden.start, hidden.end);
        if hidden.encoding != "rot13" || !flags.is_empty() {
            out.push(Found {
                rule: ENCODED_TEXT,
                encoding: None,
                span,
            });
        }
        for flag in &flags {
            out.push(Found {
                rule: flag.rule,
                encoding: Some(hidden.encoding),
                span,
            });
        }
    }
    out
}

/// The rule for a foreign tool named without steering it.
const TOOL_MENTION: &str = "tool-mention";

/// Whether `name` is one of Guidepost's built-in tools (no upstream has a reason to name
/// them).
fn builtin(name: &str) -> bool {
    guidepost_domain::builtin_tools::ALL
        .iter()
        .any(|b| b.eq_ignore_ascii_case(name))
}

/// The rule for an encoded run that decodes to readable text.
const ENCODED_TEXT: &str = "encoded-text";

/// What a finding shows: its span's text, cut to 120 characters.
fn excerpt(text: &str, start: usize, end: usize) -> String {
    text.get(start..end)
        .unwrap_or_default()
        .chars()
        .take(120)
        .collect()
}

/// The text at a finding's `path` in `definition` (a path with a decoding suffix, such as
/// `description (base64)`, names the encoded text), if there is one.
pub fn text_at(definition: &Value, path: &str) -> Option<String> {
    let path = match path.rsplit_once(" (") {
        Some((base, suffix)) if suffix.ends_with(')') => base,
        _ => path,
    };
    pieces(definition)
        .into_iter()
        .find(|p| p.path == path)
        .map(|p| p.text.to_owned())
}

/// Every text of a definition a model reads, with where it is.
fn pieces<'a>(definition: &'a Value) -> Vec<Piece<'a>> {
    let mut pieces = Vec::new();
    let mut push = |path: &str, text: &'a str, place: Place| {
        pieces.push(Piece {
            path: path.to_owned(),
            text,
            place,
        });
    };
    for (field, place) in [
        ("name", Place::Name),
        ("title", Place::Title),
        ("description", Place::Description),
    ] {
        if let Some(text) = definition.get(field).and_then(Value::as_str) {
            push(field, text, place);
        }
    }
    if let Some(annotations) = definition.get("annotations") {
        strings(annotations, "annotations", &mut |path, text| {
            push(path, text, Place::Annotation)
        });
    }
    for (schema, input) in [("inputSchema", true), ("outputSchema", false)] {
        if let Some(value) = definition.get(schema) {
            schema_pieces(value, schema, input, false, true, &mut push);
        }
    }
    pieces
}

/// A JSON object's entries in key order: the scanner reads a definition the same way
/// whether the JSON map keeps its keys sorted or as written (serde_json's
/// `preserve_order`, which a dependency may turn on), so findings and the classifier's
/// training do not depend on it.
fn by_key(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    entries
}

/// Every string inside `value` (at any depth), with its path.
fn strings<'a>(value: &'a Value, path: &str, found: &mut dyn FnMut(&str, &'a str)) {
    match value {
        Value::String(text) => found(path, text),
        Value::Array(items) => {
            for (n, item) in items.iter().enumerate() {
                strings(item, &format!("{path}[{n}]"), found);
            }
        }
        Value::Object(map) => {
            for (key, child) in by_key(map) {
                strings(child, &format!("{path}.{key}"), found);
            }
        }
        _ => {}
    }
}

/// Keywords of a schema whose strings are not read as prose: types, formats, references,
/// patterns, the names of required properties (read as property names).
const STRUCTURAL: &[&str] = &[
    "type",
    "format",
    "$schema",
    "$id",
    "$ref",
    "$anchor",
    "$dynamicRef",
    "$dynamicAnchor",
    "pattern",
    "contentEncoding",
    "contentMediaType",
    "required",
    "dependentRequired",
];

/// Whether a property's schema takes text: not a number, a boolean or one of an enum's
/// values.
fn textual(schema: &Value) -> bool {
    if schema.get("enum").is_some() || schema.get("const").is_some() {
        return false;
    }
    let scalar = |t: &Value| matches!(t.as_str(), Some("number" | "integer" | "boolean" | "null"));
    match schema.get("type") {
        Some(Value::Array(types)) => !types.iter().all(scalar),
        Some(t) => !scalar(t),
        None => true,
    }
}

/// The texts of a schema, with where each is, at any depth. `property` is set inside a
/// property's own schema, `text` when that property takes text.
fn schema_pieces<'a>(
    value: &'a Value,
    path: &str,
    input: bool,
    property: bool,
    text: bool,
    push: &mut dyn FnMut(&str, &'a str, Place),
) {
    match value {
        Value::Object(map) => {
            for (key, child) in by_key(map) {
                // Types, formats and the like are not read: no path for them.
                if STRUCTURAL.contains(&key.as_str()) {
                    continue;
                }
                let here = format!("{path}.{key}");
                let value_kind = match key.as_str() {
                    "default" => Some(ValueKind::Default),
                    "enum" => Some(ValueKind::Enum),
                    "examples" | "example" => Some(ValueKind::Example),
                    "const" => Some(ValueKind::Const),
                    _ => None,
                };
                match (key.as_str(), child) {
                    (_, child) if value_kind.is_some() => {
                        let place = Place::Value {
                            kind: value_kind.unwrap_or(ValueKind::Default),
                            input,
                        };
                        strings(child, &here, &mut |p, t| push(p, t, place));
                    }
                    ("properties" | "$defs" | "definitions", Value::Object(properties)) => {
                        for (name, schema) in by_key(properties) {
                            let at = format!("{here}.{name}");
                            let textual = textual(schema);
                            if key == "properties" {
                                push(&at, name, Place::ParameterName { input, textual });
                            }
                            schema_pieces(schema, &at, input, true, textual, push);
                        }
                    }
                    ("patternProperties", Value::Object(properties)) => {
                        for (name, schema) in by_key(properties) {
                            let textual = textual(schema);
                            schema_pieces(
                                schema,
                                &format!("{here}.{name}"),
                                input,
                                true,
                                textual,
                                push,
                            );
                        }
                    }
                    (_, Value::String(t)) => {
                        push(
                            &here,
                            t,
                            Place::SchemaText {
                                input,
                                property,
                                textual: text,
                            },
                        );
                    }
                    _ => schema_pieces(child, &here, input, property, text, push),
                }
            }
        }
        Value::Array(items) => {
            for (n, item) in items.iter().enumerate() {
                schema_pieces(item, &format!("{path}[{n}]"), input, property, text, push);
            }
        }
        _ => {}
    }
}

/// Whether a tool name is specific enough that naming it in prose means the tool: it has
/// a separator or an inner capital (`send_email`, `readFile`) and five characters or
/// more. Plain words (`echo`, `search`) are left out: prose uses them for themselves.
pub fn distinctive(name: &str) -> bool {
    let inner_capital = name
        .as_bytes()
        .windows(2)
        .any(|pair| pair[0].is_ascii_lowercase() && pair[1].is_ascii_uppercase());
    name.len() >= 5 && (name.contains(['_', '-', '.']) || inner_capital)
}

#[cfg(test)]
mod tests;
