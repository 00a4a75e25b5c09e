//! The `ServerHandler`: what a hosted server answers. It reads the tenant from the
//! [`RequestScope`] that the gate attached to the HTTP request, and dispatches by the
//! server's kind: standard servers offer Guidepost's tools only; conformance fixtures
//! (`fixture/`) offer the surface of the official conformance suite.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use guidepost_core::Platform;
use guidepost_domain::ServerKind;
#[allow(deprecated)] // logging is deprecated by SEP-2577; fixtures still serve it
use rmcp::model::SetLevelRequestParams;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    ContentBlock, CustomRequest, CustomResult, DiscoverResult, GetPromptRequestParams,
    GetPromptResponse, Implementation, InitializeRequestParams, InitializeResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
    ServerCapabilities, ServerConfig, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::fixture::Fixture;
use crate::notifications;
use crate::recording::{Recorded, record};
use crate::scope::RequestScope;
use crate::tools::{self, ToolOutcome};

/// The protocol versions Guidepost serves (SPEC §2): three session-era revisions and
/// the stateless one.
const SUPPORTED_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
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

#[derive(Clone)]
pub(crate) struct GuidepostServer {
    platform: Platform,
    /// The kind of server this instance answers for, used only where rmcp asks without
    /// a request (`get_info`, `accepted_subscription_filter`); `lib.rs` runs one service
    /// instance per kind. Everything else reads the kind from the request's scope.
    kind: ServerKind,
    fixture: Arc<Fixture>,
}

impl GuidepostServer {
    pub fn new(platform: Platform, kind: ServerKind, fixture: Arc<Fixture>) -> Self {
        Self {
            platform,
            kind,
            fixture,
        }
    }
}

fn scope(ctx: &RequestContext<RoleServer>) -> Result<RequestScope, ErrorData> {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<RequestScope>())
        .cloned()
        .ok_or_else(|| {
            ErrorData::internal_error("request reached the MCP handler without a tenant", None)
        })
}

/// Whether the request is for a conformance fixture server.
fn is_fixture(ctx: &RequestContext<RoleServer>) -> Result<bool, ErrorData> {
    Ok(scope(ctx)?.server.kind == ServerKind::ConformanceFixture)
}

async fn offered(platform: &Platform, scope: &RequestScope) -> Result<tools::Offered, ErrorData> {
    tools::Offered::now(platform, &scope.server)
        .await
        .map_err(|error| {
            tracing::error!(%error, "could not read the server's tools");
            ErrorData::internal_error("could not read this server's tools; please retry", None)
        })
}

/// What a standard server declares: tools, and that their list can change.
fn capabilities() -> ServerCapabilities {
    ServerCapabilities::builder()
        .enable_tools()
        .enable_tool_list_changed()
        .build()
}

/// A method this server does not offer, said so that an agent knows what to do instead.
fn not_offered(method: &str) -> ErrorData {
    let message =
        format!("Method not found: {method}. This server offers tools only; call tools/list.");
    ErrorData::new(rmcp::model::ErrorCode::METHOD_NOT_FOUND, message, None)
}

/// The MCP requests a client may send (2025-03-26 to 2026-07-28). A request for one of
/// these that rmcp could not parse had malformed params.
const KNOWN_METHODS: &[&str] = &[
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
    "tools/call",
    "tools/list",
];

/// Methods that only conformance fixtures offer.
const FIXTURE_METHODS: &[&str] = &[
    "completion/complete",
    "logging/setLevel",
    "prompts/get",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// Methods of the session era that 2026-07-28 removed.
const REMOVED_IN_STATELESS: &[&str] = &[
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// Whether the request speaks the stateless era (2026-07-28 or later).
pub(crate) fn is_stateless(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.protocol_version()
        .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

/// The answer to a request rmcp could not parse: invalid params for a method this
/// server serves in this protocol version, else method not found, said so that an
/// agent knows what to do.
fn unparsed_request(method: &str, fixture: bool, stateless: bool) -> ErrorData {
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
    let served = KNOWN_METHODS.contains(&method) && (fixture || !FIXTURE_METHODS.contains(&method));
    if served {
        return ErrorData::invalid_params(
            format!(
                "Invalid params for {method}: they do not match the method's schema in the \
                 MCP specification; fix them and send the request again."
            ),
            None,
        );
    }
    if fixture {
        return not_found(format!("Method not found: {method}."));
    }
    not_offered(method)
}

/// Name, version, instructions and capabilities of one hosted server, for `initialize`
/// (session era) or `server/discover` (stateless era).
fn tenant_info(scope: &RequestScope, stateless: bool) -> ServerConfig {
    let server = &scope.server;
    let name = server
        .product_name
        .clone()
        .unwrap_or_else(|| server.name.clone());
    let capabilities = match server.kind {
        ServerKind::Standard => capabilities(),
        ServerKind::ConformanceFixture => Fixture::capabilities(stateless),
    };
    let mut info = ServerConfig::new(capabilities)
        .with_server_info(Implementation::new(name, env!("CARGO_PKG_VERSION")));
    if let Some(instructions) = &server.instructions {
        info = info.with_instructions(instructions.clone());
    }
    info
}

impl ServerHandler for GuidepostServer {
    async fn on_initialized(&self, ctx: NotificationContext<RoleServer>) {
        let server = ctx
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<RequestScope>())
            .map(|scope| scope.server.id.clone());
        if let Some(server) = server {
            notifications::forward_to_session(&self.platform, server, ctx.peer.clone());
        }
    }

    fn accepted_subscription_filter(
        &self,
        _requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(match self.kind {
            ServerKind::Standard => SubscriptionFilter::builder().tools_list_changed().build(),
            ServerKind::ConformanceFixture => Fixture::subscription_filter(),
        })
    }

    async fn listen(&self, ctx: SubscriptionContext) -> Result<(), ErrorData> {
        let scope = scope(ctx.request_context())?;
        match scope.server.kind {
            ServerKind::Standard => {
                notifications::listen(&self.platform, &scope.server.id, ctx).await
            }
            ServerKind::ConformanceFixture => {
                self.fixture
                    .listen(&self.platform, &scope.server.id, ctx)
                    .await
            }
        }
        Ok(())
    }

    // Standard servers offer tools only; rmcp would answer these with empty results
    // (or bare method names) without the capability being declared.
    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        if is_fixture(&ctx)? {
            return Fixture::list_prompts(&ctx);
        }
        Err(not_offered("prompts/list"))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if is_fixture(&ctx)? {
            return self.fixture.get_prompt(&request, &ctx);
        }
        Err(not_offered("prompts/get"))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        if is_fixture(&ctx)? {
            return Fixture::list_resources(&ctx);
        }
        Err(not_offered("resources/list"))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        if is_fixture(&ctx)? {
            return Fixture::list_resource_templates(&ctx);
        }
        Err(not_offered("resources/templates/list"))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if is_fixture(&ctx)? {
            return Fixture::read_resource(&request, &ctx);
        }
        Err(not_offered("resources/read"))
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if is_fixture(&ctx)? {
            return Fixture::subscription(&request.uri);
        }
        Err(not_offered("resources/subscribe"))
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if is_fixture(&ctx)? {
            return Fixture::subscription(&request.uri);
        }
        Err(not_offered("resources/unsubscribe"))
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        if is_fixture(&ctx)? {
            return Fixture::complete(&request);
        }
        Err(not_offered("completion/complete"))
    }

    #[allow(deprecated)] // logging is deprecated by SEP-2577; fixtures still serve it
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if is_fixture(&ctx)? {
            return Fixture::set_level(&request, &ctx).await;
        }
        Err(not_offered("logging/setLevel"))
    }

    /// Unknown methods, and known methods whose params rmcp could not parse (rmcp hands
    /// both over as custom requests).
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        Err(unparsed_request(
            &request.method,
            is_fixture(&ctx)?,
            is_stateless(&ctx),
        ))
    }

    fn get_info(&self) -> ServerConfig {
        let capabilities = match self.kind {
            ServerKind::Standard => capabilities(),
            ServerKind::ConformanceFixture => Fixture::capabilities(false),
        };
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("guidepost", env!("CARGO_PKG_VERSION")))
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(SUPPORTED_VERSIONS)
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        ctx.peer.set_peer_info(request.clone());
        let negotiated = self.negotiate_initialize(&request)?;
        let mut info = tenant_info(&scope(&ctx)?, false);
        info.protocol_version = negotiated.protocol_version;
        Ok(info)
    }

    async fn discover(&self, ctx: RequestContext<RoleServer>) -> Result<DiscoverResult, ErrorData> {
        Ok(DiscoverResult::from_server_info(
            SUPPORTED_VERSIONS.to_vec(),
            tenant_info(&scope(&ctx)?, true),
        ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let scope = scope(&ctx)?;
        if scope.server.kind == ServerKind::ConformanceFixture {
            return Fixture::list_tools(&ctx);
        }
        let offered = offered(&self.platform, &scope).await?;
        Ok(ListToolsResult::with_all_items(
            offered.definitions(&scope.server),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let scope = scope(&ctx)?;
        let started = Instant::now();
        if scope.server.kind == ServerKind::ConformanceFixture {
            // Fixture calls are recorded like any other; the fixture has no end users.
            let arguments = Value::Object(request.arguments.clone().unwrap_or_default());
            let name = request.name.to_string();
            let response = self
                .fixture
                .call_tool(&self.platform, &scope.server.id, request, &ctx)
                .await;
            let recorded = Recorded::response(&response, started);
            record(&self.platform, &scope, None, &name, &arguments, recorded);
            return response;
        }
        let arguments = Value::Object(request.arguments.clone().unwrap_or_default());
        let name = request.name.as_ref();
        if !offered(&self.platform, &scope).await?.includes(name) {
            let message = format!(
                "Unknown tool: {name}. Call tools/list to see the tools this server offers."
            );
            record(
                &self.platform,
                &scope,
                None,
                name,
                &arguments,
                Recorded::protocol_error(&message, started),
            );
            return Err(ErrorData::invalid_params(message, None));
        }
        let end_user =
            match guidepost_core::identity::resolve_end_user(&self.platform, &scope.caller()).await
            {
                Ok(user) => user,
                Err(error) => {
                    tracing::error!(%error, "could not resolve the end user");
                    return Err(ErrorData::internal_error(
                        "could not identify the caller; please retry",
                        None,
                    ));
                }
            };
        let outcome =
            tools::call(&self.platform, &scope, end_user.as_ref(), name, &arguments).await;
        record(
            &self.platform,
            &scope,
            end_user.as_ref(),
            name,
            &arguments,
            Recorded::outcome(&outcome, started),
        );
        Ok(render(outcome).into())
    }
}

fn render(outcome: ToolOutcome) -> CallToolResult {
    match outcome {
        ToolOutcome::Success { text, structured } => {
            let mut result = CallToolResult::structured(structured);
            result.content = vec![ContentBlock::text(text)];
            result
        }
        ToolOutcome::Failure { message } => {
            CallToolResult::error(vec![ContentBlock::text(message)])
        }
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::ErrorCode;

    use super::*;

    #[test]
    fn unparsed_requests_get_an_error_an_agent_can_act_on() {
        // A known method with malformed params that the server serves: invalid params.
        let error = unparsed_request("tools/list", false, false);
        assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
        assert!(error.message.contains("tools/list"));
        let error = unparsed_request("completion/complete", true, true);
        assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
        // Standard servers offer tools only.
        let error = unparsed_request("completion/complete", false, false);
        assert_eq!(error.code, ErrorCode::METHOD_NOT_FOUND);
        assert!(
            error.message.contains("offers tools only"),
            "{}",
            error.message
        );
        // Removed in 2026-07-28, whatever the params.
        for method in REMOVED_IN_STATELESS {
            let error = unparsed_request(method, true, true);
            assert_eq!(error.code, ErrorCode::METHOD_NOT_FOUND, "{method}");
        }
        let error = unparsed_request("subscriptions/listen", true, false);
        assert_eq!(error.code, ErrorCode::METHOD_NOT_FOUND);
        let error = unparsed_request("bogus/method", true, true);
        assert_eq!(error.message, "Method not found: bogus/method.");
    }
}
