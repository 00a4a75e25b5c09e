//! `send_feedback`: a rating and a few words about the server, for its team.

use async_trait::async_trait;
use guidepost_core::guardrails::decide::ToolHints;
use guidepost_core::support::feedback::{self, FeedbackError, FeedbackInput};
use guidepost_domain::{Limits, McpServer, Rating};
use rmcp::model::Tool;
use serde_json::json;

use super::switched::SwitchedTool;
use super::{
    ResolvedTool, ToolAnswer, ToolCall, ToolOutcome, annotations_of, parse_arguments, tool,
};

const NAME: &str = guidepost_domain::builtin_tools::SEND_FEEDBACK;

/// It writes (a message to the team) but destroys nothing, and stays within Guidepost.
const HINTS: ToolHints = ToolHints {
    read_only: false,
    destructive: false,
    idempotent: false,
    open_world: false,
};

fn definition(server: &McpServer) -> Tool {
    let product = server.product_name.as_deref().unwrap_or(&server.name);
    let description = format!(
        "Send the {product} team feedback about {product} or about this server's tools and \
         walkthroughs: a rating from 1 (poor) to 5 (excellent) and a short text. Use it when \
         the user wants to tell the team something, or after finishing a walkthrough if the \
         user agrees. It is not for getting help: use get_support for that, if offered."
    );
    tool(
        NAME,
        "Send feedback",
        description,
        json!({"type": "object", "properties": {
                "rating": {"type": "integer", "minimum": Rating::MIN, "maximum": Rating::MAX,
                    "description": "From 1 (poor) to 5 (excellent)."},
                "text": {"type": "string", "maxLength": Limits::FEEDBACK,
                    "description": "What the user wants the team to know, in their words."}},
               "required": ["rating", "text"], "additionalProperties": false}),
        json!({"type": "object", "properties": {
                "feedback_id": {"type": "string"},
                "rating": {"type": "integer"}},
               "required": ["feedback_id", "rating"]}),
        annotations_of(HINTS),
    )
}

/// `send_feedback`, offered while the server has it on.
pub(crate) const FEEDBACK_TOOL: SwitchedTool = SwitchedTool {
    names: &[NAME],
    offered_on: feedback::offered_on,
    definition,
    found: || Box::new(SendFeedback),
};

/// `send_feedback`, found for a call.
struct SendFeedback;

#[async_trait]
impl ResolvedTool for SendFeedback {
    fn metrics_label(&self) -> &'static str {
        NAME
    }

    fn hints(&self) -> ToolHints {
        HINTS
    }

    async fn call(&self, call: &ToolCall<'_>) -> ToolAnswer {
        send(call).await.into()
    }
}

async fn send(call: &ToolCall<'_>) -> ToolOutcome {
    let input: FeedbackInput = match parse_arguments(NAME, call.arguments) {
        Ok(input) => input,
        Err(failure) => return failure,
    };
    let scope = call.scope;
    let session = scope.session.as_ref().map(|session| &session.id);
    match feedback::send(call.platform, &scope.server, call.end_user, session, input).await {
        Ok(sent) => ToolOutcome::Success {
            text: format!(
                "Thank you: the feedback ({} of 5) was sent to the team. Tell the user it was \
                 received.",
                sent.rating.get()
            ),
            structured: json!({"feedback_id": sent.id, "rating": sent.rating}),
        },
        Err(FeedbackError::Core(error)) => {
            tracing::error!(%error, "could not record feedback");
            ToolOutcome::failure(
                "The feedback could not be saved because of a server error. Try again in a moment.",
            )
        }
        Err(FeedbackError::Invalid(refused)) => ToolOutcome::InvalidArguments {
            message: format!(
                "The feedback was not sent: {refused}. Correct it and call send_feedback again."
            ),
        },
    }
}
