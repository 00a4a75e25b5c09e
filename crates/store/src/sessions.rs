//! Session-era MCP sessions.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// A client that connects to a server, by the `clientInfo` its sessions' `initialize` sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerClient {
    /// `None` for clients that sent no `clientInfo`.
    pub name: Option<String>,
    pub version: Option<String>,
    /// Its live sessions on the server.
    pub sessions: u64,
    pub last_seen_at: Timestamp,
}

/// The most client kinds a listing returns.
pub const MAX_SERVER_CLIENTS: i64 = 100;

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: &NewSession, now: Timestamp) -> Result<McpSession>;
    /// Platform-wide: the session with this transport id (a random, unguessable value).
    async fn find_session(&self, transport_id: &str) -> Result<Option<McpSession>>;
    /// Platform-wide: the transport's handshake record, for replay on another node.
    async fn session_transport_state(&self, transport_id: &str) -> Result<Option<String>>;
    async fn touch_session(&self, transport_id: &str, now: Timestamp) -> Result<()>;
    async fn set_session_end_user(
        &self,
        org: &OrgId,
        transport_id: &str,
        end_user: &EndUserId,
    ) -> Result<()>;
    /// Deletes the session; when there was one, when it was opened (for its duration).
    async fn delete_session(&self, transport_id: &str) -> Result<Option<Timestamp>>;
    /// Platform-wide housekeeping: deletes sessions idle since before `cutoff`.
    async fn delete_idle_sessions(&self, cutoff: Timestamp) -> Result<u64>;
    /// Forgets the sessions opened from `client_prefix` but its `keep` most recently seen;
    /// the transport ids forgotten.
    async fn keep_newest_sessions_of_client(
        &self,
        client_prefix: &str,
        keep: u32,
    ) -> Result<Vec<String>>;
    async fn list_sessions_of_end_user(
        &self,
        org: &OrgId,
        end_user: &EndUserId,
    ) -> Result<Vec<McpSession>>;
    /// The clients of the server's live sessions by name and version, the most recently
    /// seen first, at most [`MAX_SERVER_CLIENTS`].
    async fn clients_of_server(&self, org: &OrgId, server: &ServerId) -> Result<Vec<ServerClient>>;
}
