//! The audit log of every mutating action: members, API keys, servers,
//! walkthroughs, webhooks, support requests, the organization's settings, call-time
//! policies and quotas, its people's data and the gateway (`upstreams::audit`), with who acted and on what, by name.
//!
//! Events are recorded here, in the services, so that the API, the CLI and the dashboard
//! all leave the same trace; names are written down with the event because the object
//! may be deleted later. Reading fills in what older gateway events lack (upstream,
//! server and actor names) and the event in words.

use std::collections::{HashMap, HashSet};

use guidepost_domain::*;
pub use guidepost_store::AuditFilter;
use serde_json::Value;

use crate::{Caller, CoreError, Permission, Platform};

mod text;

pub use text::describe;

/// The types an event may be filtered by: the first part of its action.
pub(crate) const TYPES: [&str; 16] = [
    "member",
    "api_key",
    "server",
    "walkthrough",
    "webhook",
    "organization",
    "support_request",
    "end_user",
    "upstream",
    "tool",
    "connection",
    "catalog_entry",
    "policy",
    "quota",
    "interceptor",
    "approval",
];

/// The longest actor or object id a filter takes.
const FILTER_MAX: usize = 200;

/// What an event is about: its type (one of [`TYPES`]), id and name.
pub(crate) struct Object<'a> {
    pub kind: &'static str,
    pub id: &'a str,
    pub name: &'a str,
}

/// Records that `caller` did `action` (`{type}.{what}`) to `object`.
pub(crate) async fn record(
    platform: &Platform,
    caller: &Caller,
    action: AuditAction,
    object: Object<'_>,
    detail: Value,
) -> Result<(), CoreError> {
    let event = AuditEvent {
        id: AuditEventId::generate(),
        org_id: caller.org().clone(),
        created_at: Timestamp::now(),
        actor: caller.actor().to_string(),
        actor_name: Some(caller.name().to_owned()),
        action: action.as_str().to_owned(),
        object_type: Some(object.kind.to_owned()),
        object_id: Some(object.id.to_owned()),
        object_name: Some(object.name.to_owned()),
        upstream_id: None,
        server_id: None,
        tool: None,
        detail: if detail.is_null() {
            Value::Object(Default::default())
        } else {
            detail
        },
        upstream_name: None,
        server_name: None,
        text: String::new(),
    };
    Ok(platform.store.record_audit_event(&event).await?)
}

/// Records an action on a server, naming the server as its object.
pub(crate) async fn record_server(
    platform: &Platform,
    caller: &Caller,
    action: AuditAction,
    server: &McpServer,
    detail: serde_json::Value,
) -> Result<(), CoreError> {
    let object = Object {
        kind: "server",
        id: server.id.as_str(),
        name: &server.name,
    };
    record(platform, caller, action, object, detail).await
}

/// Checks a filter as a person or a client sent it: a known type, ids of sane length.
pub(crate) fn check_filter(filter: &AuditFilter) -> Result<(), CoreError> {
    if let Some(kind) = &filter.kind
        && !TYPES.contains(&kind.as_str())
    {
        let known = TYPES.join(", ");
        let message = format!("Unknown event type; use one of {known}.");
        return Err(ValidationError::new("type", message).into());
    }
    for (field, value) in [("actor", &filter.actor), ("object", &filter.object)] {
        if value.as_ref().is_some_and(|v| v.len() > FILTER_MAX) {
            let message = format!("At most {FILTER_MAX} characters.");
            return Err(ValidationError::new(field, message).into());
        }
    }
    Ok(())
}

/// Details that quote an upstream's own words (its last error, its authorization server's
/// refusal), which may hold what it was given, as event and key: shown only to a caller
/// who may read the upstream's last error and logs (`Permission::Gateway`).
const UPSTREAM_WORDS: [(AuditAction, &str); 2] = [
    (AuditAction::UpstreamUpgradeUndone, "why"),
    (AuditAction::ConnectionNeedsReconnect, "reason"),
];

/// The organization's events that match `filter` and that `caller` may read, newest
/// first, with names and words: API keys' events (their scopes, their prefixes) only to
/// whoever may list the keys (`Permission::Administer`), an upstream's words only to
/// whoever may read them ([`UPSTREAM_WORDS`]).
pub async fn list(
    platform: &Platform,
    caller: &Caller,
    filter: &AuditFilter,
    page: &PageRequest,
) -> Result<Page<AuditEvent>, CoreError> {
    check_filter(filter)?;
    let org = caller.org();
    let mut filter = filter.clone();
    filter.hidden_kind = hidden_from(caller);
    let mut listed = platform.store.list_audit_events(org, &filter, page).await?;
    name_everything(platform, org, &mut listed.items).await?;
    for event in &mut listed.items {
        if !caller.may(Permission::Gateway) {
            keep_upstream_words_from(event);
        }
        event.text = describe(event);
    }
    Ok(listed)
}

/// The type whose events `caller` may not read: API keys' (their scopes, their prefixes)
/// unless it may list the keys.
fn hidden_from(caller: &Caller) -> Option<&'static str> {
    (!caller.may(Permission::Administer)).then_some("api_key")
}

/// The types `caller` may narrow the log to: [`TYPES`] but the one [`list`] leaves out.
pub fn types_for(caller: &Caller) -> Vec<&'static str> {
    let hidden = hidden_from(caller);
    TYPES
        .into_iter()
        .filter(|kind| Some(*kind) != hidden)
        .collect()
}

fn keep_upstream_words_from(event: &mut AuditEvent) {
    if let Some(key) = upstream_words(&event.action)
        && let Some(detail) = event.detail.as_object_mut()
    {
        detail.remove(key);
    }
}

/// The key of an event's detail that quotes an upstream's own words ([`UPSTREAM_WORDS`]),
/// if its action has one.
pub(crate) fn upstream_words(action: &str) -> Option<&'static str> {
    UPSTREAM_WORDS
        .into_iter()
        .find(|(quoting, _)| quoting.as_str() == action)
        .map(|(_, key)| key)
}

/// Who may appear as an actor, stored form and name: the members, the API keys (to a
/// caller who may list them), the operator and the platform. For the filter's choices.
pub async fn actors(
    platform: &Platform,
    caller: &Caller,
) -> Result<Vec<(String, String)>, CoreError> {
    let org = caller.org();
    let keys_listed = caller.may(Permission::Administer);
    let mut actors = actor_names(platform, org)
        .await?
        .into_iter()
        .filter(|(actor, _)| keys_listed || !actor.starts_with(Actor::API_KEY_PREFIX))
        .collect::<Vec<_>>();
    actors.sort_by(|a, b| a.1.cmp(&b.1));
    actors.push((
        Actor::Operator.to_string(),
        "The platform's operator".into(),
    ));
    actors.push((Actor::Platform.to_string(), "The platform".into()));
    Ok(actors)
}

async fn actor_names(
    platform: &Platform,
    org: &OrgId,
) -> Result<HashMap<String, String>, CoreError> {
    let members = platform.store.list_members(org).await?;
    let keys = platform.store.list_api_keys(org).await?;
    let members = members
        .into_iter()
        .map(|m| (Actor::Member(m.id).to_string(), m.email.as_str().to_owned()));
    let keys = keys.into_iter().map(|k| {
        (
            Actor::ApiKey(k.id).to_string(),
            format!("API key {}", k.name),
        )
    });
    Ok(members.chain(keys).collect())
}

/// Fills in the names the events do not carry: actors of gateway events, their upstreams
/// and servers. One statement per kind of name, and one per server named.
async fn name_everything(
    platform: &Platform,
    org: &OrgId,
    events: &mut [AuditEvent],
) -> Result<(), CoreError> {
    if events.iter().any(|e| e.actor_name.is_none()) {
        let names = actor_names(platform, org).await?;
        for event in events.iter_mut().filter(|e| e.actor_name.is_none()) {
            event.actor_name = Some(match names.get(&event.actor) {
                Some(name) => name.clone(),
                None => fixed_actor_name(&event.actor),
            });
        }
    }
    if events.iter().any(|e| e.upstream_id.is_some()) {
        let upstreams: HashMap<UpstreamId, String> = platform
            .store
            .list_upstreams(org)
            .await?
            .into_iter()
            .map(|u| (u.id, u.name))
            .collect();
        // The current name, else the one written down with the event (since uninstalled).
        for event in events.iter_mut() {
            let recorded = match event.object_type.as_deref() {
                Some("upstream") => event.object_name.clone(),
                _ => None,
            };
            event.upstream_name = event
                .upstream_id
                .as_ref()
                .and_then(|id| upstreams.get(id).cloned())
                .or(recorded);
        }
    }
    let servers: HashSet<ServerId> = events.iter().filter_map(|e| e.server_id.clone()).collect();
    for server in servers {
        let name = match platform.store.get_server(org, &server).await {
            Ok(found) => found.name,
            Err(guidepost_store::StoreError::NotFound) => continue,
            Err(other) => return Err(other.into()),
        };
        for event in events
            .iter_mut()
            .filter(|e| e.server_id.as_ref() == Some(&server))
        {
            event.server_name = Some(name.clone());
        }
    }
    Ok(())
}

/// The name of an actor that is no member or key of the organization (now).
fn fixed_actor_name(actor: &str) -> String {
    match actor {
        "platform" => "The platform".into(),
        "cli" => "The platform's operator".into(),
        other if other.starts_with("member:") => "A former member".into(),
        _ => "A deleted API key".into(),
    }
}
