//! Call quotas: an organization's rules (how many calls each caller may make of a tool,
//! of an upstream's tools, of destructive tools or of any tool, per minute, hour or day),
//! and the count of one call against them, shared by every node through the store.
//!
//! A call that meets rules is counted on all of them at once, or on none when one is at
//! its limit (the store's `count_quota_call`); calls the policies refused are not
//! counted. Windows are fixed (they start on the minute, hour or day, UTC), so the
//! refusal can say when the count starts again.

use std::sync::Arc;

use guidepost_domain::*;
use guidepost_store::QuotaCounter;

use super::decide::ToolFacts;
use crate::audit::{self, Object};
use crate::{Caller, CoreError, Permission, Platform};

/// The organization's rules.
pub async fn current(platform: &Platform, caller: &Caller) -> Result<CallQuotas, CoreError> {
    Ok(platform.store.call_quotas(caller.org()).await?)
}

/// Replaces the organization's rules, checked, audited, and announced to every node.
/// Who runs the gateway may: quotas govern the calls it relays.
pub async fn set(
    platform: &Platform,
    caller: &Caller,
    quotas: CallQuotas,
) -> Result<CallQuotas, CoreError> {
    caller.require(Permission::Gateway)?;
    quotas.check()?;
    let org = caller.org();
    platform
        .store
        .set_call_quotas(org, &quotas, Timestamp::now())
        .await?;
    let object = Object {
        kind: "quota",
        id: org.as_str(),
        name: "call quotas",
    };
    let described: Vec<String> = quotas.rules.iter().map(QuotaRule::describe).collect();
    let detail = serde_json::json!({ "rules": described });
    audit::record(platform, caller, AuditAction::QuotaUpdated, object, detail).await?;
    super::policies::announce_organization(platform, org).await?;
    Ok(quotas)
}

/// A quota a call reached: the rule, and when its count starts again.
#[derive(Debug, Clone)]
pub struct QuotaReached {
    pub rule: QuotaRule,
    pub resets_at: Timestamp,
}

impl QuotaReached {
    /// What the agent reads: the limit, and when to try again.
    pub fn message(&self, now: Timestamp) -> String {
        let wait = (self.resets_at.micros() - now.micros()).max(0) / 1_000_000;
        let at = &self.resets_at.to_rfc3339()[..19];
        format!(
            "Quota reached: {} for each caller. It resets at {at}Z (in {}); try again then, \
             or ask the organization to raise the quota.",
            self.rule.describe(),
            in_words(wait)
        )
    }
}

fn in_words(seconds: i64) -> String {
    match seconds {
        0..=59 => format!("{seconds} s"),
        60..=3599 => format!("{} min", (seconds + 59) / 60),
        _ => format!("{} h {} min", seconds / 3600, (seconds % 3600) / 60),
    }
}

/// Counts one call of `tool` by `caller` (a key naming the person, the end user or the
/// address) on `server` against its organization's rules; the quota it reached, if any.
pub async fn count_call(
    platform: &Platform,
    server: &McpServer,
    caller: &str,
    tool: &ToolFacts<'_>,
) -> Result<Option<QuotaReached>, CoreError> {
    let quotas = in_force(platform, server).await?;
    let now = Timestamp::now();
    let met: Vec<&QuotaRule> = quotas
        .rules
        .iter()
        .filter(|rule| meets(rule, tool))
        .collect();
    if met.is_empty() {
        return Ok(None);
    }
    let counters: Vec<QuotaCounter> = met
        .iter()
        .map(|rule| QuotaCounter {
            name: format!("{}|{caller}", rule.counter_name()),
            window_start: window_start(now, rule.window),
            limit: rule.limit,
        })
        .collect();
    let full = platform
        .store
        .count_quota_call(&server.org_id, &counters)
        .await?;
    Ok(full.map(|index| {
        metrics::counter!("guidepost_quota_refusals_total").increment(1);
        let rule = met[index].clone();
        let resets_at = Timestamp::from_micros(
            counters[index].window_start.micros() + rule.window.seconds() * 1_000_000,
        );
        QuotaReached { rule, resets_at }
    }))
}

fn meets(rule: &QuotaRule, tool: &ToolFacts<'_>) -> bool {
    match &rule.target {
        QuotaTarget::Tool { name } => name == tool.name,
        QuotaTarget::Upstream { prefix } => tool.upstream == Some(prefix.as_str()),
        QuotaTarget::Destructive => tool.hints.destructive && !tool.hints.read_only,
        QuotaTarget::Any => true,
    }
}

fn window_start(now: Timestamp, window: QuotaWindow) -> Timestamp {
    let length = window.seconds() * 1_000_000;
    Timestamp::from_micros(now.micros() - now.micros().rem_euclid(length))
}

/// The rules of `server`'s organization: from this node's cache, or read once.
async fn in_force(platform: &Platform, server: &McpServer) -> Result<Arc<CallQuotas>, CoreError> {
    if let Some(cached) = platform.cache.call_quotas(&server.id) {
        return Ok(cached);
    }
    let read_at = platform.cache.epoch();
    let quotas = Arc::new(platform.store.call_quotas(&server.org_id).await?);
    platform
        .cache
        .keep_call_quotas(&server.id, &quotas, read_at);
    Ok(quotas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardrails::decide::ToolHints;

    #[test]
    fn windows_start_on_the_minute_hour_and_day() {
        let now = Timestamp::parse_rfc3339("2026-11-29T13:45:12Z").unwrap();
        let start = |window| window_start(now, window).to_rfc3339();
        assert!(start(QuotaWindow::Minute).starts_with("2026-11-29T13:45:00"));
        assert!(start(QuotaWindow::Hour).starts_with("2026-11-29T13:00:00"));
        assert!(start(QuotaWindow::Day).starts_with("2026-11-29T00:00:00"));
    }

    #[test]
    fn rules_meet_their_tools() {
        let hints = ToolHints::from_annotations(None);
        let tool = ToolFacts {
            name: "fx__drop",
            tool: "drop",
            upstream: Some("fx"),
            hints,
        };
        let rule = |target| QuotaRule {
            target,
            limit: 1,
            window: QuotaWindow::Hour,
        };
        assert!(meets(&rule(QuotaTarget::Destructive), &tool));
        assert!(meets(
            &rule(QuotaTarget::Upstream {
                prefix: "fx".into()
            }),
            &tool
        ));
        assert!(!meets(
            &rule(QuotaTarget::Upstream { prefix: "f".into() }),
            &tool
        ));
        assert!(!meets(
            &rule(QuotaTarget::Tool {
                name: "drop".into()
            }),
            &tool
        ));
        let read_only = ToolFacts {
            hints: ToolHints::from_annotations(Some(&serde_json::json!({"readOnlyHint": true}))),
            ..tool
        };
        assert!(!meets(&rule(QuotaTarget::Destructive), &read_only));
        let reached = QuotaReached {
            rule: rule(QuotaTarget::Any),
            resets_at: Timestamp::parse_rfc3339("2026-11-29T14:00:00Z").unwrap(),
        };
        let now = Timestamp::parse_rfc3339("2026-11-29T13:37:30Z").unwrap();
        assert_eq!(
            reached.message(now),
            "Quota reached: 1 calls per hour of any tool for each caller. It resets at \
             2026-11-29T14:00:00Z (in 23 min); try again then, or ask the organization to \
             raise the quota."
        );
    }
}
