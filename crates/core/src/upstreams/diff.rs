//! What changed between two tool definitions, leaf by leaf, for the people who review a
//! change: the audit log's `tool.changed` events and the tools API's diff
//! against the approved definition.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// At most this many changes are listed; a definition rewritten whole says so once.
const MAX_CHANGES: usize = 64;
/// Values longer than this (as JSON) are cut, so that a diff stays readable and bounded.
const MAX_VALUE_CHARS: usize = 400;

/// One changed place of a definition.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Change {
    /// Where, as a JSON Pointer (`/inputSchema/properties/notes/description`).
    pub path: String,
    /// The value before (`null` when it was added).
    #[schema(value_type = Object)]
    pub before: Value,
    /// The value now (`null` when it was removed).
    #[schema(value_type = Object)]
    pub after: Value,
}

/// The leaves of `after` that differ from `before`, at most 64.
pub(crate) fn diff(before: &Value, after: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    walk("", before, after, &mut changes);
    changes.truncate(MAX_CHANGES);
    changes
}

fn walk(path: &str, before: &Value, after: &Value, changes: &mut Vec<Change>) {
    if before == after || changes.len() >= MAX_CHANGES {
        return;
    }
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            for (key, value) in old {
                let here = pointer(path, key);
                walk(&here, value, new.get(key).unwrap_or(&Value::Null), changes);
            }
            for (key, value) in new.iter().filter(|(key, _)| !old.contains_key(*key)) {
                walk(&pointer(path, key), &Value::Null, value, changes);
            }
        }
        (Value::Array(old), Value::Array(new)) if old.len() == new.len() => {
            for (n, (old, new)) in old.iter().zip(new).enumerate() {
                walk(&format!("{path}/{n}"), old, new, changes);
            }
        }
        _ => changes.push(Change {
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
            before: bounded(before),
            after: bounded(after),
        }),
    }
}

/// RFC 6901: `~` and `/` in a key are escaped.
fn pointer(path: &str, key: &str) -> String {
    format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn bounded(value: &Value) -> Value {
    let text = value.to_string();
    if text.chars().count() <= MAX_VALUE_CHARS {
        return value.clone();
    }
    let cut: String = text.chars().take(MAX_VALUE_CHARS).collect();
    Value::String(format!(
        "{cut}… ({} characters in all)",
        text.chars().count()
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_diff_names_each_changed_leaf_with_both_values() {
        let before = json!({"name": "t", "description": "Adds.", "inputSchema": {"properties": {
            "a/b": {"type": "string", "enum": ["x", "y"]}}, "required": ["a/b"]}});
        let after = json!({"name": "t", "description": "Adds more.", "inputSchema": {"properties": {
            "a/b": {"type": "string", "enum": ["x", "z"]}, "notes": {"type": "string"}},
            "required": ["a/b", "notes"]}, "annotations": {"readOnlyHint": false}});
        let changes = diff(&before, &after);
        let paths: std::collections::BTreeSet<&str> =
            changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            std::collections::BTreeSet::from([
                "/description",
                "/inputSchema/properties/a~1b/enum/1",
                "/inputSchema/properties/notes",
                "/inputSchema/required",
                "/annotations"
            ])
        );
        let at = |path: &str| changes.iter().find(|c| c.path == path).unwrap();
        assert_eq!(at("/inputSchema/properties/a~1b/enum/1").before, json!("y"));
        assert_eq!(at("/inputSchema/properties/a~1b/enum/1").after, json!("z"));
        assert_eq!(
            at("/inputSchema/properties/notes").before,
            Value::Null,
            "added"
        );
        assert!(diff(&before, &before).is_empty());
    }

    #[test]
    fn a_diff_is_bounded() {
        let many: serde_json::Map<String, Value> =
            (0..200).map(|n| (format!("k{n}"), json!(n))).collect();
        assert_eq!(diff(&json!({}), &Value::Object(many)).len(), MAX_CHANGES);
        let long = diff(&json!({"d": "a"}), &json!({"d": "x".repeat(5000)}));
        assert!(
            long[0]
                .after
                .as_str()
                .unwrap()
                .ends_with("(5002 characters in all)")
        );
    }
}
