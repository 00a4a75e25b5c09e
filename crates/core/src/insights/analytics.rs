//! Tool-call analytics: a bounded queue drained by one background writer that
//! inserts in batches, at least every second and on shutdown. Recording never waits on
//! the database; a full queue is counted and logged.

use crate::Caller;

use guidepost_domain::*;
pub use guidepost_store::ToolCallFilter;
use guidepost_store::{ROLLUP_MICROS, ToolRollup};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{CoreError, Platform};

mod writer;

pub use writer::{AnalyticsWriter, Recorder, start};

/// Cuts recorded arguments to the analytics limit, on a character boundary.
pub fn capped_arguments(arguments: &serde_json::Value) -> String {
    json_prefix(arguments, Limits::RECORDED_ARGUMENTS)
}

/// The start of `value` as JSON, at most `max_bytes` long and cut on a character
/// boundary, without writing out the rest (a recorded call keeps only the start of its
/// arguments and of its result).
pub(crate) fn json_prefix(value: &serde_json::Value, max_bytes: usize) -> String {
    capped_json(value, max_bytes, Unit::Byte)
}

/// The start of `value` as JSON, at most `max_chars` characters, without writing out the
/// rest (a recorded call's result summary).
pub fn json_prefix_chars(value: &serde_json::Value, max_chars: usize) -> String {
    capped_json(value, max_chars, Unit::Char)
}

fn capped_json(value: &serde_json::Value, room: usize, unit: Unit) -> String {
    let mut prefix = CappedWriter {
        bytes: Vec::with_capacity(room.min(256)),
        room,
        unit,
    };
    // Stops with an error once the room is used up: what was written is the prefix.
    let _ = serde_json::to_writer(&mut prefix, value);
    let mut bytes = prefix.bytes;
    if let Err(error) = std::str::from_utf8(&bytes) {
        // Cut inside a character (only a room in bytes does): keep what precedes it.
        bytes.truncate(error.valid_up_to());
    }
    String::from_utf8(bytes).unwrap_or_default()
}

/// What a [`CappedWriter`]'s room is counted in.
#[derive(Clone, Copy)]
enum Unit {
    Byte,
    /// Characters: a character's continuation bytes always go with it, a new character
    /// only while there is room for it.
    Char,
}

/// Keeps at most `room` bytes or characters, then refuses to write.
struct CappedWriter {
    bytes: Vec<u8>,
    room: usize,
    unit: Unit,
}

impl std::io::Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let taken = match self.unit {
            Unit::Byte => buf.len().min(self.room),
            Unit::Char => {
                let mut taken = 0;
                for byte in buf {
                    let starts_a_character = byte & 0xC0 != 0x80;
                    if starts_a_character && self.room == 0 {
                        break;
                    }
                    self.room -= usize::from(starts_a_character);
                    taken += 1;
                }
                taken
            }
        };
        if taken == 0 && !buf.is_empty() {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        if let Unit::Byte = self.unit {
            self.room -= taken;
        }
        self.bytes.extend_from_slice(&buf[..taken]);
        Ok(taken)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One line of the per-tool report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ToolReport {
    pub tool_name: String,
    pub calls: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub p50_us: i64,
    pub p95_us: i64,
    pub p99_us: i64,
    pub max_us: i64,
}

/// Recorded tool calls, newest first.
pub async fn list_tool_calls(
    platform: &Platform,
    caller: &Caller,
    filter: &ToolCallFilter,
    page: &PageRequest,
) -> Result<Page<ToolCall>, CoreError> {
    let org = caller.org();
    Ok(platform.store.list_tool_calls(org, filter, page).await?)
}

const DAY_SECONDS: i64 = 24 * 60 * 60;
/// The longest window one report covers, so that one request reads a bounded number of rows.
const MAX_WINDOW_DAYS: i64 = 31;

/// Per-tool calls, errors and latency over `[since, until)`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolReportWindow {
    pub since: Timestamp,
    pub until: Timestamp,
    /// One line per tool, by tool name.
    pub tools: Vec<ToolReport>,
}

/// The per-tool report of an organization (or one of its servers) over `[since, until)`,
/// widened to whole UTC hours (the rollups' grain): by default the 24 hours that end with
/// the current one, and never more than 31 days (before widening). Percentiles are those of the rollups'
/// latency histograms: the bound of the bucket the rank falls in, capped by the slowest call.
pub async fn report(
    platform: &Platform,
    caller: &Caller,
    server: Option<&ServerId>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> Result<ToolReportWindow, CoreError> {
    let org = caller.org();
    let (since, until) = report_window(since, until)?;
    let rollups = platform
        .store
        .tool_rollups(org, server, since, until)
        .await?;
    Ok(ToolReportWindow {
        since,
        until,
        tools: rollups.into_iter().map(tool_report).collect(),
    })
}

/// The report's window, checked, then widened to whole hours.
fn report_window(
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> Result<(Timestamp, Timestamp), CoreError> {
    let hour = ROLLUP_MICROS;
    let widened_until = |until: Timestamp| {
        Timestamp::from_micros((until.micros() + hour - 1).div_euclid(hour) * hour)
    };
    let Some(since) = since else {
        // The default: the 24 hours that end with the one `until` falls in.
        let until = widened_until(until.unwrap_or_else(Timestamp::now));
        return Ok((until.plus_seconds(-DAY_SECONDS), until));
    };
    let until = until.unwrap_or_else(Timestamp::now);
    if since >= until {
        return Err(ValidationError::new("since", "must be before `until`").into());
    }
    if until.micros() - since.micros() > MAX_WINDOW_DAYS * DAY_SECONDS * 1_000_000 {
        let message = format!("the window must be at most {MAX_WINDOW_DAYS} days");
        return Err(ValidationError::new("since", message).into());
    }
    let since = Timestamp::from_micros(since.micros().div_euclid(hour) * hour);
    Ok((since, widened_until(until)))
}

/// How wide one bucket of calls over time is. Buckets are aligned to UTC hours or days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketWidth {
    Hour,
    Day,
}

impl BucketWidth {
    pub(crate) fn seconds(self) -> i64 {
        match self {
            BucketWidth::Hour => 60 * 60,
            BucketWidth::Day => DAY_SECONDS,
        }
    }
}

/// Calls and errors in the bucket that starts at `start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCount {
    pub start: Timestamp,
    pub calls: u64,
    pub errors: u64,
}

/// Calls over time: every bucket of the window in order, empty ones included.
#[derive(Debug, Clone)]
pub struct CallsOverTime {
    pub since: Timestamp,
    pub until: Timestamp,
    pub width: BucketWidth,
    pub buckets: Vec<CallCount>,
}

/// The calls of an organization (or one of its servers) in the `count` buckets of `width`
/// that end with the current one (so the last bucket is still filling), at most 31 days.
pub async fn calls_over_time(
    platform: &Platform,
    caller: &Caller,
    server: Option<&ServerId>,
    width: BucketWidth,
    count: u32,
) -> Result<CallsOverTime, CoreError> {
    let (since, _) = aligned_window(Timestamp::now(), width.seconds(), count);
    calls_between(platform, caller, server, since, width, count).await
}

/// The calls of an organization (or one of its servers) in the `count` buckets of `width`
/// from `since` (which must start a bucket: a whole UTC hour or day), at most 31 days.
pub async fn calls_between(
    platform: &Platform,
    caller: &Caller,
    server: Option<&ServerId>,
    since: Timestamp,
    width: BucketWidth,
    count: u32,
) -> Result<CallsOverTime, CoreError> {
    let org = caller.org();
    let seconds = width.seconds();
    if count == 0 || i64::from(count) * seconds > MAX_WINDOW_DAYS * DAY_SECONDS {
        let message = format!("the window must be 1 bucket to {MAX_WINDOW_DAYS} days");
        return Err(ValidationError::new("days", message).into());
    }
    if since.micros().rem_euclid(seconds * 1_000_000) != 0 {
        return Err(ValidationError::new("since", "must start a whole bucket").into());
    }
    let until = since.plus_seconds(seconds * i64::from(count));
    let counted = platform
        .store
        .tool_call_buckets(org, server, since, until, seconds)
        .await?;
    Ok(CallsOverTime {
        since,
        until,
        width,
        buckets: fill_buckets(since, seconds, count, counted),
    })
}

/// The calls and errors of an organization in the 24 hours that end with the current one,
/// from the rollups in one grouped statement (one bucket as wide as the window).
pub async fn calls_in_last_day(
    platform: &Platform,
    caller: &Caller,
) -> Result<CallCount, CoreError> {
    let org = caller.org();
    let (since, until) = aligned_window(Timestamp::now(), 3_600, 24);
    let counted = platform
        .store
        .tool_call_buckets(org, None, since, until, DAY_SECONDS)
        .await?;
    Ok(fill_buckets(since, DAY_SECONDS, 1, counted)
        .pop()
        .unwrap_or(CallCount {
            start: since,
            calls: 0,
            errors: 0,
        }))
}

/// `[since, until)` made of `count` whole buckets of `seconds`, the last one holding `now`.
pub(crate) fn aligned_window(now: Timestamp, seconds: i64, count: u32) -> (Timestamp, Timestamp) {
    let width = seconds * 1_000_000;
    let until = Timestamp::from_micros((now.micros().div_euclid(width) + 1) * width);
    (until.plus_seconds(-seconds * i64::from(count)), until)
}

/// One count per bucket of the window, zero where the store found no calls.
fn fill_buckets(
    since: Timestamp,
    seconds: i64,
    count: u32,
    counted: Vec<guidepost_store::ToolCallBucket>,
) -> Vec<CallCount> {
    let mut buckets: Vec<CallCount> = (0..i64::from(count))
        .map(|i| CallCount {
            start: since.plus_seconds(i * seconds),
            calls: 0,
            errors: 0,
        })
        .collect();
    for bucket in counted {
        if let Some(slot) = usize::try_from(bucket.index)
            .ok()
            .and_then(|i| buckets.get_mut(i))
        {
            slot.calls = bucket.calls;
            slot.errors = bucket.errors;
        }
    }
    buckets
}

/// One tool's line of the report, from its rollups.
fn tool_report(rollup: ToolRollup) -> ToolReport {
    let latency = |p| rollup.latencies.percentile(p, rollup.max_us);
    ToolReport {
        error_rate: if rollup.calls == 0 {
            0.0
        } else {
            rollup.errors as f64 / rollup.calls as f64
        },
        p50_us: latency(50.0),
        p95_us: latency(95.0),
        p99_us: latency(99.0),
        max_us: rollup.max_us,
        calls: rollup.calls,
        errors: rollup.errors,
        tool_name: rollup.tool_name,
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_prefix_in_characters_stops_at_a_whole_character() {
        let value = serde_json::json!({"text": "aé€😀b".repeat(100)});
        let whole = value.to_string();
        for chars in [0, 1, 9, 10, 11, 12, 13, 100, 450] {
            let prefix = json_prefix_chars(&value, chars);
            let expected: String = whole.chars().take(chars).collect();
            assert_eq!(prefix, expected, "{chars} characters");
        }
        assert_eq!(json_prefix_chars(&value, 10_000), whole);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let values: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50.0), 50);
        assert_eq!(percentile(&values, 99.0), 99);
        assert_eq!(percentile(&[7], 95.0), 7);
    }

    #[test]
    fn report_lines_read_the_rollups_histogram() {
        let mut latencies = LatencyHistogram::default();
        for duration in [900, 1_100, 30_000, 30_000] {
            latencies.record(duration);
        }
        let line = tool_report(ToolRollup {
            tool_name: "a".into(),
            calls: 4,
            errors: 1,
            max_us: 30_000,
            latencies,
        });
        assert_eq!((line.calls, line.errors, line.error_rate), (4, 1, 0.25));
        assert_eq!(
            (line.p50_us, line.p95_us, line.max_us),
            (1_250, 30_000, 30_000)
        );
    }

    #[test]
    fn report_windows_widen_to_whole_hours() {
        let at = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
        let (since, until) = report_window(
            Some(at("2026-01-01T10:20:00Z")),
            Some(at("2026-01-01T12:00:01Z")),
        )
        .unwrap();
        assert_eq!(since, at("2026-01-01T10:00:00Z"));
        assert_eq!(until, at("2026-01-01T13:00:00Z"));
    }

    #[test]
    fn windows_end_with_the_bucket_that_holds_now() {
        let hour = 3600;
        let now = Timestamp::from_micros((10 * hour + 125) * 1_000_000);
        let (since, until) = aligned_window(now, hour, 3);
        assert_eq!(until, Timestamp::from_micros(11 * hour * 1_000_000));
        assert_eq!(since, Timestamp::from_micros(8 * hour * 1_000_000));
    }

    #[test]
    fn empty_buckets_are_filled_with_zeros() {
        use guidepost_store::ToolCallBucket;
        let since = Timestamp::from_micros(0);
        let counted = vec![
            ToolCallBucket {
                index: 1,
                calls: 4,
                errors: 1,
            },
            ToolCallBucket {
                index: 9,
                calls: 7,
                errors: 0,
            },
        ];
        let filled = fill_buckets(since, 60, 3, counted);
        let counts: Vec<(u64, u64)> = filled.iter().map(|b| (b.calls, b.errors)).collect();
        assert_eq!(counts, [(0, 0), (4, 1), (0, 0)]);
        assert_eq!(filled[2].start, Timestamp::from_micros(120_000_000));
    }

    #[test]
    fn arguments_are_capped_on_a_char_boundary() {
        let big = serde_json::json!({ "x": "é".repeat(20_000) });
        let capped = capped_arguments(&big);
        assert!(capped.len() <= Limits::RECORDED_ARGUMENTS);
    }

    #[test]
    fn a_json_prefix_is_the_start_of_the_json_cut_at_a_character() {
        let small = serde_json::json!({"step": {"title": "Install"}});
        assert_eq!(json_prefix(&small, 2_000), small.to_string());
        let long = serde_json::json!({"content": "é".repeat(2_000), "after": 1});
        let prefix = json_prefix(&long, 2_000);
        // `{"content":"` is 12 bytes, then 994 two-byte characters; the 995th is cut.
        assert_eq!(prefix.len(), 12 + 994 * 2);
        assert!(long.to_string().starts_with(&prefix));
        // Every byte of the room used up inside a two-byte character.
        assert_eq!(json_prefix(&serde_json::json!("ééééé"), 4), "\"é");
    }
}
