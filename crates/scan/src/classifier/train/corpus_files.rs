//! The corpus's files as training reads them: the split, the sources, a poisoned source's
//! entries and a captured server's tools.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub(super) fn corpus() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scan_corpus"))
}

/// split.toml.
pub(super) fn split() -> Split {
    toml::from_str(&std::fs::read_to_string(corpus().join("split.toml")).unwrap()).unwrap()
}

/// The sources sources.toml marks `trained_on = false`: read for rules, not trained on.
pub(super) fn untrained() -> Vec<String> {
    let listed: Sources =
        toml::from_str(&std::fs::read_to_string(corpus().join("sources.toml")).unwrap()).unwrap();
    listed
        .source
        .into_iter()
        .filter(|s| !s.trained_on)
        .map(|s| s.id)
        .collect()
}

/// A JSON file of the corpus: a poisoned source's entries or a captured server.
pub(super) fn read_json<T: DeserializeOwned>(path: PathBuf) -> T {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[derive(Deserialize)]
pub(super) struct Split {
    pub(super) seed: u64,
    pub(super) poisoned: Halves,
    pub(super) benign: Halves,
}

#[derive(Deserialize)]
pub(super) struct Halves {
    pub(super) development: Vec<String>,
    pub(super) held_out: Vec<String>,
}

impl Halves {
    pub(super) fn of(&self, held_out: bool) -> &[String] {
        if held_out {
            &self.held_out
        } else {
            &self.development
        }
    }
}

#[derive(Deserialize)]
struct Sources {
    source: Vec<Source>,
}

#[derive(Deserialize)]
struct Source {
    id: String,
    #[serde(default = "trained_by_default")]
    trained_on: bool,
}

fn trained_by_default() -> bool {
    true
}

#[derive(Deserialize)]
pub(super) struct Poisoned {
    pub(super) kind: String,
    #[serde(default)]
    pub(super) co_attached: Vec<String>,
    pub(super) definition: Value,
}

#[derive(Deserialize)]
pub(super) struct Captured {
    pub(super) tools: Vec<Value>,
}

/// The file of a benign server of split.toml (`community/<name>` or a reference server).
pub(super) fn benign_path(source: &str) -> PathBuf {
    match source.strip_prefix("community/") {
        Some(name) => corpus()
            .join("benign/community")
            .join(format!("{name}.json")),
        None => corpus().join("benign").join(format!("{source}.json")),
    }
}
