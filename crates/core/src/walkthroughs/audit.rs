//! What the audit log records of walkthrough authoring: the walkthrough by its title.

use guidepost_domain::*;
use serde_json::Value;

use crate::audit::{self, Object};
use crate::{Caller, CoreError, Platform};

/// Records `action` on `walkthrough`.
pub(crate) async fn record(
    platform: &Platform,
    caller: &Caller,
    action: AuditAction,
    walkthrough: &Walkthrough,
    detail: Value,
) -> Result<(), CoreError> {
    let object = Object {
        kind: "walkthrough",
        id: walkthrough.id.as_str(),
        name: &walkthrough.title,
    };
    audit::record(platform, caller, action, object, detail).await
}

/// As [`record`], reading the walkthrough's title first (one statement).
pub(crate) async fn record_by_id(
    platform: &Platform,
    caller: &Caller,
    action: AuditAction,
    id: &WalkthroughId,
    detail: Value,
) -> Result<(), CoreError> {
    let walkthrough = platform.store.get_walkthrough(caller.org(), id).await?;
    record(platform, caller, action, &walkthrough, detail).await
}

/// As [`record_by_id`], with the server it was assigned to or taken off by name.
pub(crate) async fn record_assignment(
    platform: &Platform,
    caller: &Caller,
    action: AuditAction,
    server: &ServerId,
    walkthrough: &WalkthroughId,
) -> Result<(), CoreError> {
    let server = platform.store.get_server(caller.org(), server).await?;
    let detail = serde_json::json!({"server": server.name, "server_id": server.id});
    record_by_id(platform, caller, action, walkthrough, detail).await
}
