//! An entry's settings: typed fields with defaults, given at install and put
//! into the entry's launch wherever `${config.NAME}` appears (arguments, environment
//! values, and an HTTP server's URL and headers). The rendered spec is what is stored,
//! so a node launches exactly what was checked here.

use std::collections::BTreeMap;

use guidepost_domain::{
    CatalogEntry, CommandSpec, ConfigField, ConfigType, ImageSpec, LaunchSpec, PackageSpec,
    RemoteSpec, ValidationError,
};
use serde_json::Value;

/// The longest string a setting may hold.
const VALUE_MAX: usize = 1000;

/// Whether a setting's name is well formed.
pub(crate) fn is_config_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Why an entry's own settings are refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0:?} is not a setting name (a-z, 0-9, _), or it is used twice")]
    Name(String),
    #[error("the default of {name}: {why}")]
    Default {
        name: String,
        why: SettingValueError,
    },
}

/// Why a value cannot be a setting's.
#[derive(Debug, thiserror::Error)]
pub enum SettingValueError {
    #[error("at most {VALUE_MAX} bytes without control characters")]
    Unprintable,
    /// It would put a secret kept for the environment on the command line.
    #[error("cannot name a secret")]
    NamesSecret,
    #[error("must be a {kind}, not {value}")]
    /// `value` is the JSON text of what was given.
    Type { kind: ConfigType, value: String },
}

/// Checks an entry's own fields: well-formed names, each once, defaults of their type.
pub(crate) fn check_fields(fields: &[ConfigField]) -> Result<(), SettingsError> {
    let mut seen = std::collections::HashSet::new();
    for field in fields {
        if !is_config_name(&field.name) || !seen.insert(&field.name) {
            return Err(SettingsError::Name(field.name.clone()));
        }
        if let Some(default) = &field.default {
            text_of(field, default).map_err(|why| SettingsError::Default {
                name: field.name.clone(),
                why,
            })?;
        }
    }
    Ok(())
}

/// The entry's spec with the given settings (and the defaults of the others) in place.
pub(super) fn rendered(
    entry: &CatalogEntry,
    given: BTreeMap<String, Value>,
) -> Result<LaunchSpec, ValidationError> {
    let invalid = |message: String| ValidationError::new("config", message);
    if let Some(unknown) = given
        .keys()
        .find(|name| !entry.config.iter().any(|f| &f.name == *name))
    {
        let known: Vec<&str> = entry.config.iter().map(|f| f.name.as_str()).collect();
        return Err(invalid(format!(
            "{} takes no setting {unknown:?} (it takes {known:?})",
            entry.id
        )));
    }
    let mut values = BTreeMap::new();
    for field in &entry.config {
        let value = given
            .get(&field.name)
            .or(field.default.as_ref())
            .ok_or_else(|| {
                invalid(format!(
                    "{} needs {} ({}): {}",
                    entry.id, field.name, field.kind, field.description
                ))
            })?;
        let text =
            text_of(field, value).map_err(|why| invalid(format!("{}: {why}", field.name)))?;
        values.insert(format!("${{config.{}}}", field.name), text);
    }
    Ok(substituted(&entry.spec, &values))
}

/// A setting's value as it goes into the spec.
fn text_of(field: &ConfigField, value: &Value) -> Result<String, SettingValueError> {
    match (field.kind, value) {
        (ConfigType::String, Value::String(text)) => {
            if text.len() > VALUE_MAX || text.chars().any(char::is_control) {
                Err(SettingValueError::Unprintable)
            } else if guidepost_domain::secret_of_argument(text).is_some() {
                Err(SettingValueError::NamesSecret)
            } else {
                Ok(text.clone())
            }
        }
        (ConfigType::Number, Value::Number(number)) => Ok(number.to_string()),
        (ConfigType::Boolean, Value::Bool(flag)) => Ok(flag.to_string()),
        (kind, other) => Err(SettingValueError::Type {
            kind,
            value: other.to_string(),
        }),
    }
}

fn substituted(spec: &LaunchSpec, values: &BTreeMap<String, String>) -> LaunchSpec {
    let put = |text: &String| {
        values
            .iter()
            .fold(text.clone(), |text, (placeholder, value)| {
                text.replace(placeholder, value)
            })
    };
    let all = |list: &[String]| list.iter().map(put).collect::<Vec<_>>();
    let map =
        |map: &BTreeMap<String, String>| map.iter().map(|(k, v)| (k.clone(), put(v))).collect();
    let mut spec = spec.clone();
    match &mut spec {
        LaunchSpec::Npm(PackageSpec { args, env, .. })
        | LaunchSpec::Pypi(PackageSpec { args, env, .. })
        | LaunchSpec::Command(CommandSpec { args, env, .. })
        | LaunchSpec::Container(ImageSpec { args, env, .. }) => {
            *args = all(args);
            *env = map(env);
        }
        LaunchSpec::Http(RemoteSpec { url, headers, .. }) => {
            *url = put(url);
            *headers = map(headers);
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry() -> CatalogEntry {
        serde_json::from_value(json!({
            "id": "x", "name": "X", "description": "",
            "spec": {"runtime": "command", "command": "/bin/x",
                     "args": ["--zone", "${config.zone}", "--loud=${config.loud}"],
                     "env": {"LIMIT": "${config.limit}"}},
            "config": [
                {"name": "zone", "description": "A time zone.", "type": "string"},
                {"name": "loud", "description": "Shout.", "type": "boolean", "default": false},
                {"name": "limit", "description": "At most.", "type": "number", "default": 10}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn settings_fill_the_spec_with_defaults_and_types_checked() {
        let given = BTreeMap::from([("zone".to_owned(), json!("Europe/Paris"))]);
        let LaunchSpec::Command(CommandSpec { args, env, .. }) = rendered(&entry(), given).unwrap()
        else {
            panic!()
        };
        assert_eq!(args, ["--zone", "Europe/Paris", "--loud=false"]);
        assert_eq!(env["LIMIT"], "10");
        assert!(
            rendered(&entry(), BTreeMap::new()).is_err(),
            "zone has no default"
        );
        let wrong = BTreeMap::from([("zone".to_owned(), json!(3))]);
        assert!(rendered(&entry(), wrong).is_err(), "a number is no string");
        let unknown = BTreeMap::from([
            ("zone".to_owned(), json!("UTC")),
            ("other".to_owned(), json!(1)),
        ]);
        assert!(rendered(&entry(), unknown).is_err());
        let secret = BTreeMap::from([("zone".to_owned(), json!("${secret.KEY}"))]);
        let refused = rendered(&entry(), secret).unwrap_err();
        assert!(
            refused.message.contains("cannot name a secret"),
            "a setting moves no secret onto the command line: {refused:?}"
        );
        assert!(check_fields(&entry().config).is_ok());
    }
}
