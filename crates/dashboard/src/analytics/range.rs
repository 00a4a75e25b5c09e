//! Times typed into the analytics filters, read as UTC: a day (`2026-11-22`, from a date
//! input) or a minute (`2026-11-22T14:05`, from a datetime-local input), and written back
//! into those inputs.

use guidepost_domain::Timestamp;

use super::chosen;
use crate::page::PageError;

/// A time from a filter; empty means "not chosen", anything unreadable is named back.
pub(super) fn typed_time(
    field: &str,
    text: &Option<String>,
) -> Result<Option<Timestamp>, PageError> {
    let Some(text) = chosen(text) else {
        return Ok(None);
    };
    let full = match text.len() {
        10 => format!("{text}T00:00:00Z"),
        16 => format!("{text}:00Z"),
        _ => String::new(),
    };
    Timestamp::parse_rfc3339(&full)
        .map(Some)
        .ok_or_else(|| PageError::Invalid {
            field: field.to_owned(),
            message: format!("{text:?} is not a day (2026-11-22) or a time (2026-11-22T14:05)"),
        })
}

/// A time as a date input's value.
pub(super) fn day_value(at: Timestamp) -> String {
    at.to_rfc3339()[..10].to_owned()
}

/// A time as a datetime-local input's value, to the minute.
pub(super) fn minute_value(at: Timestamp) -> String {
    at.to_rfc3339()[..16].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_minutes_are_read_as_utc() {
        let day = typed_time("from", &Some("2026-11-22".into()))
            .unwrap()
            .unwrap();
        assert_eq!(day.to_rfc3339(), "2026-11-22T00:00:00.000000Z");
        let minute = typed_time("to", &Some("2026-11-22T14:05".into()))
            .unwrap()
            .unwrap();
        assert_eq!(minute_value(minute), "2026-11-22T14:05");
        assert_eq!(day_value(minute), "2026-11-22");
        assert!(typed_time("to", &Some(" ".into())).unwrap().is_none());
        assert!(typed_time("to", &Some("yesterday!".into())).is_err());
    }
}
