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
    // A name in the detail as written: `detail` reads `_` as a space, for values like
    // `trust_on_first_use`.
    let named = |key: &str| quoted(event.detail.get(key).and_then(Value::as_str));
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
            named("tool")
        ),
        "server.tool_enabled" => format!(
            "switched on the tool {} on the server {object}",
            named("tool")
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
            named("server")
        ),
        "walkthrough.unassigned" => format!(
            "took the walkthrough {object} off the server {}",
            named("server")
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
        "upstream.upgraded"
        | "upstream.switched"
        | "upstream.rolled_back"
        | "upstream.upgrade_undone" => launch_change(event, &upstream),
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

/// An upgrade, a switch, a rollback or an undone upgrade. Versions are read as recorded
/// (an image's name keeps its `_`); a change of settings or secrets alone keeps the
/// version (an HTTP upstream's is always `unversioned`), and is told as what it is.
fn launch_change(event: &AuditEvent, upstream: &str) -> String {
    let raw = |key: &str| {
        event
            .detail
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("(not recorded)")
    };
    let (from, to) = (raw("from_version"), raw("to_version"));
    let same = from == to;
    match event.action.as_str() {
        "upstream.upgraded" if same => {
            let changed = |key: &str| {
                event
                    .detail
                    .get(key)
                    .and_then(Value::as_array)
                    .is_some_and(|names| !names.is_empty())
            };
            let what = match (changed("settings_changed"), changed("secrets_changed")) {
                (true, true) => "settings and secrets",
                (false, true) => "secrets",
                _ => "settings",
            };
            format!("changed the {what} of the upstream {upstream}")
        }
        "upstream.upgraded" => format!("upgraded the upstream {upstream} from {from} to {to}"),
        "upstream.rolled_back" if same => {
            format!("put back the previous settings of the upstream {upstream}")
        }
        "upstream.rolled_back" => {
            format!("rolled the upstream {upstream} back from {from} to {to}")
        }
        "upstream.upgrade_undone" if same => format!(
            "undid the change of the settings of the upstream {upstream}, with which it did not \
             start"
        ),
        "upstream.upgrade_undone" => format!(
            "undid the upgrade of the upstream {upstream} to {from}, which did not start; {to} \
             serves again"
        ),
        _ => match event.detail.get("ready").and_then(Value::as_bool) {
            Some(false) => format!(
                "switched the upstream {upstream} to {} though it had not started (its status \
                 says why)",
                raw("version")
            ),
            _ => format!("switched the upstream {upstream} to {}", raw("version")),
        },
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

#[cfg(test)]
mod tests {
    use guidepost_domain::{AuditEventId, OrgId, Timestamp};
    use serde_json::json;

    use super::*;

    fn told(action: &str, detail: Value) -> String {
        describe(&AuditEvent {
            id: AuditEventId::generate(),
            org_id: OrgId::generate(),
            created_at: Timestamp::now(),
            actor: "platform".into(),
            actor_name: Some("The platform".into()),
            action: action.into(),
            object_type: None,
            object_id: None,
            object_name: None,
            upstream_id: None,
            server_id: None,
            tool: None,
            detail,
            upstream_name: Some("Files".into()),
            server_name: None,
            text: String::new(),
        })
    }

    #[test]
    fn launches_are_told_with_their_versions_as_recorded() {
        let images = json!({"from_version": "ghcr.io/acme/my_server:1", "to_version": "ghcr.io/acme/my_server:2"});
        assert_eq!(
            told("upstream.upgraded", images.clone()),
            "The platform upgraded the upstream “Files” from ghcr.io/acme/my_server:1 to ghcr.io/acme/my_server:2."
        );
        assert_eq!(
            told("upstream.upgrade_undone", images),
            "The platform undid the upgrade of the upstream “Files” to ghcr.io/acme/my_server:1, which did not start; ghcr.io/acme/my_server:2 serves again."
        );
        let switched = json!({"version": "1.2.0", "ready": false});
        assert_eq!(
            told("upstream.switched", switched),
            "The platform switched the upstream “Files” to 1.2.0 though it had not started (its status says why)."
        );
    }

    #[test]
    fn a_change_of_settings_alone_is_not_told_as_an_upgrade() {
        let same = |settings: Value, secrets: Value| {
            json!({"from_version": "unversioned", "to_version": "unversioned",
                "settings_changed": settings, "secrets_changed": secrets})
        };
        let cases = [
            (same(json!(["zone"]), json!([])), "changed the settings of"),
            (same(json!([]), json!(["TOKEN"])), "changed the secrets of"),
            (
                same(json!(["zone"]), json!(["TOKEN"])),
                "changed the settings and secrets of",
            ),
        ];
        for (detail, says) in cases {
            let text = told("upstream.upgraded", detail);
            assert!(text.contains(says) && !text.contains("upgraded"), "{text}");
        }
        let back = json!({"from_version": "unversioned", "to_version": "unversioned"});
        assert_eq!(
            told("upstream.rolled_back", back),
            "The platform put back the previous settings of the upstream “Files”."
        );
    }

    #[test]
    fn a_servers_name_is_told_as_written() {
        let assigned = json!({"server": "docs_v2"});
        assert_eq!(
            told("walkthrough.assigned", assigned),
            "The platform assigned the walkthrough (unknown) to the server “docs_v2”."
        );
    }
}
