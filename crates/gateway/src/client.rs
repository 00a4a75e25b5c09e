//! The gateway's MCP client side towards one upstream: progress of a call goes back to
//! the one caller who asked (by the progress token rmcp gave the proxied request), a
//! call given up on is cancelled at the upstream, and the upstream's `list_changed`
//! rediscovers its tools, which core announces to every server that attaches it. Its
//! requests and log messages go to the caller of the call they serve (`relay`).

// Sampling, roots and logging are deprecated by SEP-2577, but the sessions of the
// 2025 era still carry them, and the gateway relays them.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use guidepost_core::Platform;
use guidepost_core::upstreams::{CallProgress, ProgressSink, record_definitions};
use guidepost_domain::{DefinitionKind, Upstream};
use rmcp::model::{
    CancelledNotificationParam, ClientConfig, ClientNotification, CreateMessageRequestParams,
    CreateMessageResult, ElicitRequestParams, ElicitResult, ErrorCode, Implementation,
    ListRootsResult, LoggingMessageNotificationParam, Notification, ProgressNotificationParam,
    ProgressToken, RequestId, ResourceUpdatedNotificationParam,
};
use rmcp::service::{InboundStreamOrigin, NotificationContext, Peer, RequestContext};
use rmcp::{ClientHandler, ErrorData, RoleClient};
use serde_json::json;

use crate::account_tools::AccountTools;
use crate::listing::{self, ListError};
use crate::relay::CallRelays;
use crate::subscriptions::Subscriptions;
use tokio::time::Instant;

/// Where the progress of each call in flight goes, by the proxied request's token.
#[derive(Clone, Default)]
pub(crate) struct ProgressRoutes(Arc<Mutex<HashMap<ProgressToken, ProgressSink>>>);

impl ProgressRoutes {
    fn add(&self, token: ProgressToken, sink: ProgressSink) {
        self.0
            .lock()
            .expect("progress routes lock")
            .insert(token, sink);
    }

    fn remove(&self, token: &ProgressToken) {
        self.0.lock().expect("progress routes lock").remove(token);
    }

    fn sink(&self, token: &ProgressToken) -> Option<ProgressSink> {
        self.0
            .lock()
            .expect("progress routes lock")
            .get(token)
            .cloned()
    }
}

/// Where what an upstream sends about a call goes: its progress (by token) and its
/// requests and log messages (`relay`).
#[derive(Clone, Default)]
pub(crate) struct Routes {
    pub progress: ProgressRoutes,
    pub relays: CallRelays,
    pub subscriptions: Subscriptions,
    /// What a person's own session offers (`account_tools`).
    pub account_tools: AccountTools,
}

/// The handler of the gateway's connection to one upstream.
pub(crate) struct UpstreamClient {
    pub platform: Platform,
    pub upstream: Upstream,
    pub progress: ProgressRoutes,
    pub relays: CallRelays,
    pub subscriptions: Subscriptions,
    pub relisting: Relisting,
    /// Set on a person's own session: what their account offers is not the upstream's
    /// definitions, so a change is not rediscovered through it; its tools are listed again
    /// when needed.
    pub account_tools: Option<AccountTools>,
    /// Whether its `list_changed` rediscovers (the primary's): a replica's would list
    /// the same definitions again.
    pub discovers: bool,
    /// Set when this launch is given up on from its own connection.
    pub refusal: Refusal,
}

/// Why a running launch is given up on from its own connection (a rediscovery after
/// `list_changed` went past Guidepost's bounds): its watcher, waiting on it, ends the
/// launch and fails the upstream with this reason (`watch`). One per launch.
#[derive(Clone, Default)]
pub(crate) struct Refusal(Arc<RefusalState>);

#[derive(Default)]
struct RefusalState {
    why: Mutex<Option<String>>,
    told: tokio::sync::Notify,
}

impl Refusal {
    fn why(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.0
            .why
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Gives the launch up, for `why` (the first reason stands).
    pub fn refuse(&self, why: String) {
        self.why().get_or_insert(why);
        // Kept as a permit when the watcher is not waiting at this instant.
        self.0.told.notify_one();
    }

    /// Why the launch was given up, once it is.
    pub async fn refused(&self) -> String {
        loop {
            if let Some(why) = self.why().clone() {
                return why;
            }
            self.0.told.notified().await;
        }
    }
}

/// How long the caller's client has to answer one relayed request (a person may be
/// filling in a form).
const ROUND_TRIP: Duration = Duration::from_secs(300);

/// How long a rediscovery may take.
const RELIST_TIMEOUT: Duration = Duration::from_secs(30);
/// The least time between the starts of two rediscoveries of one upstream: a flood of
/// `list_changed` costs a listing every so often, not one per notification.
const RELIST_GAP: Duration = Duration::from_secs(2);

/// The rediscoveries of one launch, coalesced and paced: at most one in flight and one
/// more pending, each starting at least [`RELIST_GAP`] after the one before, however
/// many notifications come. The pending one lists what changed meanwhile, so the last
/// change is never missed.
#[derive(Clone, Default)]
pub(crate) struct Relisting(Arc<Mutex<RelistState>>);

#[derive(Default)]
struct RelistState {
    running: bool,
    pending: bool,
    last_start: Option<Instant>,
}

impl Relisting {
    fn lock(&self) -> std::sync::MutexGuard<'_, RelistState> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the caller is to run the rediscoveries: false when they already run
    /// (the notification is then remembered as pending).
    fn claim(&self) -> bool {
        let mut state = self.lock();
        if state.running {
            state.pending = true;
            return false;
        }
        state.running = true;
        true
    }

    /// Waits for the gap after the last start, then marks a new start: what is pending
    /// now is covered by the listing about to run.
    async fn next_start(&self) {
        let last = self.lock().last_start;
        if let Some(last) = last {
            tokio::time::sleep_until(last + RELIST_GAP).await;
        }
        let mut state = self.lock();
        state.pending = false;
        state.last_start = Some(Instant::now());
    }

    /// After a listing: whether another is due (a notification came meanwhile); if not,
    /// the next notification starts afresh.
    fn another_due(&self) -> bool {
        let mut state = self.lock();
        state.running = state.pending;
        state.pending
    }
}

impl ClientHandler for UpstreamClient {
    /// The gateway declares what it relays to callers (sampling, elicitation in form and
    /// URL mode, roots), so that tools offered only to such clients are discovered; a
    /// caller whose client lacks one gets a clear error when the tool asks (`relay`).
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.client_info = Implementation::new("guidepost-gateway", env!("CARGO_PKG_VERSION"));
        let relayed = json!({
            "sampling": {},
            "elicitation": {"form": {}, "url": {}},
            "roots": {"listChanged": true},
        });
        match serde_json::from_value(relayed) {
            Ok(capabilities) => info.capabilities = capabilities,
            Err(error) => tracing::error!(%error, "the gateway's client capabilities do not parse"),
        }
        info
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        self.relayed("sampling/createMessage", &params, &context)
            .await
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        self.relayed("elicitation/create", &params, &context).await
    }

    async fn list_roots(
        &self,
        context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        self.relayed("roots/list", &json!({}), &context).await
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let uri = params.uri.clone();
        if let Ok(params) = serde_json::to_value(params) {
            self.subscriptions.updated(&uri, params).await;
        }
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Ok(params) = serde_json::to_value(params) {
            self.relays.log(params).await;
        }
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(sink) = self.progress.sink(&params.progress_token) {
            let update = CallProgress {
                progress: params.progress,
                total: params.total,
                message: params.message,
            };
            // A slow caller loses progress updates, never the call.
            let _ = sink.try_send(update);
        }
    }

    async fn on_tool_list_changed(&self, context: NotificationContext<RoleClient>) {
        self.relist(context);
    }

    async fn on_prompt_list_changed(&self, context: NotificationContext<RoleClient>) {
        self.relist(context);
    }

    async fn on_resource_list_changed(&self, context: NotificationContext<RoleClient>) {
        self.relist(context);
    }
}

impl UpstreamClient {
    /// Relays the upstream's request to the caller of the call it serves, named in its
    /// `_meta` (`io.guidepost/upstream`) so that the client can show whose it is.
    async fn relayed<P: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: &P,
        context: &RequestContext<RoleClient>,
    ) -> Result<R, ErrorData> {
        // Over Streamable HTTP, the call whose response stream the request came on.
        let origin = match context.extensions.get::<InboundStreamOrigin>() {
            Some(InboundStreamOrigin::OutboundRequest(id)) => Some(id),
            _ => None,
        };
        let mut params = serde_json::to_value(params).unwrap_or_else(|_| json!({}));
        if let Some(object) = params.as_object_mut() {
            let meta = object.entry("_meta").or_insert_with(|| json!({}));
            if let Some(meta) = meta.as_object_mut() {
                let upstream = json!({"id": self.upstream.id, "name": self.upstream.name});
                meta.insert("io.guidepost/upstream".into(), upstream);
            }
        }
        let answer = self
            .relays
            .request(method, params, ROUND_TRIP, origin)
            .await
            .map_err(|refusal| ErrorData::new(ErrorCode(refusal.code), refusal.message, None))?;
        serde_json::from_value(answer).map_err(|e| {
            ErrorData::internal_error(
                format!("the caller's answer to {method} is invalid: {e}"),
                None,
            )
        })
    }

    /// Something the upstream offers changed: everything is listed again, once however
    /// many notifications come at once (`Relisting`).
    fn relist(&self, context: NotificationContext<RoleClient>) {
        if let Some(account_tools) = &self.account_tools {
            account_tools.forget();
            return;
        }
        if !self.discovers || !self.relisting.claim() {
            return;
        }
        // Listing waits for a response this connection's loop must read, so it runs apart.
        let platform = self.platform.clone();
        let upstream = self.upstream.clone();
        let peer = context.peer.clone();
        let relisting = self.relisting.clone();
        let refusal = self.refusal.clone();
        tokio::spawn(async move {
            loop {
                relisting.next_start().await;
                let listed =
                    tokio::time::timeout(RELIST_TIMEOUT, discover(&platform, &upstream, &peer));
                match listed.await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) if error.is_past_bounds() => {
                        // The definitions stored before are stale now, and reading on
                        // would cost without bound: the upstream is failed (`Refusal`).
                        tracing::warn!(upstream = %upstream.id, %error, "listing went past a bound after list_changed");
                        refusal.refuse(error.to_string());
                        return;
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(upstream = %upstream.id, %error, "listing failed after list_changed");
                    }
                    Err(_) => {
                        tracing::warn!(upstream = %upstream.id, "listing took too long after list_changed");
                    }
                }
                if !relisting.another_due() {
                    return;
                }
            }
        });
    }
}

/// Lists what the upstream offers (its tools; its prompts, resources and resource
/// templates when it declares them), each within Guidepost's bounds (`listing`), and
/// stores each kind. A failed `tools/list` is an error (a launch that cannot list its
/// tools failed); the other lists are best effort, unless one goes past a bound: an
/// upstream that does is failed, whatever it lists.
pub(crate) async fn discover(
    platform: &Platform,
    upstream: &Upstream,
    peer: &Peer<RoleClient>,
) -> Result<(), ListError> {
    let tools = listing::tools(peer).await?;
    store(platform, upstream, DefinitionKind::Tool, &tools).await;
    let capabilities = peer.peer_info().map(|info| info.capabilities.clone());
    let Some(capabilities) = capabilities else {
        return Ok(());
    };
    if capabilities.prompts.is_some()
        && let Some(prompts) = best_effort(upstream, listing::prompts(peer).await)?
    {
        store(platform, upstream, DefinitionKind::Prompt, &prompts).await;
    }
    if capabilities.resources.is_some() {
        if let Some(resources) = best_effort(upstream, listing::resources(peer).await)? {
            store(platform, upstream, DefinitionKind::Resource, &resources).await;
        }
        if let Some(templates) = best_effort(upstream, listing::resource_templates(peer).await)? {
            let kind = DefinitionKind::ResourceTemplate;
            store(platform, upstream, kind, &templates).await;
        }
    }
    Ok(())
}

/// A list other than the tools: one that failed is logged and left out, one past a
/// bound fails the discovery.
fn best_effort<T>(
    upstream: &Upstream,
    listed: Result<Vec<T>, ListError>,
) -> Result<Option<Vec<T>>, ListError> {
    match listed {
        Ok(items) => Ok(Some(items)),
        Err(error) if error.is_past_bounds() => Err(error),
        Err(error) => {
            tracing::warn!(upstream = %upstream.id, %error, "a list failed");
            Ok(None)
        }
    }
}

/// Stores the definitions of `kind` as listed (pinned, scanned, judged by core).
async fn store<T: serde::Serialize>(
    platform: &Platform,
    upstream: &Upstream,
    kind: DefinitionKind,
    listed: &[T],
) {
    let definitions = listed
        .iter()
        .filter_map(|item| serde_json::to_value(item).ok())
        .collect();
    if let Err(error) = record_definitions(platform, upstream, kind, definitions).await {
        tracing::warn!(upstream = %upstream.id, %kind, %error, "could not store what an upstream lists");
    }
}

/// A proxied call in flight: while it lives, the upstream's progress for it reaches the
/// caller; dropped before `finish` (timeout, or the caller cancelled or went away), it
/// tells the upstream to stop.
pub(crate) struct InFlight {
    pub peer: Peer<RoleClient>,
    pub id: RequestId,
    pub token: ProgressToken,
    pub routes: ProgressRoutes,
    pub finished: bool,
}

impl InFlight {
    pub fn new(
        peer: Peer<RoleClient>,
        id: RequestId,
        token: ProgressToken,
        routes: &ProgressRoutes,
        progress: Option<ProgressSink>,
    ) -> Self {
        if let Some(sink) = progress {
            routes.add(token.clone(), sink);
        }
        Self {
            peer,
            id,
            token,
            routes: routes.clone(),
            finished: false,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.routes.remove(&self.token);
        if self.finished {
            return;
        }
        let peer = self.peer.clone();
        let params = CancelledNotificationParam::new(
            Some(self.id.clone()),
            Some("the caller gave up on this call".into()),
        );
        let notification = ClientNotification::CancelledNotification(Notification::new(params));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = peer.send_notification(notification).await;
            });
        }
    }
}
