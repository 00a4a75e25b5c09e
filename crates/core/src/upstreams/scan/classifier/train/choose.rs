//! Choosing how the classifier is trained (`Method`): methods compared by
//! cross-validation by source inside the development half only, averaged over several
//! groupings of the sources into folds.

use std::collections::BTreeMap;

use super::{Definition, METHOD, Method, WordMode, cross_validate, cross_validate_by, development};

/// The groupings of sources into folds `choose_the_method` averages over.
const PARTITIONS: u64 = 6;

/// Methods compared by cross-validation by source inside the development half: the
/// classifier alone (what it adds where the rules, tuned on this half, do not reach),
/// and with the rules.
/// `cargo test -p guidepost-core choose_the_method -- --ignored --nocapture`
#[test]
#[ignore = "compares training methods on the development half; prints, asserts nothing"]
fn choose_the_method() {
    let (definitions, seed) = development();
    // What the order of training alone moves: the committed method under other seeds.
    let spread: Vec<String> = (0..5)
        .map(|k| cross_validate(&definitions, seed + k, &METHOD).report())
        .collect();
    eprintln!("the committed method under seeds {seed}..+4: {spread:#?}");
    let rules_caught = definitions.iter().filter(|d| d.poisoned && d.rules).count();
    let rules_flagged = definitions
        .iter()
        .filter(|d| !d.poisoned && d.rules)
        .count();
    eprintln!("rules alone: {rules_caught} poisoned, {rules_flagged} benign");
    // The committed method, then its neighbours: a choice that holds only at one point
    // of the grid is noise, not a method.
    let mut methods = vec![METHOD];
    for (words, l2_words, cap, read_only) in [
        (WordMode::Exact, 3e-2, 1.0, true),
        (WordMode::Exact, 3e-2, 0.75, true),
        (WordMode::Exact, 3e-2, 1.5, true),
        (WordMode::Exact, 1e-2, 1.0, true),
        (WordMode::Exact, 1e-1, 1.0, true),
        (WordMode::Prefix(4), 3e-2, 1.0, true),
        (WordMode::Prefix(6), 3e-2, 1.0, true),
        (WordMode::Without, 3e-2, 1.0, true),
    ] {
        methods.push(Method {
            words,
            l2_words,
            l2_cats: 3e-2,
            cap,
            read_only,
        });
    }
    if let Ok(only) = std::env::var("SCAN_METHODS") {
        let keep: Vec<usize> = only.split(',').filter_map(|n| n.parse().ok()).collect();
        methods = methods
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, m)| m)
            .collect();
    }
    for method in &methods {
        // Each method under the committed grouping of sources into folds and five
        // others: the grouping alone moves the count by more than methods differ, so
        // methods are compared by the mean over groupings.
        let by_partition: Vec<(usize, usize)> = (0..PARTITIONS)
            .map(|partition| {
                let measured = cross_validate_by(&definitions, seed, method, partition);
                let count = |poisoned: bool| {
                    measured
                        .scored
                        .iter()
                        .filter(|(d, s)| d.poisoned == poisoned && measured.flags(s))
                        .count()
                };
                (count(true), count(false))
            })
            .collect();
        let mean = by_partition.iter().map(|(c, _)| *c as f64).sum::<f64>() / PARTITIONS as f64;
        let measured = cross_validate(&definitions, seed, method);
        let flagged = |d: &Definition, s: &[(String, f64, bool)]| measured.flags(s) || d.rules;
        let both_caught = measured
            .scored
            .iter()
            .filter(|(d, s)| d.poisoned && flagged(d, s))
            .count();
        let mut kinds: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (d, s) in measured.scored.iter().filter(|(d, _)| d.poisoned) {
            let k = kinds.entry(d.kind.as_str()).or_default();
            k.0 += 1;
            k.1 += usize::from(measured.flags(s));
        }
        let kinds: Vec<String> = kinds
            .iter()
            .map(|(k, (n, c))| format!("{k} {c}/{n}"))
            .collect();
        eprintln!(
            "{method:?}: mean {mean:.1} poisoned over {PARTITIONS} groupings, \
             (caught, benign flagged) by grouping {by_partition:?}; committed grouping: {}, \
             with the rules {both_caught} poisoned; thresholds {:?}; alone by kind: {}",
            measured.report(),
            measured
                .thresholds
                .iter()
                .map(|(p, t)| format!("{p} {t:.2}"))
                .collect::<Vec<_>>(),
            kinds.join(", ")
        );
    }
}
