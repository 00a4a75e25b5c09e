//! The scanner against its committed corpus (`crates/scan/tests/scan_corpus`): poisoned
//! definitions written after published attacks, and the tools of real servers as they
//! list them, split by source into a development half (what the rules were tuned on) and
//! a held-out half (what docs/SECURITY.md quotes) by `split.toml`. Run with `--nocapture`
//! to see the figures: misses and false positives are listed for the development half
//! only; of the held-out half only counts are printed, never an entry's id or text, and
//! so of the third-party check set (`third_party/`), in neither half.
//! The sealed set (`sealed/`, its README) is read by neither: only
//! `sealed_release_figure`, ignored and run once per release, counts it.
//! (Nothing here panics with an entry in its message: a scanner that panicked on one
//! would print it, so the scanner has a property test that no text makes it panic.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;

use guidepost_domain::{Finding, LaunchSpec, builtin_tools};
use guidepost_scan::{distinctive, quarantines, scan};

/// What the held-out half was to reach: recall 95 %, high false positives at
/// most 2 %, every kind 80 %. Not reached: the assertions below hold the figures the
/// scanner reached on 2026-11-24 (docs/SECURITY.md quotes them), as a regression floor.
const GOAL_RECALL: f64 = 95.0;
const GOAL_FALSE_POSITIVES: f64 = 2.0;
const GOAL_KIND_RECALL: f64 = 80.0;
/// The floor: held-out recall (149 of 188 reached), high false positives (8 of 448).
const MIN_RECALL: f64 = 79.2;
const MAX_FALSE_POSITIVES: f64 = 1.79;
/// The development half's floor: 366 of 389 reached on 2026-11-27, when the 195 definitions
/// of the first third-party check set joined it (they were 98.5 % of 194 before).
const MIN_DEVELOPMENT_RECALL: f64 = 94.0;
/// The floor of the third-party check set (`third_party/`): definitions caught, as reached.
const THIRD_PARTY_MIN_CAUGHT: usize = 181;
/// The floor per kind: held-out definitions caught, as reached.
const MIN_CAUGHT_BY_KIND: &[(&str, usize)] = &[
    ("encoded-blob", 11),
    ("exfiltration-parameter", 4),
    ("file-or-secret-request", 11),
    ("hidden-characters", 18),
    ("hidden-instructions", 15),
    ("parameter-instructions", 7),
    ("payload-in-default", 11),
    ("payload-in-enum", 8),
    ("payload-in-parameter-name", 5),
    ("prompt-override", 21),
    ("pseudo-tag", 16),
    ("rug-pull-or-output", 6),
    ("secrecy-directive", 12),
    ("shadowing", 4),
];

#[derive(Deserialize)]
struct Split {
    seed: u64,
    poisoned: Halves,
    benign: Halves,
}

#[derive(Deserialize)]
struct Halves {
    development: Vec<String>,
    held_out: Vec<String>,
}

impl Halves {
    fn of(&self, held_out: bool) -> &[String] {
        if held_out {
            &self.held_out
        } else {
            &self.development
        }
    }
}

#[derive(Deserialize)]
struct Sources {
    source: Vec<SourceEntry>,
}

#[derive(Deserialize)]
struct SourceEntry {
    id: String,
}

#[derive(Deserialize)]
struct Poisoned {
    id: String,
    kind: String,
    co_attached: Vec<String>,
    definition: Value,
}

#[derive(Deserialize)]
struct Captured {
    server: String,
    tools: Vec<Value>,
}

fn corpus() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scan_corpus"))
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn split() -> Split {
    toml::from_str(&std::fs::read_to_string(corpus().join("split.toml")).unwrap()).unwrap()
}

/// The benign sources on disk: `benign/<name>.json` (the official reference servers) and
/// `benign/community/<name>.json`, by their name in split.toml.
fn benign_files() -> BTreeMap<String, PathBuf> {
    let mut files = BTreeMap::new();
    for (dir, prefix) in [("benign", ""), ("benign/community", "community/")] {
        for entry in std::fs::read_dir(corpus().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let stem = path.file_stem().unwrap().to_string_lossy();
                files.insert(format!("{prefix}{stem}"), path);
            }
        }
    }
    files
}

/// Every source is in exactly one half, and every half names only sources that exist.
fn check_assigned(halves: &Halves, sources: &BTreeSet<String>, what: &str) {
    let dev: BTreeSet<&String> = halves.development.iter().collect();
    let held: BTreeSet<&String> = halves.held_out.iter().collect();
    let both: Vec<_> = dev.intersection(&held).collect();
    assert!(both.is_empty(), "{what} sources in both halves: {both:?}");
    let unassigned: Vec<_> = sources
        .iter()
        .filter(|s| !dev.contains(s) && !held.contains(s))
        .collect();
    assert!(
        unassigned.is_empty(),
        "{what} sources unassigned in split.toml (run scripts/split-scan-corpus): {unassigned:?}"
    );
    let unknown: Vec<_> = dev
        .iter()
        .chain(&held)
        .filter(|s| !sources.contains(**s))
        .collect();
    assert!(unknown.is_empty(), "{what} sources unknown: {unknown:?}");
}

fn builtins() -> BTreeSet<String> {
    builtin_tools::ALL.iter().map(|n| (*n).to_owned()).collect()
}

fn name_of(tool: &Value) -> String {
    tool["name"].as_str().unwrap_or_default().to_owned()
}

/// One half's figures, with the lines that explain them (printed for development only).
#[derive(Default)]
struct Figures {
    poisoned: usize,
    caught: usize,
    /// kind → (entries, caught)
    kinds: BTreeMap<String, (usize, usize)>,
    benign: usize,
    /// Benign tools with a finding that quarantines.
    flagged: usize,
    /// Findings of high severity on the official reference servers (benign/*.json).
    reference_high: usize,
    /// Findings of low severity on them.
    reference_low: usize,
    /// Findings of any severity on the built-in catalog's packages.
    catalog_findings: Vec<String>,
    missed: Vec<String>,
    false_positives: Vec<String>,
    /// `rule@place` → benign tools it quarantined (counts only: printed for both halves).
    false_positive_rules: BTreeMap<String, usize>,
    /// rule → poisoned definitions it alone caught (printed for development only).
    sole_catches: BTreeMap<String, usize>,
    reported: Vec<String>,
    scanned: usize,
    /// Each definition's scan, in microseconds.
    micros: Vec<u128>,
}

impl Figures {
    fn recall(&self) -> f64 {
        percent(self.caught, self.poisoned)
    }

    fn false_positive_rate(&self) -> f64 {
        percent(self.flagged, self.benign)
    }

    fn kind_line(&self) -> String {
        self.kinds
            .iter()
            .map(|(kind, (n, caught))| format!("{kind} {caught}/{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        100.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn line(server: &str, tool: &Value, f: &Finding) -> String {
    format!(
        "{server} {}: {} {} at {} ({:?})",
        name_of(tool),
        f.severity,
        f.rule,
        f.path,
        f.matched
    )
}

fn measure(split: &Split, held_out: bool, installed: &[&str]) -> Figures {
    let mut figures = Figures::default();
    for source in split.poisoned.of(held_out) {
        scan_poisoned(
            &mut figures,
            &corpus().join("poisoned").join(format!("{source}.json")),
        );
    }

    // Every server of the half attached to one hosted server: each is scanned against the
    // built-in tools and the others' distinctive names, as shadowing is checked there.
    let files = benign_files();
    let servers: Vec<(String, Captured)> = split
        .benign
        .of(held_out)
        .iter()
        .map(|source| (source.clone(), read(&files[source])))
        .collect();
    let all: Vec<(String, String)> = servers
        .iter()
        .flat_map(|(_, s)| s.tools.iter().map(|t| (s.server.clone(), name_of(t))))
        .collect();
    for (source, server) in &servers {
        let reference = !source.starts_with("community/");
        let own: BTreeSet<String> = server.tools.iter().map(name_of).collect();
        let mut foreign = builtins();
        foreign.extend(
            all.iter()
                .filter(|(s, name)| *s != server.server && distinctive(name) && !own.contains(name))
                .map(|(_, name)| name.clone()),
        );
        let foreign: Vec<String> = foreign.into_iter().collect();
        for tool in &server.tools {
            figures.benign += 1;
            figures.scanned += 1;
            let started = Instant::now();
            let findings = scan(tool, &foreign);
            figures.micros.push(started.elapsed().as_micros());
            if findings.iter().any(quarantines) {
                figures.flagged += 1;
                let rules: BTreeSet<String> = findings
                    .iter()
                    .filter(|f| quarantines(f))
                    .map(|f| {
                        let place = if f.path.contains("properties") {
                            if f.path.ends_with("description") {
                                "param-desc"
                            } else {
                                "param-other"
                            }
                        } else {
                            f.path.split(['.', ' ', '[']).next().unwrap_or_default()
                        };
                        format!("{}@{place}", f.rule)
                    })
                    .collect();
                for rule in rules {
                    *figures
                        .false_positive_rules
                        .entry(rule.to_owned())
                        .or_default() += 1;
                }
            }
            for f in &findings {
                let text = line(&server.server, tool, f);
                if quarantines(f) {
                    figures.false_positives.push(text.clone());
                }
                if reference {
                    if quarantines(f) {
                        figures.reference_high += 1;
                    } else {
                        figures.reference_low += 1;
                    }
                    figures.reported.push(text.clone());
                }
                if installed.contains(&server.server.as_str()) {
                    figures.catalog_findings.push(text);
                }
            }
        }
    }
    figures
}

/// Scans one source's poisoned definitions (a JSON array of entries) into `figures`.
fn scan_poisoned(figures: &mut Figures, path: &Path) {
    let entries: Vec<Poisoned> = read(path);
    for entry in entries {
        let mut foreign = builtins();
        foreign.extend(entry.co_attached.iter().cloned());
        let foreign: Vec<String> = foreign.into_iter().collect();
        let started = Instant::now();
        let findings = scan(&entry.definition, &foreign);
        figures.micros.push(started.elapsed().as_micros());
        let caught = findings.iter().any(quarantines);
        figures.poisoned += 1;
        figures.scanned += 1;
        let kind = figures.kinds.entry(entry.kind.clone()).or_default();
        kind.0 += 1;
        if caught {
            figures.caught += 1;
            kind.1 += 1;
            let rules: BTreeSet<&str> = findings
                .iter()
                .filter(|f| quarantines(f))
                .map(|f| f.rule.as_str())
                .collect();
            if let [only] = rules.into_iter().collect::<Vec<_>>()[..] {
                *figures.sole_catches.entry(only.to_owned()).or_default() += 1;
            }
        } else {
            figures
                .missed
                .push(format!("{} ({})", entry.id, entry.kind));
        }
    }
}

fn report(name: &str, figures: &Figures, details: bool) {
    eprintln!(
        "{name}: recall {}/{} ({:.1} %); high false positives {}/{} benign tools ({:.2} %); \
         reference servers: {} high, {} low; per kind: {}",
        figures.caught,
        figures.poisoned,
        figures.recall(),
        figures.flagged,
        figures.benign,
        figures.false_positive_rate(),
        figures.reference_high,
        figures.reference_low,
        figures.kind_line(),
    );
    let counts = |map: &BTreeMap<String, usize>| {
        map.iter()
            .map(|(rule, n)| format!("{rule} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!(
        "{name}: false positives by rule and place: {}",
        counts(&figures.false_positive_rules),
    );
    if details {
        eprintln!(
            "{name}: caught by one rule alone: {}",
            counts(&figures.sole_catches)
        );
    }
    if details {
        for missed in &figures.missed {
            eprintln!("  missed: {missed}");
        }
        for fp in &figures.false_positives {
            eprintln!("  false positive: {fp}");
        }
        for low in figures.reported.iter().filter(|l| l.contains(": low ")) {
            eprintln!("  reference, low: {low}");
        }
    }
}

/// The development half alone, for tuning: its misses and false positives, and nothing of
/// the held-out half (not even its counts), so that tuning never sees it.
/// `cargo test -p guidepost-scan development_half_only -- --ignored --nocapture`
/// The built-in catalog as core reads it (`crates/core/src/upstreams/catalog.toml`): only
/// its entries' launch specs matter here, to check that its servers scan clean.
#[derive(Deserialize)]
struct BuiltinCatalog {
    entry: Vec<BuiltinEntry>,
}

#[derive(Deserialize)]
struct BuiltinEntry {
    spec: LaunchSpec,
}

fn builtin_catalog() -> BuiltinCatalog {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/src/upstreams/catalog.toml"
    );
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
#[ignore = "prints the development half's misses for tuning; the test below reports both halves"]
fn development_half_only() {
    let split = split();
    let figures = measure(&split, false, &[]);
    report("development", &figures, true);
}

/// The third-party check set (`third_party/`): definitions written after other authors'
/// published examples, in neither half, never tuned or trained on. Counts only, as for
/// the held-out half; its recall is held as a floor, 181 of 219 reached on 2026-11-27.
#[test]
fn the_scanner_holds_on_the_third_party_check_set() {
    let dir = corpus().join("third_party");
    let listed: Sources =
        toml::from_str(&std::fs::read_to_string(dir.join("sources.toml")).unwrap()).unwrap();
    let mut figures = Figures::default();
    for source in &listed.source {
        scan_poisoned(
            &mut figures,
            &dir.join("poisoned").join(format!("{}.json", source.id)),
        );
    }
    let files = std::fs::read_dir(dir.join("poisoned")).unwrap().count();
    assert_eq!(
        files,
        listed.source.len(),
        "one file per listed source, each listed"
    );
    eprintln!(
        "third-party check set: recall {}/{} ({:.1} %); per kind: {}",
        figures.caught,
        figures.poisoned,
        figures.recall(),
        figures.kind_line()
    );
    assert!(
        figures.poisoned >= 200,
        "the check set holds its definitions"
    );
    assert!(
        figures.caught >= THIRD_PARTY_MIN_CAUGHT,
        "third-party check set: {} caught, under its floor of {THIRD_PARTY_MIN_CAUGHT}",
        figures.caught
    );
}

#[test]
fn the_scanner_catches_the_poisoned_corpus_and_passes_the_reference_servers() {
    let split = split();
    assert_eq!(split.seed, 20261124, "the split's seed");
    let listed: Sources =
        toml::from_str(&std::fs::read_to_string(corpus().join("sources.toml")).unwrap()).unwrap();
    let poisoned_sources: BTreeSet<String> = listed.source.into_iter().map(|s| s.id).collect();
    for entry in std::fs::read_dir(corpus().join("poisoned")).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            poisoned_sources.contains(&stem),
            "poisoned/{stem}.json is not a source of sources.toml"
        );
    }
    check_assigned(&split.poisoned, &poisoned_sources, "poisoned");
    let benign_sources: BTreeSet<String> = benign_files().into_keys().collect();
    check_assigned(&split.benign, &benign_sources, "benign");

    // The servers the built-in catalog installs: not one finding, of any severity.
    let catalog = builtin_catalog();
    let installed: Vec<&str> = catalog
        .entry
        .iter()
        .filter_map(|entry| entry.spec.package())
        .map(|package| package.package.as_str())
        .collect();

    let started = Instant::now();
    let development = measure(&split, false, &installed);
    let held_out = measure(&split, true, &installed);
    let elapsed = started.elapsed();
    let scanned = development.scanned + held_out.scanned;
    report("development", &development, true);
    report("held-out", &held_out, false);
    let mut micros: Vec<u128> = development
        .micros
        .iter()
        .chain(&held_out.micros)
        .copied()
        .collect();
    micros.sort_unstable();
    let at = |p: usize| micros[(micros.len() * p / 100).min(micros.len() - 1)];
    eprintln!(
        "{scanned} definitions scanned, {:.1} µs each, p50 {} µs, p99 {} µs (this build)",
        elapsed.as_micros() as f64 / scanned as f64,
        at(50),
        at(99)
    );

    assert!(development.poisoned >= 100 && held_out.poisoned >= 100);
    assert!(development.benign >= 100 && held_out.benign >= 100);
    let short = |what: &str, reached: f64, goal: f64| {
        eprintln!("goal not reached: held-out {what} {reached:.1} % against {goal} %")
    };
    if held_out.recall() < GOAL_RECALL {
        short("recall", held_out.recall(), GOAL_RECALL);
    }
    if held_out.false_positive_rate() > GOAL_FALSE_POSITIVES {
        short(
            "high false positives",
            held_out.false_positive_rate(),
            GOAL_FALSE_POSITIVES,
        );
    }
    for (kind, (n, caught)) in &held_out.kinds {
        if percent(*caught, *n) < GOAL_KIND_RECALL {
            short(
                &format!("recall of {kind}"),
                percent(*caught, *n),
                GOAL_KIND_RECALL,
            );
        }
    }
    assert!(
        held_out.recall() >= MIN_RECALL,
        "held-out recall {:.1} % under its floor of {MIN_RECALL} %",
        held_out.recall()
    );
    assert!(
        held_out.false_positive_rate() <= MAX_FALSE_POSITIVES,
        "held-out high false positives {:.2} % over their ceiling of {MAX_FALSE_POSITIVES} %",
        held_out.false_positive_rate()
    );
    for (kind, floor) in MIN_CAUGHT_BY_KIND {
        let (n, caught) = held_out.kinds.get(*kind).copied().unwrap_or_default();
        assert!(
            caught >= *floor,
            "held-out {kind}: {caught} of {n} caught, under its floor of {floor}"
        );
    }
    assert_eq!(
        held_out.kinds.len(),
        MIN_CAUGHT_BY_KIND.len(),
        "every kind has its floor"
    );
    // The development half, which the rules were tuned on, stays where it is.
    assert!(
        development.recall() >= MIN_DEVELOPMENT_RECALL && development.false_positive_rate() <= 2.0,
        "development: recall {:.1} %, high false positives {:.2} %",
        development.recall(),
        development.false_positive_rate()
    );
    assert_eq!(
        development.reference_high + held_out.reference_high,
        0,
        "findings that quarantine on the official reference servers: {:#?}",
        development.reported
    );
    let servers: BTreeSet<String> = benign_files()
        .values()
        .map(|path| read::<Captured>(path).server)
        .collect();
    assert!(
        installed.iter().all(|p| servers.contains(*p)),
        "the corpus holds every package of the built-in catalog: {installed:?}"
    );
    let catalog_findings: Vec<&String> = development
        .catalog_findings
        .iter()
        .chain(&held_out.catalog_findings)
        .collect();
    assert!(
        catalog_findings.is_empty(),
        "findings on the catalog's servers: {catalog_findings:#?}"
    );
}

/// `sealed/sealed.toml`: the sealed set's sources, servers and counts (its README).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sealed {
    #[serde(default)]
    poisoned: Vec<SealedSource>,
    #[serde(default)]
    benign: Vec<SealedSource>,
    #[serde(default)]
    count: Vec<SealedCount>,
}

#[derive(Deserialize)]
struct SealedSource {
    id: String,
    added: String,
    by: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "the release log is read by people; parsed to check its shape"
)]
struct SealedCount {
    release: String,
    date: String,
    poisoned: usize,
    caught: usize,
    benign: usize,
    flagged: usize,
}

fn sealed() -> Sealed {
    toml::from_str(&std::fs::read_to_string(corpus().join("sealed/sealed.toml")).unwrap()).unwrap()
}

/// The sealed set's manifest, not its definitions: each source and server has its file
/// and is in neither half nor the check set, and every file is listed. Nothing is scanned.
#[test]
fn the_sealed_set_is_apart_from_both_halves() {
    let sealed = sealed();
    let split = split();
    let benign = benign_files();
    let third_party: Sources = toml::from_str(
        &std::fs::read_to_string(corpus().join("third_party/sources.toml")).unwrap(),
    )
    .unwrap();
    let elsewhere: BTreeSet<&str> = [
        &split.poisoned.development,
        &split.poisoned.held_out,
        &split.benign.development,
        &split.benign.held_out,
    ]
    .into_iter()
    .flatten()
    .map(|s| s.as_str())
    .chain(third_party.source.iter().map(|s| s.id.as_str()))
    .chain(benign.keys().map(|s| s.as_str()))
    .map(|s| s.trim_start_matches("community/"))
    .collect();
    for (dir, listed) in [("poisoned", &sealed.poisoned), ("benign", &sealed.benign)] {
        let ids: BTreeSet<&str> = listed.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids.len(), listed.len(), "sealed {dir}: an id listed twice");
        for source in listed.iter() {
            assert!(
                !elsewhere.contains(source.id.as_str()),
                "sealed {dir} {} is also outside the sealed set",
                source.id
            );
            assert!(
                source.added.len() == 10 && !source.by.trim().is_empty(),
                "sealed {dir} {}: added (YYYY-MM-DD) and by",
                source.id
            );
        }
        for entry in std::fs::read_dir(corpus().join("sealed").join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                assert!(
                    ids.contains(stem.as_str()),
                    "sealed/{dir}/{stem}.json is not listed in sealed.toml"
                );
            }
        }
        for id in ids {
            assert!(
                corpus()
                    .join("sealed")
                    .join(dir)
                    .join(format!("{id}.json"))
                    .exists(),
                "sealed {dir} {id}: no file"
            );
        }
    }
}

/// The release figure: the sealed set counted, once per release, and only then
/// (`GUIDEPOST_SEALED_RELEASE=<release> cargo test -p guidepost-scan --test scan_corpus
/// sealed_release_figure -- --ignored --nocapture`). Counts only, never an entry; the
/// line goes to sealed.toml's `[[count]]` as printed. Not a floor: nothing is tuned to it.
#[test]
#[ignore = "the release figure: run once per release with GUIDEPOST_SEALED_RELEASE set"]
fn sealed_release_figure() {
    let Ok(release) = std::env::var("GUIDEPOST_SEALED_RELEASE") else {
        panic!("the sealed set is counted once per release: set GUIDEPOST_SEALED_RELEASE");
    };
    let sealed = sealed();
    assert!(
        sealed.count.iter().all(|c| c.release != release),
        "the sealed set was counted for {release} already"
    );
    let dir = corpus().join("sealed");
    let mut figures = Figures::default();
    for source in &sealed.poisoned {
        scan_poisoned(
            &mut figures,
            &dir.join("poisoned").join(format!("{}.json", source.id)),
        );
    }
    let servers: Vec<Captured> = sealed
        .benign
        .iter()
        .map(|s| read(&dir.join("benign").join(format!("{}.json", s.id))))
        .collect();
    for server in &servers {
        let own: BTreeSet<String> = server.tools.iter().map(name_of).collect();
        let mut foreign = builtins();
        foreign.extend(
            servers
                .iter()
                .filter(|s| s.server != server.server)
                .flat_map(|s| s.tools.iter().map(name_of))
                .filter(|name| distinctive(name) && !own.contains(name)),
        );
        let foreign: Vec<String> = foreign.into_iter().collect();
        for tool in &server.tools {
            figures.benign += 1;
            if scan(tool, &foreign).iter().any(quarantines) {
                figures.flagged += 1;
            }
        }
    }
    let rate = |part: usize, whole: usize| {
        if whole == 0 {
            "none sealed".to_owned()
        } else {
            format!("{:.2} %", percent(part, whole))
        }
    };
    eprintln!(
        "sealed set, the release figure: [[count]] release = {release:?}, poisoned = {}, \
         caught = {}, benign = {}, flagged = {} (recall {}, high false positives {})",
        figures.poisoned,
        figures.caught,
        figures.benign,
        figures.flagged,
        rate(figures.caught, figures.poisoned),
        rate(figures.flagged, figures.benign),
    );
}
