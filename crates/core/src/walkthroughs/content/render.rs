//! Writing a walkthrough as its files, in canonical form.

use super::{METADATA_FILE, WalkthroughSource};

/// The longest slug in an exported step file name.
const MAX_SLUG_LENGTH: usize = 60;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::walkthroughs::content::{StepSource, parse_walkthrough_dir, sample_dir};

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
}
