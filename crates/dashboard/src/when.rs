//! A time as people read it on every page.

use guidepost_domain::Timestamp;

/// A time as people read it: `2026-11-22 14:05 UTC`.
pub(crate) fn when(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    format!("{} {} UTC", &text[..10], &text[11..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_to_the_minute_in_utc() {
        let at = Timestamp::parse_rfc3339("2026-11-22T14:05:59Z").unwrap();
        assert_eq!(when(at), "2026-11-22 14:05 UTC");
    }
}
