//! The HTTP client of a remote upstream reached with a connected account: every
//! request carries the connection's current credential, read through core (which
//! refreshes it before it expires), and a request the upstream answers with 401 is sent
//! once more with a credential refreshed after that refusal (by this node or another,
//! once). rmcp fixes a transport's headers when it is built, so the credential is put in
//! here, per request, instead.

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use guidepost_core::Platform;
use guidepost_core::upstreams::connections::{self, Bearer, NotConnected};
use guidepost_domain::{ConnectionOwner, Upstream};
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::Sse;

type HttpError = StreamableHttpError<reqwest::Error>;

/// An upstream's HTTP client speaking as `owner`'s connection.
#[derive(Clone)]
pub(crate) struct SignedIn {
    pub http: reqwest::Client,
    pub platform: Platform,
    pub upstream: Arc<Upstream>,
    pub owner: ConnectionOwner,
}

fn not_connected(why: NotConnected) -> HttpError {
    StreamableHttpError::UnexpectedServerResponse(why.to_string().into())
}

impl SignedIn {
    async fn credential(&self) -> Result<Bearer, HttpError> {
        connections::bearer(&self.platform, &self.upstream, &self.owner)
            .await
            .map_err(not_connected)
    }

    async fn after_refusal(&self, stale: &Bearer) -> Result<Bearer, HttpError> {
        tracing::info!(upstream = %self.upstream.id, "the upstream refused its credential; refreshing");
        connections::refresh_after_refusal(
            &self.platform,
            &self.upstream,
            &self.owner,
            stale.revision,
        )
        .await
        .map_err(not_connected)
    }

    /// Sends a request with the current credential, and once more with a refreshed one
    /// if the upstream refused it (401).
    async fn with_credential<T, Request, Pending>(
        &self,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        send: Request,
    ) -> Result<T, HttpError>
    where
        Request: Fn(Option<String>, HashMap<HeaderName, HeaderValue>) -> Pending,
        Pending: std::future::Future<Output = Result<T, HttpError>>,
    {
        let bearer = self.credential().await?;
        let (auth, headers) = Self::apply(&bearer, custom_headers.clone())?;
        let first = send(auth, headers).await;
        if !refused(&first) {
            return first;
        }
        let bearer = self.after_refusal(&bearer).await?;
        let (auth, headers) = Self::apply(&bearer, custom_headers)?;
        send(auth, headers).await
    }

    /// The credential as rmcp's reqwest client takes it: a bearer token, or a header.
    fn apply(
        bearer: &Bearer,
        mut headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(Option<String>, HashMap<HeaderName, HeaderValue>), HttpError> {
        if let Some(token) = bearer.value.strip_prefix("Bearer ")
            && bearer.header.eq_ignore_ascii_case("authorization")
        {
            return Ok((Some(token.to_owned()), headers));
        }
        let invalid =
            || StreamableHttpError::UnexpectedServerResponse("an unusable credential".into());
        let name = HeaderName::try_from(bearer.header.as_str()).map_err(|_| invalid())?;
        let value = HeaderValue::try_from(bearer.value.as_str()).map_err(|_| invalid())?;
        headers.insert(name, value);
        Ok((None, headers))
    }
}

fn refused<T>(result: &Result<T, HttpError>) -> bool {
    matches!(result, Err(StreamableHttpError::AuthRequired(_)))
}

impl StreamableHttpClient for SignedIn {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        let size = rmcp_default_event_size();
        self.post_message_with_max_sse_event_size(
            uri,
            message,
            session_id,
            None,
            custom_headers,
            size,
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        self.with_credential(custom_headers, |auth, headers| {
            self.http.post_message_with_max_sse_event_size(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                auth,
                headers,
                max_sse_event_size,
            )
        })
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), HttpError> {
        let bearer = self.credential().await?;
        let (auth, headers) = Self::apply(&bearer, custom_headers)?;
        self.http
            .delete_session(uri, session_id, auth, headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError> {
        let size = rmcp_default_event_size();
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            None,
            custom_headers,
            size,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError> {
        self.with_credential(custom_headers, |auth, headers| {
            self.http.get_stream_with_max_sse_event_size(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                auth,
                headers,
                max_sse_event_size,
            )
        })
        .await
    }
}

/// The largest server-sent event taken from an HTTP upstream.
pub(crate) const MAX_EVENT: usize = 4 * 1024 * 1024;

/// The event size the transport passes when it is told none (the launch sets its own).
fn rmcp_default_event_size() -> usize {
    MAX_EVENT
}
