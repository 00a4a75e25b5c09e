//! `Mcp-Param-*` headers (SEP-2243): a tool whose input schema marks a property with
//! `x-mcp-header: Name` has that argument mirrored into the `Mcp-Param-Name` header, so
//! that intermediaries can route on it without reading the body. The server must refuse
//! a request whose header and body disagree (−32020, HTTP 400).
//!
//! rmcp checks these headers only for tools its handler can name without a request, and
//! a hosted server's tools depend on the request's server; so the surface checks them
//! for the tools that can carry such properties (the upstreams'), with these rules,
//! which are rmcp's: a value wrapped as `=?base64?…?=` is Base64 (and must decode), any
//! other is taken literally; a header without its argument, or an argument without its
//! header, is a mismatch.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use http::HeaderMap;
use serde_json::Value;

const PREFIX: &str = "Mcp-Param-";
const BASE64_START: &str = "=?base64?";
const BASE64_END: &str = "?=";

/// How a request's `Mcp-Param-*` header disagrees with its arguments; `header` is the
/// header's name, `path` the argument's (`options.tier`).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HeaderMismatch {
    #[error("{header} is sent but `{path}` is not")]
    WithoutArgument { header: String, path: String },
    #[error("{header} is missing for `{path}`")]
    Missing { header: String, path: String },
    #[error("{header} is not valid Base64")]
    NotBase64 { header: String },
    #[error("{header} does not match `{path}` in the body")]
    Differs { header: String, path: String },
    #[error("{header} is sent more than once")]
    Repeated { header: String },
    #[error("{header} holds characters a header value may not")]
    Unreadable { header: String },
}

/// Whether the headers agree with the arguments on every property of `input_schema`
/// that carries `x-mcp-header` (at any depth of `properties`).
pub(crate) fn check(
    headers: &HeaderMap,
    input_schema: &Value,
    arguments: &Value,
) -> Result<(), HeaderMismatch> {
    let mut annotated = Vec::new();
    collect(input_schema, &mut Vec::new(), &mut annotated);
    for (path, header) in annotated {
        let name = format!("{PREFIX}{header}");
        let sent = single(headers, &name)?;
        let argument = path
            .iter()
            .try_fold(arguments, |value, key| value.get(key))
            .filter(|value| !value.is_null())
            .and_then(primitive);
        let path = path.join(".");
        match (sent, argument) {
            (None, None) => {}
            (Some(_), None) => {
                return Err(HeaderMismatch::WithoutArgument { header: name, path });
            }
            (None, Some(_)) => return Err(HeaderMismatch::Missing { header: name, path }),
            (Some(raw), Some(expected)) => {
                let Some(decoded) = decode(raw) else {
                    return Err(HeaderMismatch::NotBase64 { header: name });
                };
                if decoded != expected {
                    return Err(HeaderMismatch::Differs { header: name, path });
                }
            }
        }
    }
    Ok(())
}

/// Every `(path, header)` of `schema`'s properties that carry `x-mcp-header`.
fn collect<'a>(schema: &'a Value, path: &mut Vec<&'a str>, out: &mut Vec<(Vec<&'a str>, &'a str)>) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (key, property) in properties {
        path.push(key);
        if let Some(header) = property.get("x-mcp-header").and_then(Value::as_str) {
            out.push((path.clone(), header));
        }
        collect(property, path, out);
        path.pop();
    }
}

/// The header's one value, trimmed of the whitespace HTTP allows around it.
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, HeaderMismatch> {
    let header = || name.to_owned();
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(HeaderMismatch::Repeated { header: header() });
    }
    let value = value
        .to_str()
        .map_err(|_| HeaderMismatch::Unreadable { header: header() })?;
    Ok(Some(value.trim()))
}

fn primitive(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn decode(raw: &str) -> Option<String> {
    match raw
        .strip_prefix(BASE64_START)
        .and_then(|inner| inner.strip_suffix(BASE64_END))
    {
        Some(inner) => String::from_utf8(BASE64_STANDARD.decode(inner).ok()?).ok(),
        None => Some(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "options": {"type": "object", "properties": {
                "tier": {"type": "integer", "x-mcp-header": "Tier"}}},
            "note": {"type": "string"}}})
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn matching_headers_pass_in_plain_text_or_base64() {
        let arguments = json!({"region": "Hello", "options": {"tier": 3}, "note": "x"});
        let plain = headers(&[("mcp-param-region", " Hello "), ("Mcp-Param-Tier", "3")]);
        assert_eq!(check(&plain, &schema(), &arguments), Ok(()));
        let wrapped = headers(&[
            ("Mcp-Param-Region", "=?base64?SGVsbG8=?="),
            ("Mcp-Param-Tier", "3"),
        ]);
        assert_eq!(check(&wrapped, &schema(), &arguments), Ok(()));
        // Without the wrapper's end, the value is literal.
        let literal = json!({"region": "=?base64?SGVsbG8=", "options": {"tier": 3}});
        let unwrapped = headers(&[
            ("Mcp-Param-Region", "=?base64?SGVsbG8="),
            ("Mcp-Param-Tier", "3"),
        ]);
        assert_eq!(check(&unwrapped, &schema(), &literal), Ok(()));
        assert_eq!(
            check(&HeaderMap::new(), &schema(), &json!({"note": "x"})),
            Ok(())
        );
    }

    #[test]
    fn a_missing_extra_wrong_or_broken_header_is_a_mismatch() {
        let arguments = json!({"region": "Hello"});
        let cases: &[&[(&'static str, &'static str)]] = &[
            &[],
            &[("Mcp-Param-Region", "Bye")],
            &[("Mcp-Param-Region", "=?base64?SGVsbG8?=")],
            &[("Mcp-Param-Region", "=?base64?SGVs!!!bG8=?=")],
            &[("Mcp-Param-Region", "Hello"), ("Mcp-Param-Region", "Hello")],
            &[("Mcp-Param-Region", "Hello"), ("Mcp-Param-Tier", "3")],
        ];
        for case in cases {
            assert!(
                check(&headers(case), &schema(), &arguments).is_err(),
                "{case:?}"
            );
        }
    }
}
