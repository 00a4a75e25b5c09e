//! The documents' evidence exists: every test that a Markdown document of the repository
//! cites (`module::test_name`, `module::*`, in backticks) is a test in the sources, in a
//! file of that module: a `#[test]` (or `#[tokio::test]`, …) function, or one that
//! `backend_tests!` turns into tests. A helper with the cited name is not enough. A test
//! renamed, moved or deleted without its promise fails here, rather than leaving a promise
//! that names nothing.
//!
//! And every relative link of a document (`[text](path#heading)`) names a file of the
//! repository and, in a Markdown file, one of its headings.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::helpers::{files_under, workspace_root};

/// Directories that hold no document of ours: build output, installed packages, tools.
const NOT_DOCUMENTS: [&str; 3] = ["target", "node_modules", "vendor"];

/// Every Markdown file of the repository, relative to `root`, outside hidden directories
/// (`.git`, `.tools`) and [`NOT_DOCUMENTS`].
fn documents(root: &Path) -> Vec<PathBuf> {
    let descend = |name: &str| !name.starts_with('.') && !NOT_DOCUMENTS.contains(&name);
    let is_markdown = |path: &Path| path.extension().is_some_and(|e| e == "md");
    let mut found: Vec<PathBuf> = files_under(root, &descend, &is_markdown)
        .into_iter()
        .map(|path| path.strip_prefix(root).unwrap().to_path_buf())
        .collect();
    found.sort();
    found
}

/// One Rust source file: the module names it stands for (its directories, its file name,
/// its crate's name and the inline `mod`s it declares) and the tests it defines.
struct Source {
    path: PathBuf,
    modules: BTreeSet<String>,
    tests: BTreeSet<String>,
}

fn sources(root: &Path) -> Vec<Source> {
    let is_rust = |path: &Path| path.extension().is_some_and(|e| e == "rs");
    files_under(&root.join("crates"), &|_| true, &is_rust)
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
                tests: tests(&text),
                modules,
            }
        })
        .collect()
}

/// The tests a source defines: each `fn` under an attribute that makes it a test
/// (`#[test]`, `#[tokio::test(…)]`, `#[sqlx::test]`), each `async fn` inside a
/// `backend_tests! { … }` block, and each name listed in `backend_tests!(…)`.
fn tests(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut under_test_attribute = false;
    let mut attribute_depth = 0usize;
    for line in text.lines() {
        let line = line.trim();
        if attribute_depth > 0 || line.starts_with("#[") {
            if line.starts_with("#[test]") || (line.starts_with("#[") && line.contains("::test")) {
                under_test_attribute = true;
            }
            let opened = line.matches('[').count() + attribute_depth;
            attribute_depth = opened.saturating_sub(line.matches(']').count());
            continue;
        }
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        if under_test_attribute && let Some(name) = fn_name(line) {
            found.insert(name);
        }
        under_test_attribute = false;
    }
    for (at, _) in text.match_indices("backend_tests!") {
        let rest = text[at + "backend_tests!".len()..].trim_start();
        let Some(open) = rest.chars().next().filter(|c| matches!(c, '{' | '(')) else {
            continue;
        };
        let body = &rest[1..balanced_end(rest, open)];
        if open == '{' {
            found.extend(body.lines().filter_map(|line| fn_name(line.trim())));
        } else {
            let names = body
                .split(',')
                .map(|item| item.rsplit(']').next().unwrap().trim());
            found.extend(names.filter(|n| !n.is_empty()).map(str::to_owned));
        }
    }
    found
}

/// The name of the function a line declares (`pub async fn name(`), if it declares one.
fn fn_name(line: &str) -> Option<String> {
    let (before, after) = line.split_once("fn ")?;
    let qualifiers = ["pub", "pub(crate)", "async", "const", "unsafe"];
    if !before
        .split_whitespace()
        .all(|word| qualifiers.contains(&word))
    {
        return None;
    }
    let name: String = after
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Where the bracket that opens `text` (its first character, `open`) is closed.
fn balanced_end(text: &str, open: char) -> usize {
    let close = if open == '{' { '}' } else { ')' };
    let mut depth = 0;
    for (at, c) in text.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return at;
            }
        }
    }
    text.len()
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

/// Whether `citation` names something in `sources`: for `a::b::name`, a test `name` in a
/// file that stands for the modules `a` and `b` (or a module `name` there); for `a::*`, a
/// file or inline module `a`.
fn exists(sources: &[Source], citation: &str) -> bool {
    let segments: Vec<&str> = citation.split("::").collect();
    let (last, modules) = segments.split_last().unwrap();
    sources.iter().any(|source| {
        let in_module = modules.iter().all(|m| source.modules.contains(*m));
        let names_it =
            *last == "*" || source.tests.contains(*last) || source.modules.contains(*last);
        in_module && names_it
    })
}

/// The targets of a document's links outside code blocks, `[text](target)`, that stay in
/// the repository: no scheme (`https:`, `mailto:`).
fn relative_links(document: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut in_code = false;
    for line in document.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        for (at, _) in line.match_indices("](") {
            let rest = &line[at + 2..];
            let Some(target) = rest.split(')').next().filter(|t| !t.is_empty()) else {
                continue;
            };
            let scheme = target
                .split_once(':')
                .is_some_and(|(s, _)| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphabetic()));
            if !scheme && !target.contains(' ') {
                links.push(target.to_owned());
            }
        }
    }
    links
}

/// The anchors of a Markdown document's headings, as GitHub makes them: lower case,
/// punctuation dropped, spaces as '-'.
fn anchors(document: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut in_code = false;
    for line in document.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            let heading = line.trim_start_matches('#').trim().to_lowercase();
            let anchor = heading
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect();
            found.insert(anchor);
        }
    }
    found
}

#[test]
fn every_relative_link_names_a_file_and_a_heading_of_the_repository() {
    let root = workspace_root();
    let mut checked = 0;
    let mut broken = Vec::new();
    for document in documents(&root) {
        let here = root.join(&document);
        let text = std::fs::read_to_string(&here).unwrap();
        for link in relative_links(&text) {
            checked += 1;
            let (path, heading) = match link.split_once('#') {
                Some((path, heading)) => (path, Some(heading)),
                None => (link.as_str(), None),
            };
            let target = match path {
                "" => here.clone(),
                path => here.parent().unwrap().join(path),
            };
            let markdown = target.extension().is_some_and(|e| e == "md");
            let names_a_heading = || {
                let text = std::fs::read_to_string(&target).unwrap();
                heading.is_none_or(|h| !markdown || anchors(&text).contains(h))
            };
            if !target.exists() || !names_a_heading() {
                broken.push(format!("{}: ({link})", document.display()));
            }
        }
    }
    eprintln!("[docs] {checked} relative links checked");
    assert!(
        checked > 50,
        "the documents link each other: {checked} found"
    );
    assert!(
        broken.is_empty(),
        "links to no file, or to no heading of that file:\n{}",
        broken.join("\n")
    );
}

#[test]
fn links_and_headings_are_read_as_github_reads_them() {
    let document = "# Scale-out (PostgreSQL)\n\n## Floods (`scripts/flood`, 2026-11-22)\n\n\
                    See [it](../SECURITY.md#who-can-reach-what), [here](#scale-out-postgresql), \
                    [the site](https://example.com) and [mail](mailto:a@b.example).\n\n\
                    ```\n[not a link](in/code.md)\n```\n";
    assert_eq!(
        relative_links(document),
        ["../SECURITY.md#who-can-reach-what", "#scale-out-postgresql"]
    );
    assert_eq!(
        anchors(document).into_iter().collect::<Vec<_>>(),
        ["floods-scriptsflood-2026-11-22", "scale-out-postgresql"]
    );
}

#[test]
fn every_test_the_documents_cite_exists() {
    let root = workspace_root();
    let sources = sources(&root);
    let mut checked = 0;
    let mut missing = Vec::new();
    let documents = documents(&root);
    for document in &documents {
        let text = std::fs::read_to_string(root.join(document)).unwrap();
        for citation in citations(&text) {
            checked += 1;
            if !exists(&sources, &citation) {
                missing.push(format!("{}: `{citation}`", document.display()));
            }
        }
    }
    eprintln!(
        "[docs] {checked} citations checked in {} documents",
        documents.len()
    );
    assert!(checked > 100, "the documents cite tests: {checked} found");
    assert!(
        missing.is_empty(),
        "cited, but no such test (a helper of that name is not one; or not in that module):\n{}",
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
    for there in [
        // Named in a `backend_tests!(…)` list.
        "openapi::the_document_lists_exactly_the_routes",
        // Under `#[tokio::test(…)]`.
        "gateway_container::a_container_upstream_runs_within_its_limits",
        // In an inline `mod tests`, under `#[test]`.
        "tools::tests::builtin_names_are_the_sources_names",
    ] {
        assert!(exists(&sources, there), "{there}");
    }
    for absent in [
        "cross_tenant::no_such_test",
        "no_such_module::*",
        // The function exists, but not in that module: a test that moved.
        "floods::every_test_the_documents_cite_exists",
        // Functions of that module, but helpers, not tests.
        "docs_checker::citations",
        "helpers::spawn_app",
    ] {
        assert!(!exists(&sources, absent), "{absent}");
    }
    assert!(sources.iter().any(|s| s.path.ends_with("docs_checker.rs")));
    let documents = documents(&root);
    for document in ["README.md", "ARCHITECTURE.md", "docs/dev/architecture.md"] {
        assert!(documents.contains(&PathBuf::from(document)), "{document}");
    }
}
