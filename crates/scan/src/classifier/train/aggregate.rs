//! Evidence beyond one sentence, measured on the development half only (tried on
//! 2026-11-25 and not kept: each lowered the held-out half; docs/SECURITY.md):
//!
//! - a definition-level second stage: logistic regression over what the sentences the
//!   classifier read in one definition add up to (`aggregate`), trained on the sentence
//!   model's scores out of fold, its own threshold calibrated out of fold too;
//! - a lower threshold for a sentence that shares no word with its tool's own vocabulary
//!   (`own_vocabulary`, `related`): the sentence out of place;
//! - the classifier reading every sentence, not only those with a word of the lexicon.
//!
//! Each against the sentence model as committed, every fold judged with thresholds
//! calibrated on the other folds only, averaged over six groupings of the sources.
//! `cargo test -p guidepost-scan measure_evidence_beyond_a_sentence -- --ignored --nocapture`

use std::collections::BTreeMap;

use super::super::super::intent::Place;
use super::super::{AT_STAKE, words};
use super::{Definition, FOLDS, METHOD, Measured, Scores, cross_validate_by, development, fold_of};

/// One sentence the classifier read: its score less its place's threshold, and the
/// lexicon's categories in it (`Cat::bit`).
#[derive(Clone, Copy, Debug)]
struct ReadSentence {
    margin: f64,
    cats: u64,
}

/// The definition-level features, by name.
const AGGREGATE: &[&str] = &["top margin", "second margin", "stakes", "read sentences"];

/// The least margin a feature counts.
const MARGIN_FLOOR: f64 = -6.0;

/// The definition-level features (`AGGREGATE`) of the sentences read in a definition:
/// the highest margin and the next, how many categories at stake they hold between them,
/// and how many they are.
fn aggregate(read: &[ReadSentence]) -> Vec<f64> {
    let clip = |m: f64| m.clamp(MARGIN_FLOOR, 3.0);
    let mut margins: Vec<f64> = read.iter().map(|r| clip(r.margin)).collect();
    margins.sort_by(|a, b| b.total_cmp(a));
    let top = margins.first().copied().unwrap_or(MARGIN_FLOOR);
    let second = margins.get(1).copied().unwrap_or(MARGIN_FLOOR);
    let stake_bits = AT_STAKE.iter().fold(0u64, |bits, c| bits | c.bit());
    let stakes = read
        .iter()
        .fold(0u64, |bits, r| bits | (r.cats & stake_bits));
    vec![
        top,
        second,
        f64::from(stakes.count_ones().min(8)),
        (1.0 + read.len() as f64).ln(),
    ]
}

/// A word's stem, for a tool's own vocabulary: its first five characters.
fn stem(word: &str) -> &str {
    word.char_indices()
        .nth(5)
        .map_or(word, |(at, _)| &word[..at])
}

/// A tool's own vocabulary: the stems of the words of four characters or more of its
/// name, its title and its input parameters' names (`texts`, normalized), sorted.
pub(super) fn own_vocabulary<'a>(texts: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut own: Vec<String> = texts
        .flat_map(words)
        .filter(|w| w.chars().count() >= 4)
        .map(|w| stem(w).to_owned())
        .collect();
    own.sort_unstable();
    own.dedup();
    own
}

/// Whether a sentence at `place` shares a word with its tool's own vocabulary (a name or
/// a title never does: it is that vocabulary).
pub(super) fn related(sentence: &str, place: Place, own: &[String]) -> bool {
    !matches!(place, Place::Name | Place::Title)
        && words(sentence).into_iter().any(|w| {
            w.chars().count() >= 4 && own.binary_search_by(|o| o.as_str().cmp(stem(w))).is_ok()
        })
}

/// Per kind of place, the threshold no benign sentence the classifier reads and that
/// shares no word with its tool's own vocabulary reached in `scored`, at least `super::FLOOR`;
/// the highest of them where a kind has no such sentence.
fn unrelated_thresholds<'a, 'b: 'a>(
    scored: impl Iterator<Item = &'a (&'b Definition, Scores)>,
) -> BTreeMap<String, f64> {
    let mut thresholds: BTreeMap<String, f64> = BTreeMap::new();
    for (d, scores) in scored.filter(|(d, _)| !d.poisoned) {
        for (sentence, (place, score, read)) in d.sentences.iter().zip(scores) {
            if *read && !sentence.related {
                let t = thresholds.entry(place.clone()).or_insert(super::FLOOR);
                *t = t.max(score + 0.01);
            }
        }
    }
    let highest = thresholds.values().copied().fold(super::FLOOR, f64::max);
    for place in super::PLACES {
        thresholds.entry((*place).to_owned()).or_insert(highest);
    }
    thresholds
}

/// The groupings of sources into folds the measure averages over.
const PARTITIONS: u64 = 6;
const ITERATIONS: usize = 400;
const RATE: f64 = 0.5;
/// The L2 penalty of the second stage.
const L2: f64 = 1e-3;

/// A logistic regression over the definition-level features, weights in the features'
/// own units.
#[derive(Clone, Debug)]
struct Stage {
    bias: f64,
    weights: Vec<f64>,
}

impl Stage {
    fn score(&self, x: &[f64]) -> f64 {
        self.bias + self.weights.iter().zip(x).map(|(w, v)| w * v).sum::<f64>()
    }
}

/// Batch gradient descent on standardized features, each class weighted to count as
/// much as the other; deterministic.
fn fit(rows: &[(Vec<f64>, bool)], l2: f64) -> Stage {
    let n = AGGREGATE.len();
    let count = rows.len().max(1) as f64;
    let mean: Vec<f64> = (0..n)
        .map(|j| rows.iter().map(|(x, _)| x[j]).sum::<f64>() / count)
        .collect();
    let sd: Vec<f64> = (0..n)
        .map(|j| {
            let v = rows
                .iter()
                .map(|(x, _)| (x[j] - mean[j]).powi(2))
                .sum::<f64>()
                / count;
            v.sqrt().max(1e-6)
        })
        .collect();
    let z: Vec<(Vec<f64>, bool)> = rows
        .iter()
        .map(|(x, y)| ((0..n).map(|j| (x[j] - mean[j]) / sd[j]).collect(), *y))
        .collect();
    let positives = rows.iter().filter(|(_, y)| *y).count().max(1) as f64;
    let negatives = rows.iter().filter(|(_, y)| !*y).count().max(1) as f64;
    let (w_pos, w_neg) = (count / (2.0 * positives), count / (2.0 * negatives));
    let mut w = vec![0.0; n];
    let mut b = 0.0;
    for _ in 0..ITERATIONS {
        let mut gw = vec![0.0; n];
        let mut gb = 0.0;
        for (x, y) in &z {
            let s = b + w.iter().zip(x).map(|(w, v)| w * v).sum::<f64>();
            let p = 1.0 / (1.0 + (-s).exp());
            let g = (p - f64::from(u8::from(*y))) * if *y { w_pos } else { w_neg };
            gb += g;
            for j in 0..n {
                gw[j] += g * x[j];
            }
        }
        b -= RATE * gb / count;
        for j in 0..n {
            w[j] -= RATE * (gw[j] / count + l2 * w[j]);
        }
    }
    // Back to the features' own units.
    let weights: Vec<f64> = (0..n).map(|j| w[j] / sd[j]).collect();
    let bias = b - (0..n).map(|j| weights[j] * mean[j]).sum::<f64>();
    Stage { bias, weights }
}

/// A definition's features with its sentences scored as in `scores` and each place's
/// threshold from `thresholds`.
fn features_of(d: &Definition, scores: &Scores, thresholds: &BTreeMap<String, f64>) -> Vec<f64> {
    let read: Vec<ReadSentence> = d
        .sentences
        .iter()
        .zip(scores)
        .filter(|(_, (_, _, read))| *read)
        .map(|(s, (place, score, _))| ReadSentence {
            margin: score - thresholds[place],
            cats: s.cats,
        })
        .collect();
    aggregate(&read)
}

/// Just above the highest score of a benign definition.
fn calibrate(benign: impl Iterator<Item = f64>, floor: f64) -> f64 {
    benign.fold(floor, |t, s| t.max(s + 0.01))
}

/// Counts under one grouping, each fold judged with what the other folds give, each a
/// pair (poisoned, benign) flagged: by the sentence model as committed, by it or an
/// unrelated sentence, by it on every sentence, by the second stage, by either.
#[derive(Default, Clone)]
struct Counts {
    sentence: (usize, usize),
    /// The sentence model, or a sentence unrelated to the tool's own vocabulary at or
    /// above its place's threshold for unrelated sentences.
    unrelated: (usize, usize),
    /// Read sentences: (poisoned top sentences unrelated, poisoned with one read,
    /// benign read sentences unrelated, benign read sentences).
    relatedness: (usize, usize, usize, usize),
    /// The sentence model on every sentence, read or not.
    every: (usize, usize),
    /// Per kind of place: (poisoned, benign) flagged only by a sentence not read.
    unread_by_place: BTreeMap<String, (usize, usize)>,
    /// The second stage alone, and it or the sentence model.
    definition: (usize, usize),
    either: (usize, usize),
    /// Poisoned the rules (tuned on this half) miss that either catches.
    beyond_rules: usize,
    /// Out of fold, each definition's (poisoned, top margin, second stage's score less
    /// its fold's cut).
    pooled: Vec<(bool, f64, f64)>,
}

/// Poisoned caught at the cut that lets through `k` benign, for k = 0..=8, by the score
/// `pick` gives each of `pooled`.
fn curve(pooled: &[(bool, f64, f64)], pick: &dyn Fn(&(bool, f64, f64)) -> f64) -> Vec<usize> {
    let mut benign: Vec<f64> = pooled.iter().filter(|p| !p.0).map(pick).collect();
    benign.sort_by(|a, b| b.total_cmp(a));
    (0..=8)
        .map(|k| {
            let cut = benign.get(k).copied().unwrap_or(f64::NEG_INFINITY);
            pooled.iter().filter(|p| p.0 && pick(p) > cut).count()
        })
        .collect()
}

fn measure(measured: &Measured, partition: u64, floor: f64, l2: f64) -> Counts {
    let mut counts = Counts::default();
    let scored = &measured.scored;
    for fold in 0..FOLDS {
        let in_fold = |d: &Definition| fold_of(d.group, partition) == fold;
        let thresholds = super::thresholds(scored.iter().filter(|(d, _)| !in_fold(d)), &METHOD);
        // Per kind of place, above every benign sentence unrelated to its tool's own
        // vocabulary in the other folds.
        let apart = unrelated_thresholds(scored.iter().filter(|(d, _)| !in_fold(d)));
        for (d, s) in scored.iter().filter(|(d, _)| in_fold(d)) {
            let unrelated = s
                .iter()
                .zip(&d.sentences)
                .any(|((place, score, read), sentence)| {
                    *read && !sentence.related && *score >= apart[place]
                });
            let sentence = s
                .iter()
                .any(|(place, score, read)| *read && *score >= thresholds[place]);
            if (unrelated || sentence) && d.poisoned {
                counts.unrelated.0 += 1;
            } else if unrelated || sentence {
                counts.unrelated.1 += 1;
            }
            let read: Vec<(f64, bool)> = s
                .iter()
                .zip(&d.sentences)
                .filter(|((_, _, read), _)| *read)
                .map(|((_, score, _), sentence)| (*score, sentence.related))
                .collect();
            if d.poisoned {
                if let Some(top) = read.iter().max_by(|a, b| a.0.total_cmp(&b.0)) {
                    counts.relatedness.1 += 1;
                    counts.relatedness.0 += usize::from(!top.1);
                }
            } else {
                counts.relatedness.3 += read.len();
                counts.relatedness.2 += read.iter().filter(|r| !r.1).count();
            }
        }
        let rows: Vec<(&Definition, Vec<f64>, bool)> = scored
            .iter()
            .map(|(d, s)| {
                let margin = s
                    .iter()
                    .any(|(place, score, read)| *read && *score >= thresholds[place]);
                if in_fold(d) {
                    let every = s
                        .iter()
                        .any(|(place, score, _)| *score >= thresholds[place]);
                    if every && d.poisoned {
                        counts.every.0 += 1;
                    } else if every {
                        counts.every.1 += 1;
                    }
                    if every && !margin {
                        let place = s
                            .iter()
                            .filter(|(place, score, _)| *score >= thresholds[place])
                            .map(|(place, _, _)| place.clone())
                            .next()
                            .unwrap_or_default();
                        let e = counts.unread_by_place.entry(place).or_default();
                        if d.poisoned {
                            e.0 += 1;
                        } else {
                            e.1 += 1;
                        }
                    }
                }
                (*d, features_of(d, s, &thresholds), margin)
            })
            .collect();
        // The threshold: above every benign definition of the other folds, each scored by
        // a second stage that did not see its fold.
        let mut inner = Vec::new();
        for other in (0..FOLDS).filter(|g| *g != fold) {
            let train: Vec<(Vec<f64>, bool)> = rows
                .iter()
                .filter(|(d, _, _)| !in_fold(d) && fold_of(d.group, partition) != other)
                .map(|(d, x, _)| (x.clone(), d.poisoned))
                .collect();
            let stage = fit(&train, l2);
            inner.extend(
                rows.iter()
                    .filter(|(d, _, _)| fold_of(d.group, partition) == other && !d.poisoned)
                    .map(|(_, x, _)| stage.score(x)),
            );
        }
        let cut = calibrate(inner.into_iter(), floor);
        let train: Vec<(Vec<f64>, bool)> = rows
            .iter()
            .filter(|(d, _, _)| !in_fold(d))
            .map(|(d, x, _)| (x.clone(), d.poisoned))
            .collect();
        let stage = fit(&train, l2);
        for (d, x, sentence) in rows.iter().filter(|(d, _, _)| in_fold(d)) {
            let definition = stage.score(x) >= cut;
            let add = |c: &mut (usize, usize), hit: bool| {
                if hit && d.poisoned {
                    c.0 += 1;
                } else if hit {
                    c.1 += 1;
                }
            };
            let top = x[0];
            counts.pooled.push((d.poisoned, top, stage.score(x) - cut));
            add(&mut counts.sentence, *sentence);
            add(&mut counts.definition, definition);
            add(&mut counts.either, *sentence || definition);
            if d.poisoned && !d.rules && (*sentence || definition) {
                counts.beyond_rules += 1;
            }
        }
    }
    counts
}

/// `cargo test -p guidepost-scan measure_evidence_beyond_a_sentence -- --ignored --nocapture`
/// (`SCAN_FLOORS` and `SCAN_L2`, comma-separated, vary the second stage's least threshold
/// and its L2 penalty.)
#[test]
#[ignore = "measures evidence beyond one sentence on the development half; prints"]
fn measure_evidence_beyond_a_sentence() {
    let (definitions, seed) = development();
    let measured: Vec<Measured> = (0..PARTITIONS)
        .map(|p| cross_validate_by(&definitions, seed, &METHOD, p))
        .collect();
    let floors: Vec<f64> = std::env::var("SCAN_FLOORS")
        .ok()
        .map(|v| v.split(',').filter_map(|f| f.parse().ok()).collect())
        .unwrap_or_else(|| vec![0.0]);
    let l2s: Vec<f64> = std::env::var("SCAN_L2")
        .ok()
        .map(|v| v.split(',').filter_map(|f| f.parse().ok()).collect())
        .unwrap_or_else(|| vec![L2]);
    for floor in &floors {
        for l2 in &l2s {
            let all: Vec<Counts> = measured
                .iter()
                .enumerate()
                .map(|(p, m)| measure(m, p as u64, *floor, *l2))
                .collect();
            let mean = |f: &dyn Fn(&Counts) -> usize| {
                all.iter().map(|c| f(c) as f64).sum::<f64>() / all.len() as f64
            };
            eprintln!(
                "floor {floor} l2 {l2}: sentence {:.1}/{:.1}, definition {:.1}/{:.1}, \
                 either {:.1}/{:.1}, beyond the rules {:.1}; by grouping {:?}",
                mean(&|c| c.sentence.0),
                mean(&|c| c.sentence.1),
                mean(&|c| c.definition.0),
                mean(&|c| c.definition.1),
                mean(&|c| c.either.0),
                mean(&|c| c.either.1),
                mean(&|c| c.beyond_rules),
                all.iter()
                    .map(|c| (c.sentence, c.definition, c.either))
                    .collect::<Vec<_>>(),
            );
            eprintln!(
                "unrelated: {:.1}/{:.1}; relatedness {:?}; by grouping {:?}",
                mean(&|c| c.unrelated.0),
                mean(&|c| c.unrelated.1),
                all[0].relatedness,
                all.iter()
                    .map(|c| (c.sentence, c.unrelated))
                    .collect::<Vec<_>>()
            );
            eprintln!(
                "every sentence: {:.1}/{:.1}; flagged only unread, by place: {:?}",
                mean(&|c| c.every.0),
                mean(&|c| c.every.1),
                all.iter().map(|c| &c.unread_by_place).collect::<Vec<_>>()
            );
            for c in &all {
                eprintln!(
                    "  caught at 0..8 benign: top margin {:?}, second stage {:?}",
                    curve(&c.pooled, &|p| p.1),
                    curve(&c.pooled, &|p| p.2)
                );
            }
        }
    }
    // How far under their thresholds the definitions' best sentences stay, out of fold
    // (the committed grouping, thresholds calibrated on the other folds): poisoned the
    // classifier does not flag, and benign.
    let mut buckets: BTreeMap<(bool, &str), usize> = BTreeMap::new();
    let m = &measured[0];
    for fold in 0..FOLDS {
        let in_fold = |d: &Definition| fold_of(d.group, 0) == fold;
        let thresholds = super::thresholds(m.scored.iter().filter(|(d, _)| !in_fold(d)), &METHOD);
        for (d, s) in m.scored.iter().filter(|(d, _)| in_fold(d)) {
            let top = s
                .iter()
                .filter(|(_, _, read)| *read)
                .map(|(place, score, _)| score - thresholds[place])
                .fold(f64::NEG_INFINITY, f64::max);
            let bucket = match top {
                t if t == f64::NEG_INFINITY => "none read",
                t if t >= 0.0 => "flagged",
                t if t > -1.0 => "-1..0",
                t if t > -2.0 => "-2..-1",
                t if t > -3.0 => "-3..-2",
                _ => "under -3",
            };
            *buckets.entry((d.poisoned, bucket)).or_default() += 1;
        }
    }
    eprintln!("best sentence's margin out of fold, (poisoned, bucket): {buckets:?}");
    // The second stage on every definition, for its weights' signs.
    let rows: Vec<(Vec<f64>, bool)> = m
        .scored
        .iter()
        .map(|(d, s)| (features_of(d, s, &m.thresholds), d.poisoned))
        .collect();
    let stage = fit(&rows, L2);
    let named: Vec<String> = AGGREGATE
        .iter()
        .zip(&stage.weights)
        .map(|(n, w)| format!("{n} {w:.3}"))
        .collect();
    eprintln!("bias {:.3}; {}", stage.bias, named.join(", "));
}
