//! An audit event in words: `ada@example.com revoked the API key “ci”.`

use guidepost_domain::{AuditAction, AuditEvent};
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
    let Some(action) = AuditAction::parse(&event.action) else {
        // An action this build does not know (written by a newer one): its name in words.
        return format!("did {}", event.action.replace(['.', '_'], " "));
    };
    match action {
        AuditAction::MemberAdded => format!("added {object} as {}", detail("role")),
        AuditAction::MemberInvited => format!("invited {object} as {}", detail("role")),
        AuditAction::MemberRoleChanged => format!("made {object} {}", detail("role")),
        AuditAction::MemberRemoved => format!("removed the member {object}"),
        AuditAction::ApiKeyCreated => {
            format!("created the API key {object} ({})", detail("scopes"))
        }
        AuditAction::ApiKeyRevoked => format!("revoked the API key {object}"),
        AuditAction::PolicyPublished => match event.detail.get("policies") {
            Some(Value::Array(names)) if names.is_empty() => {
                format!("turned the call-time policies off ({object})")
            }
            _ => format!("published the call-time policies, {object}"),
        },
        AuditAction::QuotaUpdated => match event.detail.get("rules") {
            Some(Value::Array(rules)) if !rules.is_empty() => {
                let rules: Vec<&str> = rules.iter().filter_map(Value::as_str).collect();
                format!("set the call quotas: {}", rules.join("; "))
            }
            _ => "removed the call quotas".to_owned(),
        },
        AuditAction::ApprovalApproved => format!(
            "approved a call of {object} by {}",
            quoted(event.detail.get("caller").and_then(Value::as_str))
        ),
        AuditAction::ApprovalDenied => format!(
            "denied a call of {object} by {}",
            quoted(event.detail.get("caller").and_then(Value::as_str))
        ),
        AuditAction::InterceptorCreated => format!("registered the interceptor {object}"),
        AuditAction::InterceptorDeleted => format!("removed the interceptor {object}"),
        AuditAction::InterceptorFailed => format!(
            "found the interceptor {object} failing ({})",
            detail("failure")
        ),
        AuditAction::InterceptorAudited => format!(
            "noted that the interceptor {object}, in audit mode, would {} on {tool}",
            detail("action")
        ),
        AuditAction::ServerCreated => format!("created the server {object}"),
        AuditAction::ServerUpdated => format!("changed the server {object}"),
        AuditAction::ServerDeleted => format!("deleted the server {object}"),
        AuditAction::ServerToolDisabled => format!(
            "switched off the tool {} on the server {object}",
            named("tool")
        ),
        AuditAction::ServerToolEnabled => format!(
            "switched on the tool {} on the server {object}",
            named("tool")
        ),
        AuditAction::ServerDomainVerified => {
            format!("checked the custom domain of the server {object}")
        }
        AuditAction::ServerIdentityProviderSet => {
            format!("set the identity provider of the server {object}")
        }
        AuditAction::ServerIdentityProviderRemoved => {
            format!("removed the identity provider of the server {object}")
        }
        AuditAction::WalkthroughCreated => format!("created the walkthrough {object}"),
        AuditAction::WalkthroughUpdated => format!("changed the walkthrough {object}"),
        AuditAction::WalkthroughDeleted => format!("deleted the walkthrough {object}"),
        AuditAction::WalkthroughStepAdded => format!("added a step to the walkthrough {object}"),
        AuditAction::WalkthroughStepChanged => {
            format!("changed a step of the walkthrough {object}")
        }
        AuditAction::WalkthroughStepDeleted => {
            format!("deleted a step of the walkthrough {object}")
        }
        AuditAction::WalkthroughStepMoved => format!("moved a step of the walkthrough {object}"),
        AuditAction::WalkthroughImported => format!("imported the walkthrough {object}"),
        AuditAction::WalkthroughPublished => format!(
            "published version {} of the walkthrough {object}",
            detail("version")
        ),
        AuditAction::WalkthroughRepublished => format!(
            "published version {} of the walkthrough {object} again, as version {}",
            detail("from_version"),
            detail("version")
        ),
        AuditAction::WalkthroughAssigned => format!(
            "assigned the walkthrough {object} to the server {}",
            named("server")
        ),
        AuditAction::WalkthroughUnassigned => format!(
            "took the walkthrough {object} off the server {}",
            named("server")
        ),
        AuditAction::WebhookCreated => format!("added the webhook {object}"),
        AuditAction::WebhookDeleted => format!("deleted the webhook {object}"),
        AuditAction::SupportRequestStatusChanged => {
            format!("set the support request {object} to {}", detail("status"))
        }
        AuditAction::SupportRequestReplied => format!("replied to the support request {object}"),
        AuditAction::SupportRequestNoted => {
            format!("added an internal note to the support request {object}")
        }
        AuditAction::OrganizationToolApproval => {
            format!(
                "set new upstream tools' approval to {}",
                detail("tool_approval")
            )
        }
        AuditAction::OrganizationRawToolResults => {
            format!(
                "set raw upstream tool results to {}",
                detail("raw_tool_results")
            )
        }
        AuditAction::OrganizationRegistryListed => format!(
            "turned the organization's listing in the registry {}",
            detail("registry_listed")
        ),
        AuditAction::CatalogEntryAdded => format!("added the entry {object} to the catalog"),
        AuditAction::EndUserExported => "exported an end user's data".into(),
        AuditAction::EndUserErased => "erased an end user's data".into(),
        AuditAction::ProgressReset => format!(
            "reset the progress of the end user {} through the walkthrough {object}",
            detail("end_user_id")
        ),
        AuditAction::UpstreamInstalled => format!("installed the upstream {upstream}"),
        AuditAction::UpstreamUninstalled => format!("uninstalled the upstream {upstream}"),
        AuditAction::UpstreamRestarted => format!("restarted the upstream {upstream}"),
        AuditAction::UpstreamAttached => {
            format!("attached the upstream {upstream} to the server {server}")
        }
        AuditAction::UpstreamDetached => {
            format!("detached the upstream {upstream} from the server {server}")
        }
        AuditAction::UpstreamUpgraded
        | AuditAction::UpstreamSwitched
        | AuditAction::UpstreamRolledBack
        | AuditAction::UpstreamUpgradeUndone => launch_change(event, &upstream),
        AuditAction::UpstreamSignInChanged => {
            format!("changed how the upstream {upstream} signs in")
        }
        AuditAction::UpstreamReplicasChanged => format!(
            "set the upstream {upstream} to run {} processes per node",
            detail("to")
        ),
        AuditAction::UpstreamEventsSummarized => format!(
            "left out {} events about the upstream {upstream} (over the hourly budget)",
            detail("left_out")
        ),
        AuditAction::UpstreamResultHiddenCharacters => {
            format!("found hidden characters in a result of the upstream {upstream}")
        }
        AuditAction::UpstreamResultGuarded => format!(
            "found {} in a result of the tool {tool} of the upstream {upstream} ({})",
            detail("rules"),
            detail("done")
        ),
        AuditAction::UpstreamResultGuardSet => format!(
            "set what is done with findings in results of the upstream {upstream} to {}",
            detail("to")
        ),
        AuditAction::ToolDiscovered => {
            format!("discovered the tool {tool} of the upstream {upstream}")
        }
        AuditAction::ToolChanged => {
            format!("saw the tool {tool} of the upstream {upstream} change")
        }
        AuditAction::ToolQuarantined => {
            format!("quarantined the tool {tool} of the upstream {upstream}")
        }
        AuditAction::ToolApproved => format!("approved the tool {tool} of the upstream {upstream}"),
        AuditAction::ToolRejected => format!("rejected the tool {tool} of the upstream {upstream}"),
        AuditAction::ConnectionConnected => format!("connected to the upstream {upstream}"),
        AuditAction::ConnectionDisconnected => format!("disconnected from the upstream {upstream}"),
        AuditAction::ConnectionNeedsReconnect => {
            format!("found that the upstream {upstream} needs to be connected again")
        }
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
    match AuditAction::parse(&event.action) {
        Some(AuditAction::UpstreamUpgraded) if same => {
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
        Some(AuditAction::UpstreamUpgraded) => {
            format!("upgraded the upstream {upstream} from {from} to {to}")
        }
        Some(AuditAction::UpstreamRolledBack) if same => {
            format!("put back the previous settings of the upstream {upstream}")
        }
        Some(AuditAction::UpstreamRolledBack) => {
            format!("rolled the upstream {upstream} back from {from} to {to}")
        }
        Some(AuditAction::UpstreamUpgradeUndone) if same => format!(
            "undid the change of the settings of the upstream {upstream}, with which it did not \
             start"
        ),
        Some(AuditAction::UpstreamUpgradeUndone) => format!(
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
