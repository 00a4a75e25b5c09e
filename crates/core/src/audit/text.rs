//! An audit event in words: `ada@example.com revoked the API key “ci”.`

use guidepost_domain::AuditEvent;
use serde_json::Value;

/// The event as one sentence, from the names it carries (see `audit::list`).
pub fn describe(event: &AuditEvent) -> String {
    let actor = event.actor_name.as_deref().unwrap_or(&event.actor);
    format!("{actor} {}.", what_happened(event))
}

/// The sentence's predicate: what the actor did, to what.
fn what_happened(event: &AuditEvent) -> String {
    let object = quoted(event.object_name.as_deref().or(event.object_id.as_deref()));
    let upstream = quoted(
        event
            .upstream_name
            .as_deref()
            .or(event.upstream_id.as_ref().map(|id| id.as_str())),
    );
    let server = quoted(
        event
            .server_name
            .as_deref()
            .or(event.server_id.as_ref().map(|id| id.as_str())),
    );
    let tool = quoted(event.tool.as_deref());
    let detail = |key: &str| detail_text(&event.detail, key);
    match event.action.as_str() {
        "member.added" => format!("added {object} as {}", detail("role")),
        "member.invited" => format!("invited {object} as {}", detail("role")),
        "member.role_changed" => format!("made {object} {}", detail("role")),
        "member.removed" => format!("removed the member {object}"),
        "api_key.created" => format!("created the API key {object} ({})", detail("scopes")),
        "api_key.revoked" => format!("revoked the API key {object}"),
        "server.created" => format!("created the server {object}"),
        "server.updated" => format!("changed the server {object}"),
        "server.deleted" => format!("deleted the server {object}"),
        "server.tool_disabled" => format!(
            "switched off the tool {} on the server {object}",
            quoted(event.detail.get("tool").and_then(Value::as_str))
        ),
        "server.tool_enabled" => format!(
            "switched on the tool {} on the server {object}",
            quoted(event.detail.get("tool").and_then(Value::as_str))
        ),
        "server.domain_verified" => format!("checked the custom domain of the server {object}"),
        "server.identity_provider_set" => {
            format!("set the identity provider of the server {object}")
        }
        "server.identity_provider_removed" => {
            format!("removed the identity provider of the server {object}")
        }
        "walkthrough.created" => format!("created the walkthrough {object}"),
        "walkthrough.updated" => format!("changed the walkthrough {object}"),
        "walkthrough.deleted" => format!("deleted the walkthrough {object}"),
        "walkthrough.step_added" => format!("added a step to the walkthrough {object}"),
        "walkthrough.step_changed" => format!("changed a step of the walkthrough {object}"),
        "walkthrough.step_deleted" => format!("deleted a step of the walkthrough {object}"),
        "walkthrough.step_moved" => format!("moved a step of the walkthrough {object}"),
        "walkthrough.imported" => format!("imported the walkthrough {object}"),
        "walkthrough.published" => format!(
            "published version {} of the walkthrough {object}",
            detail("version")
        ),
        "walkthrough.assigned" => format!(
            "assigned the walkthrough {object} to the server {}",
            detail("server")
        ),
        "walkthrough.unassigned" => format!(
            "took the walkthrough {object} off the server {}",
            detail("server")
        ),
        "webhook.created" => format!("added the webhook {object}"),
        "webhook.deleted" => format!("deleted the webhook {object}"),
        "support_request.status_changed" => {
            format!("set the support request {object} to {}", detail("status"))
        }
        "support_request.replied" => format!("replied to the support request {object}"),
        "support_request.noted" => {
            format!("added an internal note to the support request {object}")
        }
        "organization.tool_approval" => {
            format!(
                "set new upstream tools' approval to {}",
                detail("tool_approval")
            )
        }
        "organization.raw_tool_results" => {
            format!(
                "set raw upstream tool results to {}",
                detail("raw_tool_results")
            )
        }
        "organization.registry_listed" => format!(
            "turned the organization's listing in the registry {}",
            detail("registry_listed")
        ),
        "catalog_entry.added" => format!("added the entry {object} to the catalog"),
        "end_user.exported" => "exported an end user's data".into(),
        "end_user.erased" => "erased an end user's data".into(),
        "upstream.installed" => format!("installed the upstream {upstream}"),
        "upstream.uninstalled" => format!("uninstalled the upstream {upstream}"),
        "upstream.restarted" => format!("restarted the upstream {upstream}"),
        "upstream.attached" => format!("attached the upstream {upstream} to the server {server}"),
        "upstream.detached" => format!("detached the upstream {upstream} from the server {server}"),
        "upstream.upgraded" => format!(
            "upgraded the upstream {upstream} from {} to {}",
            detail("from_version"),
            detail("to_version")
        ),
        "upstream.switched" => format!("switched the upstream {upstream} to {}", detail("version")),
        "upstream.rolled_back" => format!(
            "rolled the upstream {upstream} back from {} to {}",
            detail("from_version"),
            detail("to_version")
        ),
        "upstream.upgrade_undone" => format!(
            "undid the upgrade of the upstream {upstream} to {}, which did not start; {} serves again",
            detail("from_version"),
            detail("to_version")
        ),
        "upstream.sign_in_changed" => format!("changed how the upstream {upstream} signs in"),
        "upstream.replicas_changed" => format!(
            "set the upstream {upstream} to run {} processes per node",
            detail("to")
        ),
        "upstream.events_summarized" => format!(
            "left out {} events about the upstream {upstream} (over the hourly budget)",
            detail("left_out")
        ),
        "upstream.result_hidden_characters" => {
            format!("found hidden characters in a result of the upstream {upstream}")
        }
        "tool.discovered" => format!("discovered the tool {tool} of the upstream {upstream}"),
        "tool.changed" => format!("saw the tool {tool} of the upstream {upstream} change"),
        "tool.quarantined" => format!("quarantined the tool {tool} of the upstream {upstream}"),
        "tool.approved" => format!("approved the tool {tool} of the upstream {upstream}"),
        "tool.rejected" => format!("rejected the tool {tool} of the upstream {upstream}"),
        "connection.connected" => format!("connected to the upstream {upstream}"),
        "connection.disconnected" => format!("disconnected from the upstream {upstream}"),
        "connection.needs_reconnect" => {
            format!("found that the upstream {upstream} needs to be connected again")
        }
        other => format!("did {}", other.replace(['.', '_'], " ")),
    }
}

fn quoted(name: Option<&str>) -> String {
    match name {
        Some(name) => format!("“{name}”"),
        None => "(unknown)".into(),
    }
}

/// A detail value as words: strings bare, lists joined with commas.
fn detail_text(detail: &Value, key: &str) -> String {
    match detail.get(key) {
        Some(Value::String(text)) => text.replace('_', " "),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(Value::Bool(true)) => "on".into(),
        Some(Value::Bool(false)) => "off".into(),
        Some(other) => other.to_string(),
        None => "(not recorded)".into(),
    }
}
