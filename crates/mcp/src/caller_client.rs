//! The caller's client as the gateway relays an upstream's requests to it
//! (`CallerClient`): in the session era, over the caller's own session; in the 2026-07-28
//! era a request cannot be sent mid-call (it would be an `input_required` round), so no
//! client is offered and the upstream is told so.

// Sampling, roots and logging are deprecated by SEP-2577; the 2025 era still has them.
#![allow(deprecated)]

use std::sync::Arc;

use std::time::Instant;

use async_trait::async_trait;
use guidepost_core::Platform;
use guidepost_core::upstreams::{CallerClient, RelayError};
use guidepost_domain::UpstreamId;
use rmcp::ErrorData;
use rmcp::RoleServer;
use rmcp::model::{ClientCapabilities, ClientResult, ServerNotification, ServerRequest};
use rmcp::service::{Peer, RequestContext, ServiceError};
use serde_json::{Value, json};

use crate::log_levels::severity;
use crate::recording::{CallRecord, Recorded, record};
use crate::scope::RequestScope;
use crate::surface::is_stateless;

/// A session-era caller's client, reached on its session.
struct SessionClient {
    peer: Peer<RoleServer>,
    capabilities: ClientCapabilities,
    /// The least severe log message it wants (`logging/setLevel`); all when unset.
    log_level: Option<u8>,
    recorder: RelayRecorder,
}

/// Records each relayed request in analytics like a tool call: under its method, with
/// the upstream that asked (named in the request's `_meta`), never the person's answer.
pub(crate) struct RelayRecorder {
    platform: Platform,
    scope: RequestScope,
}

impl RelayRecorder {
    pub fn new(platform: &Platform, scope: &RequestScope) -> Self {
        Self {
            platform: platform.clone(),
            scope: scope.clone(),
        }
    }

    pub fn record(
        &self,
        method: &str,
        params: &Value,
        outcome: &Result<Value, RelayError>,
        started: Instant,
    ) {
        let upstream = params["_meta"]["io.guidepost/upstream"]["id"]
            .as_str()
            .and_then(UpstreamId::parse);
        let call = CallRecord {
            tool: method,
            label: "upstream",
            arguments: &Value::Null,
            end_user: None,
            upstream,
        };
        let error = outcome.as_ref().err().map(|error| match error {
            RelayError::Refused { code, message } => {
                ErrorData::new(rmcp::model::ErrorCode(*code), message.clone(), None)
            }
            RelayError::Unanswered(message) => ErrorData::internal_error(message.clone(), None),
        });
        let recorded = Recorded::request(error.as_ref().map_or(Ok(()), Err), started);
        record(&self.platform, &self.scope, call, recorded);
    }
}

/// The caller's client for a call made with `request`, if the upstream can reach it.
pub(crate) fn of(
    platform: &Platform,
    request: &RequestContext<RoleServer>,
) -> Option<Arc<dyn CallerClient>> {
    if is_stateless(request) {
        return None;
    }
    let capabilities = request.peer.peer_info()?.capabilities.clone();
    let scope = crate::surface::scope(request).ok()?;
    let log_level = scope
        .session_transport_id()
        .and_then(|session| scope.log_levels.get(&session));
    Some(Arc::new(SessionClient {
        peer: request.peer.clone(),
        capabilities,
        log_level,
        recorder: RelayRecorder::new(platform, &scope),
    }))
}

impl SessionClient {
    /// Sends the request on the caller's session; its answer.
    async fn send(&self, method: &str, params: Value) -> Result<Value, RelayError> {
        let request: ServerRequest =
            serde_json::from_value(json!({"method": method, "params": params})).map_err(|e| {
                RelayError::Refused {
                    code: rmcp::model::ErrorCode::INVALID_PARAMS.0,
                    message: format!("the upstream's {method} request is invalid: {e}"),
                }
            })?;
        match self.peer.send_request(request).await {
            Ok(answer) => answer_value(answer),
            Err(ServiceError::McpError(error)) => Err(RelayError::Refused {
                code: error.code.0,
                message: error.message.into_owned(),
            }),
            Err(error) => Err(RelayError::Unanswered(error.to_string())),
        }
    }
}

#[async_trait]
impl CallerClient for SessionClient {
    fn answers(&self, method: &str) -> bool {
        match method {
            "sampling/createMessage" => self.capabilities.sampling.is_some(),
            "elicitation/create" => self.capabilities.elicitation.is_some(),
            "roots/list" => self.capabilities.roots.is_some(),
            _ => false,
        }
    }

    async fn request(&self, method: &str, params: Value) -> Result<Value, RelayError> {
        let started = Instant::now();
        let outcome = self.send(method, params.clone()).await;
        self.recorder.record(method, &params, &outcome, started);
        outcome
    }

    fn is_gone(&self) -> bool {
        self.peer.is_transport_closed()
    }

    async fn notify(&self, method: &str, params: Value) {
        let level = params["level"].as_str().map(severity).unwrap_or(0);
        if method == "notifications/message" && self.log_level.is_some_and(|least| level < least) {
            return;
        }
        let notification = serde_json::from_value::<ServerNotification>(
            json!({"method": method, "params": params}),
        );
        match notification {
            Ok(notification) => {
                let _ = self.peer.send_notification(notification).await;
            }
            Err(error) => tracing::debug!(%error, method, "an upstream's notification is invalid"),
        }
    }
}

fn answer_value(answer: ClientResult) -> Result<Value, RelayError> {
    serde_json::to_value(answer).map_err(|e| RelayError::Unanswered(e.to_string()))
}
