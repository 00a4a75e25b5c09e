//! The five walkthrough tools. Each result has a text written for the agent
//! and `structuredContent` that matches the tool's `outputSchema`. Every text the
//! organization wrote goes out through `agent_safe_text` (step texts through
//! `agent_step_text`, which frames the content), in both.

use async_trait::async_trait;
use guidepost_core::accounts::identity::{self, EmailRefused};
use guidepost_core::guardrails::decide::ToolHints;
use guidepost_core::walkthroughs::player::{self, Advanced, Player, PlayerError, Seen, summarize};
use guidepost_core::{CoreError, Platform};
use guidepost_domain::*;
use rmcp::model::Tool;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ResolvedTool, ToolAnswer, ToolCall, ToolOutcome, ToolSource, annotations_of, parse_arguments,
    tool,
};
use crate::scope::RequestScope;

pub(crate) const LIST: &str = builtin_tools::LIST_WALKTHROUGHS;
pub(crate) const SELECT: &str = builtin_tools::SELECT_WALKTHROUGH;
pub(crate) const NEXT: &str = builtin_tools::NEXT_WALKTHROUGH_STEP;
pub(crate) const STATUS: &str = builtin_tools::GET_WALKTHROUGH_STATUS;
pub(crate) const RESET: &str = builtin_tools::RESET_WALKTHROUGH_PROGRESS;
const NAMES: [&str; 5] = [LIST, SELECT, NEXT, STATUS, RESET];

mod schema {
    use serde_json::{Value, json};

    pub fn nullable(schema: Value) -> Value {
        json!({"anyOf": [schema, {"type": "null"}]})
    }

    pub fn progress() -> Value {
        json!({"type": "object", "properties": {
            "status": {"type": "string", "enum": ["not_started", "in_progress", "completed"]},
            "completed_count": {"type": "integer", "minimum": 0},
            "total_steps": {"type": "integer", "minimum": 0},
            "percent": {"type": "integer", "minimum": 0, "maximum": 100},
            "current_step_id": {"type": ["string", "null"]},
            "version": {"type": "integer"},
            "latest_version": {"type": "integer"}},
          "required": ["status", "completed_count", "total_steps", "percent", "current_step_id", "version", "latest_version"]})
    }

    pub fn step() -> Value {
        json!({"type": "object", "properties": {
            "id": {"type": "string"}, "title": {"type": "string"}, "section_title": {"type": ["string", "null"]},
            "content": {"type": "string"}, "position": {"type": "integer", "minimum": 1},
            "total_steps": {"type": "integer", "minimum": 1}},
          "required": ["id", "title", "section_title", "content", "position", "total_steps"]})
    }

    pub fn walkthrough_ref() -> Value {
        json!({"type": "object", "properties": {
            "id": {"type": "string"}, "title": {"type": "string"}, "version": {"type": "integer"}},
          "required": ["id", "title", "version"]})
    }
}

/// What each tool says of itself; none reaches outside Guidepost.
fn hints(name: &str) -> ToolHints {
    let (read_only, destructive, idempotent) = match name {
        LIST | STATUS => (true, false, true),
        SELECT | RESET => (false, true, true),
        _ => (false, false, false),
    };
    ToolHints {
        read_only,
        destructive,
        idempotent,
        open_world: false,
    }
}

fn definitions(server: &McpServer) -> Vec<Tool> {
    let product = server.product_name.as_deref().unwrap_or(&server.name);
    let mut select_properties = json!({
        "walkthrough_id": {"type": "string", "description": "The id from list_walkthroughs (wt_…)."},
        "resume_if_exists": {"type": "boolean", "default": true,
            "description": "true: continue where the user left off. false: restart from step 1 of the newest version."}});
    if server.auth_mode == AuthMode::CollectEmail {
        select_properties["email"] = json!({"type": "string", "format": "email", "maxLength": Limits::EMAIL,
            "description": "The user's email address, if they want to share it."});
    }
    let walkthrough_id = json!({"type": "string", "description": "The walkthrough's id (wt_…)."});
    vec![
        tool(LIST, "List walkthroughs",
            format!("List the interactive walkthroughs that guide the user through {product}, with the user's progress in each. Start here."),
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
            json!({"type": "object", "properties": {"walkthroughs": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "title": {"type": "string"}, "description": {"type": ["string", "null"]},
                "step_count": {"type": "integer"}, "estimated_duration_minutes": {"type": ["integer", "null"]},
                "tags": {"type": "array", "items": {"type": "string"}}, "progress": schema::nullable(schema::progress())},
                "required": ["id", "title", "description", "step_count", "estimated_duration_minutes", "tags", "progress"]}}},
              "required": ["walkthroughs"]}),
            annotations_of(hints(LIST))),
        tool(SELECT, "Start or resume a walkthrough",
            "Start a walkthrough at its first step, or resume it where the user left off. Returns the step to show the user. \
             With resume_if_exists=false the user's progress is discarded and the walkthrough restarts on its newest version.".into(),
            json!({"type": "object", "properties": select_properties, "required": ["walkthrough_id"], "additionalProperties": false}),
            json!({"type": "object", "properties": {"walkthrough": schema::walkthrough_ref(), "step": schema::nullable(schema::step()),
                "progress": schema::progress(), "resumed": {"type": "boolean"}},
              "required": ["walkthrough", "step", "progress", "resumed"]}),
            annotations_of(hints(SELECT))),
        tool(NEXT, "Next walkthrough step",
            "Mark the current step as done and return the next one. Pass current_step_id (the step the user just finished) so \
             that a retried call never skips a step. Without walkthrough_id, continues the most recently active walkthrough.".into(),
            json!({"type": "object", "properties": {"walkthrough_id": walkthrough_id,
                "current_step_id": {"type": "string", "description": "The id of the step the user just finished (ws_…)."}},
              "additionalProperties": false}),
            json!({"type": "object", "properties": {"walkthrough": schema::walkthrough_ref(), "step": schema::nullable(schema::step()),
                "progress": schema::progress(), "completed_now": {"type": "boolean"}, "already_completed": {"type": "boolean"}},
              "required": ["walkthrough", "step", "progress", "completed_now", "already_completed"]}),
            annotations_of(hints(NEXT))),
        tool(STATUS, "Walkthrough status",
            "Show every step of a walkthrough as done, current or to do, with the user's progress and whether a newer version exists.".into(),
            json!({"type": "object", "properties": {"walkthrough_id": walkthrough_id}, "required": ["walkthrough_id"], "additionalProperties": false}),
            json!({"type": "object", "properties": {
                "walkthrough": {"type": "object", "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                    "version": {"type": "integer"}, "latest_version": {"type": "integer"}}, "required": ["id", "title", "version", "latest_version"]},
                "steps": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                    "section_title": {"type": ["string", "null"]}, "state": {"type": "string", "enum": ["done", "current", "todo"]}},
                    "required": ["id", "title", "section_title", "state"]}},
                "progress": schema::progress()},
              "required": ["walkthrough", "steps", "progress"]}),
            annotations_of(hints(STATUS))),
        tool(RESET, "Reset walkthrough progress",
            "Delete the user's progress in a walkthrough. Only with confirm=true; ask the user first.".into(),
            json!({"type": "object", "properties": {"walkthrough_id": walkthrough_id,
                "confirm": {"type": "boolean", "default": false, "description": "Must be true to delete the progress."}},
              "required": ["walkthrough_id"], "additionalProperties": false}),
            json!({"type": "object", "properties": {"walkthrough_id": {"type": "string"}, "reset": {"type": "boolean"}},
              "required": ["walkthrough_id", "reset"]}),
            annotations_of(hints(RESET))),
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SelectInput {
    walkthrough_id: String,
    #[serde(default = "yes")]
    resume_if_exists: bool,
    #[serde(default)]
    email: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NextInput {
    #[serde(default)]
    walkthrough_id: Option<String>,
    #[serde(default)]
    current_step_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusInput {
    walkthrough_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetInput {
    walkthrough_id: String,
    #[serde(default)]
    confirm: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoInput {}

fn walkthrough_id(text: &str) -> Result<WalkthroughId, ToolOutcome> {
    Id::parse(text).ok_or_else(|| {
        ToolOutcome::failure(format!(
            "{text:?} is not a walkthrough id. Call list_walkthroughs to get the ids (wt_…)."
        ))
    })
}

fn player_failure(error: PlayerError) -> ToolOutcome {
    if let PlayerError::Core(core) = &error {
        tracing::error!(error = %core, "walkthrough tool failed");
        return ToolOutcome::failure(
            "The walkthrough could not be loaded because of a server error. Try again in a moment.",
        );
    }
    ToolOutcome::failure(error.to_string())
}

/// The five walkthrough tools, offered while the server's rule says so.
pub(crate) struct WalkthroughTools;

#[async_trait]
impl ToolSource for WalkthroughTools {
    async fn list(&self, platform: &Platform, server: &McpServer) -> Result<Vec<Tool>, CoreError> {
        let offered = player::offered_on(platform, server).await?;
        Ok(if offered {
            definitions(server)
        } else {
            Vec::new()
        })
    }

    fn own_names(&self) -> &'static [&'static str] {
        &NAMES
    }

    async fn resolve(
        &self,
        platform: &Platform,
        server: &McpServer,
        name: &str,
    ) -> Result<Option<Box<dyn ResolvedTool>>, CoreError> {
        let Some(name) = NAMES.into_iter().find(|own| *own == name) else {
            return Ok(None);
        };
        let offered = player::offered_on(platform, server).await?;
        Ok(offered.then(|| Box::new(WalkthroughTool { name }) as Box<dyn ResolvedTool>))
    }
}

/// One of the five, found for a call.
struct WalkthroughTool {
    name: &'static str,
}

#[async_trait]
impl ResolvedTool for WalkthroughTool {
    fn metrics_label(&self) -> &'static str {
        self.name
    }

    fn hints(&self) -> ToolHints {
        hints(self.name)
    }

    async fn call(&self, call: &ToolCall<'_>) -> ToolAnswer {
        let outcome = dispatch(
            call.platform,
            call.scope,
            call.end_user,
            self.name,
            call.arguments,
        );
        outcome.await.into()
    }
}

async fn dispatch(
    platform: &Platform,
    scope: &RequestScope,
    end_user: Option<&EndUser>,
    name: &str,
    arguments: &Value,
) -> ToolOutcome {
    let result = match name {
        LIST => list(platform, scope, end_user, arguments).await,
        _ => match end_user {
            Some(user) => {
                let player = Player {
                    platform,
                    server: &scope.server,
                    end_user: user,
                };
                play(&player, name, arguments).await
            }
            None => Err(ToolOutcome::failure(
                guidepost_core::accounts::identity::how_to_identify(&scope.endpoint_url(platform)),
            )),
        },
    };
    result.unwrap_or_else(|failure| failure)
}

async fn play(
    player: &Player<'_>,
    name: &str,
    arguments: &Value,
) -> Result<ToolOutcome, ToolOutcome> {
    match name {
        SELECT => {
            let input: SelectInput = parse_arguments(name, arguments)?;
            let id = walkthrough_id(&input.walkthrough_id)?;
            remember_email(player, input.email.as_deref()).await?;
            let (seen, resumed) = player
                .select(&id, input.resume_if_exists)
                .await
                .map_err(player_failure)?;
            Ok(render_select(&seen, resumed))
        }
        NEXT => {
            let input: NextInput = parse_arguments(name, arguments)?;
            let id = input
                .walkthrough_id
                .as_deref()
                .map(walkthrough_id)
                .transpose()?;
            let advanced = player
                .next(id.as_ref(), input.current_step_id.as_deref())
                .await
                .map_err(player_failure)?;
            Ok(render_next(&advanced))
        }
        STATUS => {
            let input: StatusInput = parse_arguments(name, arguments)?;
            let seen = player
                .status(&walkthrough_id(&input.walkthrough_id)?)
                .await
                .map_err(player_failure)?;
            Ok(render_status(&seen))
        }
        RESET => {
            let input: ResetInput = parse_arguments(name, arguments)?;
            let id = walkthrough_id(&input.walkthrough_id)?;
            if !input.confirm {
                player.ensure_offered(&id).await.map_err(player_failure)?;
                return Ok(ToolOutcome::Success {
                    text: "Nothing was changed. Resetting deletes the user's progress in this walkthrough for good. \
                           Ask the user to confirm, then call reset_walkthrough_progress again with confirm=true."
                        .into(),
                    structured: json!({"walkthrough_id": id, "reset": false}),
                });
            }
            let deleted = player.reset(&id).await.map_err(player_failure)?;
            let text = if deleted {
                "The user's progress was deleted. Call select_walkthrough to start again from step 1."
            } else {
                "The user had no progress in this walkthrough; nothing to reset."
            };
            Ok(ToolOutcome::Success {
                text: text.into(),
                structured: json!({"walkthrough_id": id, "reset": deleted}),
            })
        }
        _ => Err(ToolOutcome::failure(format!("Unknown tool: {name}"))),
    }
}

async fn remember_email(player: &Player<'_>, email: Option<&str>) -> Result<(), ToolOutcome> {
    let collected = identity::collect_email(player.platform, player.server, player.end_user, email);
    collected.await.map_err(|refused| {
        if let EmailRefused::Store(error) = &refused {
            tracing::error!(%error, "could not store an end user's email");
        }
        ToolOutcome::failure(refused.to_string())
    })
}

async fn list(
    platform: &Platform,
    scope: &RequestScope,
    end_user: Option<&EndUser>,
    arguments: &Value,
) -> Result<ToolOutcome, ToolOutcome> {
    let _: NoInput = parse_arguments(LIST, arguments)?;
    let entries = player::list(platform, &scope.server, end_user)
        .await
        .map_err(player_failure)?;
    let mut lines = vec![format!("{} walkthrough(s) available:", entries.len())];
    let items: Vec<Value> = entries
        .iter()
        .map(|seen| {
            let w = &seen.available.walkthrough;
            let summary = seen.progress.as_ref().map(|p| summarize(&seen.version, seen.latest_version(), Some(p)));
            let state = match &summary {
                Some(s) => format!("{} ({}%)", s.status.as_str(), s.percent),
                None => "not started".into(),
            };
            let step_count = seen.available.latest.steps.len();
            let title = agent_safe_text(&w.title);
            lines.push(format!("- {title} [{}]: {step_count} steps, {state}", w.id));
            let description = w.description.as_deref().map(agent_safe_text);
            let tags: Vec<String> = w.tags.iter().map(|tag| agent_safe_text(tag)).collect();
            json!({"id": w.id, "title": title, "description": description, "step_count": step_count,
                   "estimated_duration_minutes": w.estimated_duration_minutes, "tags": tags, "progress": summary})
        })
        .collect();
    lines.push("To start or resume one, call select_walkthrough with its walkthrough_id.".into());
    Ok(ToolOutcome::Success {
        text: lines.join("\n"),
        structured: json!({"walkthroughs": items}),
    })
}

fn step_json(seen: &Seen) -> Value {
    current_step(seen).map_or(Value::Null, |(index, step)| {
        json!({"id": step.id, "title": agent_safe_text(&step.title),
               "section_title": step.section_title.as_deref().map(agent_safe_text),
               "content": agent_safe_text(&step.content), "position": index + 1, "total_steps": seen.version.steps.len()})
    })
}

fn current_step(seen: &Seen) -> Option<(usize, &PublishedStep)> {
    let current = seen.progress.as_ref()?.current_step_id.as_deref()?;
    let index = seen.version.position_of(current)?;
    Some((index, &seen.version.steps[index]))
}

fn walkthrough_ref(seen: &Seen) -> Value {
    json!({"id": seen.available.walkthrough.id, "title": agent_safe_text(&seen.version.title), "version": seen.version.version})
}

fn progress_json(seen: &Seen) -> Value {
    json!(summarize(
        &seen.version,
        seen.latest_version(),
        seen.progress.as_deref()
    ))
}

/// The text of a step for the agent: where the user is, the content verbatim between
/// delimiters, and how to continue.
fn step_text(seen: &Seen) -> String {
    let Some((index, step)) = current_step(seen) else {
        return String::new();
    };
    agent_step_text(&AgentStep {
        walkthrough_title: &seen.version.title,
        walkthrough_id: seen.available.walkthrough.id.as_str(),
        position: index + 1,
        total: seen.version.steps.len(),
        section_title: step.section_title.as_deref(),
        step_title: &step.title,
        step_id: step.id.as_str(),
        content: &step.content,
    })
}

fn completed_text(seen: &Seen) -> String {
    format!(
        "The user has completed the walkthrough \"{}\". Congratulate them. To do it again, call select_walkthrough \
         with resume_if_exists=false.",
        agent_safe_text(&seen.version.title)
    )
}

fn newer_version_note(seen: &Seen) -> String {
    if seen.version.version < seen.latest_version() {
        format!(
            "\n\nNote: the user is on version {} of this walkthrough; version {} is available. To switch, call \
             select_walkthrough with resume_if_exists=false (this restarts from step 1).",
            seen.version.version,
            seen.latest_version()
        )
    } else {
        String::new()
    }
}

fn is_completed(seen: &Seen) -> bool {
    seen.progress
        .as_ref()
        .is_some_and(|p| p.status == ProgressStatus::Completed)
}

fn render_select(seen: &Seen, resumed: bool) -> ToolOutcome {
    let lead = if is_completed(seen) {
        completed_text(seen)
    } else if resumed {
        format!("Resuming where the user left off.\n\n{}", step_text(seen))
    } else {
        format!("Starting the walkthrough.\n\n{}", step_text(seen))
    };
    ToolOutcome::Success {
        text: format!("{lead}{}", newer_version_note(seen)),
        structured: json!({"walkthrough": walkthrough_ref(seen), "step": step_json(seen), "progress": progress_json(seen), "resumed": resumed}),
    }
}

fn render_next(advanced: &Advanced) -> ToolOutcome {
    let seen = &advanced.seen;
    let text = if advanced.completed_now {
        completed_text(seen)
    } else if is_completed(seen) {
        format!("Nothing changed: {}", completed_text(seen))
    } else if advanced.already_completed {
        format!(
            "That step was already completed; nothing changed. The current step is:\n\n{}",
            step_text(seen)
        )
    } else {
        step_text(seen)
    };
    ToolOutcome::Success {
        text,
        structured: json!({"walkthrough": walkthrough_ref(seen), "step": step_json(seen), "progress": progress_json(seen),
                           "completed_now": advanced.completed_now, "already_completed": advanced.already_completed}),
    }
}

fn render_status(seen: &Seen) -> ToolOutcome {
    let progress = seen.progress.as_deref();
    let current = progress.and_then(|p| p.current_step_id.as_deref());
    let done = |id: &str| progress.is_some_and(|p| p.completed_step_ids.iter().any(|c| c == id));
    let title = agent_safe_text(&seen.version.title);
    let mut lines = vec![format!(
        "Walkthrough: {title} (version {})",
        seen.version.version
    )];
    let steps: Vec<Value> = seen
        .version
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let state = if done(&step.id) { "done" } else if current == Some(step.id.as_str()) { "current" } else { "todo" };
            let step_title = agent_safe_text(&step.title);
            lines.push(format!("{}. [{state}] {step_title}", i + 1));
            json!({"id": step.id, "title": step_title, "section_title": step.section_title.as_deref().map(agent_safe_text),
                   "state": state})
        })
        .collect();
    let summary = summarize(&seen.version, seen.latest_version(), progress);
    lines.push(format!(
        "{} of {} steps done ({}%), status {}.",
        summary.completed_count,
        summary.total_steps,
        summary.percent,
        summary.status.as_str()
    ));
    ToolOutcome::Success {
        text: format!("{}{}", lines.join("\n"), newer_version_note(seen)),
        structured: json!({"walkthrough": {"id": seen.available.walkthrough.id, "title": title,
                               "version": seen.version.version, "latest_version": seen.latest_version()},
                           "steps": steps, "progress": summary}),
    }
}
