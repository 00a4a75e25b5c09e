//! The connections an upstream's owners hold, as the API and the dashboard list them,
//! and their end: a disconnection (audited, the tokens revoked at the upstream) or a
//! connection forgotten when its person is erased.

use guidepost_domain::*;

use super::*;

/// A connection as the API shows it.
fn view(connection: &UpstreamConnection, upstream: &Upstream) -> ConnectionView {
    ConnectionView {
        upstream_id: connection.upstream_id.clone(),
        upstream_name: upstream.name.clone(),
        owner: connection.owner.key().to_owned(),
        status: connection.status,
        account: connection.account.clone(),
        expires_at: connection.expires_at,
        created_at: connection.created_at,
        updated_at: connection.updated_at,
    }
}

/// The upstream's connections (`GET /api/v1/upstreams/{id}/connections`).
pub async fn list(
    platform: &Platform,
    caller: &Caller,
    upstream: &UpstreamId,
) -> Result<Vec<ConnectionView>, CoreError> {
    let upstream = platform.store.get_upstream(caller.org(), upstream).await?;
    let connections = platform
        .store
        .list_connections(caller.org(), Some(&upstream.id), None)
        .await?;
    Ok(connections.iter().map(|c| view(c, &upstream)).collect())
}

/// One person's connections across the organization's upstreams
/// (`GET /api/v1/end-users/{id}/connections`): three store statements whatever their
/// number (the person, their connections, the upstreams' names).
pub async fn of_person(
    platform: &Platform,
    caller: &Caller,
    end_user: &EndUserId,
) -> Result<Vec<ConnectionView>, CoreError> {
    let person = platform.store.get_end_user(caller.org(), end_user).await?;
    views_of_person(platform, caller.org(), &person.id).await
}

/// `end_user`'s connections with their upstreams' names: two store statements, one when
/// there are none.
pub(super) async fn views_of_person(
    platform: &Platform,
    org: &OrgId,
    end_user: &EndUserId,
) -> Result<Vec<ConnectionView>, CoreError> {
    let owner = ConnectionOwner::Person(end_user.clone());
    let connections = platform
        .store
        .list_connections(org, None, Some(&owner))
        .await?;
    if connections.is_empty() {
        return Ok(Vec::new());
    }
    let upstreams = platform.store.list_upstreams(org).await?;
    Ok(connections
        .iter()
        .filter_map(|connection| {
            let upstream = upstreams.iter().find(|u| u.id == connection.upstream_id)?;
            Some(view(connection, upstream))
        })
        .collect())
}

/// Whether `end_user` has an active connection to `upstream` now (one store read): what
/// a session's connect elicitation waits for.
pub async fn person_is_connected(
    platform: &Platform,
    org: &OrgId,
    upstream: &UpstreamId,
    end_user: &EndUserId,
) -> Result<bool, CoreError> {
    let owner = ConnectionOwner::Person(end_user.clone());
    let connection = platform.store.get_connection(org, upstream, &owner).await?;
    Ok(connection.is_some_and(|c| c.status == ConnectionStatus::Active))
}

/// Removes a connection and revokes its tokens at the upstream (RFC 7009, best effort:
/// the connection is gone here whatever the upstream answers).
pub async fn disconnect(
    platform: &Platform,
    caller: &Caller,
    upstream: &UpstreamId,
    owner: &ConnectionOwner,
) -> Result<(), CoreError> {
    caller.require(Permission::Gateway)?;
    let upstream = platform.store.get_upstream(caller.org(), upstream).await?;
    let detail = serde_json::json!({"owner": owner.key()});
    forget_audited(platform, &upstream, owner, caller.actor(), detail).await
}

/// [`forget`], then `connection.disconnected` in the audit log, as `actor`.
pub(super) async fn forget_audited(
    platform: &Platform,
    upstream: &Upstream,
    owner: &ConnectionOwner,
    actor: &Actor,
    detail: serde_json::Value,
) -> Result<(), CoreError> {
    forget(platform, upstream, owner).await?;
    let about = crate::upstreams::audit::About {
        upstream: Some(&upstream.id),
        detail,
        ..Default::default()
    };
    let org = &upstream.org_id;
    crate::upstreams::audit::record(
        platform,
        org,
        actor,
        AuditAction::ConnectionDisconnected,
        about,
    )
    .await?;
    Ok(())
}

/// Deletes the connection and revokes what it held at the upstream.
pub(crate) async fn forget(
    platform: &Platform,
    upstream: &Upstream,
    owner: &ConnectionOwner,
) -> Result<(), CoreError> {
    let Some(gone) = platform
        .store
        .delete_connection(&upstream.org_id, &upstream.id, owner)
        .await?
    else {
        return Err(CoreError::NotFound);
    };
    let key = master_key(platform)?;
    let context = tokens_context(&upstream.org_id, &upstream.id, owner);
    let tokens: ConnectionTokens = open_json(key, &gone.tokens_sealed, &context)?;
    if tokens.static_key {
        return Ok(());
    }
    let Some(server) = stored_authorization(platform, upstream).await? else {
        return Ok(());
    };
    // The refresh token first: revoking it ends the grant (and its access tokens) at
    // servers that tie them together.
    let revocable = tokens.refresh_token.iter().chain([&tokens.access_token]);
    for token in revocable {
        if let Err(why) = platform.connections.revoke(&server, token).await {
            tracing::warn!(upstream = %upstream.id, %why, "could not revoke a connection's token");
        }
    }
    Ok(())
}
