//! Session-era MCP sessions.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

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
    async fn delete_session(&self, transport_id: &str) -> Result<()>;
    /// Platform-wide housekeeping: deletes sessions idle since before `cutoff`.
    async fn delete_idle_sessions(&self, cutoff: Timestamp) -> Result<u64>;
    async fn list_sessions_of_end_user(
        &self,
        org: &OrgId,
        end_user: &EndUserId,
    ) -> Result<Vec<McpSession>>;
}
