//! A person's data on request: the export of everything stored about an end
//! user, and their erasure. Both are for administrators (owners, `admin` keys), both are
//! audited, and an end user of another organization is not found.
//!
//! An erasure deletes the person (their row with email and tracking id, sessions, OAuth
//! grants and tokens, login sessions, the personal URLs linked to them, their upstream
//! connections, revoked at each upstream first) and keeps their
//! tool calls, support requests, tasks and progress as one anonymous end user's, so that
//! call counts and funnels do not change (`store::PersonalDataStore::erase_end_user`).

mod export;

use guidepost_domain::*;
pub use guidepost_store::Erasure;
use serde_json::json;

pub use export::{EXPORT_PAGE_ROWS, Export};

use crate::upstreams::audit::{About, record};
use crate::{Caller, CoreError, Permission, Platform};

/// Everything stored about the end user `id`, table by table, as one JSON document that
/// [`Export::into_stream`] writes a page of rows at a time. Refused (`Forbidden`,
/// `NotFound`) before anything is written; the export is audited as it begins, since its
/// reader may stop reading at any point.
pub async fn export(
    platform: &Platform,
    caller: &Caller,
    id: &EndUserId,
) -> Result<Export, CoreError> {
    caller.require(Permission::Administer)?;
    let person = platform.store.get_end_user(caller.org(), id).await?;
    let detail = json!({"end_user_id": id});
    audited(platform, caller, AuditAction::EndUserExported, detail).await?;
    let upstream_words_kept = !caller.may(Permission::Gateway);
    Ok(Export::new(platform, person, upstream_words_kept))
}

/// Erases the end user `id` (see the module's documentation).
pub async fn erase(
    platform: &Platform,
    caller: &Caller,
    id: &EndUserId,
) -> Result<Erasure, CoreError> {
    caller.require(Permission::Administer)?;
    let org = caller.org();
    // Found first, so that another organization's id is refused before anything happens.
    platform.store.get_end_user(org, id).await?;
    let revoked = revoke_connections(platform, org, id).await?;
    // The calls they made up to now are written first, so that the erasure finds them.
    platform.analytics.flushed().await;
    let erasure = platform.store.erase_end_user(org, id).await?;
    // A tracking id this node resolved to them is read again (and finds nobody).
    platform.cache.end_user_changed(org, id);
    let detail = json!({
        "end_user_id": id,
        "anonymous_end_user_id": erasure.tombstone,
        "sessions_deleted": erasure.sessions_deleted,
        "grants_deleted": erasure.grants_deleted,
        "tool_calls_kept_anonymous": erasure.tool_calls_kept_anonymous,
        "support_requests_kept_anonymous": erasure.support_requests_kept_anonymous,
        "progress_kept_anonymous": erasure.progress_kept_anonymous,
        "connections_revoked": revoked,
    });
    audited(platform, caller, AuditAction::EndUserErased, detail).await?;
    Ok(erasure)
}

/// Deletes the person's own upstream connections and revokes their tokens at each
/// upstream (best effort, as a disconnection is: the connection is gone here whatever the
/// upstream answers); how many there were. The erasure deletes any that remain.
async fn revoke_connections(
    platform: &Platform,
    org: &OrgId,
    id: &EndUserId,
) -> Result<usize, CoreError> {
    let owner = ConnectionOwner::Person(id.clone());
    let connections = platform
        .store
        .list_connections(org, None, Some(&owner))
        .await?;
    for connection in &connections {
        let upstream = match platform
            .store
            .get_upstream(org, &connection.upstream_id)
            .await
        {
            Ok(upstream) => upstream,
            Err(guidepost_store::StoreError::NotFound) => continue,
            Err(error) => return Err(error.into()),
        };
        if let Err(why) = crate::upstreams::connections::forget(platform, &upstream, &owner).await {
            tracing::warn!(upstream = %upstream.id, %why, "an erased person's connection was not revoked");
        }
    }
    Ok(connections.len())
}

async fn audited(
    platform: &Platform,
    caller: &Caller,
    action: AuditAction,
    detail: serde_json::Value,
) -> Result<(), CoreError> {
    let about = About {
        detail,
        ..About::default()
    };
    record(platform, caller.org(), caller.actor(), action, about).await
}
