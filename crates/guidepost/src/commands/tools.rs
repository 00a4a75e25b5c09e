//! `guidepost tools …`: reviewing the upstream tools the gateway holds back.

use anyhow::Context;
use guidepost_core::Platform;
use guidepost_core::upstreams;
use guidepost_domain::{Id, ToolState, UpstreamId};
use serde_json::{Value, json};

use super::admin::operator;
use crate::cli::ToolsCommand;
use crate::output;

pub async fn run(command: ToolsCommand, platform: &Platform, json: bool) -> anyhow::Result<()> {
    match command {
        ToolsCommand::Pending { org } => {
            let caller = operator(&org)?;
            let mut held = Vec::new();
            for upstream in upstreams::list(platform, &caller).await? {
                for tool in upstreams::tools(platform, &caller, &upstream.id).await? {
                    if tool.tool.state != ToolState::Approved {
                        held.push(json!({"upstream_id": upstream.id, "upstream": upstream.name, "tool": tool}));
                    }
                }
            }
            output::print(json, &held, |held| {
                if held.is_empty() {
                    return "Nothing awaits review.".into();
                }
                held.iter().map(describe).collect::<Vec<_>>().join("\n")
            });
            Ok(())
        }
        ToolsCommand::Approve {
            org,
            upstream,
            tool,
            kind,
        } => {
            let what = Decided {
                kind,
                state: ToolState::Approved,
            };
            decide(platform, &org, &upstream, &tool, what, json).await
        }
        ToolsCommand::Reject {
            org,
            upstream,
            tool,
            kind,
        } => {
            let what = Decided {
                kind,
                state: ToolState::Rejected,
            };
            decide(platform, &org, &upstream, &tool, what, json).await
        }
    }
}

/// A held definition's name, with its kind unless it is a tool (`--kind` decides it).
fn shown_name(tool: &Value) -> String {
    let name = tool["name"].as_str().unwrap_or("");
    match tool["kind"].as_str() {
        Some(kind) if kind != "tool" => format!("{name} (--kind {kind})"),
        _ => name.to_owned(),
    }
}

/// One held tool as a line: where, what state, which rules found what.
fn describe(held: &Value) -> String {
    let tool = &held["tool"];
    let findings: Vec<String> = tool["findings"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|f| {
                    format!(
                        "{} at {}: {:?}",
                        f["rule"].as_str().unwrap_or(""),
                        f["path"].as_str().unwrap_or(""),
                        f["matched"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let changed: Vec<&str> = tool["diff_from_approved"]
        .as_array()
        .map(|all| all.iter().filter_map(|c| c["path"].as_str()).collect())
        .unwrap_or_default();
    let mut why = findings;
    if !changed.is_empty() {
        why.push(format!("changed at {}", changed.join(", ")));
    }
    let why = if why.is_empty() {
        "new, awaiting review".to_owned()
    } else {
        why.join("; ")
    };
    format!(
        "{}  {:<24} {:<12} {}",
        held["upstream_id"].as_str().unwrap_or(""),
        shown_name(tool),
        tool["state"].as_str().unwrap_or(""),
        why
    )
}

/// A decision on a definition of some kind.
struct Decided {
    kind: guidepost_domain::DefinitionKind,
    state: ToolState,
}

async fn decide(
    platform: &Platform,
    org: &str,
    upstream: &str,
    tool: &str,
    Decided { kind, state }: Decided,
    json: bool,
) -> anyhow::Result<()> {
    let caller = operator(org)?;
    let upstream: UpstreamId = Id::parse(upstream)
        .with_context(|| format!("{upstream:?} is not an upstream id (up_…)"))?;
    let decided = upstreams::decide(platform, &caller, &upstream, kind, tool, state)
        .await
        .map_err(|e| match e {
            guidepost_core::CoreError::NotFound => {
                anyhow::anyhow!("no {kind} {tool:?} on upstream {upstream}")
            }
            other => other.into(),
        })?;
    output::print(json, &decided, |t| {
        format!("{} is now {}.", t.name, t.state)
    });
    Ok(())
}
