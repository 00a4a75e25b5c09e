//! The caller's client as the gateway relays an upstream's requests to it
//! (`CallerClient`): in the session era, over the caller's own session; in the 2026-07-28
//! era a request cannot be sent mid-call (it would be an `input_required` round), so no
//! client is offered and the upstream is told so.

// Sampling, roots and logging are deprecated by SEP-2577; the 2025 era still has them.
#![allow(deprecated)]

use std::sync::Arc;

use async_trait::async_trait;
use guidepost_core::upstreams::{CallerClient, RelayError};
use rmcp::RoleServer;
use rmcp::model::{ClientCapabilities, ClientResult, ServerNotification, ServerRequest};
use rmcp::service::{Peer, RequestContext, ServiceError};
use serde_json::{Value, json};

use crate::surface::is_stateless;

/// A session-era caller's client, reached on its session.
struct SessionClient {
    peer: Peer<RoleServer>,
    capabilities: ClientCapabilities,
}

/// The caller's client for a call made with `request`, if the upstream can reach it.
pub(crate) fn of(request: &RequestContext<RoleServer>) -> Option<Arc<dyn CallerClient>> {
    if is_stateless(request) {
        return None;
    }
    let capabilities = request.peer.peer_info()?.capabilities.clone();
    Some(Arc::new(SessionClient {
        peer: request.peer.clone(),
        capabilities,
    }))
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

    fn is_gone(&self) -> bool {
        self.peer.is_transport_closed()
    }

    async fn notify(&self, method: &str, params: Value) {
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
