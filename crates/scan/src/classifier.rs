//! A small offline classifier beside the rules: logistic regression over one sentence
//! of normalized text, its features the sentence's words and the lexicon's categories
//! found in it (alone, in pairs, with the kind of place, and the verb that opens it), its
//! weights data in the repository (`scan_classifier.tsv`), trained on the development
//! half of the corpus only by the test in `classifier/train.rs` (`cargo test -p
//! guidepost-scan train_the_classifier -- --ignored` writes the file again; a test checks
//! the committed file is what training gives). A sentence that scores at or above its
//! place's threshold is reported as `classifier`, its span the sentence; `evidence` names
//! the features that weighed most. In a description or a title it reads only sentences
//! where something is at stake (a secret, the conversation, secrecy, the model's own
//! instructions, …), elsewhere only sentences with a word of the lexicon. It costs one
//! hash lookup per feature and needs no network.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use super::intent::Place;
use super::lexicon::{Cat, Hit};
use super::normalize::{Normalized, is_cjk};
use super::rules::Fnv;

/// The rule a sentence the classifier flags is reported under.
pub(super) const CLASSIFIER: &str = "classifier";

/// The weights file: `#` comments, `bias\t<w>`, `threshold <place>\t<t>` for each kind of
/// place, then `<feature>\t<w>`.
const WEIGHTS: &str = include_str!("scan_classifier.tsv");

struct Model {
    bias: f32,
    /// By kind of place (`place_class`).
    thresholds: HashMap<String, f32>,
    weights: HashMap<u64, f32, BuildHasherDefault<Fnv>>,
}

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| parse(WEIGHTS))
}

fn parse(file: &str) -> Model {
    let mut model = Model {
        bias: 0.0,
        thresholds: HashMap::new(),
        weights: HashMap::default(),
    };
    for line in file
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let Some((name, weight)) = line.rsplit_once('\t') else {
            continue;
        };
        let Ok(weight) = weight.parse::<f32>() else {
            continue;
        };
        match name {
            "bias" => model.bias = weight,
            _ if name.starts_with("threshold ") => {
                model
                    .thresholds
                    .insert(name["threshold ".len()..].to_owned(), weight);
            }
            _ => {
                model.weights.insert(hash(name), weight);
            }
        }
    }
    model
}

fn hash(feature: &str) -> u64 {
    let mut h = Fnv::default();
    h.write(feature.as_bytes());
    h.finish()
}

/// The words of a normalized text: runs of letters and digits (a number reads as `0`),
/// each Chinese, Japanese or Korean character a word of its own.
pub(super) fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        let cjk = is_cjk(c);
        let word = c.is_alphanumeric() && !cjk;
        match (word, start) {
            (true, None) => start = Some(at),
            (false, Some(s)) => {
                out.push(&text[s..at]);
                start = None;
            }
            _ => {}
        }
        if cjk {
            out.push(&text[at..at + c.len_utf8()]);
        }
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

/// The kinds of place the classifier tells apart (`place_class`).
#[cfg(test)]
pub(super) const PLACES: &[&str] = &[
    "title",
    "description",
    "parameter-name",
    "value",
    "output",
    "fills",
    "schema",
];

/// What kind of place a text is in, as the classifier reads it.
fn place_class(place: Place) -> &'static str {
    match place {
        Place::Name | Place::Title | Place::Annotation => "title",
        Place::Description => "description",
        Place::ParameterName { .. } => "parameter-name",
        Place::Value { .. } => "value",
        p if p.output() => "output",
        p if p.fills() => "fills",
        _ => "schema",
    }
}

/// Categories that only help other rules (the words a pseudo-tag's name is made of,
/// `tool` before a name): common words, no evidence here.
const NOISE: &[Cat] = &[Cat::TagWord, Cat::TagQualifier, Cat::ToolWord];

/// The verbs whose category, opening a sentence, makes it imperative.
const VERBS: &[Cat] = &[
    Cat::Transmit,
    Cat::Acquire,
    Cat::Ask,
    Cat::Obey,
    Cat::ObeyStrong,
    Cat::Destructive,
    Cat::Hide,
    Cat::Override,
];

/// The features of one sentence (`start..end` of the normalized `text`): its words, the
/// lexicon's categories found in it (`hits`, sorted by start) alone, in pairs and with the
/// kind of place, the category of a verb that opens it, and the kind of place. Each is
/// given to `emit` as the parts its name is made of.
fn each_feature(
    text: &str,
    (start, end): (usize, usize),
    hits: &[Hit],
    place: Place,
    mode: WordMode,
    emit: &mut dyn FnMut(&[&str]),
) {
    let sentence = &text[start..end];
    for word in words(sentence) {
        if let Some(word) = word_feature(word, mode) {
            emit(&[word]);
        }
    }
    let place = place_class(place);
    let hits = within(hits, (start, end));
    let mut cats: Vec<Cat> = hits
        .iter()
        .filter(|h| !NOISE.contains(&h.cat))
        .map(|h| h.cat)
        .collect();
    cats.sort_unstable();
    cats.dedup();
    for (i, a) in cats.iter().enumerate() {
        emit(&["[", a.id(), "]"]);
        emit(&["[", a.id(), "] in ", place]);
        for b in &cats[i + 1..] {
            emit(&["[", a.id(), "] [", b.id(), "]"]);
        }
    }
    let lead = sentence.len()
        - sentence
            .trim_start_matches(|c: char| !c.is_alphanumeric())
            .len();
    if let Some(first) = hits
        .iter()
        .find(|h| h.start == start + lead && VERBS.contains(&h.cat))
    {
        emit(&["[imperative ", first.cat.id(), "]"]);
    }
    emit(&["[in ", place, "]"]);
}

/// The features of one sentence by name, each once (see `each_feature`): what training
/// and `evidence` read.
#[cfg(test)]
pub(super) fn features(
    text: &str,
    span: (usize, usize),
    hits: &[Hit],
    place: Place,
    mode: WordMode,
) -> Vec<String> {
    let mut out = Vec::new();
    each_feature(text, span, hits, place, mode, &mut |parts| {
        out.push(parts.concat())
    });
    out.sort_unstable();
    out.dedup();
    out
}

/// The features of one sentence as hashes of their names, each once: what scoring
/// reads, without building the names.
fn feature_hashes(text: &str, span: (usize, usize), hits: &[Hit], place: Place) -> Vec<u64> {
    let mut out = Vec::with_capacity(32);
    each_feature(text, span, hits, place, WORDS, &mut |parts| {
        let mut h = Fnv::default();
        for part in parts {
            h.write(part.as_bytes());
        }
        out.push(h.finish());
    });
    out.sort_unstable();
    out.dedup();
    out
}

/// The committed model's score of a sentence's features.
fn score(hashes: &[u64]) -> f32 {
    let m = model();
    m.bias
        + scale(hashes.len()) as f32
            * hashes
                .iter()
                .map(|h| m.weights.get(h).copied().unwrap_or(0.0))
                .sum::<f32>()
}

/// What each feature of a sentence with `n` of them counts for: a long sentence has many
/// features and is not for that more suspect.
pub(super) fn scale(n: usize) -> f64 {
    1.0 / (n.max(1) as f64).sqrt()
}

/// The sentences a text is read in (the sentence rules' clauses, without the spaces
/// around them), as normalized spans.
pub(super) fn sentences(text: &str) -> Vec<(usize, usize)> {
    super::intent::clauses(text)
        .into_iter()
        .map(|(s, e)| {
            let inner = &text[s..e];
            let start = s + (inner.len() - inner.trim_start().len());
            (start, start + inner.trim().len())
        })
        .filter(|(s, e)| at_least_words(&text[*s..*e], 2))
        .collect()
}

/// Whether `text` has `n` words or more, as `words` splits it (without collecting them:
/// every sentence of every text is counted).
fn at_least_words(text: &str, n: usize) -> bool {
    let mut count = 0;
    let mut in_word = false;
    for c in text.chars() {
        let cjk = is_cjk(c);
        let word = c.is_alphanumeric() && !cjk;
        if (word && !in_word) || cjk {
            count += 1;
            if count >= n {
                return true;
            }
        }
        in_word = word;
    }
    false
}

/// The first sentence of `n` that scores at or above the model's threshold for its kind
/// of place.
pub(super) fn classify(n: &Normalized, hits: &[Hit], place: Place) -> Option<(usize, usize)> {
    let threshold = model()
        .thresholds
        .get(place_class(place))
        .copied()
        .unwrap_or(f32::INFINITY);
    // No sentence is read without a hit that counts in it: a text without one (most)
    // is not split into sentences at all.
    if !hits.iter().any(|h| counts(h.cat, place)) {
        return None;
    }
    sentences(&n.text).into_iter().find(|span| {
        read_here(&n.text, *span, hits, place)
            && score(&feature_hashes(&n.text, *span, hits, place)) >= threshold
    })
}

/// Whether the classifier reads the sentence `span` of `text` at all (training calibrates
/// its thresholds on the same sentences).
pub(super) fn read_here(text: &str, span: (usize, usize), hits: &[Hit], place: Place) -> bool {
    // A parameter's name is a name (`system_prompt`), which the structure rules judge
    // with its description; only a sentence used as a name is read here.
    if matches!(place, Place::ParameterName { .. }) && !at_least_words(text, 4) {
        return false;
    }
    // Elsewhere, a sentence without a word of the lexicon is not read: words alone are
    // what the development half happened to say.
    within(hits, span).iter().any(|h| counts(h.cat, place))
}

/// Whether a hit of `cat` makes a sentence at `place` one the classifier reads. Prose for
/// the model is how benign servers guide it too (`Note to LLM: if unsure, list the
/// indexes first`): in a description or a title only a category at stake counts.
fn counts(cat: Cat, place: Place) -> bool {
    if matches!(place_class(place), "description" | "title") {
        AT_STAKE.contains(&cat)
    } else {
        !NOISE.contains(&cat)
    }
}

/// How the classifier reads a sentence's words (chosen by cross-validation by source
/// inside the development half, `choose_the_method` in classifier/train.rs).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    not(test),
    allow(dead_code, reason = "the other ways are what training compares")
)]
pub(super) enum WordMode {
    /// Each word as it is.
    Exact,
    /// Each word's first `n` characters: one weight for a word's inflections, and a
    /// coarser vocabulary that one source's phrasing moves less.
    Prefix(usize),
    /// No words: only the lexicon's categories, their pairs and places.
    Without,
}

/// The committed model's way of reading words.
pub(super) const WORDS: WordMode = WordMode::Exact;

/// The feature a word gives under `mode` (a number reads as `0`), if any.
pub(super) fn word_feature(word: &str, mode: WordMode) -> Option<&str> {
    if word.chars().all(|c| c.is_ascii_digit()) {
        return (mode != WordMode::Without).then_some("0");
    }
    match mode {
        WordMode::Exact => Some(word),
        WordMode::Prefix(n) => Some(
            word.char_indices()
                .nth(n)
                .map_or(word, |(at, _)| &word[..at]),
        ),
        WordMode::Without => None,
    }
}

/// The hits that start within `start..end` (`hits` sorted by start).
fn within(hits: &[Hit], (start, end): (usize, usize)) -> &[Hit] {
    let from = hits.partition_point(|h| h.start < start);
    let to = from + hits[from..].partition_point(|h| h.start < end);
    &hits[from..to]
}

/// What is at stake in a sentence of prose: secrecy toward the user, the model's own
/// instructions, secrets, the conversation, private data, consent, destinations,
/// destruction.
const AT_STAKE: &[Cat] = &[
    Cat::Secrecy,
    Cat::Conceal,
    Cat::ConcealStrong,
    Cat::Hide,
    Cat::Stealth,
    Cat::Omit,
    Cat::Override,
    Cat::Persona,
    Cat::Instruction,
    Cat::Sensitive,
    Cat::SecretStrong,
    Cat::Source,
    Cat::EnvRef,
    Cat::Context,
    Cat::SysPrompt,
    Cat::Pii,
    Cat::ConsentBypass,
    Cat::ContraUser,
    Cat::ObeyStrong,
    Cat::Redirect,
    Cat::Destructive,
    Cat::SecurityOff,
    Cat::Deceive,
    Cat::Sink,
    Cat::Url,
    Cat::Persist,
];

/// The features of a sentence that weighed most toward its flag, strongest first.
#[cfg_attr(
    not(test),
    allow(dead_code, reason = "explains a finding; used by tests")
)]
pub(super) fn evidence(features: &[String], count: usize) -> Vec<String> {
    let m = model();
    let mut weighed: Vec<(f32, &String)> = features
        .iter()
        .filter_map(|f| m.weights.get(&hash(f)).map(|w| (*w, f)))
        .filter(|(w, _)| *w > 0.0)
        .collect();
    weighed.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    weighed
        .into_iter()
        .take(count)
        .map(|(_, f)| f.clone())
        .collect()
}

#[cfg(test)]
mod train;
