//! Every definition of both halves as the classifier reads it, written to a file for
//! probes outside Rust (`scripts/scan-embedding-probe`): one JSON line per definition with
//! its half, source, kind, whether the scanner quarantines it (`full`) and whether its
//! rules alone do (`rules`), and each sentence as `[kind of place, normalized text, read,
//! features]`. It prints nothing: the held-out half's entries are for counting, never for
//! reading (split.toml).
//!
//! `GUIDEPOST_SCAN_SENTENCES=/path/to/file.jsonl cargo test -p guidepost-core
//! write_the_sentences_file -- --ignored`

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::super::{quarantines, readings, scan};
use super::super::{WordMode, features, place_class, read_here, sentences};
use super::{Captured, Poisoned, corpus, rules_quarantine};

#[derive(Deserialize)]
struct Split {
    poisoned: BothHalves,
    benign: BothHalves,
}

#[derive(Deserialize)]
struct BothHalves {
    development: Vec<String>,
    held_out: Vec<String>,
}

/// One definition's line, without its place in the corpus.
fn line(definition: &Value, co_attached: &[String]) -> Value {
    let mut foreign: Vec<String> = guidepost_domain::builtin_tools::ALL
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    foreign.extend(co_attached.iter().cloned());
    let full = scan(definition, &foreign).iter().any(quarantines);
    let mut read = Vec::new();
    for (place, n, hits) in readings(definition) {
        for span in sentences(&n.text) {
            read.push(json!([
                place_class(place),
                &n.text[span.0..span.1],
                read_here(&n.text, span, &hits, place),
                features(&n.text, span, &hits, place, WordMode::Exact),
            ]));
        }
    }
    json!({"full": full, "rules": rules_quarantine(definition, co_attached), "sentences": read})
}

fn read<T: for<'de> Deserialize<'de>>(path: std::path::PathBuf) -> T {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
#[ignore = "writes the file GUIDEPOST_SCAN_SENTENCES names, for scripts/scan-embedding-probe"]
fn write_the_sentences_file() {
    let out = std::env::var("GUIDEPOST_SCAN_SENTENCES")
        .expect("GUIDEPOST_SCAN_SENTENCES names the file to write");
    let split: Split =
        toml::from_str(&std::fs::read_to_string(corpus().join("split.toml")).unwrap()).unwrap();
    let mut lines = String::new();
    let mut push = |half: &str, source: &str, kind: &str, poisoned: bool, mut entry: Value| {
        entry["half"] = json!(half);
        entry["source"] = json!(source);
        entry["kind"] = json!(kind);
        entry["poisoned"] = json!(poisoned);
        lines.push_str(&entry.to_string());
        lines.push('\n');
    };
    let halves = [("development", false), ("held_out", true)];
    for (half, held_out) in halves {
        let sources = if held_out {
            &split.poisoned.held_out
        } else {
            &split.poisoned.development
        };
        for source in sources {
            let entries: Vec<Poisoned> =
                read(corpus().join("poisoned").join(format!("{source}.json")));
            for e in entries {
                push(
                    half,
                    source,
                    &e.kind,
                    true,
                    line(&e.definition, &e.co_attached),
                );
            }
        }
    }
    for (half, held_out) in halves {
        let sources = if held_out {
            &split.benign.held_out
        } else {
            &split.benign.development
        };
        for source in sources {
            let path = match source.strip_prefix("community/") {
                Some(name) => corpus()
                    .join("benign/community")
                    .join(format!("{name}.json")),
                None => corpus().join("benign").join(format!("{source}.json")),
            };
            let captured: Captured = read(path);
            for tool in &captured.tools {
                push(half, source, "", false, line(tool, &[]));
            }
        }
    }
    std::fs::write(out, lines).unwrap();
}
