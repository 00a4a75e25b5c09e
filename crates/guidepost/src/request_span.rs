//! One span per HTTP request, in which every log line of that request is written: its
//! id (the caller's `X-Request-Id` when it is a sane one, else a fresh one, echoed in the
//! response), method and route. The layers that learn more fill in the rest: the MCP
//! gate the organization, server and MCP method; the API's key check the organization.
//! A client's `traceparent` header continues its trace here (`core::trace_context`).
//! Every response is also counted by its status class.

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use guidepost_core::trace_context;
use tracing::Instrument;

const HEADER: &str = "x-request-id";
/// Long enough to tell requests apart in logs, short enough to read.
const GENERATED_LENGTH: usize = 16;
const ACCEPTED_LENGTH: usize = 64;

pub async fn request_span(request: Request, next: Next) -> Response {
    let id = request_id(&request);
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        route = %route,
        org = tracing::field::Empty,
        server = tracing::field::Empty,
        mcp_method = tracing::field::Empty,
    );
    // A client's W3C `traceparent` makes this request part of its trace (with the trace
    // layer installed; else there is no trace to join).
    let traceparent = request
        .headers()
        .get(trace_context::TRACEPARENT)
        .and_then(|v| v.to_str().ok());
    if let Some(traceparent) = traceparent {
        trace_context::continue_from(&span, traceparent);
    }
    let mut response = next.run(request).instrument(span).await;
    count_response(response.status());
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// Responses by status class (`2xx` … `5xx`), for the 5xx-rate alert in `deploy/`.
fn count_response(status: axum::http::StatusCode) {
    let class = match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::counter!("guidepost_http_responses_total", "class" => class).increment(1);
}

fn request_id(request: &Request) -> String {
    let presented = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane(id));
    match presented {
        Some(id) => id.to_owned(),
        None => guidepost_domain::random_alphanumeric(GENERATED_LENGTH),
    }
}

/// A caller's id goes into logs and a response header: short, and nothing but letters,
/// digits and `-_.`.
fn is_sane(id: &str) -> bool {
    (1..=ACCEPTED_LENGTH).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::is_sane;

    #[test]
    fn only_short_plain_request_ids_are_taken() {
        assert!(is_sane("7f3a-19_b.c"));
        assert!(!is_sane(""));
        assert!(!is_sane("a b"));
        assert!(!is_sane("line\nbreak"));
        assert!(!is_sane(&"x".repeat(65)));
    }
}
