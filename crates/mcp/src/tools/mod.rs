//! The built-in tools. Each tool module gives its definition (`Tool`, with input and
//! output schemas and honest annotations) and its call; this module decides which tools
//! a server offers, in a fixed order.

mod support;
mod walkthroughs;

use std::sync::Arc;

use guidepost_core::Platform;
use guidepost_domain::{EndUser, McpServer};
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::Value;

use crate::scope::RequestScope;

/// What a tool produced: a text for the agent and structured content that matches the
/// tool's output schema, or a failure the agent can act on (`isError`).
pub(crate) enum ToolOutcome {
    Success { text: String, structured: Value },
    Failure { message: String },
}

impl ToolOutcome {
    pub fn failure(message: impl Into<String>) -> Self {
        ToolOutcome::Failure {
            message: message.into(),
        }
    }
}

/// Which groups of tools a server offers at this moment (SPEC §4 availability rule:
/// walkthrough tools need the flag and at least one enabled, published assignment).
pub(crate) struct Offered {
    support: bool,
    walkthroughs: bool,
}

impl Offered {
    pub async fn now(
        platform: &Platform,
        server: &McpServer,
    ) -> Result<Self, guidepost_core::StoreError> {
        let walkthroughs = server.walkthrough_tools_enabled
            && platform
                .store
                .has_available_walkthroughs(&server.org_id, &server.id)
                .await?;
        Ok(Self {
            support: server.support_tool_enabled,
            walkthroughs,
        })
    }

    /// The tools, in the order `tools/list` shows them.
    pub fn definitions(&self, server: &McpServer) -> Vec<Tool> {
        let mut tools = Vec::new();
        if self.walkthroughs {
            tools.extend(walkthroughs::definitions(server));
        }
        if self.support {
            tools.push(support::definition(server));
        }
        tools
    }

    pub fn includes(&self, name: &str) -> bool {
        match name {
            support::NAME => self.support,
            name if walkthroughs::NAMES.contains(&name) => self.walkthroughs,
            _ => false,
        }
    }
}

/// The metrics label of a tool: its name for Guidepost's own tools, `other` for anything
/// else a client may send (metrics must not grow with client input).
pub(crate) fn metrics_label(name: &str) -> &'static str {
    walkthroughs::NAMES
        .iter()
        .chain([&support::NAME])
        .find(|n| **n == name)
        .copied()
        .unwrap_or("other")
}

pub(crate) async fn call(
    platform: &Platform,
    scope: &RequestScope,
    end_user: Option<&EndUser>,
    name: &str,
    arguments: &Value,
) -> ToolOutcome {
    match name {
        support::NAME => support::call(platform, scope, end_user, arguments).await,
        _ => walkthroughs::call(platform, scope, end_user, name, arguments).await,
    }
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
    serde_json::from_value(arguments.clone()).map_err(|e| {
        ToolOutcome::failure(format!(
            "Invalid arguments for {tool}: {e}. Check the tool's inputSchema and call again."
        ))
    })
}
