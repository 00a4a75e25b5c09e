//! A tool's input schema as form fields, and the posted fields back as arguments. Each
//! top-level property is one field: a string a text box (a select when it lists its
//! values), a number or integer a number box, a boolean a checkbox, and anything else
//! (objects, arrays) a text area that takes JSON.

use serde_json::{Map, Value};

use crate::page::PageError;

/// The form's name of a property's field: `arg:{property}`.
const PREFIX: &str = "arg:";
/// The most fields a form shows; a schema with more is cut there.
const MAX_FIELDS: usize = 50;

pub(crate) struct Field {
    pub name: String,
    /// `text`, `number`, `checkbox`, `select` or `json`.
    pub kind: &'static str,
    pub required: bool,
    pub description: String,
    pub options: Vec<String>,
    /// `step` of a number box: `1` for integers, `any` otherwise.
    pub step: &'static str,
    /// What the box holds (the default, or what was entered).
    pub value: String,
}

impl Field {
    /// The form's name of the field.
    pub fn input_name(&self) -> String {
        format!("{PREFIX}{}", self.name)
    }

    /// Fills the box with what was entered, if anything was.
    pub fn fill(&mut self, entered: Option<&Value>) {
        if let Some(value) = entered {
            self.value = shown(value);
        }
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The fields of an input schema, by property name.
pub(crate) fn fields_of(schema: &Value) -> Vec<Field> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .take(MAX_FIELDS)
        .map(|(name, property)| field(name, property, required.contains(&name.as_str())))
        .collect()
}

fn field(name: &str, property: &Value, required: bool) -> Field {
    let options: Vec<String> = property["enum"]
        .as_array()
        .map(|values| values.iter().map(shown).collect())
        .unwrap_or_default();
    let kind = match property["type"].as_str() {
        _ if !options.is_empty() => "select",
        Some("string") => "text",
        Some("number" | "integer") => "number",
        Some("boolean") => "checkbox",
        _ => "json",
    };
    Field {
        name: name.to_owned(),
        kind,
        required,
        description: property["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        options,
        step: if property["type"] == "integer" {
            "1"
        } else {
            "any"
        },
        value: property.get("default").map(shown).unwrap_or_default(),
    }
}

/// The arguments the posted fields make, and what was entered (to show it again). An
/// empty optional field is left out; a number or JSON that does not parse is refused by
/// the field's name.
pub(crate) fn arguments_from(
    fields: &[Field],
    posted: &[(String, String)],
) -> Result<(Value, Map<String, Value>), PageError> {
    let mut arguments = Map::new();
    let mut entered = Map::new();
    for field in fields {
        let input = field.input_name();
        let raw = posted
            .iter()
            .find(|(key, _)| *key == input)
            .map(|(_, value)| value.as_str());
        if field.kind == "checkbox" {
            let checked = raw.is_some();
            if checked || field.required {
                arguments.insert(field.name.clone(), Value::Bool(checked));
            }
            entered.insert(field.name.clone(), Value::Bool(checked));
            continue;
        }
        let raw = raw.unwrap_or_default();
        entered.insert(field.name.clone(), Value::String(raw.to_owned()));
        if raw.trim().is_empty() && !field.required {
            continue;
        }
        arguments.insert(field.name.clone(), parsed(field, raw)?);
    }
    Ok((Value::Object(arguments), entered))
}

fn parsed(field: &Field, raw: &str) -> Result<Value, PageError> {
    let refused = |why: &str| PageError::Invalid {
        field: field.name.clone(),
        message: why.to_owned(),
    };
    match field.kind {
        "number" => {
            let number: serde_json::Number = raw
                .trim()
                .parse()
                .map_err(|_| refused("must be a number"))?;
            Ok(Value::Number(number))
        }
        "json" => serde_json::from_str(raw).map_err(|_| refused("must be JSON")),
        _ => Ok(Value::String(raw.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn posted(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn each_type_gets_its_box_and_comes_back_as_its_json() {
        let schema = json!({"type": "object", "required": ["word"], "properties": {
            "word": {"type": "string"}, "lang": {"type": "string", "enum": ["en", "fr"], "default": "en"},
            "count": {"type": "integer"}, "loud": {"type": "boolean"}, "tags": {"type": "array"},
            "note": {"type": "string"}}});
        let fields = fields_of(&schema);
        let kind = |name: &str| {
            let field = fields.iter().find(|f| f.name == name).unwrap();
            (field.kind, field.required, field.value.as_str())
        };
        assert_eq!(kind("word"), ("text", true, ""));
        assert_eq!(kind("lang"), ("select", false, "en"), "its default");
        assert_eq!(kind("count"), ("number", false, ""));
        assert_eq!(kind("loud"), ("checkbox", false, ""));
        assert_eq!(kind("tags"), ("json", false, ""));
        let (arguments, _) = arguments_from(
            &fields,
            &posted(&[
                ("arg:word", "hello"),
                ("arg:lang", "fr"),
                ("arg:count", "3"),
                ("arg:loud", "on"),
                ("arg:tags", "[\"a\"]"),
                ("arg:note", ""),
            ]),
        )
        .unwrap();
        assert_eq!(
            arguments,
            json!({"word": "hello", "lang": "fr", "count": 3, "loud": true, "tags": ["a"]})
        );
    }

    #[test]
    fn a_number_or_json_that_does_not_parse_is_refused_by_its_field() {
        let schema =
            json!({"properties": {"count": {"type": "number"}, "tags": {"type": "array"}}});
        let fields = fields_of(&schema);
        let bad_number = arguments_from(&fields, &posted(&[("arg:count", "three")]));
        assert!(matches!(bad_number, Err(PageError::Invalid { field, .. }) if field == "count"));
        let bad_json = arguments_from(&fields, &posted(&[("arg:tags", "[a")]));
        assert!(matches!(bad_json, Err(PageError::Invalid { field, .. }) if field == "tags"));
    }
}
