//! What fits on a hosted server: exposed names that do not collide, and no
//! more tools than its cap (`--max-server-tools`), built-in tools included. Checked at
//! attach, where an attachment that does not fit is refused, and again whenever an
//! upstream's definitions are recorded (a rediscovery after `list_changed`, a restart):
//! an upstream that grows after it was attached cannot take a server past its cap or
//! take a name twice. What does not fit then is quarantined with a finding that says
//! why, until an administrator approves it, which is refused while it still does not
//! fit. An attachment's allowlists name only what the upstream offers.

use std::collections::{BTreeMap, HashMap, HashSet};

use guidepost_domain::*;
use guidepost_store::AttachedUpstream;

use super::exposed_name;
use crate::{CoreError, Platform};

/// The finding of a tool left out because the server had no room for it.
const TOOL_CAP_RULE: &str = "server-tool-cap";
/// The finding of a tool left out because its exposed name was taken.
const COLLISION_RULE: &str = "name-collision";

/// Whether the tool was quarantined because it did not fit (and was not approved since).
fn is_misfit(tool: &UpstreamTool) -> bool {
    tool.state == ToolState::Quarantined
        && tool
            .findings
            .iter()
            .any(|f| f.rule == TOOL_CAP_RULE || f.rule == COLLISION_RULE)
}

fn allowed(attachment: &Attachment, tool: &UpstreamTool) -> bool {
    attachment
        .allowed_tools
        .as_ref()
        .is_none_or(|list| list.contains(&tool.name))
}

/// Whether a tool of an attachment holds a place on its server: it is offered, or may be
/// once approved (within the allowlist, not rejected), and was not left out for want of
/// room or for its name.
fn holds_place(attachment: &Attachment, tool: &UpstreamTool) -> bool {
    tool.kind == DefinitionKind::Tool
        && allowed(attachment, tool)
        && tool.state != ToolState::Rejected
        && !is_misfit(tool)
}

/// The names taken on a server by its built-in tools and by the attachments other than
/// `except`'s, each with what holds it.
fn taken_beside(entries: &[AttachedUpstream], except: &UpstreamId) -> BTreeMap<String, String> {
    let mut taken: BTreeMap<String, String> = builtin_tools::ALL
        .iter()
        .map(|name| ((*name).to_owned(), "a built-in tool".to_owned()))
        .collect();
    for entry in entries.iter().filter(|e| &e.upstream.id != except) {
        for tool in entry
            .tools
            .iter()
            .filter(|t| holds_place(&entry.attachment, t))
        {
            let owner = format!("{}'s {}", entry.upstream.name, tool.name);
            taken.insert(exposed_name(&entry.attachment.prefix, &tool.name), owner);
        }
    }
    taken
}

/// Refuses an attachment whose tools would take a name the server already offers (its
/// built-in tools' or another attachment's), or that would take the server past its
/// tool cap: a client would see one tool where there are two, or a truncated list.
pub(super) async fn check_attach(
    platform: &Platform,
    org: &OrgId,
    attachment: &Attachment,
) -> Result<(), CoreError> {
    let entries = platform
        .store
        .attached_upstreams(org, &attachment.server_id)
        .await?;
    let mut taken = taken_beside(&entries, &attachment.upstream_id);
    let tools = platform
        .store
        .list_upstream_tools(org, &attachment.upstream_id)
        .await?;
    for (field, kind, names) in [
        (
            "allowed_tools",
            DefinitionKind::Tool,
            &attachment.allowed_tools,
        ),
        (
            "allowed_prompts",
            DefinitionKind::Prompt,
            &attachment.allowed_prompts,
        ),
    ] {
        named_ones_exist(field, kind, names.as_deref(), &tools)?;
    }
    let mut collisions = Vec::new();
    for tool in tools.iter().filter(|t| holds_place(attachment, t)) {
        let name = exposed_name(&attachment.prefix, &tool.name);
        match taken.get(&name) {
            Some(owner) => collisions.push(format!("{name} (already {owner})")),
            None => {
                taken.insert(name, tool.name.clone());
            }
        }
    }
    if !collisions.is_empty() {
        return Err(CoreError::Conflict(format!(
            "these tools would take names the server already offers: {}; attach under another prefix",
            collisions.join(", ")
        )));
    }
    let cap = platform.config.max_server_tools;
    if taken.len() > cap {
        return Err(CoreError::Conflict(format!(
            "the server would offer {} tools, over its cap of {cap}; attach fewer with allowed_tools \
             (or raise --max-server-tools)",
            taken.len()
        )));
    }
    Ok(())
}

/// The most of an upstream's names a refusal lists.
const NAMES_LISTED: usize = 20;

/// Refuses an allowlist naming what the upstream does not offer: such a name lets nothing
/// through, and was most likely mistyped. Once the upstream has listed definitions of the
/// kind, that is; before its first discovery there is nothing to check the names against.
fn named_ones_exist(
    field: &'static str,
    kind: DefinitionKind,
    names: Option<&[String]>,
    known: &[UpstreamTool],
) -> Result<(), ValidationError> {
    let offered: Vec<&str> = known
        .iter()
        .filter(|definition| definition.kind == kind)
        .map(|definition| definition.name.as_str())
        .collect();
    let Some(names) = names.filter(|_| !offered.is_empty()) else {
        return Ok(());
    };
    let unknown: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|name| !offered.contains(name))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let mut listed = offered.clone();
    listed.sort_unstable();
    let more = listed.len().saturating_sub(NAMES_LISTED);
    listed.truncate(NAMES_LISTED);
    let message = format!(
        "the upstream offers no {} named {}; it offers {}{}",
        kind.as_str().replace('_', " "),
        unknown.join(", "),
        listed.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
    );
    Err(ValidationError::new(field, message))
}

/// Why each of `tools` (the upstream's tools as they are about to be stored, in its
/// order) does not fit on a server that attaches the upstream, by tool name; a tool that
/// fits everywhere is not named. The tools that held a place before (among `known`, as
/// stored) keep it first, so that a growing list cannot push out what was there.
pub(super) async fn misfits(
    platform: &Platform,
    upstream: &Upstream,
    known: &[UpstreamTool],
    tools: &[UpstreamTool],
) -> Result<HashMap<String, Vec<Finding>>, CoreError> {
    let org = &upstream.org_id;
    let held: HashSet<&str> = known
        .iter()
        .filter(|t| t.state != ToolState::Rejected && !is_misfit(t))
        .map(|t| t.name.as_str())
        .collect();
    let cap = platform.config.max_server_tools;
    let mut found: HashMap<String, Vec<Finding>> = HashMap::new();
    for server in platform.store.servers_attaching(org, &upstream.id).await? {
        let entries = platform.store.attached_upstreams(org, &server).await?;
        let Some(own) = entries.iter().find(|e| e.upstream.id == upstream.id) else {
            continue; // detached meanwhile
        };
        let mut taken = taken_beside(&entries, &upstream.id);
        let mut candidates: Vec<&UpstreamTool> = tools
            .iter()
            .filter(|t| holds_place(&own.attachment, t))
            .collect();
        candidates.sort_by_key(|t| !held.contains(t.name.as_str()));
        for tool in candidates {
            let name = exposed_name(&own.attachment.prefix, &tool.name);
            let finding = if let Some(owner) = taken.get(&name) {
                misfit(
                    COLLISION_RULE,
                    format!("{name} on {server} is already {owner}"),
                )
            } else if taken.len() >= cap {
                misfit(
                    TOOL_CAP_RULE,
                    format!("{server} offers at most {cap} tools, built-in tools included"),
                )
            } else {
                taken.insert(name, format!("{}'s {}", upstream.name, tool.name));
                continue;
            };
            found.entry(tool.name.clone()).or_default().push(finding);
        }
    }
    Ok(found)
}

fn misfit(rule: &str, matched: String) -> Finding {
    Finding {
        rule: rule.to_owned(),
        severity: "high".to_owned(),
        path: "name".to_owned(),
        matched,
        span: None,
    }
}

/// Marks the tools that do not fit as quarantined, each with why (once).
pub(super) fn quarantine(tools: &mut [UpstreamTool], misfits: HashMap<String, Vec<Finding>>) {
    for tool in tools {
        let Some(findings) = misfits.get(&tool.name) else {
            continue;
        };
        for finding in findings {
            if !tool.findings.contains(finding) {
                tool.findings.push(finding.clone());
            }
        }
        tool.state = ToolState::Quarantined;
    }
}

/// Before an administrator approves the tool `name`: refused while a tool that was left
/// out for want of room or for its name still does not fit on a server that attaches
/// its upstream (reject or detach something there first).
pub(super) async fn check_approval(
    platform: &Platform,
    org: &OrgId,
    upstream: &UpstreamId,
    name: &str,
) -> Result<(), CoreError> {
    let tools = platform.store.list_upstream_tools(org, upstream).await?;
    let Some(tool) = tools
        .iter()
        .find(|t| t.kind == DefinitionKind::Tool && t.name == name)
        .filter(|t| is_misfit(t))
    else {
        return Ok(());
    };
    let cap = platform.config.max_server_tools;
    for server in platform.store.servers_attaching(org, upstream).await? {
        let entries = platform.store.attached_upstreams(org, &server).await?;
        let Some(own) = entries.iter().find(|e| &e.upstream.id == upstream) else {
            continue;
        };
        if !allowed(&own.attachment, tool) {
            continue;
        }
        let mut taken = taken_beside(&entries, upstream);
        for other in own.tools.iter().filter(|t| holds_place(&own.attachment, t)) {
            let owner = format!("{}'s {}", own.upstream.name, other.name);
            taken.insert(exposed_name(&own.attachment.prefix, &other.name), owner);
        }
        let exposed = exposed_name(&own.attachment.prefix, name);
        if let Some(owner) = taken.get(&exposed) {
            return Err(CoreError::Conflict(format!(
                "{exposed} is already {owner} on server {server}; reject one of them, or attach \
                 under another prefix"
            )));
        }
        if taken.len() >= cap {
            return Err(CoreError::Conflict(format!(
                "server {server} offers {} tools already, its cap of {cap}; reject or detach \
                 some there first (or raise --max-server-tools)",
                taken.len()
            )));
        }
    }
    Ok(())
}
