//! Connections, their upstreams' authorization servers and connect flows.

use super::*;
use crate::ConnectionStore;

const COLUMNS: &str = "upstream_id, org_id, owner, status, account, tokens_sealed, expires_at, \
                       revision, refreshing_until, signed_in_with, created_at, updated_at";

/// How much of an authorization server's refusal a webhook event repeats.
const REASON_CHARS: usize = 1_000;

fn owner(row: &DbRow) -> Result<ConnectionOwner> {
    let key = text(row, "owner")?;
    ConnectionOwner::from_key(&key).ok_or_else(|| corrupt("connection owner", &key))
}

fn connection(row: &DbRow) -> Result<UpstreamConnection> {
    let status = text(row, "status")?;
    Ok(UpstreamConnection {
        upstream_id: Id::from_trusted(text(row, "upstream_id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        owner: owner(row)?,
        status: ConnectionStatus::parse(&status)
            .ok_or_else(|| corrupt("connection status", &status))?,
        account: opt_text(row, "account")?,
        tokens_sealed: text(row, "tokens_sealed")?,
        expires_at: opt_time(row, "expires_at")?,
        revision: row.try_get::<i64, _>("revision")?,
        refreshing_until: opt_time(row, "refreshing_until")?,
        signed_in_with: opt_text(row, "signed_in_with")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

const FLOW_COLUMNS: &str = "id, org_id, upstream_id, owner, server_id, stage, state_hash, sealed, \
                            started_by, created_at, expires_at";

fn flow(row: &DbRow) -> Result<ConnectFlow> {
    let stage = text(row, "stage")?;
    Ok(ConnectFlow {
        id: text(row, "id")?,
        org_id: Id::from_trusted(text(row, "org_id")?),
        upstream_id: Id::from_trusted(text(row, "upstream_id")?),
        owner: owner(row)?,
        server_id: opt_text(row, "server_id")?.map(Id::from_trusted),
        stage: ConnectStage::parse(&stage).ok_or_else(|| corrupt("connect stage", &stage))?,
        state_hash: opt_text(row, "state_hash")?,
        sealed: opt_text(row, "sealed")?,
        started_by: text(row, "started_by")?,
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
    })
}

impl ThisStore {
    /// The flow whose `column` (one of its two hashes, both unique) is `value`, if it has
    /// not expired by `now`.
    async fn unexpired_flow(
        &self,
        column: &'static str,
        value: &str,
        now: Timestamp,
    ) -> Result<Option<ConnectFlow>> {
        let sql = format!(
            "SELECT {FLOW_COLUMNS} FROM upstream_connect_flows \
             WHERE {column} = $1 AND expires_at > $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .bind(now.micros())
            .fetch_optional(self.run())
            .await?;
        row.map(|row| flow(&row)).transpose()
    }
}

#[async_trait]
impl ConnectionStore for ThisStore {
    async fn put_upstream_authorization(
        &self,
        org: &OrgId,
        upstream: &UpstreamId,
        sealed: &str,
        now: Timestamp,
    ) -> Result<()> {
        // The upstream must be the organization's: the insert selects it.
        let written = sqlx::query(
            "INSERT INTO upstream_authorizations (upstream_id, org_id, sealed, updated_at) \
             SELECT id, org_id, $3, $4 FROM upstreams WHERE org_id = $1 AND id = $2 \
             ON CONFLICT (upstream_id) DO UPDATE SET sealed = excluded.sealed, \
             updated_at = excluded.updated_at",
        )
        .bind(org.as_str())
        .bind(upstream.as_str())
        .bind(sealed)
        .bind(now.micros())
        .execute(self.run())
        .await?;
        if written.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn get_upstream_authorization(
        &self,
        org: &OrgId,
        upstream: &UpstreamId,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT sealed FROM upstream_authorizations WHERE org_id = $1 AND upstream_id = $2",
        )
        .bind(org.as_str())
        .bind(upstream.as_str())
        .fetch_optional(self.run())
        .await?;
        row.map(|row| text(&row, "sealed")).transpose()
    }

    async fn put_connection(&self, c: &UpstreamConnection) -> Result<()> {
        let written = sqlx::query(
            "INSERT INTO upstream_connections (upstream_id, org_id, owner, status, account, \
             tokens_sealed, expires_at, revision, refreshing_until, signed_in_with, created_at, \
             updated_at) \
             SELECT id, org_id, $3, 'active', $4, $5, $6, 1, NULL, $8, $7, $7 FROM upstreams \
             WHERE org_id = $1 AND id = $2 \
             ON CONFLICT (upstream_id, owner) DO UPDATE SET status = 'active', \
             account = excluded.account, tokens_sealed = excluded.tokens_sealed, \
             expires_at = excluded.expires_at, signed_in_with = excluded.signed_in_with, \
             revision = upstream_connections.revision + 1, refreshing_until = NULL, \
             updated_at = excluded.updated_at",
        )
        .bind(c.org_id.as_str())
        .bind(c.upstream_id.as_str())
        .bind(c.owner.key())
        .bind(c.account.as_deref())
        .bind(&c.tokens_sealed)
        .bind(c.expires_at.map(Timestamp::micros))
        .bind(c.updated_at.micros())
        .bind(c.signed_in_with.as_deref())
        .execute(self.run())
        .await?;
        if written.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn get_connection(
        &self,
        org: &OrgId,
        upstream: &UpstreamId,
        owner: &ConnectionOwner,
    ) -> Result<Option<UpstreamConnection>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM upstream_connections \
             WHERE org_id = $1 AND upstream_id = $2 AND owner = $3"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(upstream.as_str())
            .bind(owner.key())
            .fetch_optional(self.run())
            .await?;
        row.map(|row| connection(&row)).transpose()
    }

    async fn list_connections(
        &self,
        org: &OrgId,
        upstream: Option<&UpstreamId>,
        owner: Option<&ConnectionOwner>,
    ) -> Result<Vec<UpstreamConnection>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM upstream_connections WHERE org_id = $1 \
             AND ($2 IS NULL OR upstream_id = $2) AND ($3 IS NULL OR owner = $3) \
             ORDER BY created_at, upstream_id, owner LIMIT {}",
            Limits::CONNECTIONS_LISTED
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(upstream.map(UpstreamId::as_str))
            .bind(owner.map(ConnectionOwner::key))
            .fetch_all(self.run())
            .await?;
        rows.iter().map(connection).collect()
    }

    async fn claim_connection_refresh(
        &self,
        org: &OrgId,
        upstream: &UpstreamId,
        owner: &ConnectionOwner,
        revision: i64,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool> {
        let claimed = sqlx::query(
            "UPDATE upstream_connections SET refreshing_until = $5 \
             WHERE org_id = $1 AND upstream_id = $2 AND owner = $3 AND revision = $4 \
             AND status = 'active' AND (refreshing_until IS NULL OR refreshing_until <= $6)",
        )
        .bind(org.as_str())
        .bind(upstream.as_str())
        .bind(owner.key())
        .bind(revision)
        .bind(until.micros())
        .bind(now.micros())
        .execute(self.run())
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    async fn put_refreshed_tokens(&self, c: &UpstreamConnection, revision: i64) -> Result<bool> {
        let written = sqlx::query(
            "UPDATE upstream_connections SET tokens_sealed = $5, expires_at = $6, \
             revision = revision + 1, refreshing_until = NULL, status = 'active', \
             updated_at = $7 \
             WHERE org_id = $1 AND upstream_id = $2 AND owner = $3 AND revision = $4",
        )
        .bind(c.org_id.as_str())
        .bind(c.upstream_id.as_str())
        .bind(c.owner.key())
        .bind(revision)
        .bind(&c.tokens_sealed)
        .bind(c.expires_at.map(Timestamp::micros))
        .bind(c.updated_at.micros())
        .execute(self.run())
        .await?;
        Ok(written.rows_affected() == 1)
    }

    async fn set_connection_status(
        &self,
        org: &OrgId,
        upstream: &UpstreamId,
        owner: &ConnectionOwner,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE upstream_connections SET status = $4, refreshing_until = NULL, \
             updated_at = $5 WHERE org_id = $1 AND upstream_id = $2 AND owner = $3",
        )
        .bind(org.as_str())
        .bind(upstream.as_str())
        .bind(owner.key())
        .bind(status.as_str())
        .bind(now.micros())
        .execute(self.run())
        .await?;
        Ok(())
    }

    async fn mark_needs_reconnect(
        &self,
        org: &OrgId,
        upstream: &UpstreamId,
        owner: &ConnectionOwner,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        self.count(1);
        let marked = sqlx::query(
            "UPDATE upstream_connections SET status = $4, refreshing_until = NULL, \
             updated_at = $5 WHERE org_id = $1 AND upstream_id = $2 AND owner = $3 \
             AND status <> $4",
        )
        .bind(org.as_str())
        .bind(upstream.as_str())
        .bind(owner.key())
        .bind(ConnectionStatus::NeedsReconnect.as_str())
        .bind(now.micros())
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() == 0 {
            return Ok(false);
        }
        self.count(1);
        let upstream_name: String =
            sqlx::query_scalar("SELECT name FROM upstreams WHERE org_id = $1 AND id = $2")
                .bind(org.as_str())
                .bind(upstream.as_str())
                .fetch_one(&mut *tx)
                .await?;
        let data = ConnectionEventData {
            upstream_id: upstream.clone(),
            upstream_name,
            owner: owner.key().to_owned(),
            reason: reason.chars().take(REASON_CHARS).collect(),
        };
        let event = WebhookEvent::ConnectionNeedsReconnect;
        super::webhooks::enqueue(self, &mut tx, org, None, event, &data, now).await?;
        self.count(1);
        super::commit(tx).await?;
        Ok(true)
    }

    async fn delete_connection(
        &self,
        org: &OrgId,
        upstream: &UpstreamId,
        owner: &ConnectionOwner,
    ) -> Result<Option<UpstreamConnection>> {
        let sql = format!(
            "DELETE FROM upstream_connections \
             WHERE org_id = $1 AND upstream_id = $2 AND owner = $3 RETURNING {COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(upstream.as_str())
            .bind(owner.key())
            .fetch_optional(self.run())
            .await?;
        row.map(|row| connection(&row)).transpose()
    }

    async fn create_connect_flow(&self, f: &ConnectFlow) -> Result<()> {
        sqlx::query(
            "INSERT INTO upstream_connect_flows (id, org_id, upstream_id, owner, server_id, \
             stage, state_hash, sealed, started_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&f.id)
        .bind(f.org_id.as_str())
        .bind(f.upstream_id.as_str())
        .bind(f.owner.key())
        .bind(f.server_id.as_ref().map(ServerId::as_str))
        .bind(f.stage.as_str())
        .bind(f.state_hash.as_deref())
        .bind(f.sealed.as_deref())
        .bind(&f.started_by)
        .bind(f.created_at.micros())
        .bind(f.expires_at.micros())
        .execute(self.run())
        .await?;
        Ok(())
    }

    async fn get_connect_flow(&self, id: &str, now: Timestamp) -> Result<Option<ConnectFlow>> {
        self.unexpired_flow("id", id, now).await
    }

    async fn find_connect_flow_by_state(
        &self,
        state_hash: &str,
        now: Timestamp,
    ) -> Result<Option<ConnectFlow>> {
        self.unexpired_flow("state_hash", state_hash, now).await
    }

    async fn advance_connect_flow(
        &self,
        id: &str,
        from: ConnectStage,
        to: ConnectStage,
        state_hash: Option<&str>,
        sealed: Option<&str>,
        now: Timestamp,
    ) -> Result<bool> {
        let moved = sqlx::query(
            "UPDATE upstream_connect_flows SET stage = $3, state_hash = $4, sealed = $5 \
             WHERE id = $1 AND stage = $2 AND expires_at > $6",
        )
        .bind(id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(state_hash)
        .bind(sealed)
        .bind(now.micros())
        .execute(self.run())
        .await?;
        Ok(moved.rows_affected() == 1)
    }

    async fn delete_expired_connect_flows(&self, now: Timestamp) -> Result<u64> {
        let deleted = sqlx::query("DELETE FROM upstream_connect_flows WHERE expires_at <= $1")
            .bind(now.micros())
            .execute(self.run())
            .await?;
        Ok(deleted.rows_affected())
    }
}
