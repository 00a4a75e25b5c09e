//! Tool shadowing: a definition that names a tool it does not own
//! steers how the model uses that tool. The names a definition must not name depend on
//! where its upstream is attached: Guidepost's built-in tools, and the tools of every
//! other upstream attached beside it on a hosted server. They are checked when tools are
//! discovered and again at each attach, when an upstream gets new neighbours.

use std::collections::{BTreeSet, HashSet};

use guidepost_domain::*;
use guidepost_store::AttachedUpstream;

use super::{audit, exposed_name, scan};
use crate::{CoreError, Platform};

/// The names the tools of `upstream` must not name, beside the `entries` of one hosted
/// server: the built-in tools, and the other attachments' tools by exposed name and, where
/// distinctive, by their own name. Names the upstream's tools have themselves (`own`)
/// are left out, so that two installations of one server may sit side by side.
fn foreign_names(
    entries: &[AttachedUpstream],
    upstream: &UpstreamId,
    own: &HashSet<String>,
    names: &mut BTreeSet<String>,
) {
    for entry in entries.iter().filter(|e| &e.upstream.id != upstream) {
        for tool in &entry.tools {
            names.insert(exposed_name(&entry.attachment.prefix, &tool.name));
            if scan::distinctive(&tool.name) && !own.contains(&tool.name) {
                names.insert(tool.name.clone());
            }
        }
    }
}

fn builtins() -> BTreeSet<String> {
    guidepost_domain::builtin_tools::ALL
        .iter()
        .map(|n| (*n).to_owned())
        .collect()
}

/// The names the tools of `upstream` must not name, over every hosted server that
/// attaches it.
pub(super) async fn foreign_names_of(
    platform: &Platform,
    org: &OrgId,
    upstream: &UpstreamId,
    own: &HashSet<String>,
) -> Result<Vec<String>, CoreError> {
    let mut names = builtins();
    for server in platform.store.servers_attaching(org, upstream).await? {
        let entries = platform.store.attached_upstreams(org, &server).await?;
        foreign_names(&entries, upstream, own, &mut names);
    }
    Ok(names.into_iter().collect())
}

/// After an attach: each attachment of the server is checked against its neighbours
/// there. A tool that names a neighbour's tool (and was not rejected) is quarantined with
/// the finding. Returns whether any was.
pub(super) async fn recheck(
    platform: &Platform,
    org: &OrgId,
    server: &ServerId,
) -> Result<bool, CoreError> {
    let entries = platform.store.attached_upstreams(org, server).await?;
    let mut quarantined = false;
    for entry in &entries {
        let own: HashSet<String> = entry.tools.iter().map(|t| t.name.clone()).collect();
        let mut names = builtins();
        foreign_names(&entries, &entry.upstream.id, &own, &mut names);
        let names: Vec<String> = names.into_iter().collect();
        let mut events = Vec::new();
        for tool in entry
            .tools
            .iter()
            .filter(|t| t.state != ToolState::Rejected)
        {
            let new: Vec<Finding> = scan::scan(&tool.definition, &names)
                .into_iter()
                .filter(|f| scan::quarantines(f) && !tool.findings.contains(f))
                .collect();
            if new.is_empty() {
                continue;
            }
            let mut findings = tool.findings.clone();
            findings.extend(new);
            let id = &entry.upstream.id;
            let flagged = platform
                .store
                .quarantine_tool(org, id, &tool.name, &tool.definition_hash, &findings)
                .await?;
            if !flagged {
                continue; // redefined meanwhile: its discovery judged it
            }
            quarantined = true;
            tracing::warn!(upstream = %id, tool = %tool.name, "a tool that shadows a neighbour was quarantined");
            let about = audit::About {
                upstream: Some(id),
                server: Some(server),
                tool: Some(&tool.name),
                detail: serde_json::json!({
                    "definition_hash": tool.definition_hash,
                    "state": ToolState::Quarantined,
                    "findings": findings,
                }),
            };
            events.push((AuditAction::ToolQuarantined, about));
        }
        audit::record_for_upstream(platform, org, &entry.upstream.id, events).await?;
    }
    Ok(quarantined)
}
