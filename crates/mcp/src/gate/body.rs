//! The request body at the gate: read under its limit and timeout, parsed, or dropped;
//! and the few permits that bound how many large bodies are parsed at once.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::request::Parts;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::jsonrpc::{self, Inbound, Refusal};

/// A body above this size is "large" (see `large_body_permit`).
const LARGE_BODY: usize = 64 * 1024;
/// Large bodies read and answered at once, per node: at the 1 MiB default limit, a few
/// tens of megabytes of parsed trees at most.
pub(super) const LARGE_BODIES_IN_FLIGHT: usize = 4;
/// How long a large body waits for its turn before the client is told to retry.
const LARGE_BODY_WAIT: Duration = Duration::from_secs(10);

/// Reads and drops a refused request's body (up to the limit) without keeping or
/// parsing it, so that the connection stays usable for the client's next request.
pub(super) async fn discard(body: Body, limit: usize) {
    let mut body = body;
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        seen += frame.data_ref().map_or(0, |data| data.len());
        if seen > limit {
            return;
        }
    }
}

/// A large body is parsed into a tree many times its size, by the gate and again by
/// rmcp; so few are in flight at once per node, each holding a permit until it is
/// answered. A body whose size is unknown (chunked) counts as large.
pub(super) async fn large_body_permit(
    large_bodies: &Arc<Semaphore>,
    parts: &Parts,
) -> Result<Option<OwnedSemaphorePermit>, Refusal> {
    if parts.method != Method::POST {
        return Ok(None);
    }
    let length = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if length.is_some_and(|length| length <= LARGE_BODY) {
        return Ok(None);
    }
    let waiting = large_bodies.clone().acquire_owned();
    match tokio::time::timeout(LARGE_BODY_WAIT, waiting).await {
        Ok(Ok(permit)) => Ok(Some(permit)),
        _ => Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Value::Null,
            jsonrpc::INTERNAL_ERROR,
            "Too many large requests at once; retry in a moment",
        )),
    }
}

pub(super) async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, Refusal> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let too_large = error.into_inner().is::<http_body_util::LengthLimitError>();
        let (status, message) = if too_large {
            let message = format!("Request body is larger than the limit of {limit} bytes");
            (StatusCode::PAYLOAD_TOO_LARGE, message)
        } else {
            // The body read timed out, or the client went away.
            let message = "The request body did not arrive in time".to_owned();
            (StatusCode::REQUEST_TIMEOUT, message)
        };
        Refusal::new(status, Value::Null, jsonrpc::INVALID_REQUEST, message)
    })
}

pub(super) fn parse_message(bytes: &[u8]) -> Result<Inbound, Refusal> {
    let message: Value = serde_json::from_slice(bytes).map_err(|e| {
        let message = format!("Parse error: {e}");
        Refusal::new(
            StatusCode::BAD_REQUEST,
            Value::Null,
            jsonrpc::PARSE_ERROR,
            &message,
        )
    })?;
    Inbound::parse(message)
}
