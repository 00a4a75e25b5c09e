//! The simulated users' side of the wire in `guidepost bench`: each user keeps one
//! HTTP/1.1 connection of its own open (hyper's client connection) and sends its tool
//! calls on it one after the other, as an IDE talking to its one MCP server does.
//!
//! Why not reqwest, as the rest of `bench` uses: the users run in the benchmark's own
//! process, beside the Guidepost they measure, on the same cores. reqwest's pool, URL
//! parsing, redirect and timeout machinery cost a fifth of the process's CPU in the
//! walkthrough mix (docs/PERFORMANCE.md), time taken from the server being measured. A
//! connection per user needs none of it. An `https` target goes through reqwest still
//! (its TLS), connection pooling and all. What a user reads of an answer (whether it
//! succeeded, and the step it is on) is read into those fields alone.

use std::time::Duration;

use axum::http::header::{HOST, HeaderMap, HeaderValue};
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Deserialize;

/// How long a user waits to connect before the call counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An answer: its status, headers and whole body.
pub(super) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One simulated user's way to its MCP endpoint.
pub(super) enum Wire {
    /// `http`: a connection of the user's own, opened on first use and again after the
    /// server closes it.
    Plain {
        address: String,
        host: HeaderValue,
        path: String,
        connection: Option<SendRequest<Full<Bytes>>>,
    },
    /// `https`: through the shared reqwest client.
    Pooled { http: reqwest::Client, url: String },
}

impl Wire {
    /// The wire to `url` (an `http` or `https` URL with a path and query).
    pub fn new(http: &reqwest::Client, url: &str) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url)?;
        if parsed.scheme() != "http" {
            return Ok(Wire::Pooled {
                http: http.clone(),
                url: url.to_owned(),
            });
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("{url} has no host"))?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        let authority = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let path = match parsed.query() {
            Some(query) => format!("{}?{query}", parsed.path()),
            None => parsed.path().to_owned(),
        };
        Ok(Wire::Plain {
            address: format!("{host}:{port}"),
            host: HeaderValue::from_str(&authority)?,
            path,
            connection: None,
        })
    }

    /// POSTs `body` with `headers`, and reads the whole answer.
    pub async fn post(&mut self, headers: HeaderMap, body: Bytes) -> anyhow::Result<Answer> {
        match self {
            Wire::Plain {
                address,
                host,
                path,
                connection,
            } => {
                let sender = match connection {
                    Some(sender) if !sender.is_closed() => sender,
                    _ => connection.insert(connect(address).await?),
                };
                sender.ready().await?;
                let mut request = Request::post(path.as_str()).body(Full::new(body))?;
                *request.headers_mut() = headers;
                request.headers_mut().insert(HOST, host.clone());
                let response = sender.send_request(request).await?;
                let (parts, body) = response.into_parts();
                let body = body.collect().await?;
                Ok(Answer {
                    status: parts.status,
                    headers: parts.headers,
                    body: body.to_bytes(),
                })
            }
            Wire::Pooled { http, url } => {
                let response = http
                    .post(url.as_str())
                    .headers(headers)
                    .body(body)
                    .send()
                    .await?;
                let (status, headers) = (response.status(), response.headers().clone());
                let body = response.bytes().await?;
                Ok(Answer {
                    status,
                    headers,
                    body,
                })
            }
        }
    }
}

/// Opens a connection to `address`, its I/O driven by a task of its own.
async fn connect(address: &str) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(address))
        .await
        .map_err(|_| anyhow::anyhow!("connecting to {address} timed out"))?
        .map_err(|e| anyhow::anyhow!("connecting to {address}: {e}"))?;
    // Requests are small and answered one at a time: Nagle would hold each back.
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "a simulated user's connection ended");
        }
    });
    Ok(sender)
}

/// What a successful tool call told the simulated user: the step it is on now, if any.
pub(super) struct ToolAnswer {
    pub step: Option<String>,
}

/// The part of a JSON-RPC answer a simulated user reads; the rest is skipped unbuilt.
#[derive(Deserialize)]
struct RpcAnswer {
    result: Option<RpcResult>,
}

#[derive(Deserialize)]
struct RpcResult {
    #[serde(rename = "isError", default)]
    is_error: Option<bool>,
    #[serde(rename = "structuredContent", default)]
    structured: Option<Structured>,
}

#[derive(Deserialize)]
struct Structured {
    #[serde(default)]
    step: Option<StepRef>,
}

#[derive(Deserialize)]
struct StepRef {
    id: String,
}

/// A successful tool result's answer, from a JSON body or the last event of an SSE one.
pub(super) fn tool_answer(body: &[u8]) -> Option<ToolAnswer> {
    let message: RpcAnswer = serde_json::from_slice(body).ok().or_else(|| {
        std::str::from_utf8(body)
            .ok()?
            .lines()
            .rev()
            .filter_map(|l| l.strip_prefix("data:"))
            .find_map(|d| serde_json::from_str(d.trim()).ok())
    })?;
    let result = message.result?;
    (result.is_error != Some(true)).then(|| ToolAnswer {
        step: result.structured.and_then(|s| s.step).map(|step| step.id),
    })
}
