//! What a person's own account offers at an upstream with `person` sign-in.
//!
//! The upstream's definitions are discovered, pinned and reviewed through the account the
//! installing editor connected; a person's account there may lack some of them. When a
//! call on a person's session fails the way a tool unknown to their account fails (a
//! JSON-RPC method-not-found or invalid-params error, or a tool error), their own
//! `tools/list` decides: if it lacks the tool, the call fails with
//! [`UpstreamCallError::NotForAccount`], which core words for the person, instead of the
//! upstream's own error. The list is asked once per session and kept until the session
//! ends or the upstream says its tools changed; calls that succeed never ask.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use guidepost_core::upstreams::UpstreamCallError;
use rmcp::RoleClient;
use rmcp::model::{ErrorCode, ServerResult};
use rmcp::service::{Peer, ServiceError};

use crate::listing;

/// How long a person's `tools/list` may take before the upstream's own error is passed
/// on as it is.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// A person's session's tools, listed at the first failure that may mean an unknown tool.
#[derive(Clone, Default)]
pub(crate) struct AccountTools(Arc<Mutex<Option<HashSet<String>>>>);

impl AccountTools {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<HashSet<String>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new session, or the upstream's tools changed: list them again when needed.
    pub fn forget(&self) {
        *self.lock() = None;
    }

    /// Whether the account offers `tool`; `None` when its list could not be had.
    async fn offers(&self, peer: &Peer<RoleClient>, tool: &str) -> Option<bool> {
        if let Some(known) = self.lock().as_ref() {
            return Some(known.contains(tool));
        }
        // Within the bounds of discovery: the person's upstream may be as hostile.
        let listed = tokio::time::timeout(LIST_TIMEOUT, listing::tools(peer)).await;
        let tools: HashSet<String> = match listed {
            Ok(Ok(tools)) => tools.into_iter().map(|t| t.name.into_owned()).collect(),
            Ok(Err(error)) => {
                tracing::warn!(%error, "could not list a person's own tools");
                return None;
            }
            Err(_) => return None,
        };
        let offers = tools.contains(tool);
        *self.lock() = Some(tools);
        Some(offers)
    }

    /// `upstream`'s error for a call of `tool` that failed as `answer` says, when the
    /// person's account does not offer the tool; `None` otherwise (the answer stands).
    pub async fn lacking(
        &self,
        peer: &Peer<RoleClient>,
        upstream: &str,
        tool: &str,
        answer: &Result<ServerResult, ServiceError>,
    ) -> Option<UpstreamCallError> {
        if !may_be_unknown_tool(answer) || self.offers(peer, tool).await != Some(false) {
            return None;
        }
        Some(UpstreamCallError::NotForAccount {
            upstream: upstream.to_owned(),
            tool: tool.to_owned(),
            account: None,
            manage_url: None,
        })
    }
}

/// How servers answer a call of a tool they do not know: rmcp's and the TypeScript SDK's
/// routers with invalid params ("tool not found"), some with method not found, and
/// Python's FastMCP with a tool error ("Unknown tool").
fn may_be_unknown_tool(answer: &Result<ServerResult, ServiceError>) -> bool {
    match answer {
        Err(ServiceError::McpError(error)) => {
            error.code == ErrorCode::INVALID_PARAMS || error.code == ErrorCode::METHOD_NOT_FOUND
        }
        Ok(ServerResult::CallToolResult(result)) => result.is_error == Some(true),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::ErrorData;
    use rmcp::model::{CallToolResult, ContentBlock};

    #[test]
    fn only_answers_an_unknown_tool_may_give_are_doubted() {
        let refused = |code| Err(ServiceError::McpError(ErrorData::new(code, "no", None)));
        assert!(may_be_unknown_tool(&refused(ErrorCode::INVALID_PARAMS)));
        assert!(may_be_unknown_tool(&refused(ErrorCode::METHOD_NOT_FOUND)));
        assert!(!may_be_unknown_tool(&refused(ErrorCode::INTERNAL_ERROR)));
        let failed = CallToolResult::error(vec![ContentBlock::text("Unknown tool: x")]);
        assert!(may_be_unknown_tool(&Ok(ServerResult::CallToolResult(
            failed
        ))));
        let fine = CallToolResult::success(vec![ContentBlock::text("done")]);
        assert!(!may_be_unknown_tool(&Ok(ServerResult::CallToolResult(
            fine
        ))));
        assert!(!may_be_unknown_tool(&Err(ServiceError::TransportClosed)));
    }
}
