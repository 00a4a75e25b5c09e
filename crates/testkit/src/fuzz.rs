//! Property-based fuzzing with a budget (proptest): a target runs a fixed number of cases
//! in CI (`GUIDEPOST_FUZZ_CASES`, default 300), or for a time (`GUIDEPOST_FUZZ_SECONDS`,
//! as `scripts/fuzz` runs it), in batches that each shrink a failure to a small input.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

const CI_CASES: u32 = 300;
const BATCH: u32 = 5_000;

/// Runs `test` on inputs from `strategy` within the budget; panics with the smallest
/// failing input it finds. Returns the number of executions, which it also prints.
pub fn fuzz<S>(
    target: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> u64
where
    S: Strategy,
    S::Value: Debug,
{
    let seconds = std::env::var("GUIDEPOST_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let cases = match seconds {
        Some(_) => BATCH,
        None => std::env::var("GUIDEPOST_FUZZ_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(CI_CASES),
    };
    let started = Instant::now();
    let mut executions = 0u64;
    loop {
        let config = Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        if let Err(failure) = runner.run(&strategy, &test) {
            panic!("fuzz target {target} failed: {failure}");
        }
        executions += u64::from(cases);
        if seconds.is_none_or(|budget| started.elapsed() >= budget) {
            break;
        }
    }
    println!(
        "fuzz {target}: {executions} executions in {:.1} s, no failure",
        started.elapsed().as_secs_f64()
    );
    executions
}

/// Any JSON value, nested a few levels, with keys that the protocol gives meaning to
/// mixed among arbitrary ones.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// An object key: often one the protocol reads, sometimes anything.
pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "jsonrpc", "id", "method", "params", "name", "arguments", "_meta", "uri",
            "taskId", "cursor", "walkthrough_id", "current_step_id", "title", "email",
            "problem_description", "confirm", "protocolVersion", "capabilities",
            "io.modelcontextprotocol/protocolVersion", "io.modelcontextprotocol/clientCapabilities",
        ])
        .prop_map(str::to_owned),
        1 => ".{0,12}",
    ]
}

/// `base` with up to four random edits (a span deleted, a text inserted), the inserted
/// text drawn from what the formats at hand give meaning to: quotes, brackets, equals
/// signs, front-matter fences, newlines, and anything else.
pub fn mutated(base: String) -> impl Strategy<Value = String> {
    let edit = (
        0.0..=1.0f64,
        0..24usize,
        r#"([\[\]{}="'+#\-\n\\,.:]|.){0,24}"#,
    );
    prop::collection::vec(edit, 0..4).prop_map(move |edits| {
        let mut text = base.clone();
        for (at, delete, insert) in edits {
            let mut start = ((text.len() as f64) * at) as usize;
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + delete).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            text.replace_range(start..end, &insert);
        }
        text
    })
}
