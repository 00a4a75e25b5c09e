//! The gate in front of rmcp: everything that must be decided per tenant or per request
//! before the protocol layer runs, and that rmcp either cannot do per tenant (Host,
//! Origin) or answers in a way the spec does not want (malformed JSON → 415 instead of
//! −32700, unknown sessions in memory only).

mod body;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use guidepost_auth::VerifiedToken;
use guidepost_core::Platform;
use guidepost_core::hosting::sessions;
use guidepost_domain::{McpServer, McpSession, TrackingId};
use http::request::Parts;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::field::display;

use crate::in_flight::InFlight;
use crate::jsonrpc::{self, Inbound, Refusal};
use crate::listen_streams::{ListenPlace, ListenStreams};
use crate::live_sessions::LiveSessions;
use crate::metric_handles::RequestMetrics;
use crate::notifications::Forwarders;
use crate::rate_limit::Limiters;
use crate::recording::{CallRecord, Recorded};
use crate::scope::{ListenFeed, RequestScope};
use crate::tools::ToolSources;
use crate::{
    McpOptions, bearer, direct, json_answer, new_sessions, rate_limit, recording, request_trace,
    routing,
};
use body::{LARGE_BODIES_IN_FLIGHT, discard, large_body_permit, parse_message, read_body};

pub(crate) struct GateState {
    platform: Platform,
    options: McpOptions,
    limiters: Limiters,
    /// For the metrics label of calls refused here.
    tools: ToolSources,
    forwarders: Arc<Forwarders>,
    metrics: Arc<RequestMetrics>,
    log_levels: Arc<crate::log_levels::LogLevels>,
    live: Arc<LiveSessions>,
    /// The open `subscriptions/listen` streams, under the session caps' numbers.
    listen_streams: Arc<ListenStreams>,
    /// Permits for large bodies in flight (see `large_body_permit`).
    large_bodies: Arc<Semaphore>,
    in_flight: InFlight,
}

impl GateState {
    pub fn new(
        platform: Platform,
        options: McpOptions,
        tools: ToolSources,
        live: Arc<LiveSessions>,
        in_flight: InFlight,
    ) -> Self {
        let limiters = Limiters::new(options.rate_limits);
        let listen_streams = ListenStreams::new(options.session_caps);
        Self {
            platform,
            options,
            limiters,
            tools,
            forwarders: Arc::default(),
            metrics: Arc::default(),
            log_levels: Arc::default(),
            live,
            listen_streams,
            large_bodies: Arc::new(Semaphore::new(LARGE_BODIES_IN_FLIGHT)),
            in_flight,
        }
    }
}

/// The answer for a server whose kind has no surface on this node.
pub(crate) fn not_served() -> Response {
    no_server(Value::Null).into_response()
}

fn no_server(id: Value) -> Refusal {
    let message = "No MCP server is served at this address";
    Refusal::new(
        StatusCode::NOT_FOUND,
        id,
        jsonrpc::SESSION_NOT_FOUND,
        message,
    )
}

pub(crate) async fn gate(
    State(state): State<Arc<GateState>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let admitted = match admit(&state, parts, body).await {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal.into_response(),
    };
    let Admitted {
        mut request,
        inbound,
        scope,
        _large_body,
        listen_place,
    } = admitted;
    let is_delete = request.method() == Method::DELETE;
    let streams_only = request.method() == Method::GET
        || inbound
            .as_ref()
            .is_some_and(|i| i.is("subscriptions/listen"));
    let answering = (!streams_only).then(|| state.in_flight.enter());
    let method = jsonrpc::method_label(inbound.as_ref().and_then(|i| i.method.as_deref()));
    // A tool call travels on parsed, so that a surface that answers it without rmcp
    // (`direct`) does not parse it again; `initialize` stays here, for after the answer.
    let initialize = match inbound {
        Some(inbound) if inbound.is("tools/call") => {
            request.extensions_mut().insert(direct::Parsed(inbound));
            None
        }
        inbound => inbound.filter(|i| i.is("initialize")),
    };
    if let Some(session) = &scope.session {
        state
            .live
            .touch(&session.transport_id, scope.client_ip, &scope.server.id)
            .await;
    }
    let mut response = next.run(request).await;
    if scope.session.is_some() && !streams_only {
        response = json_answer::when_answered_at_once(response).await;
    }
    if is_delete && response.status() == StatusCode::ACCEPTED {
        // The session is gone: nothing more will happen, so say "done" rather than
        // "accepted" (clients treat 202 on DELETE as a failed termination).
        *response.status_mut() = StatusCode::NO_CONTENT;
        if let Some(session) = &scope.session {
            state.live.forget(&session.transport_id);
        }
    }
    if let Some(inbound) = &initialize {
        let opened = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(transport_id) = opened.filter(|_| response.status().is_success()) {
            let stored_per_ip = state.live.stored_per_ip();
            new_sessions::remember(
                &state.platform,
                &scope,
                inbound,
                &transport_id,
                stored_per_ip,
            )
            .await;
            let server = &scope.server.id;
            state
                .live
                .touch(&transport_id, scope.client_ip, server)
                .await;
        }
    }
    let status = response.status().as_u16();
    state
        .metrics
        .request(method, status, started.elapsed().as_secs_f64());
    // Counted until the whole answer is sent (a session-era answer is a stream); a
    // listen stream holds its place under the caps until it ends.
    let response = match answering {
        Some(answering) => holding(response, answering),
        None => response,
    };
    match listen_place {
        Some(place) => holding(response, place),
        None => response,
    }
}

/// `response`, with `held` kept until its body has been sent, or dropped when the client
/// goes away.
fn holding<T: Send + 'static>(response: Response, held: T) -> Response {
    response.map(|body| {
        Body::new(body.map_frame(move |frame| {
            let _ = &held;
            frame
        }))
    })
}

/// What passed the gate: the request for rmcp, its message, its scope, the permit that a
/// large body holds until it has been answered, and a listen stream's place.
struct Admitted {
    request: Request,
    inbound: Option<Inbound>,
    scope: RequestScope,
    _large_body: Option<OwnedSemaphorePermit>,
    listen_place: Option<ListenPlace>,
}

/// Decides whether a request reaches rmcp, and with what scope. What needs no body comes
/// first (the client address's budget, which server, Origin, sign-in), so that an
/// unauthenticated or misdirected request costs no body parsing; refusals before the body
/// is read name no request id.
async fn admit(state: &GateState, parts: Parts, body: Body) -> Result<Admitted, Refusal> {
    let platform = &state.platform;
    let settled = match check_address(state, &parts) {
        Ok(()) => who_and_where(platform, &parts).await,
        Err(refusal) => Err(refusal),
    };
    let (server, token) = match settled {
        Ok(settled) => settled,
        Err(refusal) => {
            discard(body, state.options.body_limit).await;
            return Err(refusal);
        }
    };
    let span = tracing::Span::current();
    let large_body = large_body_permit(&state.large_bodies, &parts).await?;
    let (bytes, inbound) = if parts.method == Method::POST {
        let bytes = read_body(body, state.options.body_limit).await?;
        let inbound = parse_message(&bytes)?;
        (bytes, Some(inbound))
    } else {
        (bytes::Bytes::new(), None)
    };
    if let Some(method) = inbound.as_ref().and_then(|i| i.method.as_deref()) {
        span.record("mcp_method", display(jsonrpc::method_label(Some(method))));
    }
    let id = request_id(&inbound);
    if let Some(initialize) = inbound.as_ref().filter(|i| i.is("initialize")) {
        new_sessions::check_size(initialize)?;
    }
    let listen_place = match inbound.as_ref().filter(|i| i.is("subscriptions/listen")) {
        Some(_) => Some(listen_place(state, &parts, &server, &id)?),
        None => None,
    };
    let tracking_id = tracking_id(&parts, &id)?;
    let session = match session_id_to_check(&parts) {
        Some(transport_id) => Some(live_session(platform, &server, transport_id, id).await?),
        None => None,
    };
    let span = request_trace::mcp_span(inbound.as_ref(), &server, session.as_ref());
    let listen_feed = inbound
        .as_ref()
        .filter(|inbound| inbound.is("subscriptions/listen"))
        .map(|_| ListenFeed::subscribe(platform));
    let scope = RequestScope {
        host: parts.headers.get(http::header::HOST).cloned(),
        uri: parts.uri.clone(),
        server,
        tracking_id,
        session,
        client_ip: client_ip(&parts),
        test_call: parts.extensions.get::<crate::TestCall>().is_some(),
        token,
        span,
        forwarders: state.forwarders.clone(),
        metrics: state.metrics.clone(),
        log_levels: state.log_levels.clone(),
        listen_feed,
    };
    check_limits(state, &scope, inbound.as_ref())?;
    let mut request = Request::from_parts(parts, Body::from(bytes));
    request.extensions_mut().insert(scope.clone());
    Ok(Admitted {
        request,
        inbound,
        scope,
        _large_body: large_body,
        listen_place,
    })
}

/// A `subscriptions/listen` stream's place under the caps (per client address, per
/// server, per node), or the 429 that says which cap it would break.
fn listen_place(
    state: &GateState,
    parts: &Parts,
    server: &McpServer,
    id: &Value,
) -> Result<ListenPlace, Refusal> {
    state
        .listen_streams
        .admit(client_ip(parts), &server.id)
        .map_err(|cap| cap.refusal(id.clone()))
}

/// Which server, and who is asking: settled from the head of the request alone.
async fn who_and_where(
    platform: &Platform,
    parts: &Parts,
) -> Result<(Arc<McpServer>, Option<VerifiedToken>), Refusal> {
    let server = match routing::resolve_server(platform, parts).await {
        Ok(Some(server)) => server,
        Ok(None) => return Err(no_server(Value::Null)),
        Err(error) => return Err(internal(&error)),
    };
    let span = tracing::Span::current();
    span.record("org", display(&server.org_id));
    span.record("server", display(&server.id));
    check_origin(platform, &server, parts, &Value::Null)?;
    let token = bearer::signed_in(platform, &server, parts, &Value::Null).await?;
    Ok((server, token))
}

fn request_id(inbound: &Option<Inbound>) -> Value {
    inbound
        .as_ref()
        .map(|i| i.id.clone())
        .unwrap_or(Value::Null)
}

fn internal(error: &dyn std::fmt::Display) -> Refusal {
    tracing::error!(%error, "MCP gate failed");
    Refusal::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        Value::Null,
        jsonrpc::INTERNAL_ERROR,
        "Internal error; please retry",
    )
}

/// Browsers send `Origin`; a page from another site must not drive the server (DNS
/// rebinding, cross-site requests). Allowed: the server's `allowed_origins`, and the
/// platform's own hosts for this server. Requests without `Origin` are not from a page.
fn check_origin(
    platform: &Platform,
    server: &McpServer,
    parts: &Parts,
    id: &Value,
) -> Result<(), Refusal> {
    let Some(origin) = parts.headers.get(http::header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_ascii_lowercase();
    let allowed =
        server.allowed_origins.contains(&origin) || is_own_origin(platform, server, &origin);
    if allowed {
        return Ok(());
    }
    Err(Refusal::new(
        StatusCode::FORBIDDEN,
        id.clone(),
        jsonrpc::FORBIDDEN,
        "Origin not allowed for this MCP server",
    ))
}

/// Whether `origin` is one of the platform's own origins for this server: its public
/// scheme and port (an origin is scheme, host and port: another port of the same host is
/// another site), and the base domain, the server's subdomain or its custom domain.
fn is_own_origin(platform: &Platform, server: &McpServer, origin: &str) -> bool {
    let config = &platform.config;
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = |scheme: &str| match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().ok()),
        None => (authority, default_port(scheme)),
    };
    let public_port = config.public_port.or(default_port(&config.public_scheme));
    if scheme != config.public_scheme || port.is_none() || port != public_port {
        return false;
    }
    let base = &config.base_domain;
    host == base
        || host == format!("{}.{base}", server.slug)
        || server.custom_domain.as_deref() == Some(host)
}

fn tracking_id(parts: &Parts, id: &Value) -> Result<Option<TrackingId>, Refusal> {
    let Some(query) = parts.uri.query() else {
        return Ok(None);
    };
    let raw = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("tracking_id="));
    raw.map(|value| {
        TrackingId::parse(value).map_err(|e| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                id.clone(),
                jsonrpc::INVALID_PARAMS,
                e.to_string(),
            )
        })
    })
    .transpose()
}

/// The `Mcp-Session-Id` to validate: every message that names a session, whatever its
/// era or method. rmcp routes a message into the session its header names, `initialize`
/// too (only one without the header starts a session), so another server's session is
/// refused here whatever the message.
fn session_id_to_check(parts: &Parts) -> Option<&str> {
    parts.headers.get("mcp-session-id")?.to_str().ok()
}

/// The stored session, if it exists for this server and has not been idle too long.
async fn live_session(
    platform: &Platform,
    server: &McpServer,
    transport_id: &str,
    id: Value,
) -> Result<McpSession, Refusal> {
    match sessions::live(platform, &server.id, transport_id).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            id,
            jsonrpc::SESSION_NOT_FOUND,
            "Session not found or expired; initialize a new session",
        )),
        Err(error) => Err(internal(&error)),
    }
}

/// Every request spends from its client IP's budget, first of all: past it, a flood of
/// unknown hosts, bad tokens, stale session ids or malformed bodies costs no store lookup
/// and no parsing. A request refused here names no request id (its body is not read) and
/// is not recorded as a tool call: its server is not yet known, and recording a flood's
/// refusals would grow the store at the flood's pace.
fn check_address(state: &GateState, parts: &Parts) -> Result<(), Refusal> {
    let ip = client_ip(parts).map(|ip| ip.to_string());
    state
        .limiters
        .check_ip(ip.as_deref())
        .map_err(|refusal| rate_limited(Value::Null, &refusal))
}

fn rate_limited(id: Value, refusal: &rate_limit::Refusal) -> Refusal {
    let retry_after = guidepost_core::rate_limit::retry_after_secs(refusal.retry_after);
    Refusal::rate_limited(id, retry_after, refusal.scope)
}

/// A tool call spends from its end user's budget too; refused, it is recorded like any
/// other call. Its shape is checked around the budget: a call without a name is refused
/// first and recorded nowhere (there is no tool to count it against); arguments that are
/// not an object are refused after the budget is spent, and recorded against the tool (a
/// client sending them is worth seeing in its error rate).
fn check_limits(
    state: &GateState,
    scope: &RequestScope,
    inbound: Option<&Inbound>,
) -> Result<(), Refusal> {
    let Some(call) = inbound.filter(|i| i.is("tools/call")) else {
        return Ok(());
    };
    if call.tool_name().is_none() {
        return Err(invalid_params(
            call,
            "tools/call needs params.name, the tool's name",
        ));
    }
    let user = user_key(scope);
    state
        .limiters
        .check_user(user.as_deref())
        .map_err(|refusal| {
            let recorded = Recorded::refused(jsonrpc::RATE_LIMITED, "rejected by the rate limit");
            record_refused_call(state, scope, call, recorded);
            rate_limited(call.id.clone(), &refusal)
        })?;
    match call.params.get("arguments") {
        Some(arguments) if !arguments.is_object() => {
            let message = "params.arguments must be an object";
            let recorded = Recorded::refused(jsonrpc::INVALID_PARAMS, message)
                .refused_as(Some(guidepost_domain::CallRefusal::InvalidArguments));
            record_refused_call(state, scope, call, recorded);
            Err(invalid_params(call, message))
        }
        _ => Ok(()),
    }
}

/// An invalid `tools/call` is invalid params (rmcp would answer a nameless call with
/// −32601).
fn invalid_params(inbound: &Inbound, message: &str) -> Refusal {
    Refusal::new(
        StatusCode::OK,
        inbound.id.clone(),
        jsonrpc::INVALID_PARAMS,
        message,
    )
}

fn record_refused_call(
    state: &GateState,
    scope: &RequestScope,
    inbound: &Inbound,
    recorded: Recorded,
) {
    let tool_name = inbound.tool_name().unwrap_or_default();
    let arguments = inbound
        .params
        .get("arguments")
        .cloned()
        .unwrap_or(Value::Null);
    let call = CallRecord {
        tool: tool_name,
        label: state.tools.metrics_label(tool_name),
        arguments: &arguments,
        end_user: scope.signed_in_end_user(),
        upstream: None,
    };
    recording::record(&state.platform, scope, call, recorded);
}

/// The key of the per-user budget: the best identity the request carries.
fn user_key(scope: &RequestScope) -> Option<String> {
    if let Some(token) = &scope.token {
        return Some(format!("u:{}", token.end_user.id));
    }
    if let Some(tracking_id) = &scope.tracking_id {
        return Some(format!(
            "{}:t:{}",
            scope.server.org_id,
            tracking_id.as_str()
        ));
    }
    scope.session.as_ref().map(|s| match &s.end_user_id {
        Some(user) => format!("u:{user}"),
        None => format!("s:{}", s.transport_id),
    })
}

/// The client as per-address limits key it (its address's prefix): the rate, live
/// sessions, listen streams and tasks per address all count under it.
fn client_ip(parts: &Parts) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    guidepost_core::rate_limit::client_key(parts.extensions.get(), peer)
}
