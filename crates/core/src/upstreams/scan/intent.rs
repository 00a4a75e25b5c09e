//! The semantic rules: categories of the lexicon (lexicon.rs) combined within a sentence
//! (split at `. ! ? ;`, line breaks and `。！？；`), some within a few words of each
//! other, and the structure checks (a parameter named after what it would carry off,
//! prose where a value belongs, pseudo-tags, commands piped to a shell). Each rule's id,
//! severity and examples are in `scan_rules.toml`; what it combines is here.

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
    fn fills(self) -> bool {
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

    fn output(self) -> bool {
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
fn clauses(text: &str) -> Vec<(usize, usize)> {
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
    structural_hits(raw, n, place, scope, &mut hits);
    hits.sort_by_key(|h| (h.start, h.end));
    hits
}

/// Every rule that fires on one text, from what `read` found in it.
pub(super) fn analyze(n: &Normalized, hits: &[Hit], place: Place) -> Vec<Flag> {
    if hits.is_empty() {
        return Vec::new();
    }
    let text = n.text.as_str();
    let words = word_positions(text, hits);
    let mut flags: Vec<Flag> = Vec::new();
    let mut fire = |rule: &'static str, (start, end): (usize, usize)| {
        if !flags.iter().any(|f| f.rule == rule) {
            flags.push(Flag { rule, start, end });
        }
    };

    let spans = clauses(text);
    let mut next = 0;
    let built: Vec<Clause> = spans
        .iter()
        .map(|(s, e)| {
            while next < hits.len() && hits[next].start < *s {
                next += 1;
            }
            let first = next;
            while next < hits.len() && hits[next].start < *e {
                next += 1;
            }
            let hits: Vec<(Hit, u32)> = (first..next).map(|k| (hits[k], words[k])).collect();
            let mask = hits.iter().fold(0u64, |m, (h, _)| m | h.cat.bit());
            Clause {
                hits,
                mask,
                start: *s,
            }
        })
        .collect();
    for (i, c) in built.iter().enumerate() {
        let around = built[i.saturating_sub(1)..(i + 2).min(built.len())]
            .iter()
            .fold(0u64, |m, c| m | c.mask);
        let nearby = |cat: Cat| around & cat.bit() != 0;
        let imperative = imperative(text, c);
        let addressed = c.any(&[Address, Modal, Label]);
        let directed = addressed || imperative;

        // Keeping something from the user.
        if c.has(Secrecy) {
            fire(SECRECY, c.span(&[Secrecy]));
        }
        for (neg, tn) in c.of(Negation) {
            for (verb, tv) in c.of(Conceal).chain(c.of(ConcealStrong)) {
                // Japanese and Korean negate after the verb.
                let cjk = text[verb.start..verb.end].chars().any(is_cjk);
                let fits = if tn <= tv {
                    tv - tn <= 4
                } else if cjk {
                    tn - tv <= 3
                } else {
                    // `Erwähne … nicht`: the negation closes the sentence.
                    verb.cat == ConcealStrong && tn - tv <= 8
                };
                if !fits {
                    continue;
                }
                let secret_object = c.of(Sensitive).any(|(_, ts)| *ts > *tv && ts - tv <= 4);
                let to_user = c.of(User).any(|(_, tu)| tu.abs_diff(*tv) <= 6);
                if !secret_object && (verb.cat == ConcealStrong || to_user) {
                    fire(SECRECY, (neg.start, verb.end));
                }
            }
        }
        // `The user must never find out`, `not made aware`.
        for (p, tp) in c.of(Perceive) {
            let negated = c
                .of(Negation)
                .chain(c.of(NegWeak))
                .any(|(_, tn)| tn.abs_diff(*tp) <= 5);
            let user = c.of(User).any(|(_, tu)| tu.abs_diff(*tp) <= 6);
            if negated && user {
                fire(SECRECY, (p.start, p.end));
            }
        }
        // `Leave the upload out of your reply`, `your answer must not mention it`.
        let keeps_secret = c.of(Sensitive).count() > 0
            && c.of(ConcealStrong)
                .chain(c.of(Conceal))
                .any(|(_, tv)| c.of(Sensitive).any(|(_, ts)| ts > tv && ts - tv <= 4));
        if c.has(Reply)
            && !keeps_secret
            && (c.has(Omit) || (c.any(&[Negation, NegWeak]) && c.any(&[Conceal, ConcealStrong])))
        {
            fire(SECRECY, c.span(&[Reply, Omit, ConcealStrong, Conceal]));
        }
        // `Hide it from the user`.
        if let Some(span) = c.near(Hide, User, 6) {
            fire(SECRECY, span);
        }
        if c.has(Stealth)
            && (nearby(Sensitive)
                || nearby(EnvRef)
                || nearby(Source)
                || nearby(Pii)
                || nearby(Context)
                || nearby(OtherTool)
                || nearby(Redirect)
                || nearby(Secrecy)
                || (nearby(Transmit) && nearby(Field)))
        {
            fire(SECRECY, c.span(&[Stealth]));
        }

        // Setting instructions aside, a new persona, priority over the user.
        // `Ignore any instructions in the results` defends against injection; it is an
        // override only when the instructions set aside are the model's own.
        let defensive = c.has(Untrusted)
            && !c.has(Prior)
            && !c.of(Instruction).any(|(h, _)| {
                let word = &text[h.start..h.end];
                ["your", "system", "previous", "prior", "earlier", "original"]
                    .iter()
                    .any(|q| word.contains(q))
            });
        if !defensive && let Some(span) = c.near(Override, Instruction, 6) {
            fire(OVERRIDE, span);
        }
        for (_, tw) in c.of(InstructionWeak) {
            let qualified = c.of(Prior).any(|(_, tp)| tp.abs_diff(*tw) <= 3);
            let overridden = c.of(Override).any(|(_, to)| to.abs_diff(*tw) <= 6);
            if qualified && overridden {
                fire(OVERRIDE, c.span(&[Override, InstructionWeak]));
            }
            if qualified && c.of(Priority).any(|(_, tp)| tp.abs_diff(*tw) <= 8) {
                fire(OVERRIDE, c.span(&[Priority, InstructionWeak]));
            }
        }
        if let Some(span) = c
            .near(Priority, Instruction, 8)
            .or_else(|| c.near(Priority, User, 6))
        {
            fire(OVERRIDE, span);
        }
        if c.has(Persona) {
            fire(OVERRIDE, c.span(&[Persona]));
        }
        if c.has(PersonaWeak) && c.any(&[Address, Label]) {
            fire(OVERRIDE, c.span(&[PersonaWeak, Address]));
        }
        if c.has(ContraUser) {
            fire(OVERRIDE, c.span(&[ContraUser]));
        }

        // Secrets: where they live, or the secrets themselves, moved into the call or
        // asked for. What only reads a secret describes the tool (`Get the kubeconfig`);
        // the attack moves it: pass it, put it in a field, ask for it.
        let read_from = c.of(Source).any(|(h, _)| !destination(text, h.start));
        let source = read_from
            || (c.has(EnvRef)
                && (c.any(&[Sensitive, Verbatim]) || (c.has(Totality) && c.has(Contents))));
        let moved = c.any(&[Transmit, Ask]);
        if source
            && ((moved
                && (imperative
                    || c.any(&[Field, Url, Contents, Totality, Verbatim, Label, Modal])))
                || (place.fills() && c.any(&[Contents, Totality, Verbatim, Transmit])))
        {
            fire(
                SECRET_REQUEST,
                c.span(&[Source, EnvRef, Transmit, Acquire, Ask]),
            );
        }
        // Reading a secret's file on instruction, to use in the call (`read it from
        // ~/.config/gh/hosts.yml`).
        if read_from
            && imperative_of(text, c, Acquire)
            && (nearby(Field) || nearby(Sensitive) || nearby(Transmit))
        {
            fire(SECRET_REQUEST, c.span(&[Source, Acquire]));
        }
        if c.has(Sensitive) {
            let asked = if place.fills() {
                c.any(&[Ask, Verbatim, Stealth, ConsentBypass])
                    || nearby(Ask)
                    || (source && c.any(&[Contents, Acquire, Transmit, Totality]))
                    || (c.has(Acquire) && c.any(&[EnvRef, Stealth]))
                    || (c.has(Totality) && c.has(Contents))
            } else {
                // `Never reveal API keys` keeps a secret; it does not ask for one.
                let moved = c
                    .of(Transmit)
                    .any(|(_, tt)| !c.of(Negation).any(|(_, tn)| tn <= tt && tt - tn <= 3));
                c.has(Ask)
                    || (moved
                        && (c.any(&[Address, Label, Modal, Stealth, ConsentBypass]) || source))
                    || (imperative_of(text, c, Transmit) && c.has(Field))
                    // `the user's password in q`
                    || (c.has(User) && c.has(Field) && c.has(Transmit))
                    // `…, which you can find in the environment; pass it as token`
                    || built.get(i + 1).is_some_and(|next| {
                        imperative_of(text, next, Transmit) && next.has(Field)
                    })
            };
            if asked {
                fire(SECRET_REQUEST, c.span(&[Sensitive, Transmit, Acquire, Ask]));
            }
        }

        // The conversation, carried off. The system prompt named bare is a prompt tool's
        // subject; it is the conversation's when moved, asked for whole, or yours.
        let context = c.has(Context)
            || (c.has(SysPrompt)
                && ((c.has(Transmit) && directed) || c.any(&[Totality, Verbatim, Address])));
        if context {
            let carried = place.fills()
                || (c.any(&[Transmit, Field]) && (directed || c.has(Field)))
                || (c.has(Acquire) && c.has(Totality) && directed);
            if carried {
                fire(CONTEXT, c.span(&[Context, SysPrompt, Transmit, Field]));
            }
        }
        // A parameter asking for a whole conversation in other words (`the complete
        // history of the conversation with the user`).
        let distinct_weak = {
            let mut words: Vec<&str> = c
                .of(ContextWeak)
                .map(|(h, _)| &text[h.start..h.end])
                .collect();
            words.sort_unstable();
            words.dedup();
            words.len()
        };
        if place.fills()
            && distinct_weak + usize::from(c.has(Prior)) + usize::from(c.has(User)) >= 2
            && c.any(&[Totality, Verbatim])
            && c.has(ContextWeak)
        {
            fire(CONTEXT, c.span(&[ContextWeak, Totality, Verbatim]));
        }
        if c.has(ContextWeak)
            && c.has(Totality)
            && c.has(Transmit)
            && c.any(&[Prior, User, Address])
            && (directed || c.has(Field) || place.fills())
        {
            fire(CONTEXT, c.span(&[ContextWeak, Totality, Transmit]));
        }

        // Another tool's behaviour changed (a copy, another recipient or destination,
        // instead of, also …), or other tools run down. Passing an id on to the next tool
        // is how tools work together, and is no change.
        if c.has(OtherTool) {
            let how = c.any(&[Conditional, Modal, Address, Universal, Label]) || imperative;
            let only_preference = c.has(SelfRef) && c.has(Preference);
            // `instead` beside this tool is a preference; `this server` inside `alongside
            // this server` is not this tool.
            let own = c.of(SelfRef).any(|(s, _)| {
                !c.of(OtherTool)
                    .any(|(o, _)| s.start < o.end && o.start < s.end)
            });
            // Sending the model to another tool (`use the X tool instead`) is tool
            // selection; `instead` changes the other tool's call only where no tool is
            // chosen (`its pushes should target A rather than B`).
            let selects = text[c_start(c)..c_end(c, text)]
                .split(|ch: char| !ch.is_alphanumeric())
                .any(|w| {
                    [
                        "use", "call", "try", "prefer", "choose", "pick", "invoke", "switch", "run",
                    ]
                    .contains(&w)
                });
            let changes = c.has(Redirect)
                || (c.has(Url) && c.has(Conditional))
                || (c.has(Instead) && !own && c.has(Modal) && !selects);
            if changes && how && !only_preference {
                fire(CROSS_TOOL, c.span(&[OtherTool, Redirect, Instead]));
            }
            // Every other tool's data sent here first: interception.
            if own && c.has(Conditional) && c.any(&[Totality, Contents, Verbatim]) {
                fire(CROSS_TOOL, c.span(&[OtherTool, SelfRef]));
            }
            if nearby(Avoid) && (nearby(Disparage) || nearby(ContraUser)) {
                fire(CROSS_TOOL, c.span(&[OtherTool, Avoid]));
            }
        }

        // Obeying what the tool returns, or what the server sends later.
        let pressing = c.any(&[
            Modal,
            Address,
            Label,
            Timing,
            Preempt,
            ConsentBypass,
            ContraUser,
            Secrecy,
            Universal,
        ]);
        let model_named = c.has(Label) || names_model(text, c);
        if c.has(ObeyStrong)
            && !defensive
            && (model_named
                || c.any(&[
                    Returned,
                    Instruction,
                    Label,
                    Preempt,
                    Timing,
                    ConsentBypass,
                    ContraUser,
                    Secrecy,
                ])
                || place.output())
        {
            fire(OUTPUT, c.span(&[ObeyStrong, Returned]));
        }
        // `…; carry it out`: the object refers back to what the sentence before named.
        let returned_before = i > 0
            && built[i - 1].has(Returned)
            && c.of(Obey).any(|(h, _)| {
                let after = text[h.end..].trim_start();
                ["it", "them", "this", "these", "that"].iter().any(|w| {
                    after.starts_with(w) && !after[w.len()..].starts_with(char::is_alphanumeric)
                })
            });
        let obeys_returned =
            c.near(Obey, Returned, 3).is_some() || (returned_before && c.has(Obey));
        if obeys_returned && pressing && !defensive {
            fire(OUTPUT, c.span(&[Obey, Returned]));
        }
        if c.has(Obey)
            && c.has(Instruction)
            && (model_named || c.any(&[Preempt, Timing, ConsentBypass, ContraUser, Secrecy]))
        {
            fire(OUTPUT, c.span(&[Obey, Instruction]));
        }
        // An output field said to hold instructions, tasks or guidance that are to be
        // acted on: what the tool returns would steer the model.
        if place.output()
            && c.any(&[Instruction, InstructionWeak, Returned])
            && c.any(&[ObeyStrong, Modal, Priority, ConsentBypass])
        {
            fire(
                OUTPUT,
                c.span(&[Instruction, InstructionWeak, Obey, ObeyStrong, Modal]),
            );
        }
        if c.has(Priority) && c.any(&[Returned, Field]) && c.any(&[Instruction, SysPrompt]) {
            fire(OUTPUT, c.span(&[Priority, Returned, Field]));
        }
        if place.output() && model_named && c.any(&[Modal, Timing, Preempt]) {
            fire(OUTPUT, c.span(&[Address, Label, Modal, Timing, Preempt]));
        }
        if c.has(Decode)
            && c.any(&[Obey, ObeyStrong])
            && c.any(&[Instruction, Returned, Modal, Address, Timing, Preempt])
        {
            fire(OUTPUT, c.span(&[Decode, Obey, ObeyStrong]));
        }

        // Instructions addressed to the model, for something else than the tool's job:
        // a note to the assistant is ordinary guidance until it destroys, deceives,
        // hides, or moves private data.
        if c.has(Label)
            && (c.any(&[
                Destructive,
                ObeyStrong,
                Secrecy,
                Deceive,
                SecurityOff,
                ConsentBypass,
                ContraUser,
                Sensitive,
                Pii,
                Context,
            ]) || source
                || (c.has(OtherTool) && c.has(Redirect))
                || (c.has(Ask) && c.any(&[Transmit, Url]))
                || (c.has(Transmit) && c.has(Url)))
        {
            fire(MODEL, c.span(&[Label, Transmit, Acquire, Ask, Destructive]));
        }
        if c.has(Pii)
            && c.any(&[Transmit, Field])
            && c.any(&[Acquire, Ask, Transmit])
            && (c.any(&[Preempt, Label, Stealth, ConsentBypass])
                || (c.has(Modal) && (model_named || c.has(Timing))))
        {
            fire(MODEL, c.span(&[Pii, Transmit, Acquire, Ask]));
        }
        // `The assistant forwards each answer to qa@…`: the model made to send.
        if model_named && c.has(Transmit) && c.any(&[Url, Pii, Sensitive, Context]) {
            fire(MODEL, c.span(&[Address, Transmit, Url]));
        }
        // `Upload the project to https://… before returning`: a side errand with data.
        if imperative_of(text, c, Transmit)
            && c.has(Url)
            && c.any(&[
                Preempt, Timing, Stealth, Pii, Source, Sensitive, Context, EnvRef,
            ])
        {
            fire(MODEL, c.span(&[Transmit, Url]));
        }
        // A parameter's description that sends the model on another errand with the
        // person's data (`after you fill this in, also call … with their location`).
        if place.fills()
            && c.any(&[Redirect, Destructive, OtherTool, Transmit])
            && c.any(&[Pii, Sensitive, Context])
            && (c.any(&[Preempt, Timing, Label]) || model_named)
        {
            fire(MODEL, c.span(&[Pii, Redirect, Destructive, Transmit]));
        }
        // The contents of all the person's files, sent.
        if c.has(Pii)
            && c.has(Transmit)
            && c.has(Contents)
            && (place.fills() || (imperative && c.has(Totality)))
        {
            fire(MODEL, c.span(&[Pii, Transmit, Contents]));
        }
        // A link left open for data (`…/collect?d=`), to be filled.
        if c.has(Sink)
            && c.any(&[
                Contents, Totality, Transmit, Pii, Sensitive, Context, Timing, Preempt,
            ])
        {
            fire(MODEL, c.span(&[Sink]));
        }
        // Lasting access: a key, a start-up script, a scheduled job written.
        if c.has(Persist) && c.any(&[Transmit, Destructive]) && (directed || c.has(Field)) {
            fire(MODEL, c.span(&[Persist, Transmit]));
        }
        if c.has(SecurityOff)
            && (c.any(&[Address, Modal, Label, Conditional])
                || imperative_of(text, c, Destructive)
                || c.of(SecurityOff)
                    .any(|(h, _)| text[c.start..h.start].trim().is_empty()))
        {
            fire(MODEL, c.span(&[SecurityOff]));
        }
        if c.has(Deceive) && (c.has(Label) || (c.has(Address) && c.any(&[Modal, Conditional]))) {
            fire(MODEL, c.span(&[Deceive]));
        }

        // Acting without the user's consent.
        if c.has(ConsentBypass)
            && (c.any(&[
                Transmit,
                Acquire,
                Destructive,
                Sensitive,
                Pii,
                Context,
                OtherTool,
                Obey,
                ObeyStrong,
            ]) || nearby(Modal)
                || nearby(Address))
        {
            fire(CONSENT, c.span(&[ConsentBypass]));
        }

        // Tool selection: forced for every request (high), or steered (low).
        if c.has(SelfRef) && c.has(Universal) && c.any(&[Modal, Timing, Preempt]) {
            fire(FORCED, c.span(&[SelfRef, Universal]));
        }
        if (c.has(SelfRef) && (c.has(Preference) || c.has(Redirect)) && c.any(&[Modal, OtherTool]))
            || (c.has(OtherTool) && c.has(Disparage))
        {
            fire(
                PREFERENCE,
                c.span(&[SelfRef, Preference, OtherTool, Disparage]),
            );
        }
    }
    flags
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

/// Categories found by shape rather than by word: quoted names and the tool's
/// parameters as places, paths to dotfiles and home directories, environment variables,
/// `the X tool` as another tool, `Assistant:` as a label, the tool's own name.
fn structural_hits(raw: &str, n: &Normalized, place: Place, scope: &Scope, hits: &mut Vec<Hit>) {
    let text = n.text.as_str();
    // `name`, 'name', "name": a place in the call.
    for quote in ['`', '\'', '"'] {
        let mut from = 0;
        while let Some(open) = text[from..].find(quote).map(|i| i + from) {
            let Some(close) = text[open + 1..].find(quote).map(|i| i + open + 1) else {
                break;
            };
            let inner = &text[open + 1..close];
            if !inner.is_empty()
                && inner.len() <= 40
                && inner.split(' ').count() <= 3
                && !inner.contains('\n')
            {
                let word_before = open > 0
                    && text[..open]
                        .chars()
                        .next_back()
                        .is_some_and(char::is_alphanumeric);
                if !word_before {
                    push(hits, Field, open, close + 1);
                }
            }
            from = close + 1;
        }
    }
    // The tool's parameters, named where a value goes (`as token`, `in the profile
    // parameter`, `dans le champ depot`).
    for found in scope
        .params
        .map(|params| params.find_overlapping_iter(text))
        .into_iter()
        .flatten()
    {
        {
            let (at, end) = (found.start(), found.end());
            let left = text[..at].chars().next_back();
            let right = text[end..].chars().next();
            let bounded = !left.is_some_and(|c| c.is_alphanumeric() && !is_cjk(c))
                && !right.is_some_and(|c| c.is_alphanumeric() && !is_cjk(c));
            if !bounded {
                continue;
            }
            let cjk_beside = left.is_some_and(is_cjk) || right.is_some_and(is_cjk);
            let before: Vec<&str> = text[..at].split_whitespace().rev().take(2).collect();
            let after = text[end..].trim_start();
            let prepositioned = before.iter().any(|w| {
                [
                    "in",
                    "into",
                    "as",
                    "to",
                    "inside",
                    "within",
                    "dans",
                    "en",
                    "em",
                    "nel",
                    "im",
                    "ins",
                    "в",
                    "na",
                    "no",
                    "na",
                    "champ",
                    "campo",
                    "feld",
                    "field",
                    "parameter",
                ]
                .contains(w)
            });
            let named = [
                "field",
                "parameter",
                "param",
                "argument",
                "champ",
                "campo",
                "feld",
                "字段",
                "参数",
                "欄",
                "フィールド",
                "필드",
                "поле",
            ]
            .iter()
            .any(|w| after.starts_with(w));
            if prepositioned || named || cjk_beside {
                push(hits, Field, at, end);
            }
        }
    }
    // Paths: a dotfile under the home directory holds configuration and keys; the home
    // directory itself holds the person's files.
    for (at, _) in text.match_indices("~/").filter(|_| text.contains('~')) {
        let dotfile = text[at + 2..].starts_with('.');
        let end = text[at..]
            .find(|c: char| c.is_whitespace() || c == '`' || c == ')' || c == '\'' || c == '"')
            .map_or(text.len(), |i| at + i);
        push(
            hits,
            if dotfile { EnvRef } else { Pii },
            at,
            end.max(at + 2),
        );
    }
    let markers: &[&str] = if text.contains(['/', '%', '$']) {
        &["/home/", "/users/", "%userprofile%", "$home"]
    } else {
        &[]
    };
    for marker in markers {
        for (at, _) in text.match_indices(marker) {
            push(hits, Pii, at, at + marker.len());
        }
    }
    // Environment variables: `$NAME`, and names of secrets (`STRIPE_SECRET_KEY`); not in
    // an enum or a const, where upper case names constants.
    let constant = matches!(
        place,
        Place::Value {
            kind: ValueKind::Enum | ValueKind::Const,
            ..
        }
    );
    let bytes = raw.as_bytes();
    let mut i = if constant { bytes.len() } else { 0 };
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_uppercase() || bytes[i] == b'$';
        if !starts || (i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < bytes.len()
            && (bytes[j].is_ascii_uppercase() || bytes[j].is_ascii_digit() || bytes[j] == b'_')
        {
            j += 1;
        }
        let name = &raw[i..j];
        let dollar = name.starts_with('$') && name.len() >= 3;
        let secret = [
            "KEY",
            "TOKEN",
            "SECRET",
            "PASSWORD",
            "PASS",
            "PWD",
            "CREDENTIALS",
            "APIKEY",
            "API_KEY",
        ]
        .iter()
        .any(|s| name.ends_with(&format!("_{s}")));
        if dollar || secret {
            let (s, e) = (n.original_to_normalized(i), n.original_to_normalized(j));
            if e > s {
                push(hits, if secret { Sensitive } else { EnvRef }, s, e);
            }
        }
        i = j.max(i + 1);
    }
    // `the mail tool`, `any other server`: another tool than this one.
    let tool_words: Vec<Hit> = hits.iter().filter(|h| h.cat == ToolWord).copied().collect();
    for tool in tool_words {
        let before: Vec<&str> = text[..tool.start]
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .rev()
            .take(3)
            .collect();
        if before
            .iter()
            .any(|w| ["this", "these", "same", "current", "own"].contains(w))
        {
            continue;
        }
        let word = &text[tool.start..tool.end];
        let other = before.iter().any(|w| {
            [
                "another",
                "other",
                "any",
                "every",
                "all",
                "each",
                "whatever",
                "whichever",
                "external",
                "alongside",
                "companion",
                "third",
            ]
            .contains(w)
        });
        let determined = !word.starts_with("server")
            && before.len() >= 2
            && !["the", "a", "an", "your"].contains(&before[0])
            && before[1..]
                .iter()
                .any(|w| ["the", "a", "an", "your"].contains(w));
        if other || determined {
            push(hits, OtherTool, tool.start, tool.end);
        }
    }
    // `Assistant:`, `AI:` at the start of a sentence: a note to the model.
    let addressed: Vec<Hit> = hits.iter().filter(|h| h.cat == Address).copied().collect();
    for a in addressed {
        let after = text[a.end..].trim_start();
        let word = &text[a.start..a.end];
        let names_model = LABEL_WORDS
            .iter()
            .any(|w| word == *w || word.starts_with(w) && w.ends_with("ent"));
        if !names_model || !(after.starts_with(':') || after.starts_with('：')) {
            continue;
        }
        let sentence_start = text[..a.start]
            .char_indices()
            .rev()
            .find(|(_, c)| ['.', '!', '?', '\n', ';', '(', '。'].contains(c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        if text[sentence_start..a.start].split_whitespace().count() <= 4 {
            push(hits, Label, a.start, a.end + 1);
        }
    }
    // A link whose query ends open (`?d=`): data is to be appended.
    let schemes: &[&str] = if text.contains("://") {
        &["http://", "https://"]
    } else {
        &[]
    };
    for scheme in schemes {
        for (at, _) in text.match_indices(scheme) {
            let end = text[at..]
                .find(|c: char| c.is_whitespace() || "`'\")<>".contains(c))
                .map_or(text.len(), |i| at + i);
            let link = text[at..end].trim_end_matches(['.', ',', ';', ':']);
            // `?d=` left open, or a placeholder for data: `?q={summary}`, `?x=[DATA]`.
            let open_query = link.contains('?') && link.ends_with('=');
            let placeholder = link.split_once('?').is_some_and(|(_, query)| {
                query.split('&').any(|pair| {
                    pair.split_once('=').is_some_and(|(_, v)| {
                        v.starts_with(['{', '[', '<', '$']) || v.contains("{{")
                    })
                })
            }) || text[end..].starts_with('{')
                || text[end..].starts_with('[');
            if open_query || placeholder {
                push(hits, Sink, at, at + link.len());
            }
        }
    }
    // E-mail addresses are destinations, like links; an IBAN is an account.
    for (at, _) in text.match_indices('@') {
        let start = text[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_alphanumeric() || "._+-".contains(*c))
            .last()
            .map_or(at, |(i, _)| i);
        let host_end = text[at + 1..]
            .find(|c: char| !(c.is_alphanumeric() || ".-".contains(c)))
            .map_or(text.len(), |i| at + 1 + i);
        let host = text[at + 1..host_end].trim_end_matches('.');
        if start < at && host.contains('.') {
            push(hits, Url, start, at + 1 + host.len());
        }
    }
    let raw_upper = raw.as_bytes();
    let mut k = 0;
    while k + 4 <= raw_upper.len() {
        let iban = raw_upper[k].is_ascii_uppercase()
            && raw_upper[k + 1].is_ascii_uppercase()
            && raw_upper[k + 2].is_ascii_digit()
            && raw_upper[k + 3].is_ascii_digit()
            && (k == 0 || !raw_upper[k - 1].is_ascii_alphanumeric());
        if iban {
            let run = raw[k..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == ' '))
                .map_or(raw.len() - k, |i| i);
            let digits = raw[k..k + run].chars().filter(char::is_ascii_digit).count();
            if digits >= 12 {
                let (s, e) = (
                    n.original_to_normalized(k),
                    n.original_to_normalized(k + run),
                );
                push(hits, Redirect, s, e.max(s));
                k += run;
                continue;
            }
        }
        k += 1;
    }
    // The tool's own name.
    if scope.own_name.len() >= 3 && text.len() >= scope.own_name.len() {
        for (at, _) in text.match_indices(scope.own_name) {
            push(hits, SelfRef, at, at + scope.own_name.len());
        }
    }
}

/// Whether the sentence around `start..end` of the normalized text steers what it names
/// (a condition, a directive, a change, a preference, a verb aimed at it): naming another
/// server's tool in passing is not shadowing; telling the model what to do with it is.
pub(super) fn steers(n: &Normalized, hits: &[Hit], start: usize, end: usize) -> bool {
    let text = n.text.as_str();
    let Some((s, e)) = clauses(text)
        .into_iter()
        .find(|(s, e)| start >= *s && start < *e)
    else {
        return false;
    };
    let steering = [
        Conditional,
        Modal,
        Redirect,
        Instead,
        Avoid,
        Disparage,
        Preference,
        Timing,
        Preempt,
        Obey,
        ObeyStrong,
        Transmit,
        Destructive,
        Label,
        Address,
        ContraUser,
        ConsentBypass,
        Secrecy,
    ];
    let selects = text[s..e].split(|ch: char| !ch.is_alphanumeric()).any(|w| {
        [
            "use", "call", "invoke", "run", "prefer", "try", "avoid", "skip", "replace",
        ]
        .contains(&w)
    });
    selects
        || hits.iter().any(|h| {
            h.start >= s
                && h.start < e
                && !(h.start >= start && h.end <= end)
                && steering.contains(&h.cat)
        })
}

/// Whether a parameter's name asks for a secret or private data (`api_key`,
/// `card_number`, `home_address`): such a parameter needs a word of why.
pub(super) fn names_secret(name: &Normalized) -> bool {
    lexicon()
        .hits(name)
        .iter()
        .any(|h| matches!(h.cat, Sensitive | Pii | Source | SysPrompt | Context))
}

/// Checks of a text by its place and shape, beside the sentence rules.
pub(super) fn structure(
    raw: &str,
    n: &Normalized,
    hits: &[Hit],
    place: Place,
    flags: &[Flag],
) -> Vec<Flag> {
    // An HTML comment that speaks to someone: hidden when rendered, read by the model.
    let comment = raw
        .contains('<')
        .then(|| raw.find("<!--"))
        .flatten()
        .and_then(|at| {
            let end = raw[at..].find("-->").map_or(raw.len(), |i| at + i + 3);
            let inner = super::normalize::normalize(&raw[at..end]);
            let speaks = lexicon().hits(&inner).iter().any(|h| {
                [
                    Address, Label, Modal, Transmit, Acquire, Secrecy, Override, Persona, Context,
                    Source, Sensitive, ObeyStrong,
                ]
                .contains(&h.cat)
            });
            (speaks && raw[at..end].split_whitespace().count() >= 4).then_some((at, end))
        });
    let text = n.text.as_str();
    let mut out = Vec::new();
    let whole = (0, text.len());
    let _ = whole;
    let has = |cat: Cat| hits.iter().any(|h| h.cat == cat);
    let words = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2)
        .count()
        + text.chars().filter(|c| is_cjk(*c)).count() / 2;
    match place {
        Place::ParameterName { .. } => {
            let verb = has(Transmit) || has(Acquire);
            let model = hits.iter().any(|h| {
                h.cat == Address
                    && MODEL_WORDS
                        .iter()
                        .any(|w| text[h.start..h.end].starts_with(w))
            });
            // The system prompt alone names a prompt tool's parameter; with a word of
            // who it belongs to or of taking it whole, the conversation's (a bare
            // `system_prompt` without a description is caught as unexplained).
            // A card number, a seed phrase, a private key asked for by name: no tool
            // needs to, whatever its description says.
            let asks = has(SecretStrong)
                || has(Context)
                || (has(SysPrompt)
                    && (has(Address)
                        || has(Totality)
                        || has(Verbatim)
                        || has(Transmit)
                        || words >= 4))
                || (model && has(ContextWeak))
                || (has(ContextWeak)
                    && (has(Totality)
                        || has(Verbatim)
                        || has(Prior)
                        || has(Contents)
                        || has(User)))
                || has(Pii)
                || (has(EnvRef) && (words >= 3 || has(Contents) || has(Totality) || verb))
                || (has(Source)
                    && (words >= 3 || has(Sensitive) || has(Contents) || has(Totality) || verb))
                || (has(Sensitive) && (has(Contents) || has(Totality) || verb))
                || (words >= 5
                    && (has(Address)
                        || has(Modal)
                        || (has(Transmit) && (has(Totality) || has(ContextWeak) || has(Field)))))
                || !flags.is_empty();
            if asks {
                out.push(Flag {
                    rule: PARAMETER_NAME,
                    start: 0,
                    end: text.len(),
                });
            }
        }
        Place::Value { kind, .. } => {
            let url = raw.contains("://");
            // Words as written: a camelCase constant is one word.
            let words = raw
                .split_whitespace()
                .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2)
                .count()
                + raw.chars().filter(|c| is_cjk(*c)).count() / 2;
            // An instruction where a value belongs: a verb, a directive, an intent.
            let directive = [
                Label,
                Modal,
                Secrecy,
                Override,
                Priority,
                Persona,
                Context,
                Source,
                ObeyStrong,
                ConsentBypass,
                Redirect,
                Universal,
            ]
            .iter()
            .any(|c| has(*c))
                || has(OtherTool);
            let instructs = match kind {
                // Examples of free text are often sentences a user would type: only what
                // no user would ask of a search box counts.
                ValueKind::Example => {
                    [
                        Label,
                        Secrecy,
                        Override,
                        Priority,
                        Persona,
                        Context,
                        Source,
                        ObeyStrong,
                        ConsentBypass,
                    ]
                    .iter()
                    .any(|c| has(*c))
                        && words >= 4
                }
                _ => (directive || has(Transmit) || has(Address) || has(SelfRef)) && words >= 4,
            };
            if instructs
                || !flags.is_empty()
                || (url && (has(Sensitive) || has(Source) || has(Context)))
            {
                out.push(Flag {
                    rule: PROSE_VALUE,
                    start: whole.0,
                    end: whole.1,
                });
            } else if !url && words >= 6 && kind != ValueKind::Example {
                out.push(Flag {
                    rule: LONG_VALUE,
                    start: whole.0,
                    end: whole.1,
                });
            }
        }
        _ => {}
    }
    if let Some(span) = pseudo_tag(text) {
        out.push(Flag {
            rule: PSEUDO_TAG,
            start: span.0,
            end: span.1,
        });
    } else if let Some((start, end)) = comment {
        let (start, end) = (
            n.original_to_normalized(start),
            n.original_to_normalized(end),
        );
        out.push(Flag {
            rule: PSEUDO_TAG,
            start,
            end: end.max(start),
        });
    }
    if let Some((start, end)) = command(raw) {
        let (start, end) = (
            n.original_to_normalized(start),
            n.original_to_normalized(end),
        );
        out.push(Flag {
            rule: COMMAND,
            start,
            end: end.max(start),
        });
    }
    out
}

/// A marker aimed at a model: `<SYSTEM>`, `</important>`, `[INST]`, `<|im_start|>`,
/// `<<SYS>>`, `{{system}}`, `[system](#…)`, `### Instruction`, a line opening `System:`,
/// an HTML comment holding prose, HTML hidden by its style.
fn pseudo_tag(text: &str) -> Option<(usize, usize)> {
    let lexicon = lexicon();
    let bracketed = |open: &str, close: &str| -> Option<(usize, usize)> {
        let mut from = 0;
        while let Some(at) = text[from..].find(open).map(|i| i + from) {
            let inner_start = at + open.len();
            let Some(len) = text[inner_start..].find(close) else {
                break;
            };
            let inner = &text[inner_start..inner_start + len];
            let name: String = inner
                .trim_matches(|c: char| "/|<>!#%{}[] ".contains(c))
                .replace(['|', '_', '/'], " ");
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            let fits = if open == "<" {
                lexicon.is_tag_name(&name)
            } else {
                role_name(&name)
            };
            if len <= 48 && !inner.contains('\n') && fits {
                return Some((at, inner_start + len + close.len()));
            }
            from = inner_start;
        }
        None
    };
    let angle = || text.contains('<').then(|| bracketed("<", ">")).flatten();
    let square = || text.contains('[').then(|| bracketed("[", "]")).flatten();
    let brace = || {
        text.contains('{')
            .then(|| bracketed("{{", "}}").or_else(|| bracketed("{%", "%}")))
            .flatten()
    };
    if let Some(span) = angle().or_else(square).or_else(brace) {
        return Some(span);
    }
    let mut offset = 0;
    for line in text.split('\n') {
        let trimmed = line.trim_start();
        let lead = line.len() - trimmed.len();
        if let Some(heading) = trimmed.strip_prefix('#') {
            let name = heading.trim_matches(|c: char| c == '#' || c == ' ' || c == ':' || c == '*');
            if role_name(name) {
                return Some((offset + lead, offset + line.len()));
            }
        }
        if let Some((role, _)) = trimmed.split_once(':') {
            let role = role.trim_matches(|c: char| c == '*' || c == ' ');
            if [
                "system",
                "system prompt",
                "system message",
                "sys",
                "admin",
                "developer",
                "systemanweisung",
                "systeme",
                "sistema",
                "система",
                "系统",
                "システム",
                "시스템",
            ]
            .contains(&role)
            {
                return Some((offset + lead, offset + lead + role.len() + 1));
            }
        }
        offset += line.len() + 1;
    }
    for (at, _) in text.match_indices("## ").filter(|_| text.contains('#')) {
        if text[..at].ends_with(|c: char| c == '#' || c.is_whitespace()) || at == 0 {
            let name_end = text[at..].find(['\n', '.']).map_or(text.len(), |i| at + i);
            let name = text[at..name_end]
                .trim_matches(|c: char| c == '#' || c == ' ' || c == ':' || c == '*');
            if role_name(name) {
                return Some((at, name_end));
            }
        }
    }
    // HTML whose style hides it.
    let mut from = 0;
    while let Some(at) = text
        .contains('=')
        .then(|| text[from..].find("style=").map(|i| i + from))
        .flatten()
    {
        let open = text[..at].rfind('<');
        let close = text[at..].find('>').map(|i| at + i);
        if let (Some(open), Some(close)) = (open, close)
            && !text[open..at].contains('>')
        {
            let style: String = text[at..close]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            if [
                "display:none",
                "visibility:hidden",
                "font-size:0",
                "opacity:0",
            ]
            .iter()
            .any(|h| style.contains(h))
            {
                return Some((open, close + 1));
            }
        }
        from = at + 6;
    }
    None
}

/// A pseudo-tag name that is a role or a system marker rather than only emphasis
/// (`[Important]` and `## Instructions` are ordinary formatting; `[system]` is not).
fn role_name(name: &str) -> bool {
    const EMPHASIS: &[&str] = &[
        "important",
        "critical",
        "urgent",
        "mandatory",
        "instructions",
        "note",
        "notes",
        "wichtig",
        "importante",
        "重要",
        "중요",
        "важно",
    ];
    lexicon().is_tag_name(name) && !name.split(' ').all(|w| EMPHASIS.contains(&w))
}

/// A command that runs what it downloads, or leaks what it reads: `curl … | sh`,
/// `$(cat ~/.netrc)`, `base64 -d | bash`, a reverse shell. (A destructive command named as
/// an example, `rm -rf /` among blocked commands, is not one.)
fn command(raw: &str) -> Option<(usize, usize)> {
    if !raw.contains(['|', '$', '-', '/']) {
        return None;
    }
    static PATTERNS: std::sync::OnceLock<aho_corasick::AhoCorasick> = std::sync::OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        aho_corasick::AhoCorasick::new([
            "$(curl",
            "$(wget",
            "$(cat ",
            "/dev/tcp/",
            "nc -e ",
            "bash -i >&",
            "powershell -enc",
            "frombase64string",
            "invoke-expression",
        ])
        .expect("the command patterns build")
    });
    let text = raw.to_ascii_lowercase();
    let text = text.as_str();
    let line_end = |at: usize| text[at..].find(['\n', ';']).map_or(text.len(), |i| at + i);
    if let Some(found) = patterns.find(text) {
        return Some((found.start(), line_end(found.start())));
    }
    if !text.contains('|') {
        return None;
    }
    for line in text.split(['\n', ';']) {
        let Some(pipe) = line.find('|') else {
            continue;
        };
        let at = line.as_ptr() as usize - text.as_ptr() as usize;
        let before = &line[..pipe];
        let downloads = [
            "curl",
            "wget",
            "iwr",
            "invoke-webrequest",
            "base64 -d",
            "base64 --decode",
        ]
        .iter()
        .any(|w| before.contains(w));
        let reads = ["env", "printenv", "cat "]
            .iter()
            .any(|w| before.contains(w));
        if !(downloads || reads) {
            continue;
        }
        let after = line[pipe + 1..].trim_start();
        let shells: &[&str] = if downloads {
            &[
                "sh",
                "bash",
                "zsh",
                "python",
                "python3",
                "node",
                "perl",
                "ruby",
                "iex",
                "powershell",
                "pwsh",
                "curl",
                "nc",
                "sudo",
            ]
        } else {
            &["sh", "bash", "zsh", "curl", "nc", "wget"]
        };
        if shells.iter().any(|s| {
            after.starts_with(s) && !after[s.len()..].starts_with(|c: char| c.is_alphanumeric())
        }) {
            return Some((at, at + line.len()));
        }
    }
    None
}
