//! Helpers for reading request bodies into validated values, shared by the services.

use guidepost_domain::{ValidationError, validate_text};
use serde::{Deserialize, Deserializer};

/// For PATCH bodies: tells a field sent as `null` (`Some(None)`) from a field left out
/// (`None`). Use with `#[serde(default, deserialize_with = "present")]`.
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// An optional text field: blank means absent; otherwise it must pass `validate_text`.
pub(crate) fn optional_text(
    field: &'static str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, ValidationError> {
    match value {
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => validate_text(field, &text, max).map(|_| Some(text)),
        None => Ok(None),
    }
}
