//! `guidepost bench --scan`: the tool-definition scanner's speed. Every definition of its
//! corpus (the poisoned ones and the benign servers' tools) is scanned, the list repeated
//! until it holds 1,000 definitions or more, each against Guidepost's built-in tools and
//! the benign servers' distinctive names (as on a hosted server with all of them
//! attached); prints the time per definition at p50 and p99 and the total for 1,000.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use guidepost_core::upstreams::scan;
use serde::Serialize;
use serde_json::Value;

use crate::cli::BenchArgs;
use crate::output;

/// Definitions scanned at least (the corpus, repeated).
const AT_LEAST: usize = 1_000;

#[derive(Debug, Serialize)]
pub struct ScanReport {
    /// `release` or `debug`: what this binary was built as.
    pub build: &'static str,
    /// Distinct definitions in the corpus.
    pub definitions: usize,
    /// Definitions scanned (the corpus repeated).
    pub scanned: usize,
    /// Tool names each definition was checked against.
    pub foreign_names: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// Wall time to scan 1,000 definitions, one after the other.
    pub total_ms_per_1000: f64,
}

fn default_corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scan/tests/scan_corpus")
}

fn json_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    Ok(files)
}

fn read(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The corpus's definitions, and the benign servers' distinctive tool names.
fn corpus(dir: &Path) -> anyhow::Result<(Vec<Value>, Vec<String>)> {
    let mut definitions = Vec::new();
    for path in json_files(&dir.join("poisoned"))? {
        for entry in read(&path)?.as_array().into_iter().flatten() {
            definitions.push(entry["definition"].clone());
        }
    }
    let mut names = BTreeSet::new();
    for sub in ["benign", "benign/community"] {
        for path in json_files(&dir.join(sub))? {
            for tool in read(&path)?["tools"].as_array().into_iter().flatten() {
                if let Some(name) = tool["name"].as_str().filter(|n| scan::distinctive(n)) {
                    names.insert(name.to_owned());
                }
                definitions.push(tool.clone());
            }
        }
    }
    names.extend(
        guidepost_domain::builtin_tools::ALL
            .iter()
            .map(|n| (*n).to_owned()),
    );
    anyhow::ensure!(
        !definitions.is_empty(),
        "no definitions under {}",
        dir.display()
    );
    Ok((definitions, names.into_iter().collect()))
}

pub fn run(args: &BenchArgs, json: bool) -> anyhow::Result<()> {
    let dir = args.scan_corpus.clone().unwrap_or_else(default_corpus);
    let (definitions, foreign) = corpus(&dir)?;
    let repeat = AT_LEAST.div_ceil(definitions.len());
    let order: Vec<&Value> = (0..repeat).flat_map(|_| definitions.iter()).collect();
    output::note!(
        "bench: scanning {} definitions ({} distinct) against {} names …",
        order.len(),
        definitions.len(),
        foreign.len()
    );
    // The lexicons and rules are built on first use: not timed.
    let _ = scan::scan(&definitions[0], &foreign);

    let mut samples = Vec::with_capacity(order.len());
    for definition in &order {
        let started = Instant::now();
        std::hint::black_box(scan::scan(definition, &foreign));
        samples.push(started.elapsed());
    }
    let started = Instant::now();
    for definition in order.iter().take(AT_LEAST) {
        std::hint::black_box(scan::scan(definition, &foreign));
    }
    let thousand = started.elapsed();

    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(index).map_or(0.0, micros)
    };
    let report = ScanReport {
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        definitions: definitions.len(),
        scanned: samples.len(),
        foreign_names: foreign.len(),
        p50_us: at(0.50),
        p99_us: at(0.99),
        max_us: samples.last().map_or(0.0, micros),
        total_ms_per_1000: thousand.as_secs_f64() * 1000.0 * AT_LEAST as f64
            / AT_LEAST.min(order.len()) as f64,
    };
    output::print(json, &report, render);
    Ok(())
}

fn micros(d: &Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn render(report: &ScanReport) -> String {
    [
        format!(
            "scanner ({} build): {} definitions ({} distinct), {} names each",
            report.build, report.scanned, report.definitions, report.foreign_names
        ),
        format!(
            "per definition: p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
            report.p50_us, report.p99_us, report.max_us
        ),
        format!("1,000 definitions: {:.1} ms", report.total_ms_per_1000),
    ]
    .join("\n")
}
