//! Content as code: a walkthrough kept as a directory of files in
//! the organization's own repository, imported into the store and exported back.
//!
//! This module parses and renders that directory without I/O (the binary reads and writes
//! the files) and holds the two services that use the store: [`import()`] and [`export()`].
//!
//! # The format
//!
//! ```text
//! getting-started/                      the directory's name is the import key
//! ├── walkthrough.toml                  title, description, tags, estimated minutes
//! ├── 01-create-your-account.md         one Markdown file per step, in order of NN
//! └── 02-install-the-cli.md
//! ```
//!
//! `walkthrough.toml` (unknown keys are refused, so that a typo is not silently lost):
//!
//! ```toml
//! title = "Getting started"                    # required
//! description = "What you will do and learn."  # optional
//! tags = ["onboarding", "cli"]                 # optional
//! estimated_duration_minutes = 15              # optional, 1-10000
//! ```
//!
//! A step file is front matter in TOML (the project avoids YAML) between two `---` lines,
//! then the step's Markdown:
//!
//! ```text
//! ---
//! title = "Install the CLI"
//! section = "Set up"
//! ---
//!
//! Markdown content…
//! ```
//!
//! Rules:
//!
//! - **Names.** A step file is named `NN-name.md`: two or more digits, a dash, any name,
//!   `.md`. Steps are ordered by the number; gaps are fine (`10-…`, `20-…`), a number used
//!   twice is an error. The name is for people only: import ignores it, export writes the
//!   ASCII slug of the title. Any other file whose name starts with a digit is refused (it
//!   is most likely a misnamed step). Every other file — `README.md`, images, `.DS_Store`,
//!   subdirectories — is ignored: see [`file_role`].
//! - **Front matter** keys are `title` (required) and `section` (optional); nothing else.
//! - **Content** is everything after the closing `---` line, less one blank line right
//!   after it and the file's final line break. Nothing else is trimmed, so any content
//!   survives export and import unchanged. Line endings are normalized to `\n` (a
//!   checkout with CRLF imports the same as one with LF); a leading byte order mark is
//!   dropped.
//! - **Limits.** At most [`MAX_STEPS`] step files; a step file at most
//!   [`MAX_STEP_FILE_BYTES`] bytes and its content at most
//!   [`MAX_STEP_CONTENT`](super::authoring::MAX_STEP_CONTENT) characters;
//!   `walkthrough.toml` at most [`MAX_METADATA_FILE_BYTES`] bytes. Titles, tags and the
//!   rest follow the same rules as the API.
//!
//! Errors name the file and, where there is one, the line ([`ContentError`]).
//!
//! **Canonical form.** [`render_walkthrough`] always writes the same bytes for the same
//! walkthrough: keys in the order above (absent optional keys left out), TOML basic
//! strings (a description with line breaks as a multi-line string), step files numbered
//! from `01` (wider when there are 100 steps or more) and named after the slug of their
//! title, one blank line after the front matter, and one final line break. A directory in
//! this form (like `examples/walkthroughs/getting-started`) is exported byte for byte
//! as it was imported.
//!
//! The parser is in `parse`, the canonical renderer in `render`, and the two services in
//! `import`.

use guidepost_domain::*;
use serde::Serialize;

mod align;
mod import;
mod json;
mod parse;
mod render;

pub use import::{ImportReport, export, import};
pub use json::{MAX_JSON_BYTES, from_json, to_json};
pub use parse::parse_walkthrough_dir;
pub use render::{render_walkthrough, slugify};

/// The sample walkthrough directory of the repository (`examples/`), as files, sorted.
#[cfg(test)]
pub(crate) fn sample_dir() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/walkthroughs/getting-started");
    let mut found: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("the sample walkthrough exists")
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            (name, std::fs::read_to_string(entry.path()).unwrap())
        })
        .collect();
    found.sort();
    found
}

/// The file that holds a walkthrough's own fields.
pub const METADATA_FILE: &str = "walkthrough.toml";
/// The largest step file, front matter included.
pub const MAX_STEP_FILE_BYTES: u64 = 100 * 1024;
/// The largest `walkthrough.toml`.
pub const MAX_METADATA_FILE_BYTES: u64 = 128 * 1024;
/// The longest import key (the directory's name).
pub const MAX_KEY_LENGTH: usize = 100;

/// A walkthrough as its files describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalkthroughSource {
    pub title: String,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub estimated_duration_minutes: Option<i64>,
    /// In order.
    pub steps: Vec<StepSource>,
}

/// One step as its file describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepSource {
    pub title: String,
    pub section: Option<String>,
    pub content: String,
}

/// Why a directory cannot be imported: the file (relative to the directory) and, when
/// known, the 1-based line. Displays as `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", location(.file, .line))]
pub struct ContentError {
    pub file: Option<String>,
    pub line: Option<usize>,
    pub message: String,
}

fn location(file: &Option<String>, line: &Option<usize>) -> String {
    match (file, line) {
        (Some(file), Some(line)) => format!("{file}:{line}: "),
        (Some(file), None) => format!("{file}: "),
        _ => String::new(),
    }
}

impl ContentError {
    fn in_file(file: &str, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            file: Some(file.to_owned()),
            line,
            message: message.into(),
        }
    }
}

/// What a file in a walkthrough directory is to the importer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// `walkthrough.toml`.
    Metadata,
    /// A step file: its name starts with a digit (and must be `NN-name.md`).
    Step,
    /// Anything else: left alone by import, and by `export --force`.
    Ignored,
}

/// Decides what a directory entry is from its name alone, so that callers can skip
/// reading files that do not matter.
pub fn file_role(name: &str) -> FileRole {
    if name == METADATA_FILE {
        FileRole::Metadata
    } else if name.starts_with(|c: char| c.is_ascii_digit()) {
        FileRole::Step
    } else {
        FileRole::Ignored
    }
}

/// The largest a file with this role may be, in bytes.
pub fn max_file_bytes(role: FileRole) -> u64 {
    match role {
        FileRole::Metadata => MAX_METADATA_FILE_BYTES,
        FileRole::Step => MAX_STEP_FILE_BYTES,
        FileRole::Ignored => u64::MAX,
    }
}

/// Checks an import key: 1-100 of `A-Z a-z 0-9 . _ -`, not starting with a dot.
pub fn validate_key(key: &str) -> Result<(), ValidationError> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_LENGTH
        && !key.starts_with('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "key",
            format!(
                "{key:?} is not a usable key: use 1-{MAX_KEY_LENGTH} of A-Z, a-z, 0-9, '.', '_', '-' \
                 (the directory's name, or --key)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_directory_names_without_surprises() {
        for ok in ["getting-started", "Intro_2.v1"] {
            assert!(validate_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".hidden", "a b", "a/b", &"k".repeat(101)] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
        assert_eq!(file_role("walkthrough.toml"), FileRole::Metadata);
        assert_eq!(file_role("01-a.md"), FileRole::Step);
        assert_eq!(file_role("README.md"), FileRole::Ignored);
    }
}
