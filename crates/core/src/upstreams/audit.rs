//! The gateway's audit log: every install, uninstall, attach, detach,
//! discovery, change, quarantine, approval and rejection, with who and when.
//!
//! What an upstream makes the platform record (its tools' discoveries, changes and
//! quarantines) is bounded per upstream and hour, so that an upstream that churns its
//! definitions cannot fill the log: past the budget, one event says how many were left
//! out. The log is kept for `--audit-retention-days` (`retention`).

use std::collections::BTreeMap;

use guidepost_domain::*;
use serde_json::Value;

use crate::{CoreError, Platform};

/// What an event is about, besides its action.
#[derive(Default)]
pub(crate) struct About<'a> {
    pub upstream: Option<&'a UpstreamId>,
    pub server: Option<&'a ServerId>,
    pub tool: Option<&'a str>,
    pub detail: Value,
}

pub(crate) async fn record(
    platform: &Platform,
    org: &OrgId,
    actor: &Actor,
    action: AuditAction,
    about: About<'_>,
) -> Result<(), CoreError> {
    record_by(platform, org, &actor.to_string(), action, about).await
}

/// As [`record`], with the actor as it was written down earlier (a connect flow keeps
/// who started it until its callback).
pub(crate) async fn record_by(
    platform: &Platform,
    org: &OrgId,
    actor: &str,
    action: AuditAction,
    about: About<'_>,
) -> Result<(), CoreError> {
    let name = match about.upstream {
        // An uninstall's detail names what the store no longer holds.
        Some(_) if action == AuditAction::UpstreamUninstalled => about
            .detail
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned),
        Some(upstream) => upstream_name(platform, org, upstream).await?,
        None => None,
    };
    record_named(platform, org, actor, action, about, name).await
}

/// The upstream's name, written down with each event about it since it may be
/// uninstalled later.
async fn upstream_name(
    platform: &Platform,
    org: &OrgId,
    upstream: &UpstreamId,
) -> Result<Option<String>, CoreError> {
    match platform.store.get_upstream(org, upstream).await {
        Ok(found) => Ok(Some(found.name)),
        Err(guidepost_store::StoreError::NotFound) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// As [`record_by`], with the upstream's name known.
async fn record_named(
    platform: &Platform,
    org: &OrgId,
    actor: &str,
    action: AuditAction,
    about: About<'_>,
    upstream_name: Option<String>,
) -> Result<(), CoreError> {
    let event = AuditEvent {
        id: AuditEventId::generate(),
        org_id: org.clone(),
        created_at: Timestamp::now(),
        actor: actor.to_owned(),
        actor_name: None,
        action: action.as_str().to_owned(),
        object_type: upstream_name.as_ref().map(|_| "upstream".to_owned()),
        object_id: upstream_name
            .as_ref()
            .and(about.upstream)
            .map(|id| id.to_string()),
        object_name: upstream_name,
        upstream_id: about.upstream.cloned(),
        server_id: about.server.cloned(),
        tool: about.tool.map(str::to_owned),
        detail: if about.detail.is_null() {
            Value::Object(Default::default())
        } else {
            about.detail
        },
        upstream_name: None,
        server_name: None,
        text: String::new(),
    };
    Ok(platform.store.record_audit_event(&event).await?)
}

/// The events the platform records about one upstream's tools in an hour, a summary of
/// what was left out included.
pub const UPSTREAM_EVENTS_PER_HOUR: u64 = 100;
/// Tool names a summary lists of what it left out.
const SUMMARIZED_TOOLS: usize = 20;

/// Records the platform's events about the tools of `upstream` within its budget
/// ([`UPSTREAM_EVENTS_PER_HOUR`]): the events that fit, and when some do not, one
/// `upstream.events_summarized` event in the last place that counts them by action.
/// Once the budget is spent, the hour's remaining events are only logged.
pub(crate) async fn record_for_upstream(
    platform: &Platform,
    org: &OrgId,
    upstream: &UpstreamId,
    events: Vec<(AuditAction, About<'_>)>,
) -> Result<(), CoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let actor = Actor::Platform;
    let since = Timestamp::now().plus_seconds(-3600);
    let spent = platform
        .store
        .count_upstream_audit_events(org, upstream, &actor.to_string(), since)
        .await?;
    let room = usize::try_from(UPSTREAM_EVENTS_PER_HOUR.saturating_sub(spent)).unwrap_or(0);
    let fits = events.len() <= room;
    let kept = if fits {
        events.len()
    } else {
        room.saturating_sub(1)
    };
    let mut events = events.into_iter();
    let name = upstream_name(platform, org, upstream).await?;
    let actor_text = actor.to_string();
    for (action, about) in events.by_ref().take(kept) {
        record_named(platform, org, &actor_text, action, about, name.clone()).await?;
    }
    let left_out: Vec<(AuditAction, About<'_>)> = events.collect();
    if left_out.is_empty() {
        return Ok(());
    }
    metrics::counter!("guidepost_audit_events_left_out_total").increment(left_out.len() as u64);
    if room == 0 {
        tracing::warn!(%upstream, events = left_out.len(), "the upstream's audit budget for the hour is spent; events were left out");
        return Ok(());
    }
    let mut by_action: BTreeMap<&str, usize> = BTreeMap::new();
    for (action, _) in &left_out {
        *by_action.entry(action.as_str()).or_default() += 1;
    }
    let tools: Vec<&str> = left_out
        .iter()
        .filter_map(|(_, about)| about.tool)
        .take(SUMMARIZED_TOOLS)
        .collect();
    let about = About {
        upstream: Some(upstream),
        detail: serde_json::json!({
            "left_out": left_out.len(),
            "by_action": by_action,
            "first_tools": tools,
            "budget_per_hour": UPSTREAM_EVENTS_PER_HOUR,
        }),
        ..Default::default()
    };
    record(
        platform,
        org,
        &actor,
        AuditAction::UpstreamEventsSummarized,
        about,
    )
    .await
}
