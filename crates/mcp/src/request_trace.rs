//! The spans of an MCP request and of a tool call, with the OpenTelemetry semantic
//! conventions' MCP attributes (`mcp.method.name`, `mcp.session.id`, `jsonrpc.request.id`,
//! `gen_ai.tool.name`) and the organization and server. A request whose
//! `_meta.traceparent` (SEP-414) names a client's span continues that trace; without one
//! it is a child of the HTTP request's span, which the `traceparent` header may have
//! continued. Both spans are at `debug`: only the trace layer builds them, in sampled traces
//! only, and without it they cost nothing.

use guidepost_core::trace_context::{self, SpanName};
use guidepost_domain::{McpServer, McpSession};
use serde_json::Value;
use tracing::field::{Empty, display};

use crate::jsonrpc::{self, Inbound};

/// Client-given texts in a span are cut to this many characters.
const MAX_ATTRIBUTE: usize = 128;

/// The span the request's work runs in: the MCP request's own, else the HTTP request's.
pub(crate) fn mcp_span(
    inbound: Option<&Inbound>,
    server: &McpServer,
    session: Option<&McpSession>,
) -> tracing::Span {
    let current = tracing::Span::current();
    let Some(inbound) = inbound else {
        return current;
    };
    let method = jsonrpc::method_label(inbound.method.as_deref());
    let target = inbound.tool_name().map(cut);
    let make = || {
        tracing::debug_span!(
            "mcp request",
            otel.name = %SpanName { method, target },
            otel.kind = "server",
            mcp.method.name = method,
            jsonrpc.request.id = Empty,
            mcp.session.id = Empty,
            mcp.protocol.version = Empty,
            gen_ai.tool.name = Empty,
            guidepost.organization.id = %server.org_id,
            guidepost.server.id = %server.id,
        )
    };
    // A client's `_meta.traceparent` starts this request's trace here: the client's
    // sampling decides, not the HTTP request's.
    let continued = meta_traceparent(&inbound.params);
    let span = match continued {
        Some(_) => trace_context::with_own_sampling(make),
        None => make(),
    };
    if span.is_disabled() {
        return current;
    }
    if let Some(traceparent) = continued {
        trace_context::continue_from(&span, traceparent);
    }
    if let Some(id) = request_id(&inbound.id) {
        span.record("jsonrpc.request.id", display(id));
    }
    if let Some(tool) = target {
        span.record("gen_ai.tool.name", display(tool));
    }
    if let Some(session) = session {
        // The platform's id of the session, not its transport id (which it is used with).
        span.record("mcp.session.id", display(&session.id));
        if let Some(version) = &session.protocol_version {
            span.record("mcp.protocol.version", display(cut(version)));
        }
    }
    span
}

/// A tool call's span, in the request's: `execute_tool {name}`.
pub(crate) fn tool_span(request: &tracing::Span, tool: &str) -> tracing::Span {
    let tool = cut(tool);
    // Made in the request's span, whose trace decides whether it is made at all (rmcp
    // runs the handler in a task of its own).
    let span = request.in_scope(|| {
        tracing::debug_span!(
            parent: request,
            "tool call",
            otel.name = %SpanName { method: "execute_tool", target: Some(tool) },
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = %tool,
        )
    });
    if span.is_disabled() {
        return request.clone();
    }
    span
}

fn meta_traceparent(params: &Value) -> Option<&str> {
    params
        .get("_meta")?
        .get(trace_context::TRACEPARENT)?
        .as_str()
}

fn request_id(id: &Value) -> Option<String> {
    match id {
        Value::String(id) => Some(cut(id).to_owned()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

fn cut(text: &str) -> &str {
    match text.char_indices().nth(MAX_ATTRIBUTE) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}
