//! Connections to upstreams that want their callers signed in: the upstream's
//! authorization server as discovered, each owner's sealed tokens, and the connect flows
//! between a link and its callback. Tokens and client secrets arrive sealed; the store
//! never sees them in the clear.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Replaces what the platform knows of the upstream's authorization server (sealed).
    async fn put_upstream_authorization(
        &self,
        org: &OrgId,
        upstream: &UpstreamId,
        sealed: &str,
        now: Timestamp,
    ) -> Result<()>;
    /// The sealed authorization server record, if one was discovered.
    async fn get_upstream_authorization(
        &self,
        org: &OrgId,
        upstream: &UpstreamId,
    ) -> Result<Option<String>>;

    /// Writes a connection made (or made again): its tokens replace any earlier ones, its
    /// status is active and its revision moves on.
    async fn put_connection(&self, connection: &UpstreamConnection) -> Result<()>;
    async fn get_connection(
        &self,
        org: &OrgId,
        upstream: &UpstreamId,
        owner: &ConnectionOwner,
    ) -> Result<Option<UpstreamConnection>>;
    /// The organization's connections, of one upstream and/or one owner when given,
    /// oldest first (at most `Limits::CONNECTIONS_LISTED`).
    async fn list_connections(
        &self,
        org: &OrgId,
        upstream: Option<&UpstreamId>,
        owner: Option<&ConnectionOwner>,
    ) -> Result<Vec<UpstreamConnection>>;
    /// Takes the refresh lease of a connection still at `revision` and not leased to
    /// another node until after `now`; whether this node took it (and must refresh).
    async fn claim_connection_refresh(
        &self,
        org: &OrgId,
        upstream: &UpstreamId,
        owner: &ConnectionOwner,
        revision: i64,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool>;
    /// Writes refreshed tokens over `revision` (the one the lease was taken on): whether
    /// they were written. Clears the lease and moves the revision on.
    async fn put_refreshed_tokens(
        &self,
        connection: &UpstreamConnection,
        revision: i64,
    ) -> Result<bool>;
    /// Marks a connection (clearing any lease): a refused refresh sets `needs_reconnect`.
    async fn set_connection_status(
        &self,
        org: &OrgId,
        upstream: &UpstreamId,
        owner: &ConnectionOwner,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<()>;
    /// Marks a connection `needs_reconnect` after its upstream refused a refresh, and in
    /// the same transaction queues `connection.needs_reconnect` for the organization's
    /// webhooks. Whether it was marked now (false: already marked, or gone), so that the
    /// refusal is announced once.
    async fn mark_needs_reconnect(
        &self,
        org: &OrgId,
        upstream: &UpstreamId,
        owner: &ConnectionOwner,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool>;
    /// Removes a connection, returning it (for revocation at the upstream).
    async fn delete_connection(
        &self,
        org: &OrgId,
        upstream: &UpstreamId,
        owner: &ConnectionOwner,
    ) -> Result<Option<UpstreamConnection>>;

    /// Platform-wide (its id is the hash of a random token): stores a new flow.
    async fn create_connect_flow(&self, flow: &ConnectFlow) -> Result<()>;
    /// Platform-wide (by the hash of a random token): the flow, if it has not expired.
    async fn get_connect_flow(&self, id: &str, now: Timestamp) -> Result<Option<ConnectFlow>>;
    /// Platform-wide (by the hash of a random `state`): the flow on that trip, if it has
    /// not expired.
    async fn find_connect_flow_by_state(
        &self,
        state_hash: &str,
        now: Timestamp,
    ) -> Result<Option<ConnectFlow>>;
    /// Platform-wide: moves the flow from `from` to `to` with the next trip's state and
    /// secrets, only if it is still at `from` and unexpired; whether it moved. Each stage
    /// is passed once, so a link or a callback works once.
    async fn advance_connect_flow(
        &self,
        id: &str,
        from: ConnectStage,
        to: ConnectStage,
        state_hash: Option<&str>,
        sealed: Option<&str>,
        now: Timestamp,
    ) -> Result<bool>;
    /// Platform-wide: forgets flows that expired before `now`.
    async fn delete_expired_connect_flows(&self, now: Timestamp) -> Result<u64>;
}
