//! The tools of a hosted server, from its **tool sources**. A source knows its tools'
//! definitions, whether it offers them on a server right now (the rules are core's), and
//! the bounded metrics label of each; a call finds its tool once ([`ResolvedTool`]) and
//! that tool calls itself. `tools/list` and `tools/call` go through [`ToolSources`] only,
//! so a new kind of tool (upstream servers' tools, for the gateway) is one more source in
//! [`ToolSources::builtin`].

mod feedback;
mod support;
mod switched;
mod upstreams;
mod walkthroughs;

pub(crate) use upstreams::connect_elicitation;

use std::sync::Arc;

use async_trait::async_trait;
use guidepost_core::guardrails::decide::{ToolFacts, ToolHints};
use guidepost_core::{CoreError, Platform, hosting::tool_switches};
use guidepost_domain::{CallRefusal, EndUser, McpServer, UpstreamId};
use rmcp::RoleServer;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use rmcp::service::RequestContext;
use serde_json::Value;

use crate::param_headers::HeaderMismatch;
use crate::scope::RequestScope;

/// The metrics label of a tool no source owns: metrics must not grow with client input.
const OTHER_LABEL: &str = "other";

/// One call, as a source sees it: who calls, on which server.
pub(crate) struct ToolCall<'a> {
    pub platform: &'a Platform,
    pub scope: &'a RequestScope,
    /// The caller, if the request identifies one.
    pub end_user: Option<&'a EndUser>,
    pub name: &'a str,
    pub arguments: &'a Value,
    /// The request: its cancellation, its progress token and the caller's connection.
    pub request: &'a RequestContext<RoleServer>,
}

/// A tool's result, and the upstream that gave it, if any (for the recording); or, in
/// the 2026-07-28 era, the first round of input the upstream asked for (`rounds`).
pub(crate) struct ToolAnswer {
    pub result: CallToolResult,
    pub upstream: Option<UpstreamId>,
    pub round: Option<rmcp::model::InputRequiredResult>,
    /// Answered as a JSON-RPC error instead of `result` (recorded as that result):
    /// `URLElicitationRequiredError` for a client that can open the URL.
    pub protocol_error: Option<rmcp::ErrorData>,
    /// Why the call was refused before the tool ran, if it was (recorded).
    pub refusal: Option<CallRefusal>,
}

impl From<CallToolResult> for ToolAnswer {
    /// A result of Guidepost's own.
    fn from(result: CallToolResult) -> Self {
        Self {
            result,
            upstream: None,
            round: None,
            protocol_error: None,
            refusal: None,
        }
    }
}

impl From<ToolOutcome> for ToolAnswer {
    /// An outcome of Guidepost's own tools.
    fn from(outcome: ToolOutcome) -> Self {
        let refusal = outcome.refusal();
        Self {
            refusal,
            ..outcome.into_result().into()
        }
    }
}

/// A source of tools.
#[async_trait]
pub(crate) trait ToolSource: Send + Sync {
    /// The label under which calls of `name` are counted, if this source owns the name.
    /// Labels are a fixed set per source: by default its own names.
    fn metrics_label(&self, name: &str) -> Option<&'static str> {
        self.own_names().iter().find(|own| **own == name).copied()
    }

    /// The names of Guidepost's own tools this source may offer (none for a source whose
    /// names come from elsewhere, as upstreams' do). They are `builtin_tools::ALL`.
    fn own_names(&self) -> &'static [&'static str] {
        &[]
    }

    /// The tools this source offers on `server` now, in the order `tools/list` shows them.
    async fn list(&self, platform: &Platform, server: &McpServer) -> Result<Vec<Tool>, CoreError>;

    /// The tool `name`, if this source offers it on `server` now: found once for a call,
    /// which then checks, calls or detaches what was found.
    async fn resolve(
        &self,
        platform: &Platform,
        server: &McpServer,
        name: &str,
    ) -> Result<Option<Box<dyn ResolvedTool>>, CoreError>;
}

/// A tool a source offers, as one call found it.
#[async_trait]
pub(crate) trait ResolvedTool: Send + Sync {
    /// The label its calls are counted under (its source's `metrics_label`).
    fn metrics_label(&self) -> &'static str;

    /// What its definition says of itself (its MCP annotations).
    fn hints(&self) -> ToolHints;

    /// The upstream server it belongs to, if it is an upstream's (for the recording).
    fn upstream(&self) -> Option<UpstreamId> {
        None
    }

    /// What call-time policies read of it, called as `called`: for Guidepost's own tools,
    /// the name called is its own and there is no upstream.
    fn policy_facts<'a>(&'a self, called: &'a str) -> ToolFacts<'a> {
        ToolFacts {
            name: called,
            tool: called,
            upstream: None,
            hints: self.hints(),
        }
    }

    /// What an approval of a call is bound to of its definition: for Guidepost's own
    /// tools, their name in this version of Guidepost.
    fn definition_hash(&self, called: &str) -> String {
        let own = serde_json::json!({"name": called, "guidepost": env!("CARGO_PKG_VERSION")});
        guidepost_domain::definition_hash(&own)
    }

    /// Calls it. A failure is a result with `isError`, worded so that an agent can act
    /// on it.
    async fn call(&self, call: &ToolCall<'_>) -> ToolAnswer;

    /// Whether the request's `Mcp-Param-*` headers agree with the arguments, for tools
    /// whose definitions mirror arguments into headers (`param_headers`); why not.
    async fn check_param_headers(&self, _call: &ToolCall<'_>) -> Result<(), HeaderMismatch> {
        Ok(())
    }

    /// The same call as a future that owns what it needs, for tools that may run as
    /// tasks (outliving their request); `None` for tools that always answer within
    /// their request.
    fn detached(&self, _call: &ToolCall<'_>) -> Option<DetachedCall> {
        None
    }
}

/// A tool call that can outlive its request.
pub(crate) type DetachedCall =
    std::pin::Pin<Box<dyn std::future::Future<Output = ToolAnswer> + Send>>;

/// Every source of tools, in the order their tools are listed.
#[derive(Clone)]
pub(crate) struct ToolSources {
    sources: Arc<[Box<dyn ToolSource>]>,
}

impl ToolSources {
    /// Guidepost's own tools (the walkthrough tools, `get_support`, `send_feedback`), then the tools
    /// of the upstream servers attached to the server.
    pub fn builtin() -> Self {
        Self {
            sources: Arc::new([
                Box::new(walkthroughs::WalkthroughTools) as Box<dyn ToolSource>,
                Box::new(support::SUPPORT_TOOL),
                Box::new(feedback::FEEDBACK_TOOL),
                Box::new(upstreams::UpstreamTools),
            ]),
        }
    }

    /// What `tools/list` shows on `server` now.
    pub async fn list(
        &self,
        platform: &Platform,
        server: &McpServer,
    ) -> Result<Vec<Tool>, CoreError> {
        let mut tools = Vec::new();
        for source in self.sources.iter() {
            tools.extend(source.list(platform, server).await?);
        }
        tools.retain(|tool| !tool_switches::switched_off(server, &tool.name));
        Ok(tools)
    }

    /// The tool `name` as the first source that offers it on `server` now has it, if any.
    pub async fn resolve(
        &self,
        platform: &Platform,
        server: &McpServer,
        name: &str,
    ) -> Result<Option<Box<dyn ResolvedTool>>, CoreError> {
        for source in self.sources.iter() {
            if let Some(tool) = source.resolve(platform, server, name).await? {
                return Ok(Some(tool));
            }
        }
        Ok(None)
    }

    /// The names of Guidepost's own tools, source by source.
    #[cfg(test)]
    pub fn own_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.sources
            .iter()
            .flat_map(|source| source.own_names().iter().copied())
    }

    /// The metrics label of a tool name: bounded whatever a client sends.
    pub fn metrics_label(&self, name: &str) -> &'static str {
        self.sources
            .iter()
            .find_map(|source| source.metrics_label(name))
            .unwrap_or(OTHER_LABEL)
    }
}

/// What a built-in tool produced: a text for the agent and structured content that
/// matches the tool's output schema, or a failure the agent can act on (`isError`).
pub(crate) enum ToolOutcome {
    Success {
        text: String,
        structured: Value,
    },
    Failure {
        message: String,
    },
    /// The arguments did not fit the tool's input schema: a tool error, recorded as a
    /// refusal for the missing-capabilities report.
    InvalidArguments {
        message: String,
    },
}

impl ToolOutcome {
    pub fn failure(message: impl Into<String>) -> Self {
        ToolOutcome::Failure {
            message: message.into(),
        }
    }

    fn refusal(&self) -> Option<CallRefusal> {
        match self {
            ToolOutcome::InvalidArguments { .. } => Some(CallRefusal::InvalidArguments),
            ToolOutcome::Success { .. } | ToolOutcome::Failure { .. } => None,
        }
    }

    fn into_result(self) -> CallToolResult {
        match self {
            ToolOutcome::Success { text, structured } => {
                // Not `CallToolResult::structured`: it writes the whole value as the
                // text block, which `text` replaces (a JSON pass per call).
                let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
                result.structured_content = Some(structured);
                result
            }
            ToolOutcome::Failure { message } | ToolOutcome::InvalidArguments { message } => {
                CallToolResult::error(vec![ContentBlock::text(message)])
            }
        }
    }
}

/// The MCP annotations that say what `hints` say.
fn annotations_of(hints: ToolHints) -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(hints.read_only)
        .destructive(hints.destructive)
        .idempotent(hints.idempotent)
        .open_world(hints.open_world)
}

/// A tool definition from JSON schemas written with `serde_json::json!`.
fn tool(
    name: &'static str,
    title: &str,
    description: String,
    input: Value,
    output: Value,
    mut annotations: ToolAnnotations,
) -> Tool {
    annotations.title = Some(title.to_owned());
    Tool::new(name, description, Arc::new(object(input)))
        .with_title(title)
        .with_raw_output_schema(Arc::new(object(output)))
        .with_annotations(annotations)
}

fn object(schema: Value) -> JsonObject {
    match schema {
        Value::Object(map) => map,
        _ => unreachable!("tool schemas are written as JSON objects"),
    }
}

/// Parses a tool's arguments into its input type, with an error an agent can act on.
fn parse_arguments<T: serde::de::DeserializeOwned>(
    tool: &str,
    arguments: &Value,
) -> Result<T, ToolOutcome> {
    // Read in place: the arguments are not copied to be parsed.
    T::deserialize(arguments).map_err(|e| ToolOutcome::InvalidArguments {
        message: format!(
            "Invalid arguments for {tool}: {e}. Check the tool's inputSchema and call again."
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shadowing scanner and the tool cap read `builtin_tools::ALL`; the sources are
    /// what is offered. A tool added to one and not the other fails here.
    #[test]
    fn builtin_names_are_the_sources_names() {
        let offered: Vec<&str> = ToolSources::builtin().own_names().collect();
        assert_eq!(offered, guidepost_domain::builtin_tools::ALL);
    }
}
