//! The documents' evidence exists: every test that docs/GATEWAY.md, docs/SECURITY.md, docs/RELIABILITY.md,
//! docs/PERFORMANCE.md and README.md cite (`module::test_name`, `module::*`, in
//! backticks) is found in the sources, in a file of that module. A test renamed, moved
//! or deleted without its promise fails here, rather than leaving a promise that names
//! nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::helpers::workspace_root;

const DOCUMENTS: [&str; 5] = [
    "docs/GATEWAY.md",
    "docs/SECURITY.md",
    "docs/RELIABILITY.md",
    "docs/PERFORMANCE.md",
    "README.md",
];

/// One Rust source file: its text, and the module names it stands for (its directories,
/// its file name, its crate's name and the inline `mod`s it declares).
struct Source {
    path: PathBuf,
    text: String,
    modules: BTreeSet<String>,
}

fn sources(root: &Path) -> Vec<Source> {
    let mut files = Vec::new();
    let mut pending = vec![root.join("crates")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let relative = path.strip_prefix(root).unwrap();
            let mut modules: BTreeSet<String> = relative
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            // crates/<name>/… is the crate `guidepost_<name>`.
            if let Some(name) = relative.components().nth(1) {
                modules.insert(format!("guidepost_{}", name.as_os_str().to_string_lossy()));
            }
            // Inline modules only (`mod tests {`): a `mod x;` declares a file of its own.
            for line in text.lines() {
                let line = line.trim_start().trim_start_matches("pub ");
                if let Some(rest) = line.strip_prefix("mod ") {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if rest[name.len()..].trim_start().starts_with('{') {
                        modules.insert(name);
                    }
                }
            }
            Source {
                path,
                text,
                modules,
            }
        })
        .collect()
}

/// The test paths cited in a document: `a::b` or `a::*` inside backticks, where every
/// segment is a lowercase name (an uppercase one is a type, `Store::floor_write`, not a
/// test). A backend suffix (`::sqlite`, `::postgres`) names the same test.
fn citations(document: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for code in document.split('`').skip(1).step_by(2) {
        let tokens =
            code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '*'));
        for token in tokens {
            let segments: Vec<&str> = token.split("::").collect();
            let well_formed = segments.len() >= 2
                && segments.iter().enumerate().all(|(n, s)| {
                    (*s == "*" && n == segments.len() - 1)
                        || (!s.is_empty()
                            && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                            && s.chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                });
            if !well_formed {
                continue;
            }
            let mut path = token;
            for backend in ["::sqlite", "::postgres"] {
                path = path.strip_suffix(backend).unwrap_or(path);
            }
            found.insert(path.to_owned());
        }
    }
    found
}

/// Whether `citation` names something in `sources`: for `a::b::name`, a function `name`
/// in a file that stands for the modules `a` and `b` (or a module `name` there); for
/// `a::*`, a file or inline module `a`.
fn exists(sources: &[Source], citation: &str) -> bool {
    let segments: Vec<&str> = citation.split("::").collect();
    let (last, modules) = segments.split_last().unwrap();
    sources.iter().any(|source| {
        let in_module = modules.iter().all(|m| source.modules.contains(*m));
        let names_it = *last == "*"
            || source.text.contains(&format!("fn {last}("))
            || source.text.contains(&format!("fn {last}<"))
            || source.modules.contains(*last);
        in_module && names_it
    })
}

#[test]
fn every_test_the_documents_cite_exists() {
    let root = workspace_root();
    let sources = sources(&root);
    let mut checked = 0;
    let mut missing = Vec::new();
    for document in DOCUMENTS {
        let text = std::fs::read_to_string(root.join(document)).unwrap();
        for citation in citations(&text) {
            checked += 1;
            if !exists(&sources, &citation) {
                missing.push(format!("{document}: `{citation}`"));
            }
        }
    }
    eprintln!(
        "[docs] {checked} citations checked in {}",
        DOCUMENTS.join(", ")
    );
    assert!(checked > 100, "the documents cite tests: {checked} found");
    assert!(
        missing.is_empty(),
        "cited, but no such test (or not in that module):\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_checker_finds_tests_and_refuses_what_is_not_there() {
    let root = workspace_root();
    let sources = sources(&root);
    let cited = citations(
        "see `cross_tenant::*`, `docs_checker::every_test_the_documents_cite_exists::sqlite` \
         and `Store::floor_write`, run `scripts/test -E 'test(/faults::/)'`",
    );
    assert_eq!(
        cited.iter().map(String::as_str).collect::<Vec<_>>(),
        [
            "cross_tenant::*",
            "docs_checker::every_test_the_documents_cite_exists"
        ]
    );
    for there in &cited {
        assert!(exists(&sources, there), "{there}");
    }
    for absent in [
        "cross_tenant::no_such_test",
        "no_such_module::*",
        // The function exists, but not in that module: a test that moved.
        "floods::every_test_the_documents_cite_exists",
    ] {
        assert!(!exists(&sources, absent), "{absent}");
    }
    assert!(sources.iter().any(|s| s.path.ends_with("docs_checker.rs")));
}
