//! What the gate learned about a request, handed to the handler as a request extension.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use guidepost_auth::VerifiedToken;
use guidepost_core::Platform;
use guidepost_core::accounts::identity::Caller;
use guidepost_core::upstreams::CallingPerson;
use guidepost_domain::{McpServer, McpSession, ServerId, TrackingId};
use tokio::sync::broadcast;

use crate::notifications::Forwarders;

/// The tenant and caller of one MCP request. Surfaces read it through
/// [`crate::surface::scope`].
#[derive(Debug, Clone)]
pub struct RequestScope {
    pub server: Arc<McpServer>,
    pub tracking_id: Option<TrackingId>,
    /// The stored session, for session-era requests that carry one.
    pub session: Option<McpSession>,
    /// The client's address as per-address limits key it: its prefix
    /// (`guidepost_core::rate_limit::AddressPrefixes`), not the full address.
    pub client_ip: Option<IpAddr>,
    /// The dashboard's tool tester sent it (`TestCall`), so it is recorded as a test.
    pub test_call: bool,
    /// How the server was reached (`Host` and URI), for URLs written back to the agent
    /// (`endpoint_url`).
    pub host: Option<http::HeaderValue>,
    pub uri: http::Uri,
    /// The signed-in person, from a bearer token that is valid for this server.
    pub token: Option<VerifiedToken>,
    /// The request's span (request id, organization, server, method): work that rmcp
    /// runs on other tasks enters it, so that its log lines say whose request it was.
    pub span: tracing::Span,
    /// This node's session forwarders (list-changed on GET streams).
    pub(crate) forwarders: Arc<Forwarders>,
    /// The endpoint's metrics, registered once per label set.
    pub(crate) metrics: Arc<crate::metric_handles::RequestMetrics>,
    /// The log level each session of this node asked for (`logging/setLevel`).
    pub(crate) log_levels: Arc<crate::log_levels::LogLevels>,
    /// For a `subscriptions/listen`: the change feed, subscribed when it was admitted.
    pub(crate) listen_feed: Option<ListenFeed>,
}

/// The change feed of a `subscriptions/listen` request, subscribed to by the gate.
///
/// rmcp sends the client the subscription's acknowledgment before it calls the
/// handler's `listen`, and the handler runs only once the acknowledgment's send is
/// done. A feed subscribed in `listen` misses a change made in between: a client that
/// changes a list as soon as it reads the acknowledgment (the conformance suite does,
/// and under load its check found no notification). Subscribed before the request
/// reaches rmcp, the feed holds every change from the request's admission on.
#[derive(Debug, Clone)]
pub(crate) struct ListenFeed {
    feed: Arc<Mutex<Option<broadcast::Receiver<ServerId>>>>,
    admitted_at: Instant,
}

impl ListenFeed {
    pub(crate) fn subscribe(platform: &Platform) -> Self {
        Self {
            feed: Arc::new(Mutex::new(Some(platform.tool_changes()))),
            admitted_at: Instant::now(),
        }
    }
}

impl RequestScope {
    /// The person whose token the request carries, known without the store: what a call
    /// refused before its caller is looked up is recorded with (a tracking id alone is not
    /// looked up for a refusal).
    pub fn signed_in_end_user(&self) -> Option<&guidepost_domain::EndUser> {
        self.token.as_ref().map(|token| &token.end_user)
    }

    /// `end_user` as the person behind a request to this scope's server: whom an upstream
    /// with `person` sign-in is asked as.
    pub fn calling_person(&self, end_user: &guidepost_domain::EndUser) -> CallingPerson {
        CallingPerson::new(end_user.id.clone(), self.server.as_ref().clone())
    }

    /// The URL the client used, without query: written into hints for the agent.
    pub fn endpoint_url(&self, platform: &Platform) -> String {
        match crate::routing::host_of(self.host.as_ref(), &self.uri) {
            Some(host) => format!(
                "{}{}",
                platform.config.origin_for_host(&host),
                self.uri.path()
            ),
            None => guidepost_core::hosting::servers::mcp_url(&platform.config, &self.server),
        }
    }

    pub(crate) fn caller(&self) -> Caller {
        Caller {
            org_id: self.server.org_id.clone(),
            server_id: self.server.id.clone(),
            tracking_id: self.tracking_id.clone(),
            session: self.session.clone(),
            signed_in: self.token.as_ref().map(|t| t.end_user.clone()),
        }
    }

    /// Changes of servers' tool lists: for a `subscriptions/listen`, every change since
    /// the request was admitted (the feed the gate subscribed to, taken once); else
    /// from now on.
    pub fn tool_changes(&self, platform: &Platform) -> broadcast::Receiver<ServerId> {
        let early = self.listen_feed.as_ref().and_then(|listen| {
            let mut taken = listen.feed.lock().unwrap_or_else(|e| e.into_inner());
            taken.take()
        });
        early.unwrap_or_else(|| platform.tool_changes())
    }

    /// For a `subscriptions/listen`: when the gate admitted it (and subscribed it to the
    /// change feed). A surface with changes of its own catches up on those made since.
    pub fn listen_admitted_at(&self) -> Option<Instant> {
        self.listen_feed.as_ref().map(|listen| listen.admitted_at)
    }

    pub(crate) fn session_transport_id(&self) -> Option<String> {
        self.session.as_ref().map(|s| s.transport_id.clone())
    }
}

/// The end user who makes this request, if the caller is one; a store failure becomes an
/// error the client may retry.
pub(crate) async fn resolve_end_user(
    platform: &Platform,
    scope: &RequestScope,
) -> Result<Option<guidepost_domain::EndUser>, rmcp::ErrorData> {
    guidepost_core::accounts::identity::resolve_end_user(platform, &scope.caller())
        .await
        .map_err(|error| {
            tracing::error!(%error, "could not resolve the end user");
            rmcp::ErrorData::internal_error("could not identify the caller; please retry", None)
        })
}
