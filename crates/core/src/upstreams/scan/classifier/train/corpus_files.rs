//! The corpus's files as training reads them: the split, the sources, a poisoned source's
//! entries and a captured server's tools.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

pub(super) fn corpus() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scan_corpus"))
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
}

#[derive(Deserialize)]
pub(super) struct Sources {
    pub(super) source: Vec<Source>,
}

#[derive(Deserialize)]
pub(super) struct Source {
    pub(super) id: String,
    #[serde(default = "trained_by_default")]
    pub(super) trained_on: bool,
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
