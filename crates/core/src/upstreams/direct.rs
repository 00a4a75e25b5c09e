//! An upstream that a request describes itself, without a catalog entry: the body's own
//! keys and the launch spec the rest of it is. It is checked as an organization's own
//! entry would be (`private::inline_entry`) before it installs.

use std::collections::BTreeMap;

use guidepost_domain::*;
use serde_json::Value;

/// `POST /api/v1/upstreams` without a catalog entry: `{name, runtime, …}`, the rest of
/// the object the launch spec of that runtime (`npm`, `pypi`, `http`, `container`), as a
/// private catalog entry's `spec` (an HTTP server's headers that hold secrets name them
/// in `secret_headers`).
#[derive(Debug, Clone)]
pub struct DirectUpstream {
    pub name: String,
    pub description: String,
    pub spec: LaunchSpec,
    /// By name: environment variables of a process or container, or the secrets an HTTP
    /// server's `secret_headers` name. Sealed, and never shown again.
    pub secrets: BTreeMap<String, String>,
    pub start: Option<StartMode>,
}

impl DirectUpstream {
    /// A request body's own keys (`name`, `description`, `secrets`, `start`); the rest of
    /// it is the launch spec, whose unknown keys are refused.
    pub fn from_body(mut body: serde_json::Map<String, Value>) -> Result<Self, ValidationError> {
        let text = |value: Option<Value>, field: &'static str| match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(ValidationError::new(field, "must be a string")),
        };
        let name = text(body.remove("name"), "name")?.ok_or_else(|| {
            ValidationError::new("name", "is required: what this installation is called")
        })?;
        let description = text(body.remove("description"), "description")?.unwrap_or_default();
        let secrets = match body.remove("secrets") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(value) => serde_json::from_value(value).map_err(|_| {
                ValidationError::new("secrets", "must be an object of secret names to strings")
            })?,
        };
        let start = match body.remove("start") {
            None | Some(Value::Null) => None,
            Some(value) => Some(serde_json::from_value(value).map_err(|_| {
                ValidationError::new("start", "must be \"eager\" or \"on_demand\"")
            })?),
        };
        let spec = serde_json::from_value(Value::Object(body)).map_err(|error| {
            ValidationError::new("runtime", format!("not a launch spec: {error}"))
        })?;
        Ok(Self {
            name,
            description,
            spec,
            secrets,
            start,
        })
    }
}
