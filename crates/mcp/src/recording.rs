//! Every tool call is recorded in analytics, whatever its outcome: what the handler
//! answered, what the gate refused (rate limits), and the fixture's calls alike.

use std::time::Instant;

use guidepost_core::Platform;
use guidepost_core::insights::analytics::{capped_arguments, json_prefix_chars};
use guidepost_domain::{
    CallRefusal, EndUser, Limits, Timestamp, ToolCall, ToolCallId, UpstreamId, prefix_chars,
    without_nul,
};
use rmcp::ErrorData;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
use serde_json::Value;

use crate::scope::RequestScope;

/// What the analytics record says about a call's result.
pub(crate) struct Recorded {
    summary: String,
    is_error: bool,
    error_code: Option<i64>,
    duration_us: i64,
    /// Why it was refused before a tool ran, for the missing-capabilities report.
    refusal: Option<CallRefusal>,
}

impl Recorded {
    /// A tool's result: its structured content when it succeeded and has some, else
    /// its first text.
    pub fn result(result: &CallToolResult, started: Instant) -> Self {
        let is_error = result.is_error == Some(true);
        let structured = result.structured_content.as_ref().filter(|_| !is_error);
        let summary = match structured {
            Some(structured) => json_summary(structured, Limits::RESULT_SUMMARY),
            None => first_text(result),
        };
        Self {
            summary,
            is_error,
            error_code: None,
            duration_us: started.elapsed().as_micros() as i64,
            refusal: None,
        }
    }

    /// A response as the client sees it: a result, an input-required answer, or a
    /// protocol error.
    pub fn response(response: &Result<CallToolResponse, ErrorData>, started: Instant) -> Self {
        let duration_us = started.elapsed().as_micros() as i64;
        let (summary, is_error, error_code) = match response {
            Ok(CallToolResponse::Complete(result)) => {
                return Self::result(result, started);
            }
            Ok(_) => ("input required".to_owned(), false, None),
            Err(error) => (
                error.message.to_string(),
                true,
                Some(i64::from(error.code.0)),
            ),
        };
        Self {
            summary,
            is_error,
            error_code,
            duration_us,
            refusal: None,
        }
    }

    /// A call of a tool the server does not offer.
    pub fn unknown_tool(message: &str, started: Instant) -> Self {
        Self::protocol_error(message, started).refused_as(Some(CallRefusal::UnknownTool))
    }

    /// The same record, saying why the call was refused before a tool ran.
    pub fn refused_as(self, refusal: Option<CallRefusal>) -> Self {
        Self { refusal, ..self }
    }

    pub fn protocol_error(message: &str, started: Instant) -> Self {
        Self {
            summary: message.to_owned(),
            is_error: true,
            error_code: Some(-32602),
            duration_us: started.elapsed().as_micros() as i64,
            refusal: None,
        }
    }
}

fn first_text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .find_map(ContentBlock::as_text)
        .map_or_else(
            || "(non-text content)".to_owned(),
            |t| prefix_chars(&t.text, Limits::RESULT_SUMMARY).to_owned(),
        )
}

/// The start of a structured result, at most `chars` characters of its JSON.
fn json_summary(value: &Value, chars: usize) -> String {
    json_prefix_chars(value, chars)
}

/// A recorded call: which tool, under which bounded metrics label, with what arguments.
pub(crate) struct CallRecord<'a> {
    pub tool: &'a str,
    pub label: &'static str,
    pub arguments: &'a Value,
    pub end_user: Option<&'a EndUser>,
    /// The upstream that answered, for a gateway tool.
    pub upstream: Option<UpstreamId>,
}

pub(crate) fn record(
    platform: &Platform,
    scope: &RequestScope,
    call: CallRecord<'_>,
    recorded: Recorded,
) {
    let CallRecord {
        tool,
        label,
        arguments,
        end_user,
        upstream,
    } = call;
    let outcome = if recorded.error_code.is_some() {
        "rejected"
    } else if recorded.is_error {
        "error"
    } else {
        "ok"
    };
    let seconds = recorded.duration_us as f64 / 1e6;
    scope.metrics.tool_call(label, outcome, seconds);
    let now = Timestamp::now();
    // The tool's name and the summary may carry the caller's text (an unknown name is
    // echoed, a tool's error may quote an argument): cleaned of NUL, which PostgreSQL
    // refuses. The arguments are JSON, where a NUL is written as an escape.
    let summary = without_nul(prefix_chars(&recorded.summary, Limits::RESULT_SUMMARY));
    platform.analytics.record(ToolCall {
        id: ToolCallId::generate_in_time_order(now),
        org_id: scope.server.org_id.clone(),
        server_id: scope.server.id.clone(),
        session_id: scope.session.as_ref().map(|s| s.id.clone()),
        end_user_id: end_user
            .map(|u| u.id.clone())
            .or_else(|| scope.session.as_ref().and_then(|s| s.end_user_id.clone())),
        tool_name: without_nul(prefix_chars(tool, Limits::NAME)).into_owned(),
        arguments: capped_arguments(arguments),
        result_summary: summary.into_owned(),
        is_error: recorded.is_error,
        error_code: recorded.error_code,
        duration_us: recorded.duration_us,
        created_at: now,
        upstream_id: upstream,
        is_test: scope.test_call,
        refusal: recorded.refusal,
    });
}

impl Recorded {
    /// A prompt get, resource read or completion: answered, or the error the client got.
    pub fn request(outcome: Result<(), &ErrorData>, started: Instant) -> Self {
        let (summary, is_error, error_code) = match outcome {
            Ok(()) => ("answered".to_owned(), false, None),
            Err(error) => (
                error.message.to_string(),
                true,
                Some(i64::from(error.code.0)),
            ),
        };
        Self {
            summary,
            is_error,
            error_code,
            duration_us: started.elapsed().as_micros() as i64,
            refusal: None,
        }
    }

    /// A call that the gate refused before it reached a tool (a rate limit, arguments that
    /// are not an object): the JSON-RPC error's code and why.
    pub fn refused(code: i64, why: &str) -> Self {
        Self {
            summary: why.to_owned(),
            is_error: true,
            error_code: Some(code),
            duration_us: 0,
            refusal: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::json_summary;
    use serde_json::json;

    #[test]
    fn a_summary_is_the_start_of_the_json_cut_at_a_character() {
        let small = json!({"step": {"title": "Install"}});
        assert_eq!(json_summary(&small, 500), small.to_string());
        let long = json!({"content": "é".repeat(2_000), "after": 1});
        let prefix = json_summary(&long, 500);
        assert_eq!(prefix.chars().count(), 500);
        assert!(long.to_string().starts_with(&prefix));
        // Every byte of the room used up inside a two-byte character.
        let cut = json_summary(&json!("ééééé"), 1);
        assert_eq!(cut, "\"");
    }
}
