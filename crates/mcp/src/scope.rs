//! What the gate learned about a request, handed to the handler as a request extension.

use std::net::IpAddr;
use std::sync::Arc;

use guidepost_auth::VerifiedToken;
use guidepost_core::identity::Caller;
use guidepost_domain::{McpServer, McpSession, TrackingId};

#[derive(Debug, Clone)]
pub(crate) struct RequestScope {
    pub server: Arc<McpServer>,
    pub tracking_id: Option<TrackingId>,
    /// The stored session, for session-era requests that carry one.
    pub session: Option<McpSession>,
    pub client_ip: Option<IpAddr>,
    /// How the server was reached, for URLs written back to the agent.
    pub endpoint_url: String,
    /// The signed-in person, from a bearer token that is valid for this server.
    pub token: Option<VerifiedToken>,
}

impl RequestScope {
    pub fn caller(&self) -> Caller {
        Caller {
            org_id: self.server.org_id.clone(),
            server_id: self.server.id.clone(),
            tracking_id: self.tracking_id.clone(),
            session: self.session.clone(),
            signed_in: self.token.as_ref().map(|t| t.end_user.clone()),
        }
    }

    pub fn session_transport_id(&self) -> Option<String> {
        self.session.as_ref().map(|s| s.transport_id.clone())
    }
}
