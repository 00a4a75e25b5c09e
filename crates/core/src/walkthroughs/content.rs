//! Content as code (SPEC §4, "Authoring"): a walkthrough kept as a directory of files in
//! the organization's own repository, imported into the store and exported back.
//!
//! This module parses and renders that directory without I/O (the binary reads and writes
//! the files) and holds the two services that use the store: [`import`] and [`export`].
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

use guidepost_domain::*;
use guidepost_store::NewWalkthrough;
use serde::{Deserialize, Serialize};

use super::authoring::{self, CreateWalkthrough};
use crate::{CoreError, Platform};

/// The file that holds a walkthrough's own fields.
pub const METADATA_FILE: &str = "walkthrough.toml";
/// The largest step file, front matter included.
pub const MAX_STEP_FILE_BYTES: u64 = 100 * 1024;
/// The largest `walkthrough.toml`.
pub const MAX_METADATA_FILE_BYTES: u64 = 128 * 1024;
/// The longest import key (the directory's name).
pub const MAX_KEY_LENGTH: usize = 100;
/// The longest slug in an exported step file name.
const MAX_SLUG_LENGTH: usize = 60;

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetadataFile {
    title: Option<toml::Spanned<String>>,
    description: Option<toml::Spanned<String>>,
    tags: Option<toml::Spanned<Vec<String>>>,
    estimated_duration_minutes: Option<toml::Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    title: Option<toml::Spanned<String>>,
    section: Option<toml::Spanned<String>>,
}

/// Parses a walkthrough directory given as `(file name, text)` pairs (any order). Files
/// that [`file_role`] calls `Ignored` may be passed or left out; they are skipped.
pub fn parse_walkthrough_dir(
    files: Vec<(String, String)>,
) -> Result<WalkthroughSource, ContentError> {
    let step_files = files
        .iter()
        .filter(|(name, _)| file_role(name) == FileRole::Step)
        .count();
    if step_files > MAX_STEPS {
        return Err(ContentError {
            file: None,
            line: None,
            message: format!("{step_files} step files; a walkthrough has at most {MAX_STEPS}"),
        });
    }
    let mut metadata = None;
    let mut steps: Vec<(u64, String, StepSource)> = Vec::with_capacity(step_files);
    for (name, text) in files {
        match file_role(&name) {
            FileRole::Ignored => {}
            FileRole::Metadata => metadata = Some(parse_metadata(&text)?),
            FileRole::Step => {
                let number = step_number(&name)?;
                if text.len() as u64 > MAX_STEP_FILE_BYTES {
                    return Err(ContentError::in_file(
                        &name,
                        None,
                        format!(
                            "{} bytes; a step file has at most {MAX_STEP_FILE_BYTES}",
                            text.len()
                        ),
                    ));
                }
                let step = parse_step(&name, &text)?;
                steps.push((number, name, step));
            }
        }
    }
    let Some(metadata) = metadata else {
        return Err(ContentError::in_file(
            METADATA_FILE,
            None,
            "missing: a walkthrough directory needs a walkthrough.toml with at least title = \"…\"",
        ));
    };
    steps.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    for pair in steps.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(ContentError::in_file(
                &pair[1].1,
                None,
                format!(
                    "step number {} is also used by {}; each step needs its own number",
                    pair[1].0, pair[0].1
                ),
            ));
        }
    }
    Ok(WalkthroughSource {
        steps: steps.into_iter().map(|(_, _, step)| step).collect(),
        ..metadata
    })
}

/// The number of a step file named `NN-name.md`.
fn step_number(name: &str) -> Result<u64, ContentError> {
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &name[digits..];
    let well_formed =
        digits >= 2 && rest.len() > "-.md".len() && rest.starts_with('-') && rest.ends_with(".md");
    if !well_formed {
        return Err(ContentError::in_file(
            name,
            None,
            "step files are named NN-name.md (two or more digits, a dash, a name, .md); \
             rename it, or give it a name that does not start with a digit to have it ignored",
        ));
    }
    name[..digits]
        .parse()
        .map_err(|_| ContentError::in_file(name, None, "the step number is too large"))
}

/// `\r\n` → `\n`, without a leading byte order mark.
fn normalize(text: &str) -> String {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .replace("\r\n", "\n")
}

/// The 1-based line of a byte offset.
fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn toml_error(file: &str, text: &str, first_line: usize, error: &toml::de::Error) -> ContentError {
    let line = error
        .span()
        .map(|span| first_line + line_at(text, span.start) - 1);
    ContentError::in_file(
        file,
        line.or(Some(first_line)),
        format!("invalid TOML: {}", error.message().trim_end()),
    )
}

fn invalid(file: &str, line: Option<usize>, error: ValidationError) -> ContentError {
    ContentError::in_file(file, line, error.to_string())
}

fn parse_metadata(text: &str) -> Result<WalkthroughSource, ContentError> {
    let file = METADATA_FILE;
    if text.len() as u64 > MAX_METADATA_FILE_BYTES {
        return Err(ContentError::in_file(
            file,
            None,
            format!(
                "{} bytes; walkthrough.toml has at most {MAX_METADATA_FILE_BYTES}",
                text.len()
            ),
        ));
    }
    let text = normalize(text);
    let raw: MetadataFile = toml::from_str(&text).map_err(|e| toml_error(file, &text, 1, &e))?;
    let line_of = |span: std::ops::Range<usize>| Some(line_at(&text, span.start));
    let Some(title) = raw.title else {
        return Err(ContentError::in_file(
            file,
            Some(1),
            "title is missing: add title = \"…\"",
        ));
    };
    // Validate field by field so that an error can point at its line.
    let title_line = line_of(title.span());
    let check = |input: CreateWalkthrough, line| {
        authoring::fields_for_create(input).map_err(|e| invalid(file, line, e))
    };
    let bare = |title: String| CreateWalkthrough {
        title,
        description: None,
        tags: None,
        estimated_duration_minutes: None,
        metadata: None,
    };
    let title = check(bare(title.into_inner()), title_line)?.title;
    let description = match raw.description {
        Some(d) => {
            let line = line_of(d.span());
            let input = CreateWalkthrough {
                description: Some(d.into_inner()),
                ..bare(title.clone())
            };
            check(input, line)?.description
        }
        None => None,
    };
    let tags = match raw.tags {
        Some(t) => {
            let line = line_of(t.span());
            check(
                CreateWalkthrough {
                    tags: Some(t.into_inner()),
                    ..bare(title.clone())
                },
                line,
            )?
            .tags
        }
        None => Vec::new(),
    };
    let estimated_duration_minutes = match raw.estimated_duration_minutes {
        Some(m) => {
            let line = line_of(m.span());
            let input = CreateWalkthrough {
                estimated_duration_minutes: Some(m.into_inner()),
                ..bare(title.clone())
            };
            check(input, line)?.estimated_duration_minutes
        }
        None => None,
    };
    Ok(WalkthroughSource {
        title,
        description,
        tags,
        estimated_duration_minutes,
        steps: Vec::new(),
    })
}

fn parse_step(file: &str, text: &str) -> Result<StepSource, ContentError> {
    let text = normalize(text);
    let mut lines = text.split_inclusive('\n');
    let opening = lines.next().unwrap_or("");
    if opening.trim_end() != "---" {
        return Err(ContentError::in_file(
            file,
            Some(1),
            "missing front matter: a step file starts with a line ---, then title = \"…\" \
             (and optionally section = \"…\"), then a closing line ---",
        ));
    }
    let front_start = opening.len();
    let mut offset = front_start;
    let mut closing = None;
    for line in lines {
        if line.trim_end() == "---" {
            closing = Some((offset, offset + line.len()));
            break;
        }
        offset += line.len();
    }
    let Some((front_end, body_start)) = closing else {
        return Err(ContentError::in_file(
            file,
            Some(1),
            "the front matter opened here is never closed: add a line --- after it",
        ));
    };
    let front = &text[front_start..front_end];
    let raw: FrontMatter = toml::from_str(front).map_err(|e| toml_error(file, front, 2, &e))?;
    let line_of = |span: std::ops::Range<usize>| Some(1 + line_at(front, span.start));
    let Some(title) = raw.title else {
        return Err(ContentError::in_file(
            file,
            Some(2),
            "the front matter has no title: add title = \"…\"",
        ));
    };
    let title_line = line_of(title.span());
    let (section, section_line) = match raw.section {
        Some(s) => (Some(s.get_ref().clone()), line_of(s.span())),
        None => (None, None),
    };
    let body = &text[body_start..];
    let body = body.strip_prefix('\n').unwrap_or(body);
    let content = body.strip_suffix('\n').unwrap_or(body).to_owned();
    let fields = authoring::step_fields(title.into_inner(), content, section).map_err(|e| {
        let line = match e.field {
            "title" => title_line,
            "section_title" => section_line,
            _ => Some(line_at(&text, body_start)),
        };
        if e.field == "content" && e.message.contains("empty") {
            return ContentError::in_file(
                file,
                line,
                "the step has no content after the front matter",
            );
        }
        invalid(file, line, e)
    })?;
    Ok(StepSource {
        title: fields.title,
        section: fields.section_title,
        content: fields.content,
    })
}

/// Renders a walkthrough as its files, in canonical form: `walkthrough.toml` first, then
/// the steps in order. Parsing the result gives `source` back (with line endings
/// normalized).
pub fn render_walkthrough(source: &WalkthroughSource) -> Vec<(String, String)> {
    let mut files = Vec::with_capacity(source.steps.len() + 1);
    let mut meta = format!("title = {}\n", toml_string(&source.title));
    if let Some(description) = &source.description {
        meta.push_str(&format!(
            "description = {}\n",
            toml_string_in(description, true)
        ));
    }
    if !source.tags.is_empty() {
        let tags: Vec<String> = source.tags.iter().map(|t| toml_string(t)).collect();
        meta.push_str(&format!("tags = [{}]\n", tags.join(", ")));
    }
    if let Some(minutes) = source.estimated_duration_minutes {
        meta.push_str(&format!("estimated_duration_minutes = {minutes}\n"));
    }
    files.push((METADATA_FILE.to_owned(), meta));
    let width = source.steps.len().to_string().len().max(2);
    for (index, step) in source.steps.iter().enumerate() {
        let name = format!("{:0width$}-{}.md", index + 1, slugify(&step.title));
        let mut text = format!("---\ntitle = {}\n", toml_string(&step.title));
        if let Some(section) = &step.section {
            text.push_str(&format!("section = {}\n", toml_string(section)));
        }
        text.push_str("---\n\n");
        text.push_str(&step.content.replace("\r\n", "\n"));
        text.push('\n');
        files.push((name, text));
    }
    files
}

/// The ASCII slug of a title, for file names: lowercase letters and digits, runs of
/// anything else as one dash, at most 60 characters; `step` when nothing is left.
pub fn slugify(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if let Some(folded) = fold_latin(c) {
            slug.push_str(folded);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(MAX_SLUG_LENGTH);
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "step".to_owned()
    } else {
        slug.to_owned()
    }
}

/// The ASCII letters of a common accented Latin letter (lowercase), for slugs.
fn fold_latin(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
        'æ' => "ae",
        'ç' => "c",
        'è' | 'é' | 'ê' | 'ë' => "e",
        'ì' | 'í' | 'î' | 'ï' => "i",
        'ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => "o",
        'œ' => "oe",
        'ß' => "ss",
        'ù' | 'ú' | 'û' | 'ü' => "u",
        'ý' | 'ÿ' => "y",
        _ => return None,
    })
}

/// A TOML basic string on one line. Quotes, backslashes and control characters are
/// escaped.
fn toml_string(text: &str) -> String {
    toml_string_in(text, false)
}

/// A TOML string: basic, or multi-line basic when `multi_line_allowed` and the text has
/// line breaks (for descriptions; never in front matter, where a line `---` inside a
/// string would end the front matter).
fn toml_string_in(text: &str, multi_line_allowed: bool) -> String {
    let multi_line = multi_line_allowed && text.contains('\n');
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(if multi_line { "\"\"\"\n" } else { "\"" });
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' if multi_line => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() && (c as u32) < 0x80 => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push_str(if multi_line { "\"\"\"" } else { "\"" });
    out
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub walkthrough_id: WalkthroughId,
    pub external_key: String,
    /// The walkthrough did not exist and was created.
    pub created: bool,
    /// The draft (fields or steps) was written. `false` means the import wrote nothing to
    /// the draft.
    pub changed: bool,
    pub steps_added: usize,
    pub steps_updated: usize,
    pub steps_deleted: usize,
    pub step_count: usize,
    /// This import created a new published version.
    pub published: bool,
    /// The newest published version after the import, if any.
    pub published_version: Option<i64>,
    pub status: WalkthroughStatus,
}

fn same_fields(current: &Walkthrough, wanted: &WalkthroughFields) -> bool {
    current.title == wanted.title
        && current.description == wanted.description
        && current.tags == wanted.tags
        && current.estimated_duration_minutes == wanted.estimated_duration_minutes
}

fn same_step(current: &Step, wanted: &StepFields) -> bool {
    current.title == wanted.title
        && current.section_title == wanted.section_title
        && current.content == wanted.content
}

/// Imports a parsed directory as the walkthrough with external key `key`, creating it
/// when the organization has none.
///
/// Idempotent: when the walkthrough's fields and its ordered steps already equal the
/// source, nothing is written. Otherwise the fields are updated and the steps reconciled
/// by position: steps that exist at a position are updated in place (their ids stay),
/// new positions are appended, extra steps are deleted; every change goes through the
/// store's list operations, so the linked list stays whole. Status and metadata are kept.
///
/// With `publish`, a new version is published only when the draft's title or steps
/// differ from the newest published version (or there is none); an unpublished or
/// archived walkthrough whose newest version already matches is set back to published
/// without a new version.
///
/// Each step write is its own transaction: if the store fails halfway, importing again
/// finishes the job.
pub async fn import(
    platform: &Platform,
    org: &OrgId,
    key: &str,
    source: WalkthroughSource,
    publish: bool,
) -> Result<ImportReport, CoreError> {
    validate_key(key)?;
    if source.steps.len() > MAX_STEPS {
        return Err(ValidationError::new(
            "steps",
            format!("a walkthrough has at most {MAX_STEPS} steps"),
        )
        .into());
    }
    let mut fields = authoring::fields_for_create(CreateWalkthrough {
        title: source.title,
        description: source.description,
        tags: Some(source.tags),
        estimated_duration_minutes: source.estimated_duration_minutes,
        metadata: None,
    })?;
    let wanted_steps = source
        .steps
        .into_iter()
        .map(|s| authoring::step_fields(s.title, s.content, s.section))
        .collect::<Result<Vec<_>, _>>()?;

    let store = &platform.store;
    let (mut walkthrough, created, current_steps) =
        match store.find_walkthrough_by_key(org, key).await? {
            Some(existing) => {
                let steps = store.list_steps(org, &existing.id).await?;
                (existing, false, steps)
            }
            None => {
                let new = NewWalkthrough {
                    fields: fields.clone(),
                    external_key: Some(key.to_owned()),
                };
                (store.create_walkthrough(org, &new).await?, true, Vec::new())
            }
        };
    let id = walkthrough.id.clone();

    let mut changed = created;
    if !created && !same_fields(&walkthrough, &fields) {
        fields.status = walkthrough.status;
        fields.metadata = walkthrough.metadata.clone();
        let before = walkthrough.title.clone();
        walkthrough = store.update_walkthrough(org, &id, &fields).await?;
        if walkthrough.title != before {
            super::authoring::announce_for_walkthrough(platform, org, &id).await;
        }
        changed = true;
    }

    let (mut added, mut updated, mut deleted) = (0, 0, 0);
    let mut final_ids = Vec::with_capacity(wanted_steps.len());
    for (index, wanted) in wanted_steps.iter().enumerate() {
        match current_steps.get(index) {
            Some(current) => {
                if !same_step(current, wanted) {
                    store
                        .update_step(org, &id, &current.id, Some(wanted), None)
                        .await?;
                    updated += 1;
                }
                final_ids.push(current.id.to_string());
            }
            None => {
                let step = store
                    .add_step(org, &id, wanted, &StepPlacement::Last)
                    .await?;
                added += 1;
                final_ids.push(step.id.to_string());
            }
        }
    }
    for extra in current_steps.iter().skip(wanted_steps.len()).rev() {
        store.delete_step(org, &id, &extra.id).await?;
        deleted += 1;
    }
    changed |= added + updated + deleted > 0;

    let mut published = false;
    if publish {
        let draft: Vec<PublishedStep> = final_ids
            .into_iter()
            .zip(&wanted_steps)
            .map(|(id, s)| PublishedStep {
                id,
                title: s.title.clone(),
                section_title: s.section_title.clone(),
                content: s.content.clone(),
            })
            .collect();
        let up_to_date = match walkthrough.published_version {
            Some(number) => {
                let latest = store.get_version(org, &id, number).await?;
                latest.title == fields.title && latest.steps == draft
            }
            None => false,
        };
        if !up_to_date {
            let version = authoring::publish(platform, org, &id).await?;
            walkthrough.published_version = Some(version.version);
            walkthrough.status = WalkthroughStatus::Published;
            published = true;
        } else if walkthrough.status != WalkthroughStatus::Published {
            let update = authoring::UpdateWalkthrough {
                status: Some(WalkthroughStatus::Published),
                ..Default::default()
            };
            walkthrough = authoring::update(platform, org, &id, update).await?;
        }
    }

    Ok(ImportReport {
        walkthrough_id: id,
        external_key: key.to_owned(),
        created,
        changed,
        steps_added: added,
        steps_updated: updated,
        steps_deleted: deleted,
        step_count: wanted_steps.len(),
        published,
        published_version: walkthrough.published_version,
        status: walkthrough.status,
    })
}

/// A walkthrough's draft as files would describe it (render it with
/// [`render_walkthrough`]).
pub async fn export(
    platform: &Platform,
    org: &OrgId,
    walkthrough: &WalkthroughId,
) -> Result<WalkthroughSource, CoreError> {
    let found = platform.store.get_walkthrough(org, walkthrough).await?;
    let steps = platform.store.list_steps(org, walkthrough).await?;
    Ok(WalkthroughSource {
        title: found.title,
        description: found.description,
        tags: found.tags,
        estimated_duration_minutes: found.estimated_duration_minutes,
        steps: steps
            .into_iter()
            .map(|s| StepSource {
                title: s.title,
                section: s.section_title,
                content: s.content,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect()
    }

    const META: &str = "title = \"Intro\"\n";

    fn step(title: &str, content: &str) -> String {
        format!("---\ntitle = \"{title}\"\n---\n\n{content}\n")
    }

    fn error(pairs: &[(&str, &str)]) -> ContentError {
        parse_walkthrough_dir(files(pairs)).expect_err("should be refused")
    }

    fn sample_dir() -> Vec<(String, String)> {
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

    #[test]
    fn the_sample_directory_is_canonical() {
        let sample = sample_dir();
        let source = parse_walkthrough_dir(sample.clone()).unwrap();
        assert_eq!(source.steps.len(), 5);
        assert_eq!(source.steps[0].section.as_deref(), Some("Set up"));
        assert!(source.steps[1].content.starts_with("The `skylark` command"));
        assert!(source.steps[1].content.ends_with("updated `PATH`."));
        let mut rendered = render_walkthrough(&source);
        rendered.sort();
        assert_eq!(rendered, sample);
    }

    #[test]
    fn parses_orders_by_number_and_ignores_other_files() {
        let source = parse_walkthrough_dir(files(&[
            ("20-b.md", &step("B", "second")),
            ("README.md", "not a step"),
            (".DS_Store", "\0"),
            (
                "walkthrough.toml",
                "title = \" Intro \"\ntags = [\" a \", \"b\"]\ndescription = \"Hi\"\n",
            ),
            (
                "010-a.md",
                "---\ntitle = \"A\"\nsection = \"S\"\n---\nfirst\n\n",
            ),
        ]))
        .unwrap();
        assert_eq!(source.title, "Intro");
        assert_eq!(source.tags, ["a", "b"]);
        assert_eq!(source.description.as_deref(), Some("Hi"));
        assert_eq!(source.estimated_duration_minutes, None);
        let titles: Vec<_> = source.steps.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, ["A", "B"]);
        assert_eq!(source.steps[0].section.as_deref(), Some("S"));
        assert_eq!(
            source.steps[0].content, "first\n",
            "only the final line break is dropped"
        );
        assert_eq!(source.steps[1].content, "second");
    }

    #[test]
    fn crlf_and_a_byte_order_mark_import_like_lf() {
        let lf = parse_walkthrough_dir(files(&[
            ("walkthrough.toml", META),
            ("01-a.md", &step("A", "x\ny")),
        ]))
        .unwrap();
        let crlf_step = format!("\u{feff}{}", step("A", "x\ny").replace('\n', "\r\n"));
        let crlf = parse_walkthrough_dir(files(&[
            ("walkthrough.toml", &META.replace('\n', "\r\n")),
            ("01-a.md", &crlf_step),
        ]))
        .unwrap();
        assert_eq!(lf, crlf);
    }

    #[test]
    fn render_then_parse_gives_the_source_back() {
        let source = WalkthroughSource {
            title: "Quotes \" and \\ backslashes \t tabs, é and 🦀".into(),
            description: Some("Two\nlines with \"\"\" and a \u{7} bell\n".into()),
            tags: vec!["x".into(), "with space".into()],
            estimated_duration_minutes: Some(7),
            steps: (0..120)
                .map(|i| StepSource {
                    title: format!("Step {i}: do ~this~ & that!"),
                    section: (i % 2 == 0).then(|| "Part \"one\"".into()),
                    content: format!(
                        "\n\nleading blank lines\n---\nnot front matter\ntrailing\n\n{i}\n\n"
                    ),
                })
                .collect(),
        };
        let rendered = render_walkthrough(&source);
        assert_eq!(
            rendered[1].0, "001-step-0-do-this-that.md",
            "three digits for 120 steps"
        );
        assert_eq!(rendered[120].0, "120-step-119-do-this-that.md");
        assert_eq!(parse_walkthrough_dir(rendered.clone()).unwrap(), source);
        let again = render_walkthrough(&parse_walkthrough_dir(rendered.clone()).unwrap());
        assert_eq!(again, rendered, "rendering is canonical");
    }

    #[test]
    fn rendering_writes_keys_in_a_fixed_order_and_leaves_out_absent_ones() {
        let source = WalkthroughSource {
            title: "T".into(),
            description: None,
            tags: vec![],
            estimated_duration_minutes: Some(5),
            steps: vec![StepSource {
                title: "Ünïcode only: 日本".into(),
                section: None,
                content: "Body".into(),
            }],
        };
        let rendered = render_walkthrough(&source);
        assert_eq!(
            rendered[0].1,
            "title = \"T\"\nestimated_duration_minutes = 5\n"
        );
        assert_eq!(rendered[1].0, "01-unicode-only.md");
        assert_eq!(
            rendered[1].1,
            "---\ntitle = \"Ünïcode only: 日本\"\n---\n\nBody\n"
        );
    }

    #[test]
    fn a_title_with_line_breaks_cannot_end_the_front_matter() {
        let source = WalkthroughSource {
            title: "T".into(),
            description: None,
            tags: vec![],
            estimated_duration_minutes: None,
            steps: vec![StepSource {
                title: "a\n---\nb".into(),
                section: Some("s\n---".into()),
                content: "---\nBody".into(),
            }],
        };
        let rendered = render_walkthrough(&source);
        assert_eq!(
            rendered[1].1,
            "---\ntitle = \"a\\n---\\nb\"\nsection = \"s\\n---\"\n---\n\n---\nBody\n"
        );
        assert_eq!(parse_walkthrough_dir(rendered).unwrap(), source);
    }

    #[test]
    fn slugs_are_ascii_short_and_never_empty() {
        assert_eq!(slugify("Install the CLI (v2)!"), "install-the-cli-v2");
        assert_eq!(slugify("  --  "), "step");
        assert_eq!(slugify("日本語"), "step");
        assert_eq!(
            slugify("Überblick: Café & Straße"),
            "uberblick-cafe-strasse"
        );
        let long = slugify(&"word ".repeat(40));
        assert!(long.len() <= 60 && !long.ends_with('-'), "{long}");
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
            (
                vec![("01-a.md", step("A", "x"))],
                "walkthrough.toml: missing",
            ),
            (
                vec![("walkthrough.toml", "title = \"T\"\ntitel = \"x\"\n".into())],
                "walkthrough.toml:2: invalid TOML: unknown field `titel`",
            ),
            (
                vec![("walkthrough.toml", "description = \"x\"\n".into())],
                "walkthrough.toml:1: title is missing",
            ),
            (
                vec![(
                    "walkthrough.toml",
                    "title = \"T\"\n\nestimated_duration_minutes = 0\n".into(),
                )],
                "walkthrough.toml:3: estimated_duration_minutes: must be between",
            ),
            (
                vec![(
                    "walkthrough.toml",
                    "title = \"T\"\ntags = [\"a\" \"b\"]\n".into(),
                )],
                "walkthrough.toml:2: invalid TOML",
            ),
            (
                vec![("01-a.md", "# No front matter\n".into())],
                "01-a.md:1: missing front matter",
            ),
            (
                vec![("01-a.md", "---\ntitle = \"A\"\n\nBody\n".into())],
                "01-a.md:1: the front matter opened here is never closed",
            ),
            (
                vec![("01-a.md", "---\n\ntitle = A\n---\nBody\n".into())],
                "01-a.md:3: invalid TOML",
            ),
            (
                vec![("01-a.md", "---\nsection = \"S\"\n---\nBody\n".into())],
                "01-a.md:2: the front matter has no title",
            ),
            (
                vec![(
                    "01-a.md",
                    "---\ntitle = \"A\"\nsectoin = \"S\"\n---\nBody\n".into(),
                )],
                "01-a.md:3: invalid TOML: unknown field `sectoin`",
            ),
            (
                vec![("01-a.md", "---\ntitle = \"A\"\n---\n\n\n".into())],
                "01-a.md:4: the step has no content",
            ),
            (
                vec![("01-a.md", step("A", "x")), ("001-b.md", step("B", "y"))],
                "01-a.md: step number 1 is also used by 001-b.md",
            ),
            (
                vec![("1-a.md", step("A", "x"))],
                "1-a.md: step files are named NN-name.md",
            ),
            (
                vec![("01-a.txt", step("A", "x"))],
                "01-a.txt: step files are named NN-name.md",
            ),
            (
                vec![("01-.md", step("A", "x"))],
                "01-.md: step files are named NN-name.md",
            ),
            (
                vec![("01-a.md", step(&"t".repeat(201), "x"))],
                "01-a.md:2: title: must be at most 200 characters",
            ),
            (
                vec![(
                    "01-a.md",
                    format!("---\ntitle = \"A\"\n---\n{}", "x".repeat(103_000)),
                )],
                "01-a.md: 103020 bytes; a step file has at most 102400",
            ),
        ];
        for (pairs, expected) in cases {
            let mut all: Vec<(&str, &str)> = pairs.iter().map(|(n, t)| (*n, t.as_str())).collect();
            if !pairs.iter().any(|(n, _)| *n == METADATA_FILE)
                && expected != "walkthrough.toml: missing"
            {
                all.push((METADATA_FILE, META));
            }
            let message = error(&all).to_string();
            assert!(
                message.starts_with(expected),
                "expected {expected:?}, got {message:?}"
            );
        }
    }

    #[test]
    fn too_many_step_files_are_refused() {
        let step_text = step("A", "x");
        let mut pairs: Vec<(String, String)> = (0..=MAX_STEPS)
            .map(|i| (format!("{i:04}-a.md"), step_text.clone()))
            .collect();
        pairs.push((METADATA_FILE.into(), META.into()));
        let message = parse_walkthrough_dir(pairs).unwrap_err().to_string();
        assert_eq!(message, "1001 step files; a walkthrough has at most 1000");
    }

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
