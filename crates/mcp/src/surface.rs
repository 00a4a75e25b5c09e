//! What every hosted server's `ServerHandler` shares, whatever the surface it serves:
//! the tenant the gate resolved, the protocol era, the server's identity for
//! `initialize` and `server/discover`, the answer to requests rmcp could not parse,
//! list-changed forwarding in the session era, and analytics recording. Guidepost's
//! own handler (`handler.rs`) and the conformance fixture's (crate `guidepost-fixture`)
//! are built from these, so both behave the same wherever they do not differ on purpose.

use std::time::Instant;

use guidepost_core::Platform;
use guidepost_domain::ServerId;
use rmcp::model::{
    CallToolResponse, DiscoverResult, Implementation, InitializeRequestParams, InitializeResult,
    ProtocolVersion, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::notifications;
pub use crate::notifications::Lists;
use crate::recording::{CallRecord, Recorded, record};
pub use crate::scope::RequestScope;

/// The protocol versions Guidepost serves: three session-era revisions and
/// the stateless one.
pub const SUPPORTED_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

/// The MCP requests a client may send (2025-03-26 to 2026-07-28). A request for one of
/// these that rmcp could not parse had malformed params.
pub const KNOWN_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "completion/complete",
    "logging/setLevel",
    "prompts/get",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "subscriptions/listen",
    "tasks/cancel",
    "tasks/get",
    "tasks/update",
    "tools/call",
    "tools/list",
];

/// Methods of the session era that 2026-07-28 removed.
const REMOVED_IN_STATELESS: &[&str] = &[
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// The version an `initialize` asking for `requested` settles on: the same one if we
/// serve it over `initialize`, else the newest that has `initialize`.
pub(crate) fn negotiated_version(requested: Option<&str>) -> String {
    SUPPORTED_VERSIONS
        .iter()
        .find(|v| Some(v.as_str()) == requested && v.has_initialize())
        .unwrap_or(&ProtocolVersion::LATEST_WITH_INITIALIZE)
        .as_str()
        .to_owned()
}

/// The tenant of a request, as the gate resolved it.
pub fn scope(ctx: &RequestContext<RoleServer>) -> Result<RequestScope, ErrorData> {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<RequestScope>())
        .cloned()
        .ok_or_else(|| {
            ErrorData::internal_error("request reached the MCP handler without a tenant", None)
        })
}

/// Whether the request speaks the stateless era (2026-07-28 or later).
pub fn is_stateless(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.protocol_version()
        .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

/// Name, version, instructions and capabilities of one hosted server.
pub fn server_config(scope: &RequestScope, capabilities: ServerCapabilities) -> ServerConfig {
    let server = &scope.server;
    let name = server
        .product_name
        .clone()
        .unwrap_or_else(|| server.name.clone());
    let mut info = ServerConfig::new(capabilities)
        .with_server_info(Implementation::new(name, env!("CARGO_PKG_VERSION")));
    if let Some(instructions) = &server.instructions {
        info = info.with_instructions(instructions.clone());
    }
    info
}

/// The answer to `initialize` (session era) for the server of this request.
pub fn initialize(
    handler: &impl ServerHandler,
    request: InitializeRequestParams,
    ctx: &RequestContext<RoleServer>,
    capabilities: ServerCapabilities,
) -> Result<InitializeResult, ErrorData> {
    ctx.peer.set_peer_info(request.clone());
    let negotiated = handler.negotiate_initialize(&request)?;
    let mut info = server_config(&scope(ctx)?, capabilities);
    info.protocol_version = negotiated.protocol_version;
    Ok(info)
}

/// The answer to `server/discover` (stateless era) for the server of this request.
pub fn discover(
    ctx: &RequestContext<RoleServer>,
    capabilities: ServerCapabilities,
) -> Result<DiscoverResult, ErrorData> {
    Ok(DiscoverResult::from_server_info(
        SUPPORTED_VERSIONS.to_vec(),
        server_config(&scope(ctx)?, capabilities),
    ))
}

/// The answer to a request rmcp could not parse: invalid params for a method this
/// surface serves (`served`) in this protocol version, else method not found, followed
/// by `hint` if given, so that an agent knows what to do.
pub fn unparsed_request(
    method: &str,
    served: &[&str],
    hint: Option<&str>,
    stateless: bool,
) -> ErrorData {
    let not_found =
        |message: String| ErrorData::new(rmcp::model::ErrorCode::METHOD_NOT_FOUND, message, None);
    if stateless && REMOVED_IN_STATELESS.contains(&method) {
        return not_found(format!(
            "Method not found: {method} was removed in protocol version 2026-07-28."
        ));
    }
    if !stateless && method == "subscriptions/listen" {
        return not_found(format!(
            "Method not found: {method} needs protocol version 2026-07-28; in a session, \
             open the GET stream for notifications."
        ));
    }
    if KNOWN_METHODS.contains(&method) && served.contains(&method) {
        return ErrorData::invalid_params(
            format!(
                "Invalid params for {method}: they do not match the method's schema in the \
                 MCP specification; fix them and send the request again."
            ),
            None,
        );
    }
    match hint {
        Some(hint) => not_found(format!("Method not found: {method}. {hint}")),
        None => not_found(format!("Method not found: {method}.")),
    }
}

/// Session era: forwards tool-list changes of the session's server to its GET stream
/// until the session goes away.
/// Repeated `notifications/initialized` change nothing.
pub fn forward_tool_changes(
    platform: &Platform,
    ctx: &NotificationContext<RoleServer>,
    lists: notifications::Lists,
) {
    let scope = ctx
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<RequestScope>());
    let Some(scope) = scope else {
        return;
    };
    let Some(transport_id) = scope.session_transport_id() else {
        return;
    };
    notifications::forward_to_session(
        platform,
        &scope.forwarders,
        &transport_id,
        scope.server.id.clone(),
        ctx.peer.clone(),
        lists,
    );
}

/// Waits for the next change of `server` on a change feed (`None`: the feed closed).
pub async fn next_change(
    feed: &mut broadcast::Receiver<ServerId>,
    server: &ServerId,
) -> Option<()> {
    notifications::next_change(feed, server).await
}

/// Records a tool call of a surface whose tools have no metrics label of their own
/// (counted as `other`), with the response the client got. The caller is not
/// identified: such surfaces have no end users.
pub fn record_call(
    platform: &Platform,
    scope: &RequestScope,
    name: &str,
    arguments: &Value,
    response: &Result<CallToolResponse, ErrorData>,
    started: Instant,
) {
    let call = CallRecord {
        tool: name,
        label: "other",
        arguments,
        end_user: None,
        upstream: None,
    };
    record(platform, scope, call, Recorded::response(response, started));
}

#[cfg(test)]
mod tests {
    use rmcp::model::ErrorCode;

    use super::*;

    const TOOLS_ONLY: &[&str] = &["tools/list", "tools/call"];

    #[test]
    fn unparsed_requests_get_an_error_an_agent_can_act_on() {
        // A known method with malformed params that the surface serves: invalid params.
        let error = unparsed_request("tools/list", TOOLS_ONLY, Some("Hint."), false);
        assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
        assert!(error.message.contains("tools/list"));
        let error = unparsed_request("completion/complete", KNOWN_METHODS, None, true);
        assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
        // A known method the surface does not serve: not found, with the hint.
        let error = unparsed_request("completion/complete", TOOLS_ONLY, Some("Hint."), false);
        assert_eq!(error.code, ErrorCode::METHOD_NOT_FOUND);
        assert_eq!(
            error.message,
            "Method not found: completion/complete. Hint."
        );
        // Removed in 2026-07-28, whatever the params.
        for method in REMOVED_IN_STATELESS {
            let error = unparsed_request(method, KNOWN_METHODS, None, true);
            assert_eq!(error.code, ErrorCode::METHOD_NOT_FOUND, "{method}");
        }
        let error = unparsed_request("subscriptions/listen", KNOWN_METHODS, None, false);
        assert_eq!(error.code, ErrorCode::METHOD_NOT_FOUND);
        let error = unparsed_request("bogus/method", KNOWN_METHODS, None, true);
        assert_eq!(error.message, "Method not found: bogus/method.");
    }

    #[test]
    fn initialize_settles_on_a_served_version_with_initialize() {
        assert_eq!(negotiated_version(Some("2025-06-18")), "2025-06-18");
        // 2026-07-28 has no initialize; unknown versions get the newest that has it.
        let newest = ProtocolVersion::LATEST_WITH_INITIALIZE.as_str();
        assert_eq!(negotiated_version(Some("2026-07-28")), newest);
        assert_eq!(negotiated_version(Some("1999-01-01")), newest);
        assert_eq!(negotiated_version(None), newest);
    }
}
