//! Checks of a text by its place and shape (a parameter named after what it would carry
//! off, prose where a value belongs, pseudo-tags, commands piped to a shell), and the
//! helpers the rules outside the sentence rules ask.

use super::super::lexicon::{Cat, Hit, lexicon};
use super::super::normalize::{Normalized, is_cjk};
use super::*;
use Cat::*;

/// Whether the sentence around `start..end` of the normalized text steers what it names
/// (a condition, a directive, a change, a preference, a verb aimed at it): naming another
/// server's tool in passing is not shadowing; telling the model what to do with it is.
pub(crate) fn steers(n: &Normalized, hits: &[Hit], start: usize, end: usize) -> bool {
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
pub(crate) fn names_secret(name: &Normalized) -> bool {
    lexicon()
        .hits(name)
        .iter()
        .any(|h| matches!(h.cat, Sensitive | Pii | Source | SysPrompt | Context))
}

/// Checks of a text by its place and shape, beside the sentence rules.
pub(crate) fn structure(
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
            let inner = super::super::normalize::normalize(&raw[at..end]);
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
    match place {
        Place::ParameterName { .. } => {
            let words = text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2)
                .count()
                + text.chars().filter(|c| is_cjk(*c)).count() / 2;
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
                // Private data named bare (`emailAddress`, `phone`, `mailbox`) is a
                // field of mail, contact and identity records, asked for when it goes
                // unexplained (`scan`); a name that builds a request (whose, all of it,
                // taken or sent, four words and more) asks by itself.
                || (has(Pii)
                    && (words >= 4
                        || has(Contents)
                        || has(Totality)
                        || has(User)
                        || has(Prior)
                        || has(Address)
                        || verb))
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
            // A short message for the person who reads it, as a default (`Please open
            // the link to complete this action.`): its courtesy asks that person, not the
            // model. Only the courtesy is let pass: anything else it says is read as in
            // any value, and it is not reported as a long value either.
            let courtesy = kind == ValueKind::Default && courteous_message(text, hits);
            // An instruction where a value belongs: a verb, a directive, an intent.
            let directive = (has(Modal) && !courtesy)
                || [
                    Label,
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
                // `list the user's files`: private data taken, where a value belongs.
                _ => {
                    (directive
                        || has(Transmit)
                        || has(Address)
                        || has(SelfRef)
                        || (has(Acquire) && (has(Pii) || has(Sensitive) || has(Context))))
                        && words >= 4
                }
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
            } else if !url && words >= 6 && kind != ValueKind::Example && !courtesy {
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

/// Programs that run the code they are given.
const INTERPRETERS: &[&str] = &[
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
];

/// The courtesies a message for a person opens with (normalized: lowercase, diacritics
/// and look-alikes folded).
const COURTESIES: &[&str] = &[
    "please",
    "bitte",
    "veuillez",
    "por favor",
    "per favore",
    "alsjeblieft",
    "prosze",
    "пожалуиста",
];

/// Whether a value (normalized `text`, with its categories) is a plain short message for
/// a person: one sentence of twelve words at most, opening with a courtesy (`Please …`),
/// of words and plain punctuation only (no link, address, path, code or markup), whose
/// only obligation is that courtesy.
fn courteous_message(text: &str, hits: &[Hit]) -> bool {
    let body = text.trim_end_matches(['.', '!']);
    opens_with_any(text, COURTESIES)
        && body.split_whitespace().count() <= 12
        && body
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || matches!(c, ',' | '\'' | '-'))
        && hits
            .iter()
            .filter(|h| h.cat == Modal)
            .all(|h| COURTESIES.contains(&&text[h.start..h.end]))
}

/// Whether `text` opens with one of `words` as a whole word.
fn opens_with_any(text: &str, words: &[&str]) -> bool {
    words
        .iter()
        .any(|w| text.starts_with(w) && !text[w.len()..].starts_with(|c: char| c.is_alphanumeric()))
}

/// `pipe the script from https://… into python3`: a download run by an interpreter,
/// said in words rather than with `|`. `text` is lowercase.
fn piped_in_prose(text: &str) -> Option<(usize, usize)> {
    let at = text.find("pipe")?;
    // A link holds dots: its sentence ends where `sentence_end` says.
    let end = sentence_end(&text.as_bytes()[at..]).map_or(text.len(), |i| at + i);
    let sentence = &text[at..end];
    let link = sentence.find("://")?;
    let tail = &sentence[link..];
    let after = [" into ", " to "]
        .iter()
        .find_map(|w| tail.find(w).map(|i| &tail[i + w.len()..]))?;
    opens_with_any(after, INTERPRETERS).then_some((at, end))
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
            "$(env",
            "$(printenv",
            "`env`",
            "`printenv`",
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
    if let Some(span) = piped_in_prose(text) {
        return Some(span);
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
        let runs = if downloads {
            opens_with_any(after, INTERPRETERS) || opens_with_any(after, &["curl", "nc", "sudo"])
        } else {
            opens_with_any(after, &["sh", "bash", "zsh", "curl", "nc", "wget"])
        };
        if runs {
            return Some((at, at + line.len()));
        }
    }
    None
}
