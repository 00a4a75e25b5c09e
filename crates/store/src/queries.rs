// The SQL shared by both backends. This file is compiled twice, with `include!`, into
// `sqlite.rs` and `postgres.rs`: each of those defines `Db`, `DbRow`, `ThisStore` and
// `BACKEND`, and the few operations whose SQL differs (`begin_write`). Writing the SQL
// once keeps the two backends from drifting apart; the store test suite runs against both.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use guidepost_domain::*;
use sqlx::Row;

use crate::{
    Backend, ChangeFeed, EndUserFilter, Result, Store, StoreError, SupportRequestFilter, ToolCallFilter,
    ToolCallSample,
};

impl ThisStore {
    /// The pool as an executor, counting the one statement about to run on it.
    fn run(&self) -> &sqlx::Pool<Db> {
        self.count(1);
        &self.pool
    }

    fn count(&self, statements: u64) {
        self.statements.fetch_add(statements, Ordering::Relaxed);
    }
}

fn text(row: &DbRow, column: &str) -> Result<String> {
    Ok(row.try_get::<String, _>(column)?)
}

fn opt_text(row: &DbRow, column: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(column)?)
}

fn time(row: &DbRow, column: &str) -> Result<Timestamp> {
    Ok(Timestamp::from_micros(row.try_get::<i64, _>(column)?))
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {value:?}"))
}

fn parse_email(value: Option<String>) -> Result<Option<Email>> {
    value.map(|e| Email::parse(&e).map_err(|_| corrupt("email", &e))).transpose()
}

/// Turns a broken uniqueness rule into a conflict that names the field.
fn unique_conflict(error: sqlx::Error, fields: &[&str]) -> StoreError {
    let conflict = error.as_database_error().filter(|e| e.is_unique_violation()).map(|e| {
        let detail = format!("{} {}", e.message(), e.constraint().unwrap_or_default());
        let field = fields.iter().find(|f| detail.contains(*f)).copied().unwrap_or("value");
        StoreError::Conflict(format!("{field} is already taken"))
    });
    conflict.unwrap_or(StoreError::Database(error))
}

fn page_of<T>(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> Cursor) -> Page<T> {
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|last| key(last).encode())
    } else {
        None
    };
    Page { items, next_cursor }
}

/// Keyset paging, newest first: `(created_at, id) < (cursor)`. With no cursor, a bound
/// above every row, so that one statement serves both cases.
fn page_bounds(page: &PageRequest) -> (i64, String, i64) {
    match &page.after {
        Some(c) => (c.created_at.micros(), c.id.clone(), i64::from(page.limit) + 1),
        None => (i64::MAX, String::new(), i64::from(page.limit) + 1),
    }
}

const ORG_COLUMNS: &str = "id, name, created_at";

fn organization(row: &DbRow) -> Result<Organization> {
    Ok(Organization { id: Id::from_trusted(text(row, "id")?), name: text(row, "name")?, created_at: time(row, "created_at")? })
}

const KEY_COLUMNS: &str = "id, org_id, name, display_prefix, created_at, revoked_at";

fn api_key(row: &DbRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        name: text(row, "name")?,
        display_prefix: text(row, "display_prefix")?,
        created_at: time(row, "created_at")?,
        revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(Timestamp::from_micros),
    })
}

const SERVER_COLUMNS: &str = "id, org_id, kind, name, slug, custom_domain, auth_mode, \
     walkthrough_tools_enabled, support_tool_enabled, product_name, instructions, \
     allowed_origins, created_at, updated_at";

fn server(row: &DbRow) -> Result<McpServer> {
    let kind = text(row, "kind")?;
    let auth_mode = text(row, "auth_mode")?;
    let slug = text(row, "slug")?;
    let origins = text(row, "allowed_origins")?;
    Ok(McpServer {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        kind: ServerKind::parse(&kind).ok_or_else(|| corrupt("server kind", &kind))?,
        name: text(row, "name")?,
        slug: Slug::parse(&slug).map_err(|_| corrupt("slug", &slug))?,
        custom_domain: opt_text(row, "custom_domain")?,
        auth_mode: AuthMode::parse(&auth_mode).ok_or_else(|| corrupt("auth mode", &auth_mode))?,
        walkthrough_tools_enabled: row.try_get("walkthrough_tools_enabled")?,
        support_tool_enabled: row.try_get("support_tool_enabled")?,
        product_name: opt_text(row, "product_name")?,
        instructions: opt_text(row, "instructions")?,
        allowed_origins: serde_json::from_str(&origins).map_err(|_| corrupt("allowed origins", &origins))?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

const END_USER_COLUMNS: &str =
    "id, org_id, tracking_id, email, email_verified, linked_end_user_id, first_seen_at, last_seen_at";

fn end_user(row: &DbRow) -> Result<EndUser> {
    end_user_at(row, "")
}

/// An end user from columns named with `prefix` (for joins).
fn end_user_at(row: &DbRow, prefix: &str) -> Result<EndUser> {
    let column = |name: &str| format!("{prefix}{name}");
    Ok(EndUser {
        id: Id::from_trusted(text(row, &column("id"))?),
        org_id: Id::from_trusted(text(row, &column("org_id"))?),
        tracking_id: opt_text(row, &column("tracking_id"))?,
        email: parse_email(opt_text(row, &column("email"))?)?,
        email_verified: row.try_get(column("email_verified").as_str())?,
        linked_end_user_id: opt_text(row, &column("linked_end_user_id"))?.map(Id::from_trusted),
        first_seen_at: time(row, &column("first_seen_at"))?,
        last_seen_at: time(row, &column("last_seen_at"))?,
    })
}

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

const SUPPORT_COLUMNS: &str = "id, org_id, server_id, end_user_id, email, title, description, \
     context, status, created_at, updated_at";

fn support_request(row: &DbRow) -> Result<SupportRequest> {
    let status = text(row, "status")?;
    let email = text(row, "email")?;
    Ok(SupportRequest {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        server_id: Id::from_trusted(text(row, "server_id")?),
        end_user_id: opt_text(row, "end_user_id")?.map(Id::from_trusted),
        email: Email::parse(&email).map_err(|_| corrupt("email", &email))?,
        title: text(row, "title")?,
        description: text(row, "description")?,
        context: opt_text(row, "context")?,
        status: SupportStatus::parse(&status).ok_or_else(|| corrupt("support status", &status))?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

const TOOL_CALL_COLUMNS: &str = "id, org_id, server_id, session_id, end_user_id, tool_name, \
     arguments, result_summary, is_error, error_code, duration_us, created_at";

fn tool_call(row: &DbRow) -> Result<ToolCall> {
    Ok(ToolCall {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        server_id: Id::from_trusted(text(row, "server_id")?),
        session_id: opt_text(row, "session_id")?,
        end_user_id: opt_text(row, "end_user_id")?.map(Id::from_trusted),
        tool_name: text(row, "tool_name")?,
        arguments: text(row, "arguments")?,
        result_summary: text(row, "result_summary")?,
        is_error: row.try_get("is_error")?,
        error_code: row.try_get("error_code")?,
        duration_us: row.try_get("duration_us")?,
        created_at: time(row, "created_at")?,
    })
}

fn rows<T>(rows: Vec<DbRow>, map: fn(&DbRow) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(map).collect()
}

fn origins_json(origins: &[String]) -> String {
    serde_json::to_string(origins).expect("a list of strings always serializes")
}

#[async_trait]
impl Store for ThisStore {
    fn backend(&self) -> Backend {
        BACKEND
    }

    fn statements_executed(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    fn pool_connections(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    async fn announce_tools_changed(&self, servers: &[ServerId]) -> Result<()> {
        self.announce(servers).await
    }

    fn tools_changed_feed(&self) -> tokio::sync::broadcast::Receiver<ServerId> {
        self.changes.subscribe()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(self.run()).await?;
        Ok(())
    }

    async fn create_organization(&self, name: &str) -> Result<Organization> {
        let org = Organization { id: Id::generate(), name: name.to_owned(), created_at: Timestamp::now() };
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(org.id.as_str())
            .bind(&org.name)
            .bind(org.created_at.micros())
            .execute(self.run())
            .await?;
        Ok(org)
    }

    async fn get_organization(&self, org: &OrgId) -> Result<Organization> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str()).fetch_optional(self.run()).await?;
        organization(&row.ok_or(StoreError::NotFound)?)
    }

    async fn create_api_key(&self, org: &OrgId, name: &str, secret: &ApiKeySecret) -> Result<ApiKey> {
        let sql = format!(
            "INSERT INTO api_keys (id, org_id, name, display_prefix, key_hash, created_at) \
             SELECT $1, id, $3, $4, $5, $6 FROM organizations WHERE id = $2 RETURNING {KEY_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ApiKeyId::generate().as_str())
            .bind(org.as_str())
            .bind(name)
            .bind(&secret.display_prefix)
            .bind(&secret.hash)
            .bind(Timestamp::now().micros())
            .fetch_optional(self.run())
            .await?;
        api_key(&row.ok_or(StoreError::NotFound)?)
    }

    async fn list_api_keys(&self, org: &OrgId) -> Result<Vec<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 ORDER BY created_at, id");
        rows(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str()).fetch_all(self.run()).await?, api_key)
    }

    async fn revoke_api_key(&self, org: &OrgId, key: &ApiKeyId) -> Result<ApiKey> {
        let sql = format!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) \
             WHERE org_id = $1 AND id = $2 RETURNING {KEY_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(key.as_str())
            .bind(Timestamp::now().micros())
            .fetch_optional(self.run())
            .await?;
        api_key(&row.ok_or(StoreError::NotFound)?)
    }

    async fn find_api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(key_hash).fetch_optional(self.run()).await?;
        row.as_ref().map(api_key).transpose()
    }

    async fn create_server(&self, org: &OrgId, kind: ServerKind, s: &ServerSettings) -> Result<McpServer> {
        let now = Timestamp::now().micros();
        let sql = format!(
            "INSERT INTO mcp_servers ({SERVER_COLUMNS}) \
             SELECT $1, id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13 \
             FROM organizations WHERE id = $2 RETURNING {SERVER_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ServerId::generate().as_str())
            .bind(org.as_str())
            .bind(kind.as_str())
            .bind(&s.name)
            .bind(s.slug.as_str())
            .bind(s.custom_domain.as_deref())
            .bind(s.auth_mode.as_str())
            .bind(s.walkthrough_tools_enabled)
            .bind(s.support_tool_enabled)
            .bind(s.product_name.as_deref())
            .bind(s.instructions.as_deref())
            .bind(origins_json(&s.allowed_origins))
            .bind(now)
            .fetch_optional(self.run())
            .await
            .map_err(|e| unique_conflict(e, &["slug", "custom_domain"]))?;
        server(&row.ok_or(StoreError::NotFound)?)
    }

    async fn get_server(&self, org: &OrgId, id: &ServerId) -> Result<McpServer> {
        let sql = format!("SELECT {SERVER_COLUMNS} FROM mcp_servers WHERE org_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.run())
            .await?;
        server(&row.ok_or(StoreError::NotFound)?)
    }

    async fn list_servers(&self, org: &OrgId, page: &PageRequest) -> Result<Page<McpServer>> {
        let (before_time, before_id, limit) = page_bounds(page);
        let sql = format!(
            "SELECT {SERVER_COLUMNS} FROM mcp_servers WHERE org_id = $1 \
             AND (created_at < $2 OR (created_at = $2 AND id < $3) OR $3 = '') \
             ORDER BY created_at DESC, id DESC LIMIT $4"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(before_time)
            .bind(before_id)
            .bind(limit)
            .fetch_all(self.run())
            .await?;
        Ok(page_of(rows(found, server)?, page.limit, |s| Cursor { created_at: s.created_at, id: s.id.to_string() }))
    }

    async fn update_server(&self, org: &OrgId, id: &ServerId, s: &ServerSettings) -> Result<McpServer> {
        let sql = format!(
            "UPDATE mcp_servers SET name = $3, slug = $4, custom_domain = $5, auth_mode = $6, \
             walkthrough_tools_enabled = $7, support_tool_enabled = $8, product_name = $9, \
             instructions = $10, allowed_origins = $11, updated_at = $12 \
             WHERE org_id = $1 AND id = $2 RETURNING {SERVER_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(&s.name)
            .bind(s.slug.as_str())
            .bind(s.custom_domain.as_deref())
            .bind(s.auth_mode.as_str())
            .bind(s.walkthrough_tools_enabled)
            .bind(s.support_tool_enabled)
            .bind(s.product_name.as_deref())
            .bind(s.instructions.as_deref())
            .bind(origins_json(&s.allowed_origins))
            .bind(Timestamp::now().micros())
            .fetch_optional(self.run())
            .await
            .map_err(|e| unique_conflict(e, &["slug", "custom_domain"]))?;
        server(&row.ok_or(StoreError::NotFound)?)
    }

    async fn delete_server(&self, org: &OrgId, id: &ServerId) -> Result<()> {
        let done = sqlx::query("DELETE FROM mcp_servers WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(id.as_str())
            .execute(self.run())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn find_server_by_slug(&self, slug: &str) -> Result<Option<McpServer>> {
        let sql = format!("SELECT {SERVER_COLUMNS} FROM mcp_servers WHERE slug = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(slug).fetch_optional(self.run()).await?;
        row.as_ref().map(server).transpose()
    }

    async fn find_server_by_domain(&self, domain: &str) -> Result<Option<McpServer>> {
        let sql = format!("SELECT {SERVER_COLUMNS} FROM mcp_servers WHERE custom_domain = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(domain).fetch_optional(self.run()).await?;
        row.as_ref().map(server).transpose()
    }

    async fn end_user_for_tracking_id(&self, org: &OrgId, tracking_id: &str, now: Timestamp) -> Result<EndUser> {
        // One statement that creates or touches: concurrent first requests with the same
        // tracking id agree on one end user. `last_seen_at` only moves forward (requests
        // from several nodes may arrive out of order).
        let sql = format!(
            "INSERT INTO end_users (id, org_id, tracking_id, email_verified, first_seen_at, last_seen_at) \
             VALUES ($1, $2, $3, FALSE, $4, $4) \
             ON CONFLICT (org_id, tracking_id) DO UPDATE SET last_seen_at = CASE \
             WHEN excluded.last_seen_at > end_users.last_seen_at THEN excluded.last_seen_at \
             ELSE end_users.last_seen_at END \
             RETURNING {END_USER_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(EndUserId::generate().as_str())
            .bind(org.as_str())
            .bind(tracking_id)
            .bind(now.micros())
            .fetch_one(self.run())
            .await?;
        end_user(&row)
    }

    async fn create_anonymous_end_user(&self, org: &OrgId, now: Timestamp) -> Result<EndUser> {
        let sql = format!(
            "INSERT INTO end_users (id, org_id, email_verified, first_seen_at, last_seen_at) \
             VALUES ($1, $2, FALSE, $3, $3) RETURNING {END_USER_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(EndUserId::generate().as_str())
            .bind(org.as_str())
            .bind(now.micros())
            .fetch_one(self.run())
            .await?;
        end_user(&row)
    }

    async fn get_end_user(&self, org: &OrgId, id: &EndUserId) -> Result<EndUser> {
        let sql = format!("SELECT {END_USER_COLUMNS} FROM end_users WHERE org_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.run())
            .await?;
        end_user(&row.ok_or(StoreError::NotFound)?)
    }

    async fn set_end_user_email(&self, org: &OrgId, id: &EndUserId, email: &Email, verified: bool) -> Result<EndUser> {
        // A verified email is never downgraded by an unverified one.
        let sql = format!(
            "UPDATE end_users SET email = CASE WHEN email_verified AND NOT $4 THEN email ELSE $3 END, \
             email_verified = (email_verified OR $4) \
             WHERE org_id = $1 AND id = $2 RETURNING {END_USER_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(email.as_str())
            .bind(verified)
            .fetch_optional(self.run())
            .await?;
        end_user(&row.ok_or(StoreError::NotFound)?)
    }

    async fn list_end_users(&self, org: &OrgId, filter: &EndUserFilter, page: &PageRequest) -> Result<Page<EndUser>> {
        let (before_time, before_id, limit) = page_bounds(page);
        let sql = format!(
            "SELECT {END_USER_COLUMNS} FROM end_users WHERE org_id = $1 \
             AND ($2 IS NULL OR email = $2) AND ($3 IS NULL OR tracking_id = $3) \
             AND (first_seen_at < $4 OR (first_seen_at = $4 AND id < $5) OR $5 = '') \
             ORDER BY first_seen_at DESC, id DESC LIMIT $6"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(filter.email.as_deref())
            .bind(filter.tracking_id.as_deref())
            .bind(before_time)
            .bind(before_id)
            .bind(limit)
            .fetch_all(self.run())
            .await?;
        Ok(page_of(rows(found, end_user)?, page.limit, |u| Cursor { created_at: u.first_seen_at, id: u.id.to_string() }))
    }

    async fn create_session(&self, s: &NewSession, now: Timestamp) -> Result<McpSession> {
        // The transport may persist the same handshake twice (restore on another node):
        // the first record wins and keeps its history. The server and the end user must
        // belong to the session's organization (else NotFound).
        let sql = format!(
            "INSERT INTO mcp_sessions (id, transport_id, org_id, server_id, end_user_id, client_name, \
             client_version, protocol_version, transport_state, first_seen_at, last_seen_at) \
             SELECT $1, $2, org_id, id, $5, $6, $7, $8, $9, $10, $10 FROM mcp_servers \
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
            .fetch_optional(self.run())
            .await?;
        session(&row.ok_or(StoreError::NotFound)?)
    }

    async fn find_session(&self, transport_id: &str) -> Result<Option<McpSession>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM mcp_sessions WHERE transport_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(transport_id).fetch_optional(self.run()).await?;
        row.as_ref().map(session).transpose()
    }

    async fn session_transport_state(&self, transport_id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT transport_state FROM mcp_sessions WHERE transport_id = $1")
            .bind(transport_id)
            .fetch_optional(self.run())
            .await?;
        Ok(row.map(|r| opt_text(&r, "transport_state")).transpose()?.flatten())
    }

    async fn touch_session(&self, transport_id: &str, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE mcp_sessions SET last_seen_at = $2 WHERE transport_id = $1 AND last_seen_at < $2")
            .bind(transport_id)
            .bind(now.micros())
            .execute(self.run())
            .await?;
        Ok(())
    }

    async fn set_session_end_user(&self, org: &OrgId, transport_id: &str, end_user: &EndUserId) -> Result<()> {
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

    async fn delete_session(&self, transport_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM mcp_sessions WHERE transport_id = $1").bind(transport_id).execute(self.run()).await?;
        Ok(())
    }

    async fn delete_idle_sessions(&self, cutoff: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM mcp_sessions WHERE last_seen_at < $1")
            .bind(cutoff.micros())
            .execute(self.run())
            .await?;
        Ok(done.rows_affected())
    }

    async fn list_sessions_of_end_user(&self, org: &OrgId, end_user: &EndUserId) -> Result<Vec<McpSession>> {
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

    async fn create_support_request(&self, r: &NewSupportRequest, now: Timestamp) -> Result<SupportRequest> {
        let sql = format!(
            "INSERT INTO support_requests ({SUPPORT_COLUMNS}) \
             SELECT $1, org_id, id, $4, $5, $6, $7, $8, 'open', $9, $9 FROM mcp_servers \
             WHERE org_id = $2 AND id = $3 \
             AND ($4 IS NULL OR EXISTS (SELECT 1 FROM end_users WHERE org_id = $2 AND id = $4)) \
             RETURNING {SUPPORT_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(SupportRequestId::generate().as_str())
            .bind(r.org_id.as_str())
            .bind(r.server_id.as_str())
            .bind(r.end_user_id.as_ref().map(|id| id.as_str()))
            .bind(r.email.as_str())
            .bind(&r.title)
            .bind(&r.description)
            .bind(r.context.as_deref())
            .bind(now.micros())
            .fetch_optional(self.run())
            .await?;
        support_request(&row.ok_or(StoreError::NotFound)?)
    }

    async fn list_support_requests(
        &self,
        org: &OrgId,
        filter: &SupportRequestFilter,
        page: &PageRequest,
    ) -> Result<Page<SupportRequest>> {
        let (before_time, before_id, limit) = page_bounds(page);
        let sql = format!(
            "SELECT {SUPPORT_COLUMNS} FROM support_requests WHERE org_id = $1 \
             AND ($2 IS NULL OR server_id = $2) AND ($3 IS NULL OR status = $3) \
             AND (created_at < $4 OR (created_at = $4 AND id < $5) OR $5 = '') \
             ORDER BY created_at DESC, id DESC LIMIT $6"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(filter.server_id.as_ref().map(|id| id.as_str()))
            .bind(filter.status.map(|s| s.as_str()))
            .bind(before_time)
            .bind(before_id)
            .bind(limit)
            .fetch_all(self.run())
            .await?;
        Ok(page_of(rows(found, support_request)?, page.limit, |r| Cursor { created_at: r.created_at, id: r.id.to_string() }))
    }

    async fn get_support_request(&self, org: &OrgId, id: &SupportRequestId) -> Result<SupportRequest> {
        let sql = format!("SELECT {SUPPORT_COLUMNS} FROM support_requests WHERE org_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.run())
            .await?;
        support_request(&row.ok_or(StoreError::NotFound)?)
    }

    async fn update_support_request_status(
        &self,
        org: &OrgId,
        id: &SupportRequestId,
        status: SupportStatus,
        now: Timestamp,
    ) -> Result<SupportRequest> {
        let sql = format!(
            "UPDATE support_requests SET status = $3, updated_at = $4 \
             WHERE org_id = $1 AND id = $2 RETURNING {SUPPORT_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(status.as_str())
            .bind(now.micros())
            .fetch_optional(self.run())
            .await?;
        support_request(&row.ok_or(StoreError::NotFound)?)
    }

    async fn insert_tool_calls(&self, calls: &[ToolCall]) -> Result<()> {
        if calls.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO tool_calls ({TOOL_CALL_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        for call in calls {
            self.count(1);
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(call.id.as_str())
                .bind(call.org_id.as_str())
                .bind(call.server_id.as_str())
                .bind(call.session_id.as_deref())
                .bind(call.end_user_id.as_ref().map(|id| id.as_str()))
                .bind(&call.tool_name)
                .bind(&call.arguments)
                .bind(&call.result_summary)
                .bind(call.is_error)
                .bind(call.error_code)
                .bind(call.duration_us)
                .bind(call.created_at.micros())
                .execute(&mut *tx)
                .await?;
        }
        self.count(1);
        tx.commit().await?;
        Ok(())
    }

    async fn list_tool_calls(&self, org: &OrgId, filter: &ToolCallFilter, page: &PageRequest) -> Result<Page<ToolCall>> {
        let (before_time, before_id, limit) = page_bounds(page);
        let sql = format!(
            "SELECT {TOOL_CALL_COLUMNS} FROM tool_calls WHERE org_id = $1 \
             AND ($2 IS NULL OR server_id = $2) AND ($3 IS NULL OR end_user_id = $3) \
             AND ($4 IS NULL OR tool_name = $4) \
             AND (created_at < $5 OR (created_at = $5 AND id < $6) OR $6 = '') \
             ORDER BY created_at DESC, id DESC LIMIT $7"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(filter.server_id.as_ref().map(|id| id.as_str()))
            .bind(filter.end_user_id.as_ref().map(|id| id.as_str()))
            .bind(filter.tool_name.as_deref())
            .bind(before_time)
            .bind(before_id)
            .bind(limit)
            .fetch_all(self.run())
            .await?;
        Ok(page_of(rows(found, tool_call)?, page.limit, |c| Cursor { created_at: c.created_at, id: c.id.to_string() }))
    }

    async fn tool_call_durations(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<ToolCallSample>> {
        let found = sqlx::query(
            "SELECT tool_name, is_error, duration_us FROM tool_calls WHERE org_id = $1 \
             AND ($2 IS NULL OR server_id = $2) AND created_at >= $3 AND created_at < $4 \
             ORDER BY tool_name LIMIT 1000000",
        )
        .bind(org.as_str())
        .bind(server.map(|id| id.as_str()))
        .bind(since.micros())
        .bind(until.micros())
        .fetch_all(self.run())
        .await?;
        found
            .iter()
            .map(|row| {
                Ok(ToolCallSample {
                    tool_name: text(row, "tool_name")?,
                    is_error: row.try_get("is_error")?,
                    duration_us: row.try_get("duration_us")?,
                })
            })
            .collect()
    }
}
