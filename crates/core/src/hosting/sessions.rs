//! Session-era MCP sessions: opened by `initialize`, kept in the store so that
//! any node can continue them, and ended after an idle timeout.

use std::time::Duration;

use guidepost_domain::*;

use crate::{CoreError, Platform};

/// How stale `last_seen_at` may get before a request refreshes it: often enough for the
/// idle timeout, rarely enough that a busy session does not write on every request.
const TOUCH_INTERVAL: Duration = Duration::from_secs(15);

/// Stores a session that the transport has just opened.
pub async fn open(platform: &Platform, session: &NewSession) -> Result<McpSession, CoreError> {
    let read_at = platform.cache.epoch();
    let opened = platform
        .store
        .create_session(session, Timestamp::now())
        .await?;
    platform.cache.keep_session(&opened, read_at);
    Ok(opened)
}

/// Forgets the stored sessions opened from `client_prefix` but the `keep` most recently
/// seen: one address cannot grow the sessions without end. A forgotten session's client
/// is told the session is unknown and opens another (on another node, once that node's
/// cached copy expires, as for any session that ended). The number forgotten.
pub async fn keep_newest_of_client(
    platform: &Platform,
    client_prefix: &str,
    keep: u32,
) -> Result<u64, CoreError> {
    let forgotten = platform
        .store
        .keep_newest_sessions_of_client(client_prefix, keep)
        .await?;
    for transport_id in &forgotten {
        platform.cache.forget_session(transport_id);
    }
    Ok(forgotten.len() as u64)
}

/// The stored session `transport_id` of `server`, unless it is unknown, belongs to
/// another server, or has been idle for longer than the timeout (then it is deleted).
/// Activity is recorded in the background, at most every few seconds. A session in use
/// is read from this node's cache (`cache`), so that a steady stream of requests in it
/// costs no store statement.
pub async fn live(
    platform: &Platform,
    server: &ServerId,
    transport_id: &str,
) -> Result<Option<McpSession>, CoreError> {
    let store = &platform.store;
    let session = match cached_or_stored(platform, transport_id).await? {
        Some(session) if session.server_id == *server => session,
        _ => return Ok(None),
    };
    let now = Timestamp::now();
    let idle_limit = platform.config.session_idle_timeout.as_micros() as i64;
    let idle_for = now.micros() - session.last_seen_at.micros();
    if idle_for > idle_limit {
        match store.delete_session(transport_id).await {
            Ok(Some(opened)) => record_duration(opened, session.last_seen_at),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "could not delete an expired session"),
        }
        platform.cache.forget_session(transport_id);
        return Ok(None);
    }
    if idle_for > TOUCH_INTERVAL.as_micros() as i64 {
        // The cached copy says so at once, or every request until the write lands
        // would write again.
        platform.cache.session_seen(transport_id, now);
        let store = store.clone();
        let transport_id = transport_id.to_owned();
        tokio::spawn(async move {
            if let Err(error) = store.touch_session(&transport_id, now).await {
                tracing::warn!(%error, "could not record session activity");
            }
        });
    }
    Ok(Some(session))
}

async fn cached_or_stored(
    platform: &Platform,
    transport_id: &str,
) -> Result<Option<McpSession>, CoreError> {
    if let Some(session) = platform.cache.session(transport_id) {
        return Ok(Some(session));
    }
    let read_at = platform.cache.epoch();
    let stored = platform.store.find_session(transport_id).await?;
    if let Some(session) = &stored {
        platform.cache.keep_session(session, read_at);
    }
    Ok(stored)
}

/// The transport's own record of a session's handshake, for a node that must restore it.
/// Platform-wide: the transport id is random and unguessable.
pub async fn transport_state(
    platform: &Platform,
    transport_id: &str,
) -> Result<Option<String>, CoreError> {
    Ok(platform.store.session_transport_state(transport_id).await?)
}

/// Ends a session (the client's DELETE, or the transport closing it).
/// The cached copy goes after the row, so that no read in between can keep it.
pub async fn end(platform: &Platform, transport_id: &str) -> Result<(), CoreError> {
    let deleted = platform.store.delete_session(transport_id).await;
    platform.cache.forget_session(transport_id);
    if let Some(opened) = deleted? {
        record_duration(opened, Timestamp::now());
    }
    Ok(())
}

/// Records how long a session lasted, from its `initialize` to its end (the client's
/// DELETE, or its last request when it expired idle), as OpenTelemetry's MCP conventions
/// name it (`mcp.server.session.duration`). Sessions pruned in bulk by retention are not
/// counted: they ended long before, unseen.
fn record_duration(opened: Timestamp, ended: Timestamp) {
    let seconds = (ended.micros() - opened.micros()).max(0) as f64 / 1e6;
    metrics::histogram!("mcp_server_session_duration_seconds").record(seconds);
}

/// The clients that connect to one of the caller's servers, by the name and version their
/// sessions' `initialize` sent (clients of the 2026-07-28 era keep no session, so they are
/// not among them), the most recently seen first.
pub async fn clients_of_server(
    platform: &Platform,
    caller: &crate::Caller,
    server: &ServerId,
) -> Result<Vec<guidepost_store::ServerClient>, CoreError> {
    let org = caller.org();
    platform.store.get_server(org, server).await?;
    Ok(platform.store.clients_of_server(org, server).await?)
}
