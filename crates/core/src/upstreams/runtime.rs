//! What runs upstreams on a node, as core sees it: the [`UpstreamRuntime`] trait the
//! gateway implements, the answer of a call through it, and why a call has none.

use std::time::Duration;

use async_trait::async_trait;
use guidepost_domain::*;
use serde_json::Value;

use crate::Platform;

/// Progress of a proxied call, as the upstream reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallProgress {
    pub progress: f64,
    pub total: Option<f64>,
    pub message: Option<String>,
}

/// Where a call's progress goes: the caller's own connection.
pub type ProgressSink = tokio::sync::mpsc::Sender<CallProgress>;

/// The client of the person who made a call, as the upstream may reach it while the call
/// runs: what it can answer (`sampling/createMessage`, `elicitation/create`,
/// `roots/list`) and the way to ask it and tell it things (`notifications/message`).
/// Implemented by the MCP layer over the caller's own connection.
#[async_trait]
pub trait CallerClient: Send + Sync {
    /// Whether the client declared what `method` needs.
    fn answers(&self, method: &str) -> bool;
    /// Sends `method` to the client and waits for its answer (the protocol's shapes).
    async fn request(&self, method: &str, params: Value) -> Result<Value, RelayError>;
    /// Sends a notification to the client (best effort).
    async fn notify(&self, method: &str, params: Value);
    /// Whether the client is gone for good (its session closed): nothing reaches it.
    fn is_gone(&self) -> bool {
        false
    }
}

/// A client subscribed to one of an upstream's resources (`resources/subscribe`).
#[derive(Clone)]
pub struct Subscriber {
    /// Whose subscription: the session it came on (one per session and URI).
    pub id: String,
    /// The URI the client knows the resource by.
    pub exposed_uri: String,
    pub client: std::sync::Arc<dyn CallerClient>,
    /// Who subscribed, their connection checked: an upstream with `person` sign-in is
    /// subscribed to through their own connection (`None` for any other upstream).
    pub person: Option<CallingPerson>,
}

/// Why a request relayed to the caller's client has no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RelayError {
    /// The client answered with a JSON-RPC error, passed back as given.
    #[error("{message}")]
    Refused { code: i32, message: String },
    /// The client could not be reached, or took too long.
    #[error("the caller's client did not answer: {0}")]
    Unanswered(String),
}

/// What a call through an upstream carries besides its arguments: where its progress
/// goes and the caller's client, for the upstream's requests while it runs.
#[derive(Clone, Default)]
pub struct CallContext {
    pub progress: Option<ProgressSink>,
    pub caller: Option<std::sync::Arc<dyn CallerClient>>,
    /// Who calls, on which server: an upstream with `person` sign-in is called with that
    /// person's own connection.
    pub person: Option<CallingPerson>,
}

/// The person behind a call and the server they called through.
#[derive(Clone, Debug)]
pub struct CallingPerson {
    pub end_user: EndUserId,
    pub server: McpServer,
    /// Set only by [`super::connections::person_connected`], once their connection to the
    /// called `person` upstream was found usable for this call: [`super::call`] does not
    /// read it again.
    pub(crate) connection_checked: bool,
}

impl CallingPerson {
    pub fn new(end_user: EndUserId, server: McpServer) -> Self {
        Self {
            end_user,
            server,
            connection_checked: false,
        }
    }
}

/// What a switch does when the new launch does not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailedSwitch {
    /// It takes over all the same, its status saying why (a rollback; a node following
    /// another's upgrade, which that node undoes if it fails there too).
    TakeOver,
    /// The old instance goes on serving and the upgrade is undone in the record
    /// (`upgrade::undo_failed_upgrade`): the node that was asked for the upgrade.
    Undo,
}

/// What runs upstreams on this node (the gateway's supervisor).
#[async_trait]
pub trait UpstreamRuntime: Send + Sync {
    /// An upstream was installed (or restarted): fetch what it needs and start it. Returns
    /// at once; progress shows in its stored status.
    fn start(&self, platform: &Platform, upstream: &Upstream);
    /// Stops the upstream on this node and forgets it.
    /// Starts the upstream as it is now (an upgrade, new settings or secrets, a
    /// rollback) beside the instance this node runs, if any; once it is up, new calls go
    /// to it, and the old one stops when the calls it holds are answered. If it does not
    /// start, `on_failure` says what happens.
    fn switch(&self, platform: &Platform, upstream: &Upstream, on_failure: OnFailedSwitch);
    /// Whether a switch of the upstream is under way on this node.
    fn is_switching(&self, _upstream: &UpstreamId) -> bool {
        false
    }
    async fn stop(&self, upstream: &UpstreamId);
    /// The upstream is being uninstalled: it stops on this node for good (a call racing
    /// the uninstall does not start it again), and what the node kept for it goes.
    async fn discard(&self, upstream: &UpstreamId);
    /// Calls `tool` with `arguments`: the upstream's answer, or why there is none. The
    /// upstream's progress goes to the context's sink, its requests to the context's
    /// caller (`CallerClient`); dropping the future cancels the call at the upstream.
    async fn call(
        &self,
        platform: &Platform,
        upstream: &Upstream,
        tool: &str,
        arguments: Value,
        timeout: Duration,
        context: CallContext,
    ) -> Result<UpstreamAnswer, UpstreamCallError>;
    /// Sends `request` (a prompt, a resource read, a completion) to the upstream: its
    /// result in the protocol's own shape, or why there is none. An upstream with
    /// `person` sign-in is asked through `person`'s own connection (checked by
    /// [`super::connections::person_connected`] first), never the organization's.
    async fn request(
        &self,
        platform: &Platform,
        upstream: &Upstream,
        request: UpstreamRequest,
        timeout: Duration,
        person: Option<&CallingPerson>,
    ) -> Result<Value, UpstreamCallError>;
    /// Subscribes `subscriber` to the upstream's resource `uri` on this node: the
    /// upstream is subscribed once, whoever subscribes after, and its updates of `uri` go
    /// to every subscriber under their exposed URI. An upstream with `person` sign-in is
    /// subscribed once per person, through their own connection (`subscriber.person`), and
    /// its updates go to that person's subscribers only.
    async fn subscribe(
        &self,
        platform: &Platform,
        upstream: &Upstream,
        uri: &str,
        subscriber: Subscriber,
        timeout: Duration,
    ) -> Result<(), UpstreamCallError>;
    /// Ends `subscriber_id`'s subscription to `uri`; the upstream is unsubscribed when
    /// nobody on this node is subscribed any more.
    async fn unsubscribe(
        &self,
        platform: &Platform,
        upstream: &Upstream,
        uri: &str,
        subscriber_id: &str,
        timeout: Duration,
    ) -> Result<(), UpstreamCallError>;
    /// The upstream's recent stderr lines on this node, oldest first.
    fn logs(&self, upstream: &UpstreamId) -> Vec<String>;
    /// Whether this node would start an upstream of `org` launched as `spec` now: its
    /// confinement is in force and the organization's and node's caps leave room.
    fn admits(&self, _org: &OrgId, _spec: &LaunchSpec) -> Result<(), NotAdmitted> {
        Ok(())
    }
    /// [`admits`](Self::admits) for `replicas` processes of it at once.
    fn admits_replicas(
        &self,
        org: &OrgId,
        spec: &LaunchSpec,
        _replicas: u32,
    ) -> Result<(), NotAdmitted> {
        self.admits(org, spec)
    }
    /// What confinement this node applies to an upstream launched as `spec`, in a line
    /// (`None` where it runs no process of this host: HTTP upstreams).
    fn confinement(&self, _spec: &LaunchSpec) -> Option<String> {
        None
    }
    /// What confinement is in force on this node, for `/readyz`.
    fn confinement_report(&self) -> Option<Value> {
        None
    }
}

/// A client's request other than a tool call, as the upstream is to get it (names and
/// URIs already the upstream's own).
#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamRequest {
    /// `prompts/get`.
    GetPrompt {
        name: String,
        arguments: Option<serde_json::Map<String, Value>>,
    },
    /// `resources/read`.
    ReadResource { uri: String },
    /// `completion/complete`, its params whole (the reference rewritten).
    Complete { params: Value },
    /// `resources/subscribe`.
    Subscribe { uri: String },
    /// `resources/unsubscribe`.
    Unsubscribe { uri: String },
}

impl UpstreamRequest {
    /// The method's name, for logs and errors.
    pub fn method(&self) -> &'static str {
        match self {
            UpstreamRequest::GetPrompt { .. } => "prompts/get",
            UpstreamRequest::ReadResource { .. } => "resources/read",
            UpstreamRequest::Complete { .. } => "completion/complete",
            UpstreamRequest::Subscribe { .. } => "resources/subscribe",
            UpstreamRequest::Unsubscribe { .. } => "resources/unsubscribe",
        }
    }
}

/// An upstream's answer to a tool call, as it gave it: its content blocks (text, images,
/// resources, in the protocol's own shapes), its structured content and whether it is an
/// error the upstream reports (absent stays absent, as the upstream sent it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpstreamAnswer {
    pub content: Vec<Value>,
    pub structured_content: Option<Value>,
    pub is_error: Option<bool>,
    /// The answer's `_meta`, passed on as given.
    pub meta: Option<serde_json::Map<String, Value>>,
}

/// Why a call through an upstream has no answer; each says, for an agent, what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpstreamCallError {
    /// It could not be launched on this node (its package, its confinement, a cap, its
    /// restarts used up).
    #[error("the upstream server did not start: {0}")]
    NotStarted(String),
    /// The request could not be sent.
    #[error("the upstream server could not be reached: {0}")]
    Unreachable(String),
    #[error(
        "the upstream server did not answer within {} s; try again or ask for less",
        .0.as_secs_f64()
    )]
    TimedOut(Duration),
    /// Its launch (a package fetch, a handshake) was still under way when the caller's
    /// timeout ran out; it goes on, for the calls after.
    #[error(
        "the upstream server is still starting and was not up within {} s; try again in a \
         moment",
        .0.as_secs_f64()
    )]
    StillStarting(Duration),
    /// It answered with a protocol error, or the connection broke.
    #[error("the upstream server failed: {0}")]
    Failed(String),
    /// It refused the request with a JSON-RPC error, passed on as it gave it (such as
    /// an unknown resource).
    #[error("{message}")]
    Refused {
        code: i32,
        message: String,
        data: Option<Value>,
    },
    /// It asked for something the gateway does not relay.
    #[error("the upstream server {0}, which this gateway does not relay yet")]
    Unrelayed(&'static str),
    /// What it answered is not a tool result.
    #[error("the upstream server answered with an invalid result: {0}")]
    InvalidResult(String),
    /// The caller cancelled the call.
    #[error("the call was cancelled")]
    Cancelled,
    /// The upstream acts with each person's own account, and the caller's is not
    /// connected (or must be connected again): `url` connects it.
    #[error(
        "{upstream} works with your own account there, which is not connected yet. Show the \
         user this link to connect it: {url} (it works once, for 15 minutes); then try \
         again"
    )]
    NeedsConnection { upstream: String, url: String },
    /// The upstream works with each person's own account, and the caller's does not offer
    /// `tool` (its own `tools/list` there lacks it), though the account it was discovered
    /// with does. The gateway says so with the upstream's own names; core names the tool
    /// as the caller knows it, the account, and where the person manages their
    /// connections.
    #[error(
        "{tool} is not available to your account at {upstream}{}: that account does not \
         offer this tool there. To use it, {}connect another account at {upstream} that has \
         it (call the tool again once disconnected to get a link), or ask your \
         organization's administrators for access to it",
        account_named(.account),
        disconnect_where(.manage_url)
    )]
    NotForAccount {
        upstream: String,
        tool: String,
        account: Option<String>,
        manage_url: Option<String>,
    },
}

fn account_named(account: &Option<String>) -> String {
    account
        .as_deref()
        .map(|account| format!(" ({account})"))
        .unwrap_or_default()
}

fn disconnect_where(manage_url: &Option<String>) -> String {
    match manage_url {
        Some(url) => format!("disconnect this account on your connections page ({url}) and "),
        None => "disconnect this account and ".into(),
    }
}

/// Why this node would not launch an upstream now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAdmitted(pub String);
