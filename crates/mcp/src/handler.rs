//! The `ServerHandler` of Guidepost's hosted servers: tools from the server's tool sources
//! (`tools/`), and its attached upstreams' prompts, resources and completion
//! (`features`). It reads the tenant from the [`RequestScope`] that the gate
//! attached to the HTTP request. Other surfaces (the conformance fixture) have handlers
//! of their own, built from the same pieces (`surface.rs`).

use std::borrow::Cow;
use std::time::Instant;

use guidepost_core::{Platform, hosting::tool_switches};
#[allow(deprecated)]
// logging is deprecated by SEP-2577; refused here like every non-tool method
use rmcp::model::SetLevelRequestParams;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams,
    CompleteRequestParams, CompleteResult, ContentBlock, CustomRequest, CustomResult,
    DiscoverResult, GetPromptRequestParams, GetPromptResponse, GetTaskParams, GetTaskResult,
    Implementation, InitializeRequestParams, InitializeResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities,
    ServerConfig, SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
    UpdateTaskParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;
use tracing::Instrument;

use crate::features;
use crate::intercept::Before;
use crate::listened_resources;
use crate::notifications;
use crate::recording::{CallRecord, Recorded, record};
use crate::request_trace;
use crate::rounds;
use crate::scope::{RequestScope, resolve_end_user};
use crate::surface::{self, SUPPORTED_VERSIONS, scope};
use crate::tasks;
use crate::tools::{ToolAnswer, ToolCall, ToolSources};

/// The methods this surface serves; every other one is "method not found".
const SERVED_METHODS: &[&str] = &[
    "completion/complete",
    "initialize",
    "logging/setLevel",
    "ping",
    "prompts/get",
    "prompts/list",
    "resources/list",
    "resources/read",
    "resources/subscribe",
    "resources/templates/list",
    "resources/unsubscribe",
    "server/discover",
    "subscriptions/listen",
    "tasks/cancel",
    "tasks/get",
    "tasks/update",
    "tools/call",
    "tools/list",
];

/// What an agent is told when it asks for something this server does not serve.
const SERVED: &str =
    "This server offers tools, and its upstreams' prompts and resources; call tools/list.";

#[derive(Clone)]
pub(crate) struct GuidepostServer {
    pub(crate) platform: Platform,
    tools: ToolSources,
}

impl GuidepostServer {
    pub fn new(platform: Platform, tools: ToolSources) -> Self {
        Self { platform, tools }
    }
}

/// A store failure while reading a server's tools, said so that a client retries.
fn tools_unreadable(error: guidepost_core::CoreError) -> ErrorData {
    tracing::error!(%error, "could not read the server's tools");
    ErrorData::internal_error("could not read this server's tools; please retry", None)
}

/// What a hosted server declares: tools, its attached upstreams' prompts, resources,
/// completion and log messages, that their lists can change, and the tasks extension (upstream tools that
/// outlive their request run as tasks). A server with no upstream attached lists no
/// prompts or resources and completes nothing.
#[allow(deprecated)] // logging is deprecated by SEP-2577; the 2025 era has it
fn capabilities() -> ServerCapabilities {
    ServerCapabilities::builder()
        .enable_logging()
        .enable_completions()
        .enable_prompts()
        .enable_prompts_list_changed()
        .enable_resources()
        .enable_resources_list_changed()
        .enable_resources_subscribe()
        .enable_tools()
        .enable_tool_list_changed()
        .enable_tasks()
        .build()
}

/// A method this server does not offer, said so that an agent knows what to do instead.
fn not_offered(method: &str) -> ErrorData {
    let message = format!("Method not found: {method}. {SERVED}");
    ErrorData::new(rmcp::model::ErrorCode::METHOD_NOT_FOUND, message, None)
}

impl ServerHandler for GuidepostServer {
    async fn on_initialized(&self, ctx: NotificationContext<RoleServer>) {
        surface::forward_tool_changes(&self.platform, &ctx, notifications::Lists::All);
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(listened_resources::accepted(requested))
    }

    /// List changes, and the updates of the upstreams' resources it names.
    async fn listen(&self, ctx: SubscriptionContext) -> Result<(), ErrorData> {
        let scope = scope(ctx.request_context())?;
        let feed = scope.tool_changes(&self.platform);
        let listened = listened_resources::subscribe(&self.platform, &scope, ctx.sink())
            .instrument(scope.span.clone())
            .await;
        notifications::listen(feed, &scope.server.id, ctx).await;
        listened.end(&self.platform, &scope.server).await;
        Ok(())
    }

    // Prompts, resources and completion are the attached upstreams' (`features`).
    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let scope = scope(&ctx)?;
        features::list_prompts(&self.platform, &scope.server)
            .instrument(scope.span.clone())
            .await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let scope = scope(&ctx)?;
        let result = features::get_prompt(&self.platform, &scope, request, &ctx);
        result.instrument(scope.span.clone()).await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let scope = scope(&ctx)?;
        features::list_resources(&self.platform, &scope.server)
            .instrument(scope.span.clone())
            .await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let scope = scope(&ctx)?;
        features::list_resource_templates(&self.platform, &scope.server)
            .instrument(scope.span.clone())
            .await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let scope = scope(&ctx)?;
        let result = features::read_resource(&self.platform, &scope, &request.uri, &ctx);
        result.instrument(scope.span.clone()).await
    }

    /// Session era: updates of the resource reach this session (on this node).
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let scope = scope(&ctx)?;
        features::subscribe(&self.platform, &scope, &request.uri, &ctx)
            .instrument(scope.span.clone())
            .await
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let scope = scope(&ctx)?;
        let (id, _) = features::subscriber(&self.platform, &scope, &ctx)?;
        features::unsubscribe(&self.platform, &scope.server, &request.uri, &id)
            .instrument(scope.span.clone())
            .await
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let scope = scope(&ctx)?;
        features::complete(&self.platform, &scope, request, &ctx)
            .instrument(scope.span.clone())
            .await
    }

    /// Session era: the least severe of an upstream's log messages this session gets
    /// from now on (on this node).
    #[allow(deprecated)] // logging is deprecated by SEP-2577; the 2025 era has it
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let scope = scope(&ctx)?;
        let Some(session) = scope.session_transport_id() else {
            return Err(not_offered("logging/setLevel"));
        };
        let level = serde_json::to_value(request.level).unwrap_or_default();
        let level = level.as_str().unwrap_or("debug");
        scope.log_levels.set(session, level);
        Ok(())
    }

    /// Unknown methods, and known methods whose params rmcp could not parse (rmcp hands
    /// both over as custom requests).
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        Err(surface::unparsed_request(
            &request.method,
            SERVED_METHODS,
            Some(SERVED),
            surface::is_stateless(&ctx),
        ))
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
        surface::initialize(self, request, &ctx, capabilities())
    }

    async fn discover(&self, ctx: RequestContext<RoleServer>) -> Result<DiscoverResult, ErrorData> {
        surface::discover(&ctx, capabilities())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let scope = scope(&ctx)?;
        let tools = self.tools.list(&self.platform, &scope.server);
        let tools = tools.instrument(scope.span.clone()).await;
        Ok(ListToolsResult::with_all_items(
            tools.map_err(tools_unreadable)?,
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let scope = scope(&ctx)?;
        let span = request_trace::tool_span(&scope.span, &request.name);
        self.call_in_scope(&scope, &request, &ctx)
            .instrument(span)
            .await
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let owner = self.task_owner(&ctx).await?;
        tasks::get(&self.platform, &owner, &request.task_id).await
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let owner = self.task_owner(&ctx).await?;
        let responses = request.input_responses.into_iter().collect();
        tasks::update(&self.platform, &owner, &request.task_id, &responses).await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let owner = self.task_owner(&ctx).await?;
        tasks::cancel(&self.platform, &owner, &request.task_id).await
    }
}

impl GuidepostServer {
    /// A tool call: found among the server's sources (once: the call, its header check
    /// and its task use what was found), answered, and recorded whatever the outcome.
    async fn call_in_scope(
        &self,
        scope: &RequestScope,
        request: &CallToolRequestParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let started = Instant::now();
        let arguments = Value::Object(request.arguments.clone().unwrap_or_default());
        let name = request.name.as_ref();
        let recorded_as = |label, end_user, upstream| CallRecord {
            tool: name,
            label,
            arguments: &arguments,
            end_user,
            upstream,
        };
        if let Some(task) = request.request_state.as_deref().and_then(rounds::task_of) {
            return self.resume(scope, (request, ctx), &task, started).await;
        }
        if tool_switches::switched_off(&scope.server, name) {
            // A tool error, not a protocol one: the agent reads why and picks another.
            let result =
                CallToolResult::error(vec![ContentBlock::text(tool_switches::refusal(name))]);
            let end_user = resolve_end_user(&self.platform, scope).await?;
            let recorded = Recorded::result(&result, started);
            record(
                &self.platform,
                scope,
                recorded_as(self.tools.metrics_label(name), end_user.as_ref(), None),
                recorded,
            );
            return Ok(result.into());
        }
        let found = self
            .tools
            .resolve(&self.platform, &scope.server, name)
            .await;
        let Some(tool) = found.map_err(tools_unreadable)? else {
            let message = format!(
                "Unknown tool: {name}. Call tools/list to see the tools this server offers."
            );
            let recorded = Recorded::unknown_tool(&message, started);
            let end_user = scope.signed_in_end_user();
            let call = recorded_as(self.tools.metrics_label(name), end_user, None);
            record(&self.platform, scope, call, recorded);
            return Err(ErrorData::invalid_params(message, None));
        };
        let label = tool.metrics_label();
        let end_user = resolve_end_user(&self.platform, scope).await?;
        let call = ToolCall {
            platform: &self.platform,
            scope,
            end_user: end_user.as_ref(),
            name,
            arguments: &arguments,
            request: ctx,
        };
        if let Err(reason) = tool.check_param_headers(&call).await {
            let message = format!("{reason}; send the header with the argument's value");
            let recorded = Recorded::protocol_error(&message, started);
            record(
                &self.platform,
                scope,
                recorded_as(label, end_user.as_ref(), None),
                recorded,
            );
            return Err(ErrorData::header_mismatch(message, None));
        }
        let stopped_as = recorded_as(label, end_user.as_ref(), tool.upstream());
        let rewritten = match crate::intercept::before(&*tool, &call).await? {
            Before::Go(rewritten) => rewritten,
            Before::Refused(stopped) => return self.stopped(scope, stopped_as, started, *stopped),
        };
        let call = match &rewritten {
            Some(rewritten) => ToolCall {
                arguments: rewritten,
                ..call
            },
            None => call,
        };
        if let Some(stopped) = crate::guard::refusal(&*tool, &call).await? {
            return self.stopped(scope, stopped_as, started, stopped);
        }
        if tasks::client_accepts_tasks(ctx)
            && let Some(detached) = tool.detached(&call)
        {
            let detached = crate::intercept::after_detached(&*tool, &call, detached);
            let called = (name, label, call.arguments);
            return self
                .call_as_task(scope, called, end_user.clone(), detached, started)
                .await;
        }
        let ToolAnswer {
            result,
            upstream,
            round,
            protocol_error,
            refusal,
        } = tool.call(&call).await;
        if let Some(round) = round {
            // Recorded when the call ends, by the retry that gets its result.
            return Ok(round.into());
        }
        let result = match protocol_error {
            Some(_) => result,
            None => crate::intercept::after(&*tool, &call, result).await?,
        };
        if result.is_error == Some(true) {
            tracing::info!(tool = name, "tool call failed");
        }
        let recorded = Recorded::result(&result, started).refused_as(refusal);
        record(
            &self.platform,
            scope,
            recorded_as(label, end_user.as_ref(), upstream),
            recorded,
        );
        match protocol_error {
            Some(error) => Err(error),
            None => Ok(result.into()),
        }
    }
}

impl GuidepostServer {
    /// A call the guardrails stopped before its tool ran (an interceptor, a policy, an
    /// approval to give, a quota), recorded as such: its tool error, or the URL
    /// elicitation that asks for the approval (an error, or a round).
    fn stopped(
        &self,
        scope: &RequestScope,
        call: CallRecord<'_>,
        started: Instant,
        stopped: ToolAnswer,
    ) -> Result<CallToolResponse, ErrorData> {
        let recorded = Recorded::result(&stopped.result, started).refused_as(stopped.refusal);
        record(&self.platform, scope, call, recorded);
        match (stopped.round, stopped.protocol_error) {
            (Some(round), _) => Ok(round.into()),
            (None, Some(error)) => Err(error),
            (None, None) => Ok(stopped.result.into()),
        }
    }

    /// A retried call that answers a round (`rounds`); recorded once it ends.
    async fn resume(
        &self,
        scope: &RequestScope,
        (request, ctx): (&CallToolRequestParams, &RequestContext<RoleServer>),
        task: &guidepost_domain::TaskId,
        started: Instant,
    ) -> Result<CallToolResponse, ErrorData> {
        let end_user = resolve_end_user(&self.platform, scope).await?;
        let owner = tasks::owner(scope, end_user.as_ref().map(|user| user.id.clone()));
        let responses = request.input_responses.clone().unwrap_or_default();
        let responses = responses.into_iter().collect();
        let mut answer = rounds::resume(&self.platform, &owner, task, responses).await;
        let Ok(CallToolResponse::Complete(result)) = &mut answer else {
            return answer;
        };
        let name = request.name.as_ref();
        let arguments = Value::Object(request.arguments.clone().unwrap_or_default());
        let found = self
            .tools
            .resolve(&self.platform, &scope.server, name)
            .await;
        let tool = found.map_err(tools_unreadable)?;
        if let Some(tool) = &tool {
            // The result the rounds led to meets the interceptors as any other.
            let call = ToolCall {
                platform: &self.platform,
                scope,
                end_user: end_user.as_ref(),
                name,
                arguments: &arguments,
                request: ctx,
            };
            *result = crate::intercept::after(&**tool, &call, std::mem::take(result)).await?;
        }
        let call = CallRecord {
            tool: name,
            label: self.tools.metrics_label(name),
            arguments: &arguments,
            end_user: end_user.as_ref(),
            upstream: tool.as_ref().and_then(|tool| tool.upstream()),
        };
        record(
            &self.platform,
            scope,
            call,
            Recorded::result(result, started),
        );
        answer
    }

    /// Who may see the tasks a request asks about: its server's, and the caller's own.
    async fn task_owner(
        &self,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<guidepost_core::hosting::tasks::TaskOwner, ErrorData> {
        let scope = scope(ctx)?;
        let end_user = resolve_end_user(&self.platform, &scope).await?;
        Ok(tasks::owner(&scope, end_user.map(|user| user.id)))
    }
}
