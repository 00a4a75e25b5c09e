//! The JSON Canonicalization Scheme (RFC 8785), for hashing a tool definition whole
//! (pinning): the same definition gives the same bytes whatever the order of
//! its keys or the spelling of its numbers, so a hash changes only when the meaning does.
//!
//! Hand-rolled because it is short and exact: objects with their keys sorted by UTF-16
//! code units, no whitespace, strings escaped as JSON requires and no more (which is
//! serde_json's escaping), and numbers as ECMAScript writes a double.

use serde_json::Value;

use crate::hash_secret;

/// The canonical form of `value`.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// SHA-256 (hex) of the canonical form: a definition's pin.
pub fn definition_hash(value: &Value) -> String {
    hash_secret(&canonical_json(value))
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => {
            out.push_str(&serde_json::to_string(value).expect("plain JSON serializes"))
        }
        Value::Number(number) => out.push_str(&number_text(number.as_f64().unwrap_or(0.0))),
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (n, key) in keys.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key).expect("a string serializes"));
                out.push(':');
                write(&map[key], out);
            }
            out.push('}');
        }
    }
}

/// A double as ECMAScript's `Number.prototype.toString` writes it (RFC 8785 §3.2.2.3).
fn number_text(number: f64) -> String {
    if number == 0.0 || !number.is_finite() {
        // -0 is 0; JSON has no infinities, and serde_json holds none.
        return "0".into();
    }
    // Rust's `{:e}` gives the shortest digits that round-trip, as ECMAScript wants.
    let scientific = format!("{:e}", number.abs());
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().expect("{:e} writes an integer exponent");
    let k = digits.len() as i32;
    let n = exponent + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let rest = if k > 1 {
            format!(".{}", &digits[1..])
        } else {
            String::new()
        };
        let sign = if n - 1 < 0 { '-' } else { '+' };
        format!("{}{rest}e{sign}{}", &digits[..1], (n - 1).abs())
    };
    if number < 0.0 {
        format!("-{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn numbers_are_written_as_ecmascript_writes_them() {
        for (number, text) in [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (4.5, "4.5"),
            (0.002, "0.002"),
            (1e-7, "1e-7"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012.0, "123456789012"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (333333333.3333333, "333333333.3333333"),
        ] {
            assert_eq!(number_text(number), text, "{number}");
        }
    }

    #[test]
    fn the_same_meaning_gives_the_same_bytes() {
        let one = json!({"b": [1.0, "x"], "a": {"d": true, "c": null}, "\u{20ac}": 1, "\r": 2});
        let other: Value =
            serde_json::from_str(r#"{"\r":2, "a":{"c":null,"d":true}, "€":1e0, "b":[1,"x"]}"#)
                .unwrap();
        assert_eq!(canonical_json(&one), canonical_json(&other));
        assert_eq!(
            canonical_json(&one),
            "{\"\\r\":2,\"a\":{\"c\":null,\"d\":true},\"b\":[1,\"x\"],\"€\":1}"
        );
        assert_ne!(
            definition_hash(&one),
            definition_hash(&json!({"b": [1, "y"]}))
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+1F600 (a surrogate pair, 0xD83D…) sorts before U+FB01 in UTF-16, after it in UTF-8.
        let value = json!({"\u{fb01}": 1, "\u{1f600}": 2});
        assert_eq!(canonical_json(&value), "{\"\u{1f600}\":2,\"\u{fb01}\":1}");
    }
}
