//! Session-era MCP sessions, stored so that any node can continue them.

use super::*;
use crate::sessions::{MAX_SERVER_CLIENTS, ServerClient};

const SESSION_COLUMNS: &str = "id, transport_id, org_id, server_id, end_user_id, client_name, \
     client_version, protocol_version, first_seen_at, last_seen_at";

fn session(row: &DbRow) -> Result<McpSession> {
    Ok(McpSession {
        id: Id::from_trusted(text(row, "id")?),
        transport_id: text(row, "transport_id")?,
        org_id: Id::from_trusted(text(row, "org_id")?),
        server_id: Id::from_trusted(text(row, "server_id")?),
        end_user_id: opt_text(row, "end_user_id")?.map(Id::from_trusted),
        client_name: opt_text(row, "client_name")?,
        client_version: opt_text(row, "client_version")?,
        protocol_version: opt_text(row, "protocol_version")?,
        first_seen_at: time(row, "first_seen_at")?,
        last_seen_at: time(row, "last_seen_at")?,
    })
}

#[async_trait]
impl SessionStore for ThisStore {
    async fn create_session(&self, s: &NewSession, now: Timestamp) -> Result<McpSession> {
        // The transport may persist the same handshake twice (restore on another node):
        // the first record wins and keeps its history. The server and the end user must
        // belong to the session's organization (else NotFound).
        let sql = format!(
            "INSERT INTO mcp_sessions (id, transport_id, org_id, server_id, end_user_id, client_name, \
             client_version, protocol_version, transport_state, first_seen_at, last_seen_at, \
             client_prefix) \
             SELECT $1, $2, org_id, id, $5, $6, $7, $8, $9, $10, $10, $11 FROM mcp_servers \
             WHERE org_id = $3 AND id = $4 \
             AND ($5 IS NULL OR EXISTS (SELECT 1 FROM end_users WHERE org_id = $3 AND id = $5)) \
             ON CONFLICT (transport_id) DO UPDATE SET last_seen_at = CASE \
             WHEN excluded.last_seen_at > mcp_sessions.last_seen_at THEN excluded.last_seen_at \
             ELSE mcp_sessions.last_seen_at END \
             RETURNING {SESSION_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(SessionId::generate().as_str())
            .bind(&s.transport_id)
            .bind(s.org_id.as_str())
            .bind(s.server_id.as_str())
            .bind(s.end_user_id.as_ref().map(|id| id.as_str()))
            .bind(s.client_name.as_deref())
            .bind(s.client_version.as_deref())
            .bind(s.protocol_version.as_deref())
            .bind(&s.transport_state)
            .bind(now.micros())
            .bind(s.client_prefix.as_deref())
            .fetch_optional(self.run())
            .await?;
        session(&row.ok_or(StoreError::NotFound)?)
    }

    async fn find_session(&self, transport_id: &str) -> Result<Option<McpSession>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM mcp_sessions WHERE transport_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(transport_id)
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(session).transpose()
    }

    async fn session_transport_state(&self, transport_id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT transport_state FROM mcp_sessions WHERE transport_id = $1")
            .bind(transport_id)
            .fetch_optional(self.run())
            .await?;
        Ok(row
            .map(|r| opt_text(&r, "transport_state"))
            .transpose()?
            .flatten())
    }

    async fn touch_session(&self, transport_id: &str, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE mcp_sessions SET last_seen_at = $2 WHERE transport_id = $1 AND last_seen_at < $2")
            .bind(transport_id)
            .bind(now.micros())
            .execute(self.run())
            .await?;
        Ok(())
    }

    async fn set_session_end_user(
        &self,
        org: &OrgId,
        transport_id: &str,
        end_user: &EndUserId,
    ) -> Result<()> {
        // Only an end user of the same organization can be attached.
        sqlx::query(
            "UPDATE mcp_sessions SET end_user_id = $3 WHERE org_id = $1 AND transport_id = $2 \
             AND EXISTS (SELECT 1 FROM end_users WHERE org_id = $1 AND id = $3)",
        )
        .bind(org.as_str())
        .bind(transport_id)
        .bind(end_user.as_str())
        .execute(self.run())
        .await?;
        Ok(())
    }

    async fn delete_session(&self, transport_id: &str) -> Result<Option<Timestamp>> {
        let deleted =
            sqlx::query("DELETE FROM mcp_sessions WHERE transport_id = $1 RETURNING first_seen_at")
                .bind(transport_id)
                .fetch_optional(self.run())
                .await?;
        deleted.map(|row| time(&row, "first_seen_at")).transpose()
    }

    async fn delete_idle_sessions(&self, cutoff: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM mcp_sessions WHERE last_seen_at < $1")
            .bind(cutoff.micros())
            .execute(self.run())
            .await?;
        Ok(done.rows_affected())
    }

    async fn keep_newest_sessions_of_client(
        &self,
        client_prefix: &str,
        keep: u32,
    ) -> Result<Vec<String>> {
        // Older than the newest `keep`: the (keep + 1)-th newest and what is older (ties
        // with it too, which a bound does not mind).
        let done = sqlx::query(
            "DELETE FROM mcp_sessions WHERE client_prefix = $1 AND last_seen_at <= \
             (SELECT last_seen_at FROM mcp_sessions WHERE client_prefix = $1 \
              ORDER BY last_seen_at DESC LIMIT 1 OFFSET $2) RETURNING transport_id",
        )
        .bind(client_prefix)
        .bind(i64::from(keep))
        .fetch_all(self.run())
        .await?;
        done.iter().map(|row| text(row, "transport_id")).collect()
    }

    async fn list_sessions_of_end_user(
        &self,
        org: &OrgId,
        end_user: &EndUserId,
    ) -> Result<Vec<McpSession>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM mcp_sessions WHERE org_id = $1 AND end_user_id = $2 \
             ORDER BY first_seen_at DESC, id DESC LIMIT 100"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(end_user.as_str())
            .fetch_all(self.run())
            .await?;
        rows(found, session)
    }

    async fn clients_of_server(&self, org: &OrgId, server: &ServerId) -> Result<Vec<ServerClient>> {
        let found = sqlx::query(
            "SELECT client_name, client_version, COUNT(*) AS sessions, \
             MAX(last_seen_at) AS last_seen_at FROM mcp_sessions \
             WHERE org_id = $1 AND server_id = $2 GROUP BY client_name, client_version \
             ORDER BY MAX(last_seen_at) DESC LIMIT $3",
        )
        .bind(org.as_str())
        .bind(server.as_str())
        .bind(MAX_SERVER_CLIENTS)
        .fetch_all(self.run())
        .await?;
        rows(found, |row| {
            Ok(ServerClient {
                name: opt_text(row, "client_name")?,
                version: opt_text(row, "client_version")?,
                sessions: u64::try_from(row.try_get::<i64, _>("sessions")?).unwrap_or(0),
                last_seen_at: time(row, "last_seen_at")?,
            })
        })
    }
}
