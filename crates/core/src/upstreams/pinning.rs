//! Pinning: every discovered tool definition is hashed whole (its
//! RFC 8785 canonical JSON) and scanned. A definition an administrator approved before is
//! approved when it comes back; one the scanner flags, or one whose hash changed since it
//! was discovered (an MCP rug pull), is quarantined: hidden from `tools/list`, and a call
//! is refused with a tool error, until an administrator approves it. A new, clean tool is
//! `pending` until approved under the organization's `tool_approval = manual` (the
//! default), or approved when first seen under `trust_on_first_use`.

use crate::{Caller, Permission};
use std::collections::{HashMap, HashSet};

use guidepost_domain::*;
use serde_json::Value;

use super::{attached_servers, audit, diff, fit, scan, shadowing};
use crate::guardrails::intercept_definitions::{self, INTERCEPTOR_RULE, Listed};
use crate::{CoreError, Platform};

/// How often a discovery reads and judges afresh when the definitions it read changed
/// before it could store its own: another discovery of the same upstream (a launch's
/// listing and a relisting after its `list_changed` overlap on one node; two nodes start
/// it at once) or an administrator's decision. Each would otherwise judge the same new
/// definitions new, storing and auditing them twice.
const DISCOVERY_ATTEMPTS: usize = 5;

/// Stores the definitions of `kind` (tools, prompts, resources or resource templates) an
/// upstream listed, each with its hash, findings and state, by the same rules for every
/// kind; servers that attach the upstream are told when anything changed.
pub async fn record_definitions(
    platform: &Platform,
    upstream: &Upstream,
    kind: DefinitionKind,
    definitions: Vec<Value>,
) -> Result<(), CoreError> {
    for _ in 0..DISCOVERY_ATTEMPTS {
        let Some((known, tools)) = judge(platform, upstream, kind, &definitions).await? else {
            // A restart or an idle wake lists the same tools: nothing to write or announce.
            return Ok(());
        };
        let stored = platform
            .store
            .replace_upstream_tools_if_unchanged(
                &upstream.org_id,
                &upstream.id,
                kind,
                &known,
                &tools,
            )
            .await?;
        if stored {
            return announce(platform, upstream, kind, &known, &tools).await;
        }
        tracing::debug!(upstream = %upstream.id, %kind, "the definitions changed while they were judged; judging afresh");
    }
    // Another node keeps storing them: what it stored stands, and was announced by it.
    tracing::warn!(upstream = %upstream.id, %kind, "definitions not stored: they kept changing while judged");
    Ok(())
}

/// The definitions stored now and the same upstream's `definitions` judged against them
/// (hash, findings, state), or `None` when they are what is stored already.
async fn judge(
    platform: &Platform,
    upstream: &Upstream,
    kind: DefinitionKind,
    definitions: &[Value],
) -> Result<Option<(Vec<UpstreamTool>, Vec<UpstreamTool>)>, CoreError> {
    let org = &upstream.org_id;
    let rule = platform.store.get_organization(org).await?.tool_approval;
    let known: Vec<UpstreamTool> = platform
        .store
        .list_upstream_tools(org, &upstream.id)
        .await?
        .into_iter()
        .filter(|known| known.kind == kind)
        .collect();
    let approved: HashSet<(String, String)> = platform
        .store
        .approved_definitions(org, &upstream.id, kind)
        .await?
        .into_iter()
        .collect();
    let before: HashMap<&str, &UpstreamTool> = known.iter().map(|t| (t.name.as_str(), t)).collect();
    let key = |d: &Value| {
        d.get(kind.key_field())
            .and_then(Value::as_str)
            .filter(|key| key.len() <= Limits::DEFINITION_KEY)
            .map(str::to_owned)
    };
    let own: HashSet<String> = match kind {
        DefinitionKind::Tool => definitions.iter().filter_map(key).collect(),
        _ => HashSet::new(),
    };
    let foreign = shadowing::foreign_names_of(platform, org, &upstream.id, &own).await?;
    let mut seen = HashSet::new();
    let mut tools: Vec<UpstreamTool> = definitions
        .iter()
        // A name listed twice is kept once (the first), so that the rest still updates.
        .filter(|d| seen.insert(key(d)))
        .take(Limits::UPSTREAM_TOOLS)
        .filter_map(|definition| {
            let name = key(definition)?;
            let hash = definition_hash(definition);
            let known = before.get(name.as_str()).copied();
            let findings = findings_of(definition, &hash, known, &foreign);
            let approved_before = approved.contains(&(name.clone(), hash.clone()));
            let state = judged(&hash, &findings, known, approved_before, rule);
            Some(UpstreamTool {
                kind,
                name,
                definition: definition.clone(),
                definition_hash: hash,
                state,
                findings,
            })
        })
        .collect();
    held_by_interceptors(platform, upstream, kind, &mut tools, &before).await?;
    for tool in &mut tools {
        if tool.findings.iter().any(|f| f.rule == INTERCEPTOR_RULE) {
            let known = before.get(tool.name.as_str()).copied();
            let approved_before =
                approved.contains(&(tool.name.clone(), tool.definition_hash.clone()));
            tool.state = judged(
                &tool.definition_hash,
                &tool.findings,
                known,
                approved_before,
                rule,
            );
        }
    }
    let unchanged = known.len() == tools.len()
        && known
            .iter()
            .zip(&tools)
            .all(|(old, new)| old.name == new.name && old.definition_hash == new.definition_hash);
    if unchanged {
        return Ok(None);
    }
    if kind == DefinitionKind::Tool {
        // What grew or was renamed since the attach must still fit on every server there.
        let misfits = fit::misfits(platform, upstream, &known, &tools).await?;
        fit::quarantine(&mut tools, misfits);
    }
    Ok(Some((known, tools)))
}

/// The organization's interceptors' findings on the new and changed definitions among
/// `tools`, added to theirs (`guardrails::intercept_definitions`).
async fn held_by_interceptors(
    platform: &Platform,
    upstream: &Upstream,
    kind: DefinitionKind,
    tools: &mut [UpstreamTool],
    before: &HashMap<&str, &UpstreamTool>,
) -> Result<(), CoreError> {
    let listed: Vec<Listed<'_>> = tools
        .iter()
        .filter(|tool| {
            before
                .get(tool.name.as_str())
                .is_none_or(|known| known.definition_hash != tool.definition_hash)
        })
        .map(|tool| Listed {
            name: &tool.name,
            definition: &tool.definition,
        })
        .collect();
    let mut found = intercept_definitions::judge(platform, upstream, kind, &listed).await?;
    for tool in tools.iter_mut() {
        if let Some(findings) = found.remove(&tool.name) {
            tool.findings.extend(findings);
        }
    }
    Ok(())
}

/// After `tools` replaced `known`: the servers that attach the upstream are told, and
/// every new or changed definition is audited.
async fn announce(
    platform: &Platform,
    upstream: &Upstream,
    kind: DefinitionKind,
    known: &[UpstreamTool],
    tools: &[UpstreamTool],
) -> Result<(), CoreError> {
    let org = &upstream.org_id;
    let before: HashMap<&str, &UpstreamTool> = known.iter().map(|t| (t.name.as_str(), t)).collect();
    let servers = attached_servers(platform, org, &upstream.id).await?;
    // This node's views of those servers' tools go at once, so that nobody who reads the
    // new states finds this node still calling a definition it just held back; the
    // announcement below tells the other nodes and the clients.
    for server in &servers {
        platform.cache.server_changed(server);
    }
    let mut events = Vec::new();
    for tool in tools {
        let known = before.get(tool.name.as_str());
        if known.is_some_and(|k| k.definition_hash == tool.definition_hash && k.state == tool.state)
        {
            continue;
        }
        let action = match (known, tool.state) {
            (_, ToolState::Quarantined) => AuditAction::ToolQuarantined,
            (None, _) => AuditAction::ToolDiscovered,
            (Some(_), _) => AuditAction::ToolChanged,
        };
        if tool.state == ToolState::Quarantined {
            let rules: Vec<&str> = tool.findings.iter().map(|f| f.rule.as_str()).collect();
            tracing::warn!(upstream = %upstream.id, %kind, name = %tool.name, ?rules, "a definition was quarantined");
        }
        for finding in &tool.findings {
            metrics::counter!("guidepost_upstream_tool_findings_total", "rule" => finding.rule.clone())
                .increment(1);
        }
        let changes = known
            .filter(|k| k.definition_hash != tool.definition_hash)
            .map(|k| diff::diff(&k.definition, &tool.definition));
        let mut detail = serde_json::json!({
            "definition_hash": tool.definition_hash,
            "previous_hash": known.map(|k| &k.definition_hash),
            "state": tool.state,
            "findings": tool.findings,
            "diff": changes,
        });
        with_kind(&mut detail, kind);
        let about = audit::About {
            upstream: Some(&upstream.id),
            tool: Some(&tool.name),
            detail,
            ..Default::default()
        };
        events.push((action, about));
    }
    audit::record_for_upstream(platform, org, &upstream.id, events).await?;
    if kind == DefinitionKind::Tool {
        // New names may be named by the neighbours' tools.
        for server in &servers {
            shadowing::recheck(platform, org, server).await?;
        }
    }
    platform.announce_tools_changed(&servers).await;
    Ok(())
}

/// An audit event's detail names the kind of what it is about, unless a tool (whose
/// events read as they always did).
fn with_kind(detail: &mut Value, kind: DefinitionKind) {
    if kind != DefinitionKind::Tool {
        detail["kind"] = Value::String(kind.as_str().to_owned());
    }
}

/// A definition's findings: the scanner's, and for a changed definition what the change
/// made riskier. An unchanged definition keeps what was found in it before (a change
/// finding included) and adds what is new, such as a neighbour it now shadows.
fn findings_of(
    definition: &Value,
    hash: &str,
    known: Option<&UpstreamTool>,
    foreign: &[String],
) -> Vec<Finding> {
    let scanned = scan::scan(definition, foreign);
    match known {
        Some(known) if known.definition_hash == hash => {
            let mut findings = known.findings.clone();
            findings.extend(scanned.into_iter().filter(|f| !known.findings.contains(f)));
            findings
        }
        Some(known) => {
            let mut findings = scanned;
            findings.extend(change_findings(&known.definition, definition));
            findings
        }
        None => scanned,
    }
}

/// What a change of definition made riskier: a read-only tool that is no longer said to
/// be, a tool that now says it destroys, and parameters that became required.
fn change_findings(before: &Value, now: &Value) -> Vec<Finding> {
    let mut findings = Vec::new();
    let hint = |definition: &Value, name: &str| {
        definition
            .pointer(&format!("/annotations/{name}"))
            .and_then(Value::as_bool)
    };
    let mut finding = |rule: &str, severity: &str, path: &str, matched: String| {
        findings.push(Finding {
            rule: rule.into(),
            severity: severity.into(),
            path: path.into(),
            matched,
            span: None,
        });
    };
    if hint(before, "readOnlyHint") == Some(true) && hint(now, "readOnlyHint") != Some(true) {
        finding(
            "annotation-downgrade",
            "high",
            "annotations.readOnlyHint",
            "no longer read-only".into(),
        );
    }
    if hint(before, "destructiveHint") == Some(false) && hint(now, "destructiveHint") != Some(false)
    {
        finding(
            "annotation-downgrade",
            "high",
            "annotations.destructiveHint",
            "may now destroy".into(),
        );
    }
    let required = |definition: &Value| -> Vec<String> {
        definition
            .pointer("/inputSchema/required")
            .and_then(Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let was = required(before);
    for name in required(now).into_iter().filter(|n| !was.contains(n)) {
        finding(
            "new-required-parameter",
            "high",
            "inputSchema.required",
            name,
        );
    }
    findings
}

/// A discovered definition's state.
fn judged(
    hash: &str,
    findings: &[Finding],
    before: Option<&UpstreamTool>,
    approved_before: bool,
    rule: ToolApproval,
) -> ToolState {
    let flagged = findings.iter().any(scan::quarantines);
    match before {
        // The same definition keeps the decision taken on it (approved, pending,
        // rejected, …) unless something new was found in it.
        Some(known) if known.definition_hash == hash => {
            let newly_flagged = findings
                .iter()
                .any(|f| scan::quarantines(f) && !known.findings.contains(f));
            if newly_flagged && known.state != ToolState::Rejected {
                ToolState::Quarantined
            } else {
                known.state
            }
        }
        // A definition approved before is not flagged again when it comes back.
        _ if approved_before => ToolState::Approved,
        _ if flagged => ToolState::Quarantined,
        // Changed since it was discovered (a rug pull).
        Some(_) => ToolState::Quarantined,
        // New and clean: as the organization's rule says.
        None if rule == ToolApproval::TrustOnFirstUse => ToolState::Approved,
        None => ToolState::Pending,
    }
}

/// An administrator's decision on a tool of the organization's upstream: `Approved`
/// (its definition is remembered, and offered again) or `Rejected`.
pub async fn decide(
    platform: &Platform,
    caller: &Caller,
    id: &UpstreamId,
    kind: DefinitionKind,
    name: &str,
    state: ToolState,
) -> Result<UpstreamTool, CoreError> {
    caller.require(Permission::Gateway)?;
    let org = caller.org();
    platform.store.get_upstream(org, id).await?;
    if state == ToolState::Approved && kind == DefinitionKind::Tool {
        fit::check_approval(platform, org, id, name).await?;
    }
    let tool = platform
        .store
        .decide_tool(org, id, kind, name, state)
        .await?;
    let action = if state == ToolState::Approved {
        AuditAction::ToolApproved
    } else {
        AuditAction::ToolRejected
    };
    audit_decision(platform, caller, id, &tool, action, false).await?;
    let servers = attached_servers(platform, org, id).await?;
    platform.announce_tools_changed(&servers).await;
    Ok(tool)
}

/// Approves every clean definition of the upstream at once: pending (new, never
/// decided) with no finding at all. Quarantined ones (changed, or with findings) and those
/// left out of a server for want of room still wait for one decision each. Each
/// approval is audited; the servers that attach the upstream hear of it once. Returns the
/// names approved, in the upstream's order.
pub async fn approve_clean(
    platform: &Platform,
    caller: &Caller,
    id: &UpstreamId,
) -> Result<Vec<String>, CoreError> {
    caller.require(Permission::Gateway)?;
    let org = caller.org();
    platform.store.get_upstream(org, id).await?;
    let listed = platform.store.list_upstream_tools(org, id).await?;
    let clean: Vec<_> = listed
        .iter()
        .filter(|t| is_clean(t))
        .map(|t| (t.kind, t.name.clone(), t.definition_hash.clone()))
        .collect();
    if clean.is_empty() {
        return Ok(Vec::new());
    }
    let approved = platform
        .store
        .approve_pending_tools(org, id, &clean)
        .await?;
    for tool in &approved {
        audit_decision(platform, caller, id, tool, AuditAction::ToolApproved, true).await?;
    }
    let servers = attached_servers(platform, org, id).await?;
    platform.announce_tools_changed(&servers).await;
    Ok(approved.into_iter().map(|t| t.name).collect())
}

/// Audits a decision on the upstream's definition `tool` (`bulk`: one of an approval of
/// every clean definition at once).
async fn audit_decision(
    platform: &Platform,
    caller: &Caller,
    id: &UpstreamId,
    tool: &UpstreamTool,
    action: AuditAction,
    bulk: bool,
) -> Result<(), CoreError> {
    let mut detail = serde_json::json!({"definition_hash": tool.definition_hash});
    if bulk {
        detail["bulk"] = Value::Bool(true);
    }
    with_kind(&mut detail, tool.kind);
    let about = audit::About {
        upstream: Some(id),
        tool: Some(&tool.name),
        detail,
        ..Default::default()
    };
    audit::record(platform, caller.org(), caller.actor(), action, about).await
}

/// New, never decided, and without a single finding: what a bulk approval may approve.
pub fn is_clean(tool: &UpstreamTool) -> bool {
    tool.state == ToolState::Pending && tool.findings.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(hash: &str, state: ToolState) -> UpstreamTool {
        UpstreamTool {
            kind: DefinitionKind::Tool,
            name: "echo".into(),
            definition: Value::Null,
            definition_hash: hash.into(),
            state,
            findings: Vec::new(),
        }
    }

    #[test]
    fn a_change_that_drops_read_only_or_adds_a_required_parameter_is_a_finding() {
        let before = serde_json::json!({"name": "read", "annotations": {"readOnlyHint": true, "destructiveHint": false},
            "inputSchema": {"type": "object", "required": ["path"]}});
        let now = serde_json::json!({"name": "read", "annotations": {"readOnlyHint": false},
            "inputSchema": {"type": "object", "required": ["path", "notes"]}});
        let found: Vec<(String, String)> = change_findings(&before, &now)
            .into_iter()
            .map(|f| (f.path, f.matched))
            .collect();
        assert!(
            found.contains(&(
                "annotations.readOnlyHint".into(),
                "no longer read-only".into()
            )),
            "{found:?}"
        );
        assert!(
            found.contains(&(
                "annotations.destructiveHint".into(),
                "may now destroy".into()
            )),
            "{found:?}"
        );
        assert!(
            found.contains(&("inputSchema.required".into(), "notes".into())),
            "{found:?}"
        );
        assert!(change_findings(&before, &before).is_empty());
    }

    #[test]
    fn a_changed_definition_is_quarantined_unless_it_was_approved_before() {
        use ToolApproval::{Manual, TrustOnFirstUse};
        use ToolState::*;
        assert_eq!(
            judged("h0", &[], None, false, Manual),
            Pending,
            "new and clean, under manual review"
        );
        assert_eq!(
            judged("h1", &[], None, false, TrustOnFirstUse),
            Approved,
            "new and clean"
        );
        let known = tool("h1", Approved);
        assert_eq!(judged("h1", &[], Some(&known), false, Manual), Approved);
        assert_eq!(
            judged("h2", &[], Some(&known), false, TrustOnFirstUse),
            Quarantined,
            "a rug pull"
        );
        assert_eq!(
            judged("h2", &[], Some(&known), true, Manual),
            Approved,
            "approved before"
        );
        let rejected = tool("h1", Rejected);
        assert_eq!(
            judged("h1", &[], Some(&rejected), false, TrustOnFirstUse),
            Rejected,
            "stays rejected"
        );
        let finding = Finding {
            rule: "model-directives".into(),
            severity: "high".into(),
            path: "description".into(),
            matched: "<important>".into(),
            span: None,
        };
        let flagged = std::slice::from_ref(&finding);
        assert_eq!(
            judged("h9", flagged, None, false, TrustOnFirstUse),
            Quarantined
        );
        assert_eq!(
            judged("h1", flagged, Some(&known), false, Manual),
            Quarantined,
            "newly found in an approved definition"
        );
        let mut reviewed = tool("h1", Approved);
        reviewed.findings.push(finding.clone());
        assert_eq!(
            judged("h1", flagged, Some(&reviewed), false, Manual),
            Approved,
            "approved with that finding"
        );
        assert_eq!(
            judged("h1", flagged, Some(&rejected), false, Manual),
            Rejected
        );
    }

    #[test]
    fn an_unchanged_definition_keeps_its_findings_and_adds_new_ones() {
        let definition =
            serde_json::json!({"name": "echo", "description": "Unlike get_support, echoes."});
        let mut known = tool("h1", ToolState::Approved);
        known.findings.push(Finding {
            rule: "annotation-downgrade".into(),
            severity: "high".into(),
            path: "annotations.readOnlyHint".into(),
            matched: "no longer read-only".into(),
            span: None,
        });
        let foreign = vec!["get_support".to_owned()];
        let rules: Vec<String> = findings_of(&definition, "h1", Some(&known), &foreign)
            .into_iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(rules, ["annotation-downgrade", "tool-shadowing"]);
        assert!(findings_of(&definition, "h1", Some(&known), &[]).len() == 1);
    }
}
