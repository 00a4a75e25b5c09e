//! Reading a walkthrough directory into a [`WalkthroughSource`], with errors that name
//! the file and line.

use guidepost_domain::*;
use serde::Deserialize;

use super::{
    ContentError, FileRole, MAX_METADATA_FILE_BYTES, MAX_STEP_FILE_BYTES, METADATA_FILE,
    StepSource, WalkthroughSource, file_role,
};
use crate::walkthroughs::authoring::{self, CreateWalkthrough};

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

/// `\r\n` and a lone `\r` → `\n`, without a leading byte order mark. A lone `\r` is a
/// line break too (old Mac files); kept, it would become `\r\n` when the step is
/// written back, and read again as a plain line break (found by `fuzz_walkthrough_import`).
fn normalize(text: &str) -> String {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .replace("\r\n", "\n")
        .replace('\r', "\n")
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
        // A lone carriage return is a line break too, even as the file's last byte.
        let cr = parse_walkthrough_dir(files(&[
            ("walkthrough.toml", META),
            (
                "01-a.md",
                &format!("{}\r", step("A", "x\ny").trim_end_matches('\n')),
            ),
        ]))
        .unwrap();
        assert_eq!(cr, lf);
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
}
