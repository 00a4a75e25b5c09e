//! The same walkthrough as one JSON document, for the dashboard's download and upload
//!: the fields of `walkthrough.toml` and the steps in order, each with the
//! fields of its front matter and its content. Unknown keys are refused, as in the files.

use guidepost_domain::ValidationError;
use serde::Deserialize;

use super::{StepSource, WalkthroughSource};

/// The largest document accepted: the most steps at the largest step file each would not
/// fit a browser upload anyway; this is what the dashboard takes.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    estimated_duration_minutes: Option<i64>,
    #[serde(default)]
    steps: Vec<StepDocument>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepDocument {
    title: String,
    #[serde(default)]
    section: Option<String>,
    #[serde(default)]
    content: String,
}

/// The walkthrough as the JSON document, pretty-printed, with a final line break.
pub fn to_json(source: &WalkthroughSource) -> String {
    let mut text = serde_json::to_string_pretty(source).expect("a walkthrough always serializes");
    text.push('\n');
    text
}

/// Reads a JSON document; a refusal names the `file` field and says where it went wrong.
/// The walkthrough's own rules (titles, lengths, step count) are checked by the import.
pub fn from_json(bytes: &[u8]) -> Result<WalkthroughSource, ValidationError> {
    if bytes.len() > MAX_JSON_BYTES {
        return Err(ValidationError::new(
            "file",
            format!("is larger than {} KiB", MAX_JSON_BYTES / 1024),
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ValidationError::new("file", "is not UTF-8 text"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // serde_json's message says where: "unknown field `x` … at line 1 column 9".
    let document: Document = serde_json::from_str(text)
        .map_err(|e| ValidationError::new("file", format!("is not a walkthrough in JSON: {e}")))?;
    Ok(WalkthroughSource {
        title: document.title,
        description: document.description,
        tags: document.tags,
        estimated_duration_minutes: document.estimated_duration_minutes,
        steps: document
            .steps
            .into_iter()
            .map(|s| StepSource {
                title: s.title,
                section: s.section,
                content: s.content,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walkthrough_survives_json_and_unknown_keys_are_refused() {
        let source = WalkthroughSource {
            title: "Start".into(),
            description: Some("Two\nlines".into()),
            tags: vec!["a".into()],
            estimated_duration_minutes: Some(5),
            steps: vec![StepSource {
                title: "One".into(),
                section: None,
                content: "Hello *there*".into(),
            }],
        };
        assert_eq!(from_json(to_json(&source).as_bytes()).unwrap(), source);
        let typo = br#"{"title": "x", "stpes": []}"#;
        let refused = from_json(typo).unwrap_err();
        assert!(refused.message.contains("stpes"), "{}", refused.message);
        assert!(from_json(b"\xff").unwrap_err().message.contains("UTF-8"));
    }
}
