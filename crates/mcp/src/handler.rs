//! The `ServerHandler`: what a hosted server answers. It reads the tenant from the
//! [`RequestScope`] that the gate attached to the HTTP request.

use std::borrow::Cow;
use std::time::Instant;

use guidepost_core::Platform;
use guidepost_core::analytics::capped_arguments;
use guidepost_domain::{EndUser, Limits, Timestamp, ToolCall, ToolCallId};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, DiscoverResult,
    Implementation, InitializeRequestParams, InitializeResult, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig,
};
use rmcp::model::{
    CompleteRequestParams, CompleteResult, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, SubscriptionFilter,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::notifications;
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
}

impl GuidepostServer {
    pub fn new(platform: Platform) -> Self {
        Self { platform }
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

async fn offered(platform: &Platform, scope: &RequestScope) -> Result<tools::Offered, ErrorData> {
    tools::Offered::now(platform, &scope.server)
        .await
        .map_err(|error| {
            tracing::error!(%error, "could not read the server's tools");
            ErrorData::internal_error("could not read this server's tools; please retry", None)
        })
}

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

/// Name, version and instructions of one hosted server.
fn tenant_info(scope: &RequestScope) -> ServerConfig {
    let server = &scope.server;
    let name = server
        .product_name
        .clone()
        .unwrap_or_else(|| server.name.clone());
    let mut info = ServerConfig::new(capabilities())
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
        Some(SubscriptionFilter::builder().tools_list_changed().build())
    }

    async fn listen(&self, ctx: SubscriptionContext) -> Result<(), ErrorData> {
        let scope = scope(ctx.request_context())?;
        notifications::listen(&self.platform, &scope.server.id, ctx).await;
        Ok(())
    }

    // Guidepost servers offer tools only; rmcp would answer these with empty results
    // without the capability being declared.
    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Err(not_offered("prompts/list"))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Err(not_offered("resources/list"))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Err(not_offered("resources/templates/list"))
    }

    async fn complete(
        &self,
        _request: CompleteRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        Err(not_offered("completion/complete"))
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(capabilities())
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
        let mut info = tenant_info(&scope(&ctx)?);
        info.protocol_version = negotiated.protocol_version;
        Ok(info)
    }

    async fn discover(&self, ctx: RequestContext<RoleServer>) -> Result<DiscoverResult, ErrorData> {
        Ok(DiscoverResult::from_server_info(
            SUPPORTED_VERSIONS.to_vec(),
            tenant_info(&scope(&ctx)?),
        ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let scope = scope(&ctx)?;
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

/// What the analytics record says about a call's result.
struct Recorded {
    summary: String,
    is_error: bool,
    error_code: Option<i64>,
    duration_us: i64,
}

impl Recorded {
    fn outcome(outcome: &ToolOutcome, started: Instant) -> Self {
        let (summary, is_error) = match outcome {
            ToolOutcome::Success { structured, .. } => (structured.to_string(), false),
            ToolOutcome::Failure { message } => (message.clone(), true),
        };
        Self {
            summary,
            is_error,
            error_code: None,
            duration_us: started.elapsed().as_micros() as i64,
        }
    }

    fn protocol_error(message: &str, started: Instant) -> Self {
        Self {
            summary: message.to_owned(),
            is_error: true,
            error_code: Some(-32602),
            duration_us: started.elapsed().as_micros() as i64,
        }
    }
}

fn record(
    platform: &Platform,
    scope: &RequestScope,
    end_user: Option<&EndUser>,
    tool: &str,
    arguments: &Value,
    recorded: Recorded,
) {
    let outcome = if recorded.error_code.is_some() {
        "rejected"
    } else if recorded.is_error {
        "error"
    } else {
        "ok"
    };
    metrics::counter!("guidepost_tool_calls_total", "tool" => tool.to_owned(), "outcome" => outcome).increment(1);
    metrics::histogram!("guidepost_tool_call_duration_seconds", "tool" => tool.to_owned())
        .record(recorded.duration_us as f64 / 1e6);
    platform.analytics.record(ToolCall {
        id: ToolCallId::generate(),
        org_id: scope.server.org_id.clone(),
        server_id: scope.server.id.clone(),
        session_id: scope.session_transport_id(),
        end_user_id: end_user
            .map(|u| u.id.clone())
            .or_else(|| scope.session.as_ref().and_then(|s| s.end_user_id.clone())),
        tool_name: tool.chars().take(Limits::NAME).collect(),
        arguments: capped_arguments(arguments),
        result_summary: recorded
            .summary
            .chars()
            .take(Limits::RESULT_SUMMARY)
            .collect(),
        is_error: recorded.is_error,
        error_code: recorded.error_code,
        duration_us: recorded.duration_us,
        created_at: Timestamp::now(),
    });
}

/// Records a call that the gate refused before it reached a tool (rate limits).
pub(crate) fn record_rejected_call(
    platform: &Platform,
    scope: &RequestScope,
    tool: &str,
    arguments: &Value,
    code: i64,
) {
    let recorded = Recorded {
        summary: "rejected by the rate limit".into(),
        is_error: true,
        error_code: Some(code),
        duration_us: 0,
    };
    record(platform, scope, None, tool, arguments, recorded);
}
