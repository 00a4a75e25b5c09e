//! `get_support`: opens a support request for the organization's team.

use async_trait::async_trait;
use guidepost_core::Platform;
use guidepost_core::guardrails::decide::ToolHints;
use guidepost_core::support::messages;
use guidepost_core::support::requests::{self, SupportError, SupportInput};
use guidepost_domain::{EndUser, Limits, McpServer};
use rmcp::model::Tool;
use serde_json::{Value, json};

use super::switched::SwitchedTool;
use super::{
    ResolvedTool, ToolAnswer, ToolCall, ToolOutcome, annotations_of, parse_arguments, tool,
};
use crate::scope::RequestScope;

const NAME: &str = guidepost_domain::builtin_tools::GET_SUPPORT;

/// It writes (a message to the team) but destroys nothing, and stays within Guidepost.
const HINTS: ToolHints = ToolHints {
    read_only: false,
    destructive: false,
    idempotent: false,
    open_world: false,
};

fn definition(server: &McpServer) -> Tool {
    let product = server.product_name.as_deref().unwrap_or(&server.name);
    let asks_email = !server.auth_mode.requires_token();
    let mut properties = json!({
        "title": {"type": "string", "maxLength": Limits::TITLE, "description": "A one-line summary of the problem."},
        "problem_description": {"type": "string", "maxLength": Limits::DESCRIPTION,
            "description": "What the user tried, what happened, and what they expected."},
        "problem_context": {"type": "string", "maxLength": Limits::CONTEXT,
            "description": "Optional: relevant code, configuration, versions or error output."},
        "support_request_id": {"type": "string", "maxLength": 64,
            "description": "Optional: to follow up on an earlier request (sr_...) instead of opening one. \
             The problem_description is added to it, and the answer carries the team's replies so far."}
    });
    if asks_email {
        properties["email"] = json!({"type": "string", "format": "email", "maxLength": Limits::EMAIL,
            "description": "The user's email address, so that the support team can answer. Ask the user for it."});
    }
    let description = format!(
        "Ask the {product} support team for help. Use this when the user is stuck with {product} and \
         documentation or walkthroughs don't solve it. Creates a support request that a person answers by email. \
         To follow up on an earlier request and read the team's replies, pass its support_request_id."
    );
    tool(
        NAME,
        "Contact support",
        description,
        json!({"type": "object", "properties": properties, "required": ["title", "problem_description"],
               "additionalProperties": false}),
        json!({"type": "object", "properties": {
                "support_request_id": {"type": "string"},
                "status": {"type": "string", "enum": ["open", "in_progress", "resolved", "closed"]},
                "replies": {"type": "array", "description": "On a follow-up: the team's replies, oldest first.",
                    "items": {"type": "object", "properties": {"at": {"type": "string"}, "text": {"type": "string"}}}}},
               "required": ["support_request_id", "status"]}),
        annotations_of(HINTS),
    )
}

/// `get_support`, offered while the server has it on.
pub(crate) const SUPPORT_TOOL: SwitchedTool = SwitchedTool {
    names: &[NAME],
    offered_on: requests::offered_on,
    definition,
    found: || Box::new(GetSupport),
};

/// `get_support`, found for a call.
struct GetSupport;

#[async_trait]
impl ResolvedTool for GetSupport {
    fn metrics_label(&self) -> &'static str {
        NAME
    }

    fn hints(&self) -> ToolHints {
        HINTS
    }

    async fn call(&self, call: &ToolCall<'_>) -> ToolAnswer {
        open_request(call.platform, call.scope, call.end_user, call.arguments)
            .await
            .into()
    }
}

async fn open_request(
    platform: &Platform,
    scope: &RequestScope,
    end_user: Option<&EndUser>,
    arguments: &Value,
) -> ToolOutcome {
    let input: SupportInput = match parse_arguments(NAME, arguments) {
        Ok(input) => input,
        Err(failure) => return failure,
    };
    if let Some(id) = input.support_request_id.clone() {
        return follow_up(platform, scope, end_user, input, &id).await;
    }
    // Anyone holding a personal URL can use its tracking id, so a request that
    // carries only that files support under an email it gives itself, never one an earlier
    // holder typed (the team's replies are mailed to it).
    let typed_by_whoever = scope.token.is_none() && scope.tracking_id.is_some();
    let without_email = end_user.filter(|_| typed_by_whoever).map(|user| EndUser {
        email: None,
        email_verified: false,
        ..user.clone()
    });
    let end_user = without_email.as_ref().or(end_user);
    match requests::open_request(platform, &scope.server, end_user, input).await {
        Ok(request) => ToolOutcome::Success {
            text: format!(
                "Support request {} is open. The support team will answer by email at {}. \
                 Tell the user that their request was received.",
                request.id, request.email
            ),
            structured: json!({"support_request_id": request.id, "status": request.status}),
        },
        Err(SupportError::Core(error)) => {
            tracing::error!(%error, "could not open a support request");
            ToolOutcome::failure(
                "The support request could not be saved because of a server error. Try again in a moment.",
            )
        }
        Err(other) => ToolOutcome::failure(other.to_string()),
    }
}

async fn follow_up(
    platform: &Platform,
    scope: &RequestScope,
    end_user: Option<&EndUser>,
    input: SupportInput,
    id: &str,
) -> ToolOutcome {
    match messages::follow_up(platform, &scope.server, end_user, input, id).await {
        Ok((request, replies)) => {
            let mut text = format!(
                "Support request {} (\"{}\") is {}. The follow-up was added to it.",
                request.id,
                request.title,
                request.status.as_str().replace('_', " ")
            );
            if replies.is_empty() {
                text.push_str(" The support team has not replied yet; they answer by email.");
            }
            for reply in &replies {
                text.push_str(&format!(
                    "\n\nReply from the support team ({}):\n{}",
                    reply.created_at.to_rfc3339(),
                    reply.body
                ));
            }
            text.push_str("\n\nShow the replies to the user as they are.");
            let replies: Vec<Value> = replies
                .iter()
                .map(|r| json!({"at": r.created_at, "text": r.body}))
                .collect();
            ToolOutcome::Success {
                text,
                structured: json!({"support_request_id": request.id, "status": request.status,
                    "replies": replies}),
            }
        }
        Err(SupportError::Core(error)) => {
            tracing::error!(%error, "could not follow up on a support request");
            ToolOutcome::failure(
                "The follow-up could not be saved because of a server error. Try again in a moment.",
            )
        }
        Err(other) => ToolOutcome::failure(other.to_string()),
    }
}
