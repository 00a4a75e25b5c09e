//! Categories found by the shape of a text rather than by its words.

use super::super::lexicon::{Cat, Hit};
use super::super::normalize::{Normalized, is_cjk};
use super::*;
use Cat::*;

/// Categories found by shape rather than by word: quoted names and the tool's
/// parameters as places, paths to dotfiles and home directories, environment variables,
/// `the X tool` as another tool, `Assistant:` as a label, the tool's own name.
pub(super) fn structural_hits(
    raw: &str,
    n: &Normalized,
    place: Place,
    scope: &Scope,
    hits: &mut Vec<Hit>,
) {
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
        .any(|s| {
            name.strip_suffix(s)
                .is_some_and(|before| before.ends_with('_'))
        });
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
