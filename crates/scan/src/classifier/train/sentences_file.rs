//! Every definition as the classifier reads it, written to a file for probes outside Rust
//! (`scripts/scan-embedding-probe`, `scripts/scan-training-probe`,
//! `scripts/scan-finetune-probe`): one JSON line per definition with its half
//! (`development`, `held_out`, `third_party` for the check set, `pending` for the captured
//! servers of `benign/pending/`, `synthetic` for the files of the folder
//! `GUIDEPOST_SCAN_EXTRA` names, such as `scan_corpus/synthetic/`), source, kind, whether
//! the classifier's training reads its source (`trained_on`: not the sources of
//! sources.toml marked `trained_on = false`), whether the scanner quarantines it (`full`)
//! and whether its rules alone do (`rules`), and each sentence as `[kind of place,
//! normalized text, read, features]`. It prints nothing: the held-out half's and the check
//! set's entries are for counting, never for reading (split.toml, third_party/README.md).
//!
//! `GUIDEPOST_SCAN_SENTENCES=/path/to/file.jsonl cargo test -p guidepost-scan
//! write_the_sentences_file -- --ignored`

use serde_json::{Value, json};

use super::super::super::{quarantines, readings};
use super::super::{WordMode, features, place_class, read_here, sentences};
use super::corpus_files::{read_json, split, untrained};
use super::{Captured, Poisoned, benign_path, corpus, findings, rules_in};

/// One definition's line, without its place in the corpus.
fn line(definition: &Value, co_attached: &[String]) -> Value {
    let found = findings(definition, co_attached);
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
    json!({
        "full": found.iter().any(quarantines),
        "rules": rules_in(&found),
        "sentences": read,
    })
}

#[test]
#[ignore = "writes the file GUIDEPOST_SCAN_SENTENCES names, for the probes in scripts/"]
fn write_the_sentences_file() {
    let out = std::env::var("GUIDEPOST_SCAN_SENTENCES")
        .expect("GUIDEPOST_SCAN_SENTENCES names the file to write");
    let split = split();
    let untrained = untrained();
    let mut lines = String::new();
    let mut push = |half: &str, source: &str, kind: &str, poisoned: bool, mut entry: Value| {
        entry["half"] = json!(half);
        entry["source"] = json!(source);
        entry["trained_on"] = json!(!untrained.iter().any(|u| u == source));
        entry["kind"] = json!(kind);
        entry["poisoned"] = json!(poisoned);
        lines.push_str(&entry.to_string());
        lines.push('\n');
    };
    let halves = [("development", false), ("held_out", true)];
    for (half, held_out) in halves {
        for source in split.poisoned.of(held_out) {
            let entries: Vec<Poisoned> =
                read_json(corpus().join("poisoned").join(format!("{source}.json")));
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
        for source in split.benign.of(held_out) {
            let captured: Captured = read_json(benign_path(source));
            for tool in &captured.tools {
                push(half, source, "", false, line(tool, &[]));
            }
        }
    }
    for path in json_files(&corpus().join("third_party/poisoned")) {
        let source = stem(&path);
        let entries: Vec<Poisoned> = read_json(path);
        for e in entries {
            let entry = line(&e.definition, &e.co_attached);
            push("third_party", &source, &e.kind, true, entry);
        }
    }
    for path in json_files(&corpus().join("benign/pending")) {
        let captured: Captured = read_json(path.clone());
        for tool in &captured.tools {
            push("pending", &stem(&path), "", false, line(tool, &[]));
        }
    }
    // Definitions written for training only, outside the corpus: `*-poisoned.json` as
    // `poisoned/`, `*-benign.json` an array of `{"definition": …}`.
    if let Ok(extra) = std::env::var("GUIDEPOST_SCAN_EXTRA") {
        for path in json_files(std::path::Path::new(&extra)) {
            let source = stem(&path);
            let entries: Vec<Value> = read_json(path);
            for e in entries {
                let Some(definition) = e.get("definition") else {
                    continue;
                };
                let poisoned = source.ends_with("-poisoned");
                let kind = e["kind"].as_str().unwrap_or_default();
                let co: Vec<String> =
                    serde_json::from_value(e["co_attached"].clone()).unwrap_or_default();
                push("synthetic", &source, kind, poisoned, line(definition, &co));
            }
        }
    }
    std::fs::write(out, lines).unwrap();
}

fn json_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn stem(path: &std::path::Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}
