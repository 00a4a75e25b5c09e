//! The gateway's audit log (SPEC §8): every install, uninstall, attach, detach,
//! discovery, change, quarantine, approval and rejection, with who and when.

use crate::Caller;
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
    action: &str,
    about: About<'_>,
) -> Result<(), CoreError> {
    let event = AuditEvent {
        id: AuditEventId::generate(),
        org_id: org.clone(),
        created_at: Timestamp::now(),
        actor: actor.to_string(),
        action: action.to_owned(),
        upstream_id: about.upstream.cloned(),
        server_id: about.server.cloned(),
        tool: about.tool.map(str::to_owned),
        detail: if about.detail.is_null() {
            Value::Object(Default::default())
        } else {
            about.detail
        },
    };
    Ok(platform.store.record_audit_event(&event).await?)
}

/// The organization's audit log, newest first.
pub async fn list(
    platform: &Platform,
    caller: &Caller,
    page: &PageRequest,
) -> Result<Page<AuditEvent>, CoreError> {
    let org = caller.org();
    Ok(platform.store.list_audit_events(org, page).await?)
}
