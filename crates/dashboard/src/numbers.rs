//! Counts as people read them: digits in groups of three (`81,376`), so that a figure is
//! read at a glance instead of counted.

use std::fmt::Display;

/// A whole number with its thousands separated by commas; anything else as it is.
pub(crate) fn count(value: impl Display) -> String {
    let text = value.to_string();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(digits) => ("-", digits),
        None => ("", text.as_str()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return text;
    }
    let mut grouped = String::with_capacity(text.len() + digits.len() / 3);
    grouped.push_str(sign);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped_and_other_text_is_left_alone() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(81_376u64), "81,376");
        assert_eq!(count(1_234_567_i64), "1,234,567");
        assert_eq!(count(-12_345), "-12,345");
        assert_eq!(count("12.5%"), "12.5%");
        assert_eq!(count(""), "");
    }
}
