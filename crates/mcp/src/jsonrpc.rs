//! Reading just enough of a JSON-RPC message to route and police it, and writing the
//! errors that the gate answers itself.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde_json::{Value, json};

pub(crate) const PARSE_ERROR: i64 = -32700;
pub(crate) const INVALID_REQUEST: i64 = -32600;
pub(crate) const INVALID_PARAMS: i64 = -32602;
/// Implementation-defined server errors (JSON-RPC reserves -32000 to -32099).
pub(crate) const SESSION_NOT_FOUND: i64 = -32001;
pub(crate) const RATE_LIMITED: i64 = -32029;
pub(crate) const FORBIDDEN: i64 = -32003;
pub(crate) const UNAUTHORIZED: i64 = -32004;
pub(crate) const INTERNAL_ERROR: i64 = -32603;

/// The parts of a posted message that the gate needs.
#[derive(Debug, Clone)]
pub(crate) struct Inbound {
    pub id: Value,
    pub method: Option<String>,
    pub params: Value,
    /// `"jsonrpc": "2.0"`, which a message must say (rmcp refuses it otherwise).
    pub says_version_2: bool,
}

impl Inbound {
    pub fn parse(message: Value) -> Result<Self, Refusal> {
        let Value::Object(mut object) = message else {
            let why = if message.is_array() {
                "batch requests are not supported"
            } else {
                "a JSON-RPC message must be an object"
            };
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                Value::Null,
                INVALID_REQUEST,
                why,
            ));
        };
        let id = object.remove("id").unwrap_or(Value::Null);
        let method = match object.remove("method") {
            Some(Value::String(method)) => Some(method),
            Some(_) => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    id,
                    INVALID_REQUEST,
                    "method must be a string",
                ));
            }
            None => None,
        };
        let params = object.remove("params").unwrap_or(Value::Null);
        let says_version_2 = object.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
        Ok(Self {
            id,
            method,
            params,
            says_version_2,
        })
    }

    pub fn is(&self, method: &str) -> bool {
        self.method.as_deref() == Some(method)
    }

    /// The tool a `tools/call` names.
    pub fn tool_name(&self) -> Option<&str> {
        self.params.get("name").and_then(Value::as_str)
    }
}

/// The methods that get their own metrics label; anything else a client sends is counted
/// as `other`, so that clients cannot grow the metrics without bound.
const LABELLED_METHODS: &[&str] = &[
    "initialize",
    "notifications/initialized",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "subscriptions/listen",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "notifications/cancelled",
];

/// The metrics label of a request's method (`http` for GET and DELETE).
pub(crate) fn method_label(method: Option<&str>) -> &'static str {
    match method {
        None => "http",
        Some(method) => LABELLED_METHODS
            .iter()
            .find(|m| **m == method)
            .copied()
            .unwrap_or("other"),
    }
}

/// A request the gate answers itself with a JSON-RPC error and an HTTP status.
#[derive(Debug)]
pub(crate) struct Refusal {
    status: StatusCode,
    /// Boxed: a refusal travels in `Result`s, and a `Value` is large.
    id: Box<Value>,
    code: i64,
    message: String,
    retry_after_secs: Option<u64>,
    /// `WWW-Authenticate` of a 401 or 403 from the resource server check.
    challenge: Option<String>,
}

impl Refusal {
    pub fn new(status: StatusCode, id: Value, code: i64, message: impl Into<String>) -> Self {
        Self {
            status,
            id: Box::new(id),
            code,
            message: message.into(),
            retry_after_secs: None,
            challenge: None,
        }
    }

    /// Adds a `WWW-Authenticate` challenge.
    pub fn with_challenge(self, challenge: String) -> Self {
        Self {
            challenge: Some(challenge),
            ..self
        }
    }

    /// Adds `Retry-After` (whole seconds).
    pub fn with_retry_after(self, seconds: u64) -> Self {
        Self {
            retry_after_secs: Some(seconds),
            ..self
        }
    }

    /// 429 with `Retry-After` (whole seconds, at least 1).
    pub fn rate_limited(id: Value, retry_after_secs: u64, scope: &str) -> Self {
        let retry_after_secs = retry_after_secs.max(1);
        let message = format!("Rate limit exceeded ({scope}); retry after {retry_after_secs} s");
        Self::new(StatusCode::TOO_MANY_REQUESTS, id, RATE_LIMITED, message)
            .with_retry_after(retry_after_secs)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({ "jsonrpc": "2.0", "id": self.id, "error": { "code": self.code, "message": self.message } });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response
                .headers_mut()
                .insert(http::header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_metrics_label() {
        assert_eq!(method_label(Some("tools/call")), "tools/call");
        assert_eq!(method_label(Some("x/../../y")), "other");
        assert_eq!(method_label(None), "http");
    }

    #[test]
    fn batches_and_non_objects_are_invalid_requests() {
        assert!(Inbound::parse(json!([{"jsonrpc": "2.0"}])).is_err());
        assert!(Inbound::parse(json!("x")).is_err());
        assert!(Inbound::parse(json!({"method": 3})).is_err());
    }
}

#[cfg(test)]
mod fuzz {
    use guidepost_testkit::fuzz::{fuzz, json_value};
    use proptest::prelude::*;

    use super::*;

    /// The gate's parse of any JSON value: never a panic; an object is taken apart into
    /// what it holds, anything else is an invalid request.
    #[test]
    fn fuzz_jsonrpc_parse() {
        fuzz("JSON-RPC parse", json_value(), |message| {
            let was_object = message.is_object();
            let method = message.get("method").cloned();
            match Inbound::parse(message) {
                Ok(inbound) => {
                    prop_assert!(was_object);
                    prop_assert_eq!(inbound.method.map(Value::String), method);
                }
                Err(refusal) => prop_assert!(
                    !was_object || !matches!(method, None | Some(Value::String(_))),
                    "{refusal:?}"
                ),
            }
            Ok(())
        });
    }
}
