//! What the gate learned about a request, handed to the handler as a request extension.

use std::net::IpAddr;
use std::sync::Arc;

use guidepost_auth::VerifiedToken;
use guidepost_core::identity::Caller;
use guidepost_domain::{McpServer, McpSession, TrackingId};

use crate::notifications::Forwarders;

/// The tenant and caller of one MCP request. Surfaces read it through
/// [`crate::surface::scope`].
#[derive(Debug, Clone)]
pub struct RequestScope {
    pub server: Arc<McpServer>,
    pub tracking_id: Option<TrackingId>,
    /// The stored session, for session-era requests that carry one.
    pub session: Option<McpSession>,
    pub client_ip: Option<IpAddr>,
    /// The dashboard's tool tester sent it (`TestCall`), so it is recorded as a test.
    pub test_call: bool,
    /// How the server was reached, for URLs written back to the agent.
    pub endpoint_url: String,
    /// The signed-in person, from a bearer token that is valid for this server.
    pub token: Option<VerifiedToken>,
    /// The request's span (request id, organization, server, method): work that rmcp
    /// runs on other tasks enters it, so that its log lines say whose request it was.
    pub span: tracing::Span,
    /// This node's session forwarders (list-changed on GET streams).
    pub(crate) forwarders: Arc<Forwarders>,
    /// The log level each session of this node asked for (`logging/setLevel`).
    pub(crate) log_levels: Arc<crate::log_levels::LogLevels>,
}

impl RequestScope {
    pub(crate) fn caller(&self) -> Caller {
        Caller {
            org_id: self.server.org_id.clone(),
            server_id: self.server.id.clone(),
            tracking_id: self.tracking_id.clone(),
            session: self.session.clone(),
            signed_in: self.token.as_ref().map(|t| t.end_user.clone()),
        }
    }

    pub(crate) fn session_transport_id(&self) -> Option<String> {
        self.session.as_ref().map(|s| s.transport_id.clone())
    }
}
