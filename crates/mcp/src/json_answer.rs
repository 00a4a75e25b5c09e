//! Session-era answers as one JSON body when nothing else comes first.
//!
//! rmcp answers every request in a session with an SSE stream: a priming event (SEP-1699,
//! so that a client cut off early can resume), the answer, then the stream's end, each
//! written and read apart. A client of that era must accept both `application/json` and
//! `text/event-stream` for a request (rmcp refuses it otherwise), and the server may use
//! either, so when the first message on the stream is the request's answer the gate sends
//! it alone as JSON, as rmcp does for stateless requests (`json_response`). When
//! something comes first (progress, a log message, a request to the client), the answer
//! takes long, or the stream ends without one (the server closed it for the client to
//! resume), the client gets the stream as it is, what was read before included.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures::StreamExt;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::time::{Instant, timeout_at};

/// Reading stops here and the stream goes on as a stream: no answer is held in memory
/// past this size before the client sees a byte (answers are bounded elsewhere).
const LARGEST_HELD: usize = 4 * 1024 * 1024;
/// An answer that takes longer is streamed: the client (and any proxy between) gets the
/// priming event, so it can resume, and the stream's keep-alives, so that a long call
/// does not look like a dead connection.
const LONGEST_HELD: Duration = Duration::from_secs(1);

/// The answer as JSON when the stream's first message is one, else the stream.
pub(crate) async fn when_answered_at_once(response: Response) -> Response {
    let is_stream = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !is_stream || !response.status().is_success() {
        return response;
    }
    let (mut parts, mut body) = response.into_parts();
    let mut read = Vec::new();
    let deadline = Instant::now() + LONGEST_HELD;
    while read.len() <= LARGEST_HELD {
        let Ok(Some(Ok(frame))) = timeout_at(deadline, body.frame()).await else {
            break;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        read.extend_from_slice(&data);
        match first_message(&read) {
            Scan::Waiting => {}
            Scan::Answer(answer) => {
                parts.headers.insert(CONTENT_TYPE, json());
                parts.headers.remove(CONTENT_LENGTH);
                parts.headers.remove("x-accel-buffering");
                return Response::from_parts(parts, Body::from(answer));
            }
            Scan::Other => break,
        }
    }
    let head = futures::stream::once(async { Ok(Bytes::from(read)) });
    let rest = body.into_data_stream();
    Response::from_parts(parts, Body::from_stream(head.chain(rest)))
}

fn json() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

/// What the events read so far say.
#[derive(Debug, PartialEq)]
enum Scan {
    /// No message yet (only a priming event or keep-alives, or an event not whole yet).
    Waiting,
    /// The first message is a response or an error: its JSON.
    Answer(String),
    /// The first message is a notification or a request to the client.
    Other,
}

/// Just enough of a JSON-RPC message to tell an answer from the rest.
#[derive(Deserialize)]
struct Peek {
    method: Option<IgnoredAny>,
    result: Option<IgnoredAny>,
    error: Option<IgnoredAny>,
}

/// The first event with data among the whole events in `read` (SSE: events end with a
/// blank line; `data:` lines join with newlines; the priming event's data is empty).
fn first_message(read: &[u8]) -> Scan {
    let Ok(text) = std::str::from_utf8(read) else {
        return Scan::Other;
    };
    let text = text.replace("\r\n", "\n");
    let mut events: Vec<&str> = text.split("\n\n").collect();
    // What follows the last blank line is an event still arriving.
    events.pop();
    for event in events {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(|value| value.strip_prefix(' ').unwrap_or(value))
            .collect();
        let data = data.join("\n");
        if data.trim().is_empty() {
            continue;
        }
        return match serde_json::from_str::<Peek>(&data) {
            Ok(peek)
                if peek.method.is_none() && (peek.result.is_some() || peek.error.is_some()) =>
            {
                Scan::Answer(data)
            }
            _ => Scan::Other,
        };
    }
    Scan::Waiting
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMING: &str = "id: 0/0\nretry: 3000\ndata: \n\n";

    #[test]
    fn an_answer_after_the_priming_event_is_the_whole_reply() {
        let answer = r#"{"jsonrpc":"2.0","id":2,"result":{"content":[]}}"#;
        let read = format!("{PRIMING}data: {answer}\nid: 0/1\n\n");
        assert_eq!(first_message(read.as_bytes()), Scan::Answer(answer.into()));
        let error = r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"no"}}"#;
        let read = format!("data: {error}\r\n\r\n");
        assert_eq!(first_message(read.as_bytes()), Scan::Answer(error.into()));
    }

    #[test]
    fn progress_or_a_request_first_keeps_the_stream() {
        let progress = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#;
        let read = format!("{PRIMING}data: {progress}\n\n");
        assert_eq!(first_message(read.as_bytes()), Scan::Other);
        let asks = r#"{"jsonrpc":"2.0","id":0,"method":"elicitation/create","params":{}}"#;
        assert_eq!(
            first_message(format!("data: {asks}\n\n").as_bytes()),
            Scan::Other
        );
    }

    #[test]
    fn nothing_is_decided_before_a_whole_event_with_data() {
        assert_eq!(first_message(PRIMING.as_bytes()), Scan::Waiting);
        assert_eq!(first_message(b": keep-alive\n\n"), Scan::Waiting);
        let cut = format!("{PRIMING}data: {{\"jsonrpc\":\"2.0\",\"id\":2,\"res");
        assert_eq!(first_message(cut.as_bytes()), Scan::Waiting);
    }

    #[tokio::test]
    async fn a_stream_without_an_answer_reaches_the_client_whole() {
        let events = format!("{PRIMING}: more\n\n");
        let response = Response::builder()
            .header(CONTENT_TYPE, "text/event-stream")
            .body(Body::from(events.clone()))
            .unwrap();
        let response = when_answered_at_once(response).await;
        assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, events.as_bytes());
    }

    #[tokio::test]
    async fn a_slow_answer_is_streamed_from_the_priming_event_on() {
        let priming = Ok::<_, std::io::Error>(Bytes::from(PRIMING));
        let never_done = futures::stream::iter([priming]).chain(futures::stream::pending());
        let response = Response::builder()
            .header(CONTENT_TYPE, "text/event-stream")
            .body(Body::from_stream(never_done))
            .unwrap();
        let response = when_answered_at_once(response).await;
        assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, PRIMING.as_bytes());
    }

    #[tokio::test]
    async fn an_answered_stream_becomes_json() {
        let answer = r#"{"jsonrpc":"2.0","id":2,"result":{}}"#;
        let response = Response::builder()
            .header(CONTENT_TYPE, "text/event-stream")
            .body(Body::from(format!("{PRIMING}data: {answer}\n\n")))
            .unwrap();
        let response = when_answered_at_once(response).await;
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, answer.as_bytes());
    }
}
