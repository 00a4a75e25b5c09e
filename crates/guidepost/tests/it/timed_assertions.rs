//! Tests wait on events, never on time (docs/dev/testing.md): no assertion in the
//! workspace compares a measured duration with a bound, since such a bound fails on a
//! loaded machine and passes on a wrong one. Speed is the benchmark's to measure
//! (`guidepost bench`). What this check finds is an assertion macro (`assert!`,
//! `assert_eq!`, …, read up to its closing parenthesis across lines) that mentions a
//! clock reading (`.elapsed()`, `Instant::now()`, `.as_millis()` and the like) or a
//! `Duration` beside a `<` or `<=`. A hang guard (a deadline to give up at) is not a timed assertion: one that
//! names a `deadline` or a `guard` passes.

use std::path::Path;

use crate::helpers::{files_under, workspace_root};

const CLOCK_READINGS: [&str; 8] = [
    ".elapsed()",
    "Duration::",
    "Instant::now()",
    ".as_millis()",
    ".as_micros()",
    ".as_secs()",
    ".as_secs_f64()",
    ".as_nanos()",
];
const HANG_GUARDS: [&str; 3] = ["deadline", "guard", "GUARD"];

/// Every assertion macro of `text` with the line it starts on, whole (to the parenthesis
/// that closes it).
fn assertions(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(at) = rest.find("assert") {
        let start = offset + at;
        let tail = &text[start..];
        let Some(open) = tail.find('(') else { break };
        let name = &tail[..open];
        let is_macro = name.ends_with('!')
            && name[..name.len() - 1]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        let mut end = open;
        if is_macro {
            let mut depth = 0;
            for (i, c) in tail[open..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = open + i;
                    break;
                }
            }
            let line = text[..start].matches('\n').count() + 1;
            found.push((line, tail[..=end].to_string()));
        }
        offset = start + end.max(1);
        rest = &text[offset..];
    }
    found
}

fn is_timed(assertion: &str) -> bool {
    let compares = assertion.contains(" < ") || assertion.contains(" <= ");
    let reads_a_clock = CLOCK_READINGS.iter().any(|c| assertion.contains(c));
    let guards_a_hang = HANG_GUARDS.iter().any(|g| assertion.contains(g));
    compares && reads_a_clock && !guards_a_hang
}

#[test]
fn no_assertion_bounds_a_measured_duration() {
    let root = workspace_root();
    let is_rust = |path: &Path| path.extension().is_some_and(|e| e == "rs");
    let files = files_under(&root.join("crates"), &|_| true, &is_rust);
    let mut timed = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (line, assertion) in assertions(&text) {
            if is_timed(&assertion) {
                let relative = file.strip_prefix(&root).unwrap_or(file);
                timed.push(format!("{}:{line}: {assertion}", relative.display()));
            }
        }
    }
    assert!(
        timed.is_empty(),
        "assertions that bound a measured duration (wait on the event instead, with a \
         `deadline` to give up at; measure speed with `guidepost bench`):\n{}",
        timed.join("\n")
    );
}

#[test]
fn the_check_finds_a_timed_assertion_across_lines_and_spares_a_hang_guard() {
    // CLOCK stands for the reading, so that this file does not hold what it looks for.
    let text = "fn t() {\n    assert!(\n        startedCLOCK < six_seconds,\n        \"slow\"\n    );\n    assert!(Instant::now() < deadline, \"hung\");\n    assert_eq!(f(1), 2);\n}\n"
        .replace("CLOCK", ".elapsed()");
    let found: Vec<_> = assertions(&text)
        .into_iter()
        .filter(|(_, a)| is_timed(a))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, 2);
}
