//! A trace on its way into an upstream: each call to an upstream has a client
//! span of its own, and the request carries that span's W3C `traceparent` in
//! `_meta.traceparent` (SEP-414) whatever the transport, and HTTP upstreams also get it
//! as the `traceparent` header ([`TraceHeader`]), so the upstream's own spans join the
//! agent's trace. Without the trace layer (no `--otlp-endpoint`) the span is disabled and
//! nothing is added.

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use guidepost_core::trace_context::{self, SpanName, TRACEPARENT};
use guidepost_domain::Upstream;
use http::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, GetMeta, JsonRpcMessage, RequestMetaObject};
use rmcp::service::PeerRequestOptions;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::Sse;

/// The span of one request to `upstream`: `{method} {target}`, as a client.
pub(crate) fn call_span(upstream: &Upstream, method: &str, target: Option<&str>) -> tracing::Span {
    tracing::debug_span!(
        "upstream call",
        otel.name = %SpanName { method, target },
        otel.kind = "client",
        mcp.method.name = method,
        gen_ai.tool.name = target,
        guidepost.organization.id = %upstream.org_id,
        guidepost.upstream.id = %upstream.id,
    )
}

/// The options of a request sent in the current span: its `traceparent` in `_meta`.
pub(crate) fn request_options() -> PeerRequestOptions {
    let mut options = PeerRequestOptions::no_options();
    if let Some(traceparent) = trace_context::current() {
        let mut meta = RequestMetaObject::new();
        meta.set_traceparent(traceparent);
        options.meta = Some(meta);
    }
    options
}

/// An HTTP upstream's client that sends each request's `_meta.traceparent` as the
/// `traceparent` header too (rmcp posts from a task of its own, outside the call's span,
/// so the message is where the call's context is found).
#[derive(Clone)]
pub(crate) struct TraceHeader<C>(pub C);

fn with_header(
    message: &ClientJsonRpcMessage,
    mut headers: HashMap<HeaderName, HeaderValue>,
) -> HashMap<HeaderName, HeaderValue> {
    let JsonRpcMessage::Request(request) = message else {
        return headers;
    };
    let traceparent = request.request.get_meta().get_traceparent();
    let value = traceparent
        .filter(|value| trace_context::parse(value).is_some())
        .and_then(|value| HeaderValue::from_str(value).ok());
    if let Some(value) = value {
        headers.insert(HeaderName::from_static(TRACEPARENT), value);
    }
    headers
}

type PostResult<E> = Result<StreamableHttpPostResponse, StreamableHttpError<E>>;
type StreamResult<E> = Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<E>>;

impl<C: StreamableHttpClient + Sync> StreamableHttpClient for TraceHeader<C> {
    type Error = C::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> PostResult<C::Error> {
        let headers = with_header(&message, custom_headers);
        let posted = self
            .0
            .post_message(uri, message, session_id, auth_header, headers);
        posted.await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> PostResult<C::Error> {
        let headers = with_header(&message, custom_headers);
        let posted = self.0.post_message_with_max_sse_event_size(
            uri,
            message,
            session_id,
            auth_header,
            headers,
            max_sse_event_size,
        );
        posted.await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<C::Error>> {
        let deleted = self
            .0
            .delete_session(uri, session_id, auth_header, custom_headers);
        deleted.await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> StreamResult<C::Error> {
        let stream = self
            .0
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers);
        stream.await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> StreamResult<C::Error> {
        let stream = self.0.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            max_sse_event_size,
        );
        stream.await
    }
}
