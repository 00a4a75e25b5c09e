//! Stateless `tools/call` requests for Guidepost's own tools, answered without rmcp's
//! per-request service.
//!
//! rmcp serves each 2026-07-28 request by parsing its body a second time into its typed
//! message (through serde's buffered content, for its untagged enums), writing that back
//! into a JSON tree to check the `Mcp-*` headers, and spawning a service with its own
//! serve loop, channels and task for the one request: about a tenth of the CPU of the
//! walkthrough mix (docs/PERFORMANCE.md). A call to one of Guidepost's own tools needs
//! none of it. Those tools send nothing to the client while they run (no progress, no
//! requests), never run as tasks, and never ask for input; and their names are never an
//! upstream's (`core::upstreams::fit` reserves them). So the endpoint hands such a call
//! to the same `ServerHandler::call_tool` itself, and writes the answer as rmcp would.
//!
//! Only a request that rmcp would serve the same way is taken: a well-formed stateless
//! request with its `_meta`, its `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name`
//! headers in agreement and the media types it must accept. Anything else (another
//! tool, a session, a header rmcp would refuse, a name in Base64) goes to rmcp unchanged,
//! so refusals keep rmcp's words.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use guidepost_domain::builtin_tools;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientJsonRpcMessage, ErrorCode,
    ProtocolVersion, RequestId, RequestMetaObject, ServerJsonRpcMessage, ServerResult,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};

use crate::jsonrpc::Inbound;
use crate::surface::SUPPORTED_VERSIONS;

const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream";

/// A `tools/call` message as the gate parsed it, carried to the surface as a request
/// extension so that it is not parsed again.
#[derive(Clone)]
pub(crate) struct Parsed(pub Inbound);

/// A call this endpoint answers itself: what rmcp would have handed the handler.
pub(crate) struct DirectCall {
    id: RequestId,
    params: CallToolRequestParams,
    meta: RequestMetaObject,
}

/// The call in `request`, if a surface with [`DirectCalls`] answers it itself.
pub(crate) fn take(request: &mut Request) -> Option<DirectCall> {
    let Parsed(inbound) = request.extensions_mut().remove::<Parsed>()?;
    eligible(request.headers(), inbound)
}

/// Answers the calls of one surface's own tools.
pub(crate) struct DirectCalls<H> {
    handler: H,
    /// A peer for the handler's `RequestContext`, whose service has already ended: a
    /// message sent through it fails at once instead of reaching nobody.
    peer: OnceLock<Peer<RoleServer>>,
}

impl<H> DirectCalls<H>
where
    H: ServerHandler + Clone + Send + Sync + 'static,
{
    pub fn new(handler: H) -> Arc<Self> {
        Arc::new(Self {
            handler,
            peer: OnceLock::new(),
        })
    }

    /// Answers `call`, as rmcp answers a stateless request with a JSON body.
    pub async fn answer(&self, call: DirectCall, request: Request) -> Response {
        metrics::counter!("guidepost_mcp_direct_tool_calls_total").increment(1);
        let (parts, _body) = request.into_parts();
        let mut ctx = RequestContext::new(call.id.clone(), self.peer().clone());
        ctx.meta = call.meta;
        ctx.extensions.insert(parts);
        let accepts_tasks = ctx
            .client_capabilities()
            .is_some_and(|capabilities| capabilities.supports_tasks());
        let answered = self.handler.call_tool(call.params, ctx).await;
        let message = match answered.and_then(|response| into_result(response, accepts_tasks)) {
            Ok(result) => ServerJsonRpcMessage::response(result, call.id),
            Err(mut error) => {
                // As rmcp tells a 2026-07-28 peer.
                if error.code == ErrorCode::RESOURCE_NOT_FOUND {
                    error.code = ErrorCode::INVALID_PARAMS;
                }
                ServerJsonRpcMessage::error(error, Some(call.id))
            }
        };
        json_response(&message)
    }

    fn peer(&self) -> &Peer<RoleServer> {
        self.peer.get_or_init(|| {
            let transport = (
                futures::sink::drain::<ServerJsonRpcMessage>(),
                futures::stream::empty::<ClientJsonRpcMessage>(),
            );
            let service = rmcp::service::serve_directly(self.handler.clone(), transport, None);
            service.peer().clone()
        })
    }
}

/// What rmcp makes of a handler's answer for a 2026-07-28 request.
fn into_result(response: CallToolResponse, accepts_tasks: bool) -> Result<ServerResult, ErrorData> {
    if matches!(response, CallToolResponse::Task(_)) && !accepts_tasks {
        let tasks = ClientCapabilities::builder().enable_tasks().build();
        return Err(ErrorData::missing_required_client_capability(tasks));
    }
    let mut result = ServerResult::from(response);
    result.fill_missing_cache_hints();
    Ok(result)
}

/// The answer as one JSON body, with the HTTP status rmcp gives a stateless answer.
fn json_response(message: &ServerJsonRpcMessage) -> Response {
    let status = match message {
        ServerJsonRpcMessage::Error(error) => match error.error.code {
            ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
            | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
            | ErrorCode::HEADER_MISMATCH => StatusCode::BAD_REQUEST,
            ErrorCode::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
            _ => StatusCode::OK,
        },
        _ => StatusCode::OK,
    };
    match serde_json::to_vec(message) {
        Ok(body) => Response::builder()
            .status(status)
            .header(CONTENT_TYPE, HeaderValue::from_static(JSON))
            .body(Body::from(body))
            .unwrap_or_default(),
        Err(error) => {
            tracing::error!(%error, "could not write a tool call's answer");
            let mut response = Response::default();
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

/// The call in `inbound`, if rmcp would serve it exactly as [`DirectCalls::answer`] does.
fn eligible(headers: &HeaderMap, inbound: Inbound) -> Option<DirectCall> {
    let Inbound {
        id,
        method,
        params,
        says_version_2,
    } = inbound;
    if !says_version_2 || method.as_deref() != Some("tools/call") {
        return None;
    }
    let name = params.get("name")?.as_str()?;
    let headers_agree = builtin_tools::ALL.contains(&name)
        && !headers.contains_key("mcp-session-id")
        && accepts_json_and_events(headers)
        && sends_json(headers)
        && only(headers, "mcp-method") == Some("tools/call")
        && only(headers, "mcp-name") == Some(name);
    let header_version = only(headers, "mcp-protocol-version").filter(|_| headers_agree)?;
    let mut params: CallToolRequestParams = serde_json::from_value(params).ok()?;
    let meta = params.meta.take()?;
    let version = meta.protocol_version()?;
    let stateless = version.as_str() >= ProtocolVersion::V_2026_07_28.as_str()
        && SUPPORTED_VERSIONS.contains(&version)
        && header_version == version.as_str()
        && meta
            .missing_required_keys(&ProtocolVersion::V_2026_07_28)
            .is_empty();
    let id = serde_json::from_value(id).ok()?;
    stateless.then_some(DirectCall { id, params, meta })
}

/// The value of a header sent exactly once, as text.
fn only<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    values.next().is_none().then(|| value.to_str().ok())?
}

/// `Accept` names both media types a request must accept, with no parameters (a weight
/// of zero would take one back; such a request is left to rmcp).
fn accepts_json_and_events(headers: &HeaderMap) -> bool {
    let (mut json, mut events) = (false, false);
    for value in headers.get_all(ACCEPT) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        if value.contains([';', '"']) {
            return false;
        }
        for range in value.split(',').map(str::trim) {
            json |= range.eq_ignore_ascii_case(JSON);
            events |= range.eq_ignore_ascii_case(EVENT_STREAM);
        }
    }
    json && events
}

/// `Content-Type` is JSON (its parameters aside).
fn sends_json(headers: &HeaderMap) -> bool {
    let Some(Ok(value)) = headers.get(CONTENT_TYPE).map(|v| v.to_str()) else {
        return false;
    };
    let essence = value.split_once(';').map_or(value, |(essence, _)| essence);
    essence.trim().eq_ignore_ascii_case(JSON)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    const STATELESS: &[(&str, &str)] = &[
        ("accept", "application/json, text/event-stream"),
        ("content-type", "application/json"),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "list_walkthroughs"),
    ];

    fn call(name: &str, meta: Value) -> Inbound {
        let mut message = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": name, "arguments": {}, "_meta": meta}});
        if meta.is_null() {
            message["params"].as_object_mut().unwrap().remove("_meta");
        }
        Inbound::parse(message).unwrap()
    }

    fn meta() -> Value {
        json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}})
    }

    #[test]
    fn a_well_formed_stateless_call_of_an_own_tool_is_taken() {
        let taken = eligible(&headers(STATELESS), call("list_walkthroughs", meta())).unwrap();
        assert_eq!(taken.id, RequestId::Number(7));
        assert_eq!(taken.params.name, "list_walkthroughs");
        assert!(
            taken.params.meta.is_none(),
            "the _meta moves to the context"
        );
        assert_eq!(
            taken.meta.protocol_version(),
            Some(ProtocolVersion::V_2026_07_28)
        );
    }

    #[test]
    fn anything_rmcp_might_answer_otherwise_is_left_to_it() {
        let left = |headers: HeaderMap, inbound: Inbound| eligible(&headers, inbound).is_none();
        let ok = || headers(STATELESS);
        let with = |name: &'static str, value: &'static str| {
            let mut h = ok();
            h.insert(name, HeaderValue::from_static(value));
            h
        };
        // Another tool (an upstream's), and no _meta (a session-era request).
        assert!(left(ok(), call("echo", meta())));
        assert!(left(ok(), call("list_walkthroughs", Value::Null)));
        // _meta without the client's capabilities, or naming an older version.
        let mut partial = meta();
        partial
            .as_object_mut()
            .unwrap()
            .remove("io.modelcontextprotocol/clientCapabilities");
        assert!(left(ok(), call("list_walkthroughs", partial)));
        let mut older = meta();
        older["io.modelcontextprotocol/protocolVersion"] = json!("2025-11-25");
        assert!(left(
            with("mcp-protocol-version", "2025-11-25"),
            call("list_walkthroughs", older)
        ));
        // Headers that disagree with the body, or are missing, doubled or in Base64.
        assert!(left(
            with("mcp-protocol-version", "2025-11-25"),
            call("list_walkthroughs", meta())
        ));
        assert!(left(
            with("mcp-name", "get_support"),
            call("list_walkthroughs", meta())
        ));
        assert!(left(
            with("mcp-name", "=?base64?bGlzdF93YWxrdGhyb3VnaHM=?="),
            call("list_walkthroughs", meta())
        ));
        assert!(left(
            with("mcp-method", "tools/list"),
            call("list_walkthroughs", meta())
        ));
        let mut doubled = ok();
        doubled.append("mcp-name", HeaderValue::from_static("list_walkthroughs"));
        assert!(left(doubled, call("list_walkthroughs", meta())));
        let mut unnamed = ok();
        unnamed.remove("mcp-name");
        assert!(left(unnamed, call("list_walkthroughs", meta())));
        // A session, media types it must accept or send, weights.
        assert!(left(
            with("mcp-session-id", "s"),
            call("list_walkthroughs", meta())
        ));
        assert!(left(
            with("accept", "application/json"),
            call("list_walkthroughs", meta())
        ));
        assert!(left(
            with("accept", "application/json, text/event-stream;q=0"),
            call("list_walkthroughs", meta())
        ));
        assert!(left(
            with("content-type", "text/plain"),
            call("list_walkthroughs", meta())
        ));
        // Not JSON-RPC 2.0, or an id rmcp does not take.
        let mut unversioned = call("list_walkthroughs", meta());
        unversioned.says_version_2 = false;
        assert!(left(ok(), unversioned));
        let mut odd_id = call("list_walkthroughs", meta());
        odd_id.id = json!(1.5);
        assert!(left(ok(), odd_id));
    }

    #[test]
    fn answers_get_the_status_rmcp_gives_them() {
        let id = || Some(RequestId::Number(1));
        let status = |code| {
            let error = ErrorData::new(code, "x", None);
            json_response(&ServerJsonRpcMessage::error(error, id())).status()
        };
        assert_eq!(status(ErrorCode::HEADER_MISMATCH), StatusCode::BAD_REQUEST);
        assert_eq!(status(ErrorCode::METHOD_NOT_FOUND), StatusCode::NOT_FOUND);
        assert_eq!(status(ErrorCode::INVALID_PARAMS), StatusCode::OK);
        assert_eq!(status(ErrorCode::INTERNAL_ERROR), StatusCode::OK);
    }
}
