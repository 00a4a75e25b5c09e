//! The credential a call to a connected upstream carries, and keeping it fresh.
//!
//! A token that expires within [`REFRESH_MARGIN_SECONDS`], or that the upstream refused
//! with a 401, is refreshed exactly once across all nodes: the store gives one node a
//! lease on the connection's revision (`claim_connection_refresh`); that node refreshes
//! and writes over the revision it read; the others wait for the revision to move and use
//! what it wrote. An authorization server that rotates refresh tokens and revokes a
//! family on reuse (refresh grace 0) therefore never sees a second refresh. A refresh the
//! server refuses marks the connection `needs_reconnect`, once, and calls ask the owner to
//! connect again instead of trying in a loop.

use std::time::Duration;

use guidepost_domain::*;

use super::*;

/// Refresh at most this long before the access token expires.
const REFRESH_MARGIN_SECONDS: i64 = 60;
/// How long one node may hold the refresh lease before another takes over.
const REFRESH_LEASE_SECONDS: i64 = 30;
/// How long a node waits for another's refresh before giving up on this call.
const REFRESH_WAIT: Duration = Duration::from_secs(35);
const REFRESH_POLL: Duration = Duration::from_millis(50);

/// What a call carries: a header and its value, and the revision of the tokens it came
/// from (a 401 names it, so that only a stale token is refreshed).
#[derive(Clone, PartialEq, Eq)]
pub struct Bearer {
    pub header: String,
    pub value: String,
    pub revision: i64,
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bearer({}: …, revision {})", self.header, self.revision)
    }
}

/// Why a call has no credential for the upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotConnected {
    #[error("{upstream} needs an account connected first")]
    Missing { upstream: String },
    #[error("the account connected to {upstream} must be connected again: its sign-in was refused")]
    NeedsReconnect { upstream: String },
    #[error("the account connected to {upstream} could not be used: {why}")]
    Failed { upstream: String, why: String },
    #[error(
        "{upstream} was connected through another sign-in than this server's; connect it again here"
    )]
    OtherSignIn { upstream: String },
}

/// The credential for a call to `upstream` as `owner`, refreshed first if it is about to
/// expire.
pub async fn bearer(
    platform: &Platform,
    upstream: &Upstream,
    owner: &ConnectionOwner,
) -> Result<Bearer, NotConnected> {
    let connection = current(platform, upstream, owner).await?;
    credential_of(platform, upstream, connection).await
}

/// [`bearer`] for `person`, whose call comes through `server`: only if the connection was
/// made under the sign-in that vouches for `server`'s people, so that a person signed in
/// through a weaker one (the same email at another provider) cannot use it.
async fn bearer_through(
    platform: &Platform,
    upstream: &Upstream,
    owner: &ConnectionOwner,
    server: &McpServer,
) -> Result<Bearer, NotConnected> {
    let connection = current(platform, upstream, owner).await?;
    let vouching = super::identity::sign_in_of_server(platform, server)
        .await
        .map_err(|error| NotConnected::Failed {
            upstream: upstream.name.clone(),
            why: error.to_string(),
        })?;
    if connection.signed_in_with.as_deref() != Some(vouching.as_str()) {
        return Err(NotConnected::OtherSignIn {
            upstream: upstream.name.clone(),
        });
    }
    credential_of(platform, upstream, connection).await
}

/// The credential `connection` holds, refreshed first if it is about to expire.
async fn credential_of(
    platform: &Platform,
    upstream: &Upstream,
    connection: UpstreamConnection,
) -> Result<Bearer, NotConnected> {
    let expiring = expiring_soon(&connection, Timestamp::now());
    let tokens = opened(platform, upstream, &connection)?;
    if expiring && tokens.refresh_token.is_some() {
        return refreshed(platform, upstream, connection).await;
    }
    Ok(credential(upstream, &tokens, connection.revision))
}

/// Whether `person` may call `upstream` (which has `person` sign-in) now: if their
/// connection is usable, the person marked as checked for this call (so that the call
/// itself does not read it again), else an error that carries a link that connects it.
pub async fn person_connected(
    platform: &Platform,
    upstream: &Upstream,
    person: Option<crate::upstreams::CallingPerson>,
) -> Result<crate::upstreams::CallingPerson, crate::upstreams::UpstreamCallError> {
    use crate::upstreams::UpstreamCallError;
    let Some(mut person) = person else {
        return Err(UpstreamCallError::NotStarted(format!(
            "{} works with each person's own account; sign in first",
            upstream.name
        )));
    };
    let owner = ConnectionOwner::Person(person.end_user.clone());
    match bearer_through(platform, upstream, &owner, &person.server).await {
        Ok(_) => {
            person.connection_checked = true;
            Ok(person)
        }
        Err(
            NotConnected::Missing { .. }
            | NotConnected::NeedsReconnect { .. }
            | NotConnected::OtherSignIn { .. },
        ) => {
            let link = super::person_link(platform, &person.server, &person.end_user, upstream)
                .await
                .map_err(|e| UpstreamCallError::Failed(e.to_string()))?;
            Err(UpstreamCallError::NeedsConnection {
                upstream: upstream.name.clone(),
                url: link.url,
            })
        }
        Err(NotConnected::Failed { why, .. }) => Err(UpstreamCallError::Unreachable(why)),
    }
}

/// The gateway's [`UpstreamCallError::NotForAccount`] for `person`'s call of `tool` (as
/// they called it) on `called`, worded for them: the tool, the account they connected
/// (one store read, only on this failure) and their connections page. Any other error as
/// it is.
pub async fn named_for_person(
    platform: &Platform,
    called: &Upstream,
    tool: &str,
    person: Option<&crate::upstreams::CallingPerson>,
    error: crate::upstreams::UpstreamCallError,
) -> crate::upstreams::UpstreamCallError {
    use crate::upstreams::UpstreamCallError;
    let (UpstreamCallError::NotForAccount { upstream, .. }, Some(person)) = (&error, person) else {
        return error;
    };
    let owner = ConnectionOwner::Person(person.end_user.clone());
    let upstream_id = &called.id;
    let account = match platform
        .store
        .get_connection(&called.org_id, upstream_id, &owner)
        .await
    {
        Ok(connection) => connection.and_then(|c| c.account),
        Err(error) => {
            tracing::warn!(upstream = %upstream_id, %error, "could not read a connection's account");
            None
        }
    };
    UpstreamCallError::NotForAccount {
        upstream: upstream.clone(),
        tool: tool.to_owned(),
        account,
        manage_url: Some(super::mine::manage_url(&platform.config, &person.server)),
    }
}

/// Whether the access token expires within the refresh margin: a minute, or a quarter
/// of its life when it lives less than four (so that a short-lived token is not
/// refreshed at every call).
fn expiring_soon(connection: &UpstreamConnection, now: Timestamp) -> bool {
    let Some(expires_at) = connection.expires_at else {
        return false;
    };
    let lifetime = expires_at.micros() - connection.updated_at.micros();
    let margin = (lifetime / 4).min(REFRESH_MARGIN_SECONDS * 1_000_000);
    expires_at.micros() - now.micros() <= margin
}

/// After the upstream refused the credential of `stale_revision` (a 401): a fresh one,
/// refreshed by this node or another, once.
pub async fn refresh_after_refusal(
    platform: &Platform,
    upstream: &Upstream,
    owner: &ConnectionOwner,
    stale_revision: i64,
) -> Result<Bearer, NotConnected> {
    let connection = current(platform, upstream, owner).await?;
    if connection.revision != stale_revision {
        let tokens = opened(platform, upstream, &connection)?;
        return Ok(credential(upstream, &tokens, connection.revision));
    }
    refreshed(platform, upstream, connection).await
}

/// The stored connection as it is now, if it may be used.
async fn current(
    platform: &Platform,
    upstream: &Upstream,
    owner: &ConnectionOwner,
) -> Result<UpstreamConnection, NotConnected> {
    let name = || upstream.name.clone();
    let found = platform
        .store
        .get_connection(&upstream.org_id, &upstream.id, owner)
        .await
        .map_err(|error| NotConnected::Failed {
            upstream: name(),
            why: CoreError::from(error).to_string(),
        })?;
    match found {
        None => Err(NotConnected::Missing { upstream: name() }),
        Some(c) if c.status == ConnectionStatus::NeedsReconnect => {
            Err(NotConnected::NeedsReconnect { upstream: name() })
        }
        Some(c) => Ok(c),
    }
}

fn opened(
    platform: &Platform,
    upstream: &Upstream,
    connection: &UpstreamConnection,
) -> Result<ConnectionTokens, NotConnected> {
    let failed = |why: String| NotConnected::Failed {
        upstream: upstream.name.clone(),
        why,
    };
    let key = master_key(platform).map_err(|e| failed(e.to_string()))?;
    let context = tokens_context(&upstream.org_id, &upstream.id, &connection.owner);
    open_json(key, &connection.tokens_sealed, &context).map_err(|e| failed(e.to_string()))
}

fn credential(upstream: &Upstream, tokens: &ConnectionTokens, revision: i64) -> Bearer {
    let key_header = upstream
        .spec
        .remote()
        .and_then(|remote| remote.person_key_header.clone());
    match key_header {
        Some(header) if tokens.static_key => Bearer {
            header,
            value: tokens.access_token.clone(),
            revision,
        },
        _ => Bearer {
            header: "authorization".into(),
            value: format!("Bearer {}", tokens.access_token),
            revision,
        },
    }
}

/// Refreshes `connection` if this node wins the lease, else waits for the node that did.
async fn refreshed(
    platform: &Platform,
    upstream: &Upstream,
    mut connection: UpstreamConnection,
) -> Result<Bearer, NotConnected> {
    let owner = connection.owner.clone();
    let deadline = tokio::time::Instant::now() + REFRESH_WAIT;
    loop {
        let now = Timestamp::now();
        let claimed = platform
            .store
            .claim_connection_refresh(
                &upstream.org_id,
                &upstream.id,
                &owner,
                connection.revision,
                now,
                now.plus_seconds(REFRESH_LEASE_SECONDS),
            )
            .await
            .unwrap_or(false);
        if claimed {
            return refresh_now(platform, upstream, connection).await;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(NotConnected::Failed {
                upstream: upstream.name.clone(),
                why: "another node's refresh of its token did not finish in time".into(),
            });
        }
        tokio::time::sleep(REFRESH_POLL).await;
        let latest = current(platform, upstream, &owner).await?;
        if latest.revision != connection.revision {
            let tokens = opened(platform, upstream, &latest)?;
            return Ok(credential(upstream, &tokens, latest.revision));
        }
        connection = latest;
    }
}

/// This node holds the lease: refresh at the upstream and write over the revision read.
async fn refresh_now(
    platform: &Platform,
    upstream: &Upstream,
    connection: UpstreamConnection,
) -> Result<Bearer, NotConnected> {
    let failed = |why: String| NotConnected::Failed {
        upstream: upstream.name.clone(),
        why,
    };
    let tokens = opened(platform, upstream, &connection)?;
    let server = stored_authorization(platform, upstream)
        .await
        .map_err(|e| failed(e.to_string()))?
        .ok_or_else(|| failed("its authorization server is not known".into()))?;
    let refresh_token = tokens.refresh_token.clone().unwrap_or_default();
    let now = Timestamp::now();
    match platform.connections.refresh(&server, &refresh_token).await {
        Ok(mut issued) => {
            // A server that does not rotate keeps the refresh token it gave before.
            if issued.refresh_token.is_none() {
                issued.refresh_token = tokens.refresh_token;
            }
            issued.account = connection.account.clone();
            let key = master_key(platform).map_err(|e| failed(e.to_string()))?;
            let fresh = stored_connection(
                key,
                upstream,
                &connection.owner,
                &issued,
                false,
                connection.signed_in_with.clone(),
                now,
            );
            let written = platform
                .store
                .put_refreshed_tokens(&fresh, connection.revision)
                .await
                .map_err(|e| failed(CoreError::from(e).to_string()))?;
            if !written {
                return Err(failed(
                    "its connection changed while it was refreshed".into(),
                ));
            }
            let fresh_tokens = opened(platform, upstream, &fresh)?;
            Ok(credential(upstream, &fresh_tokens, connection.revision + 1))
        }
        Err(AuthorizerError::Refused(why)) => {
            mark_needs_reconnect(platform, upstream, &connection.owner, &why).await;
            Err(NotConnected::NeedsReconnect {
                upstream: upstream.name.clone(),
            })
        }
        Err(AuthorizerError::Failed(why)) => {
            // Let the lease go at once: the next call tries again.
            let _ = platform
                .store
                .set_connection_status(
                    &upstream.org_id,
                    &upstream.id,
                    &connection.owner,
                    ConnectionStatus::Active,
                    now,
                )
                .await;
            Err(failed(why))
        }
    }
}

async fn mark_needs_reconnect(
    platform: &Platform,
    upstream: &Upstream,
    owner: &ConnectionOwner,
    why: &str,
) {
    let marked = platform
        .store
        .mark_needs_reconnect(&upstream.org_id, &upstream.id, owner, why, Timestamp::now())
        .await;
    match marked {
        Ok(true) => {}
        // Another caller or node marked it first and announced it.
        Ok(false) => return,
        Err(error) => {
            tracing::error!(upstream = %upstream.id, %error, "could not mark a connection");
            return;
        }
    }
    let about = super::super::audit::About {
        upstream: Some(&upstream.id),
        detail: serde_json::json!({"owner": owner.key(), "reason": why}),
        ..Default::default()
    };
    let recorded = super::super::audit::record(
        platform,
        &upstream.org_id,
        &Actor::Platform,
        AuditAction::ConnectionNeedsReconnect,
        about,
    )
    .await;
    if let Err(error) = recorded {
        tracing::error!(upstream = %upstream.id, %error, "could not audit a refused refresh");
    }
}

/// A connection row holding `issued` (a person's own key when `static_key`), sealed for
/// `owner`.
pub(super) fn stored_connection(
    key: &MasterKey,
    upstream: &Upstream,
    owner: &ConnectionOwner,
    issued: &IssuedTokens,
    static_key: bool,
    signed_in_with: Option<String>,
    now: Timestamp,
) -> UpstreamConnection {
    let tokens = ConnectionTokens {
        access_token: issued.access_token.clone(),
        refresh_token: issued.refresh_token.clone(),
        static_key,
    };
    let context = tokens_context(&upstream.org_id, &upstream.id, owner);
    let expires_in = issued.expires_in.map(|s| s.min(i64::MAX as u64 / 2) as i64);
    UpstreamConnection {
        org_id: upstream.org_id.clone(),
        upstream_id: upstream.id.clone(),
        owner: owner.clone(),
        status: ConnectionStatus::Active,
        account: issued.account.clone(),
        tokens_sealed: seal_json(key, &tokens, &context),
        expires_at: expires_in.map(|seconds| now.plus_seconds(seconds)),
        revision: 1,
        refreshing_until: None,
        signed_in_with,
        created_at: now,
        updated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written_at(at: i64, lifetime: Option<i64>) -> UpstreamConnection {
        UpstreamConnection {
            org_id: OrgId::generate(),
            upstream_id: UpstreamId::generate(),
            owner: ConnectionOwner::Organization,
            status: ConnectionStatus::Active,
            account: None,
            tokens_sealed: String::new(),
            expires_at: lifetime.map(|s| Timestamp::from_micros(at).plus_seconds(s)),
            revision: 1,
            refreshing_until: None,
            signed_in_with: None,
            created_at: Timestamp::from_micros(at),
            updated_at: Timestamp::from_micros(at),
        }
    }

    #[test]
    fn a_token_is_refreshed_a_minute_or_a_quarter_of_its_life_before_it_expires() {
        let at = 1_000_000_000_000;
        let second = |s: i64| Timestamp::from_micros(at + s * 1_000_000);
        let hour = written_at(at, Some(3600));
        assert!(!expiring_soon(&hour, second(3539)));
        assert!(expiring_soon(&hour, second(3541)));
        let short = written_at(at, Some(8));
        assert!(!expiring_soon(&short, second(5)), "not at every call");
        assert!(expiring_soon(&short, second(7)));
        assert!(
            !expiring_soon(&written_at(at, None), second(1_000_000)),
            "no expiry said"
        );
    }
}
