//! What a server's agents looked for and did not find, over the last days: calls of tools
//! the server does not offer, arguments a tool (or its upstream) refused, tools that fail
//! again and again, and tools nobody called. Read from the recorded calls' refusals (a
//! partial index holds only those) and the hourly and daily rollups, so the report costs
//! the same however many calls ran.

use std::collections::{BTreeMap, BTreeSet};

use guidepost_domain::*;
use guidepost_store::{ROLLUP_MICROS, RefusedTool};
use serde::Serialize;
use utoipa::ToSchema;

use crate::hosting::tool_switches::{self, SwitchSource};
use crate::insights::analytics::aligned_window;
use crate::{Caller, CoreError, Platform};

/// The window's length when none is asked for, and the longest one.
pub const DEFAULT_DAYS: u32 = 7;
pub const MAX_DAYS: u32 = 31;

/// Errors (beside refusals) over the window from which a tool counts as failing again
/// and again.
pub const REPEATED_ERRORS: u64 = 3;

/// A server's missing capabilities over `[since, until)`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MissingCapabilities {
    #[schema(value_type = String)]
    pub server_id: ServerId,
    pub since: Timestamp,
    pub until: Timestamp,
    /// Names called that the server did not offer, the most called first.
    pub unknown_tools: Vec<RefusedCalls>,
    /// Tools whose arguments were refused, by the tool or its upstream (`-32602`).
    pub refused_arguments: Vec<RefusedCalls>,
    /// Offered tools with at least [`REPEATED_ERRORS`] errors, the most first.
    pub failing_tools: Vec<FailingTool>,
    /// Tools the server offers now that no call reached in the window.
    pub never_called: Vec<UncalledTool>,
}

/// Calls of one name refused for one reason.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusedCalls {
    pub tool_name: String,
    /// The upstream that refused the arguments, where one did.
    #[schema(value_type = Option<String>)]
    pub upstream_id: Option<UpstreamId>,
    pub calls: u64,
    pub last_called_at: Timestamp,
}

/// A tool that failed again and again.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailingTool {
    pub tool_name: String,
    pub calls: u64,
    /// Errors, refused arguments left out.
    pub errors: u64,
}

/// An offered tool nobody called.
#[derive(Debug, Serialize, ToSchema)]
pub struct UncalledTool {
    pub tool_name: String,
    pub source: SwitchSource,
}

/// The report of `server` over the last `days` (1 to [`MAX_DAYS`]), up to the end of the
/// current hour.
pub async fn report(
    platform: &Platform,
    caller: &Caller,
    server: &ServerId,
    days: u32,
) -> Result<MissingCapabilities, CoreError> {
    if !(1..=MAX_DAYS).contains(&days) {
        let message = format!("must be from 1 to {MAX_DAYS}, not {days}");
        return Err(ValidationError::new("days", message).into());
    }
    // The server is read through the caller: another organization's is not found.
    let (server, offered) = tool_switches::switches(platform, caller, server).await?;
    let (since, until) = window(Timestamp::now(), days);
    let org = caller.org();
    let refused = platform.store.refused_tools(org, &server.id, since).await?;
    let rollups = platform
        .store
        .tool_rollups(org, Some(&server.id), since, until)
        .await?;
    let offered: Vec<(String, SwitchSource)> = offered
        .into_iter()
        .filter(|tool| tool.enabled)
        .map(|tool| (tool.name, tool.source))
        .collect();
    let called: BTreeSet<&str> = rollups
        .iter()
        .filter(|r| r.calls > 0)
        .map(|r| r.tool_name.as_str())
        .collect();
    let never_called = offered
        .iter()
        .filter(|(name, _)| !called.contains(name.as_str()))
        .map(|(name, source)| UncalledTool {
            tool_name: name.clone(),
            source: source.clone(),
        })
        .collect();
    let offered_names: BTreeSet<&str> = offered.iter().map(|(name, _)| name.as_str()).collect();
    let failing_tools = failing(&rollups, &refused, &offered_names);
    let (unknown_tools, refused_arguments) = split_refused(refused);
    Ok(MissingCapabilities {
        server_id: server.id,
        since,
        until,
        unknown_tools,
        refused_arguments,
        failing_tools,
        never_called,
    })
}

/// `[since, until)`: `days` whole days of hours ending with the hour that holds `now`.
fn window(now: Timestamp, days: u32) -> (Timestamp, Timestamp) {
    aligned_window(now, ROLLUP_MICROS / 1_000_000, days * 24)
}

/// The offered tools with [`REPEATED_ERRORS`] errors or more once their refused calls
/// (counted as errors too) are taken away, the most errors first.
fn failing(
    rollups: &[guidepost_store::ToolRollup],
    refused: &[RefusedTool],
    offered: &BTreeSet<&str>,
) -> Vec<FailingTool> {
    let mut refused_of: BTreeMap<&str, u64> = BTreeMap::new();
    for group in refused {
        *refused_of.entry(group.tool_name.as_str()).or_default() += group.calls;
    }
    let mut failing: Vec<FailingTool> = rollups
        .iter()
        .filter(|r| offered.contains(r.tool_name.as_str()))
        .map(|r| FailingTool {
            tool_name: r.tool_name.clone(),
            calls: r.calls,
            errors: r
                .errors
                .saturating_sub(refused_of.get(r.tool_name.as_str()).copied().unwrap_or(0)),
        })
        .filter(|tool| tool.errors >= REPEATED_ERRORS)
        .collect();
    failing.sort_by(|a, b| {
        b.errors
            .cmp(&a.errors)
            .then_with(|| a.tool_name.cmp(&b.tool_name))
    });
    failing
}

/// The refused groups as (unknown tools, refused arguments), each in the store's order.
/// Calls the organization's policies, quotas or interceptors refused are not missing
/// capabilities.
fn split_refused(refused: Vec<RefusedTool>) -> (Vec<RefusedCalls>, Vec<RefusedCalls>) {
    let (mut unknown, mut arguments) = (Vec::new(), Vec::new());
    for group in refused {
        match group.refusal {
            CallRefusal::UnknownTool => unknown.push(group),
            CallRefusal::InvalidArguments => arguments.push(group),
            CallRefusal::Policy
            | CallRefusal::Quota
            | CallRefusal::Interceptor
            | CallRefusal::Approval => {}
        }
    }
    let calls = |groups: Vec<RefusedTool>| {
        groups
            .into_iter()
            .map(|group| RefusedCalls {
                tool_name: group.tool_name,
                upstream_id: group.upstream_id,
                calls: group.calls,
                last_called_at: group.last_called_at,
            })
            .collect()
    };
    (calls(unknown), calls(arguments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_ends_with_the_current_hour() {
        let now = Timestamp::parse_rfc3339("2026-11-29T13:45:00Z").unwrap();
        let (since, until) = window(now, 7);
        assert!(
            until.to_rfc3339().starts_with("2026-11-29T14:00:00"),
            "{}",
            until.to_rfc3339()
        );
        assert!(
            since.to_rfc3339().starts_with("2026-11-22T14:00:00"),
            "{}",
            since.to_rfc3339()
        );
    }

    #[test]
    fn refused_calls_are_not_counted_as_failures() {
        let rollup = |name: &str, calls, errors| guidepost_store::ToolRollup {
            tool_name: name.into(),
            calls,
            errors,
            max_us: 0,
            latencies: Default::default(),
        };
        let refused = vec![RefusedTool {
            tool_name: "fx__echo".into(),
            refusal: CallRefusal::InvalidArguments,
            upstream_id: None,
            calls: 4,
            last_called_at: Timestamp::now(),
        }];
        let policy = RefusedTool {
            refusal: CallRefusal::Policy,
            ..refused[0].clone()
        };
        let (unknown, arguments) = split_refused(vec![policy, refused[0].clone()]);
        assert!(unknown.is_empty());
        assert_eq!(
            arguments.len(),
            1,
            "a policy's refusal is not a missing capability"
        );
        let rollups = [
            rollup("fx__echo", 9, 6),
            rollup("get_support", 5, 3),
            rollup("gone", 9, 9),
        ];
        let offered = BTreeSet::from(["fx__echo", "get_support"]);
        let failing = failing(&rollups, &refused, &offered);
        let named: Vec<(&str, u64)> = failing
            .iter()
            .map(|t| (t.tool_name.as_str(), t.errors))
            .collect();
        assert_eq!(
            named,
            [("get_support", 3)],
            "echo's 6 errors are 4 refusals and 2 failures"
        );
    }
}
