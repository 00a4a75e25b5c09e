//! Comments explain themselves or link to the project's own documents: a citation of a
//! specification by section sign or of a tracker by issue number names
//! something the repository does not hold, so a reader cannot follow it. This check
//! reads every comment line of the workspace's Rust files and scripts and refuses one,
//! also one a rewrap split over two lines (`(SPEC` ending one, the section the next).
//! Migrations are left alone: a changed migration no longer matches its checksum.

use std::path::{Path, PathBuf};

use crate::helpers::{files_under, workspace_root};

/// Files whose comments are read: Rust sources, and scripts (`#` comments).
fn commented_files(dir: &Path) -> Vec<PathBuf> {
    let descend = |name: &str| {
        !matches!(
            name,
            "migrations" | "scan_corpus" | "target" | "node_modules"
        )
    };
    let keep = |path: &Path| {
        path.extension().is_some_and(|e| e == "rs" || e == "py")
            || path.parent().is_some_and(|dir| dir.ends_with("scripts"))
    };
    files_under(dir, &descend, &keep)
}

/// The comment of a line: after `//` (not inside a string literal) or `#` at its start.
fn comment_of(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') && !trimmed.starts_with("#[") && !trimmed.starts_with("#!") {
        return Some(trimmed);
    }
    let mut in_string = false;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match c {
            '"' if previous != '\\' => in_string = !in_string,
            '/' if !in_string && previous == '/' => return Some(&line[at + 1..]),
            _ => {}
        }
        previous = c;
    }
    None
}

/// Whether a comment cites a specification section or an issue number.
fn cites(comment: &str) -> bool {
    if comment.contains("SPEC §") {
        return true;
    }
    let lower = comment.to_lowercase();
    lower.match_indices("issue").any(|(at, word)| {
        let rest = &lower[at + word.len()..];
        let rest = rest.strip_prefix('s').unwrap_or(rest);
        rest.strip_prefix(' ')
            .is_some_and(|number| number.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// The numbers (from 1) of the lines whose comment cites, also where rewrapping split a
/// citation: `(SPEC` ends one comment line and `§8)` starts the next.
fn citing_lines(text: &str) -> Vec<usize> {
    let comments: Vec<Option<&str>> = text.lines().map(comment_of).collect();
    let mut found = Vec::new();
    for (at, comment) in comments.iter().enumerate() {
        let Some(comment) = comment else {
            continue;
        };
        let next = comments.get(at + 1).copied().flatten();
        let wrapped = next.is_some_and(|next| {
            let next = next.trim_start_matches(['/', '!', '#']).trim_start();
            !cites(next) && cites(&format!("{} {next}", comment.trim_end()))
        });
        if cites(comment) || wrapped {
            found.push(at + 1);
        }
    }
    found
}

fn citations_in(files: &[PathBuf], root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        for number in citing_lines(&text) {
            let shown = path.strip_prefix(root).unwrap_or(path).display();
            found.push(format!("{shown}:{number}: {}", lines[number - 1].trim()));
        }
    }
    found
}

#[test]
fn no_comment_cites_a_spec_section_or_an_issue_number() {
    let root = workspace_root();
    let mut files = commented_files(&root.join("crates"));
    files.extend(commented_files(&root.join("scripts")));
    assert!(files.len() > 400, "read only {} files", files.len());
    let found = citations_in(&files, &root);
    assert!(
        found.is_empty(),
        "comments cite what the repository does not hold; say the reason, or link to the \
         section of docs/ that gives it:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_finds_citations_in_comments_only() {
    assert!(comment_of("let x = 1; // SPEC §3: why").is_some_and(cites));
    assert!(comment_of("//! Pools (issue 34): one per node").is_some_and(cites));
    assert!(comment_of("# measured again (Issue 12)").is_some_and(cites));
    assert!(comment_of("/// issues 30 and 31").is_some_and(cites));
    assert!(!comment_of("let s = \"see issue 34 // here\";").is_some_and(cites));
    assert!(!comment_of("/// an issue with 3 parts").is_some_and(cites));
    assert!(!comment_of("/// the issuer 3 times").is_some_and(cites));
    assert!(comment_of("let a = 1;").is_none());
    assert_eq!(
        citing_lines("/// images anyone's (SPEC\n/// §8: an allowlist)."),
        [1]
    );
    assert_eq!(
        citing_lines("//! the tools (issue\n//! 32). The provider"),
        [1]
    );
    assert_eq!(citing_lines("# measured\n# (issue 12) again"), [2]);
    assert!(citing_lines("let s = \"(SPEC\";\n/// §8 of RFC 1").is_empty());
}
