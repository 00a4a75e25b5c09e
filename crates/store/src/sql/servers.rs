//! Hosted MCP servers, by organization, and platform-wide by slug or custom domain
//! (routing).

use super::*;

const SERVER_COLUMNS: &str = "id, org_id, kind, name, slug, custom_domain, auth_mode, \
     walkthrough_tools_enabled, support_tool_enabled, product_name, instructions, \
     allowed_origins, created_at, updated_at, pending_domain, pending_domain_token, disabled_tools, \
     feedback_tool_enabled";

fn server(row: &DbRow) -> Result<McpServer> {
    let kind = text(row, "kind")?;
    let auth_mode = text(row, "auth_mode")?;
    let slug = text(row, "slug")?;
    let origins = text(row, "allowed_origins")?;
    let disabled = text(row, "disabled_tools")?;
    Ok(McpServer {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        kind: ServerKind::parse(&kind).ok_or_else(|| corrupt("server kind", &kind))?,
        name: text(row, "name")?,
        slug: Slug::parse(&slug).map_err(|_| corrupt("slug", &slug))?,
        custom_domain: opt_text(row, "custom_domain")?,
        pending_domain: match (
            opt_text(row, "pending_domain")?,
            opt_text(row, "pending_domain_token")?,
        ) {
            (Some(domain), Some(token)) => Some(PendingDomain { domain, token }),
            _ => None,
        },
        auth_mode: AuthMode::parse(&auth_mode).ok_or_else(|| corrupt("auth mode", &auth_mode))?,
        walkthrough_tools_enabled: row.try_get("walkthrough_tools_enabled")?,
        support_tool_enabled: row.try_get("support_tool_enabled")?,
        feedback_tool_enabled: row.try_get("feedback_tool_enabled")?,
        product_name: opt_text(row, "product_name")?,
        instructions: opt_text(row, "instructions")?,
        allowed_origins: serde_json::from_str(&origins)
            .map_err(|_| corrupt("allowed origins", &origins))?,
        disabled_tools: serde_json::from_str(&disabled)
            .map_err(|_| corrupt("disabled tools", &disabled))?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// A list of strings as the JSON text its column keeps.
fn origins_json(origins: &[String]) -> String {
    serde_json::to_string(origins).expect("a list of strings always serializes")
}

#[async_trait]
impl ServerStore for ThisStore {
    async fn create_server(
        &self,
        org: &OrgId,
        kind: ServerKind,
        s: &ServerSettings,
    ) -> Result<McpServer> {
        let mut tx = self.begin_adding(org, OrgCap::Servers).await?;
        let now = Timestamp::now().micros();
        let sql = format!(
            "INSERT INTO mcp_servers ({SERVER_COLUMNS}) \
             SELECT $1, id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15, '[]', $16 \
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
            .bind(s.pending_domain.as_ref().map(|p| p.domain.as_str()))
            .bind(s.pending_domain.as_ref().map(|p| p.token.as_str()))
            .bind(s.feedback_tool_enabled)
            .fetch_optional(traced(&mut *tx))
            .await
            .map_err(|e| unique_conflict(e, &["slug", "custom_domain"]))?;
        let created = server(&row.ok_or(StoreError::NotFound)?)?;
        self.finish_adding(tx).await?;
        Ok(created)
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
        Ok(page_of(rows(found, server)?, page.limit, |s| Cursor {
            created_at: s.created_at,
            id: s.id.to_string(),
        }))
    }

    async fn update_server(
        &self,
        org: &OrgId,
        id: &ServerId,
        s: &ServerSettings,
        read_at: Option<Timestamp>,
    ) -> Result<McpServer> {
        let mut tx = self.begin_write().await?;
        self.keep_rules_for_server(&mut tx, org, id, s.auth_mode)
            .await?;
        self.count(2);
        let next = next_revision(12);
        let sql = format!(
            "UPDATE mcp_servers SET name = $3, slug = $4, custom_domain = $5, auth_mode = $6, \
             walkthrough_tools_enabled = $7, support_tool_enabled = $8, product_name = $9, \
             instructions = $10, allowed_origins = $11, updated_at = {next}, \
             pending_domain = $13, pending_domain_token = $14, feedback_tool_enabled = $16 \
             WHERE org_id = $1 AND id = $2 AND ($15 IS NULL OR updated_at = $15) \
             RETURNING {SERVER_COLUMNS}"
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
            .bind(s.pending_domain.as_ref().map(|p| p.domain.as_str()))
            .bind(s.pending_domain.as_ref().map(|p| p.token.as_str()))
            .bind(read_at.map(Timestamp::micros))
            .bind(s.feedback_tool_enabled)
            .fetch_optional(traced(&mut *tx))
            .await
            .map_err(|e| unique_conflict(e, &["slug", "custom_domain"]))?;
        // The row is there: the rules locked it.
        let still_there = std::future::ready(Ok(()));
        let written = written_over(row.as_ref().map(server), read_at, still_there).await?;
        super::commit(tx).await?;
        Ok(written)
    }

    async fn verify_pending_domain(
        &self,
        org: &OrgId,
        id: &ServerId,
        pending: &PendingDomain,
    ) -> Result<McpServer> {
        // Only the challenge that was checked is promoted: a domain changed meanwhile stays
        // pending. A domain another server verified first is a conflict (unique column).
        let next = next_revision(5);
        let sql = format!(
            "UPDATE mcp_servers SET custom_domain = pending_domain, pending_domain = NULL, \
             pending_domain_token = NULL, updated_at = {next} \
             WHERE org_id = $1 AND id = $2 AND pending_domain = $3 AND pending_domain_token = $4 \
             RETURNING {SERVER_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(&pending.domain)
            .bind(&pending.token)
            .bind(Timestamp::now().micros())
            .fetch_optional(self.run())
            .await
            .map_err(|e| unique_conflict(e, &["custom_domain"]))?;
        server(&row.ok_or(StoreError::NotFound)?)
    }

    async fn replace_disabled_tools(
        &self,
        org: &OrgId,
        id: &ServerId,
        read: &[String],
        disabled: &[String],
    ) -> Result<Option<McpServer>> {
        // Compare-and-set on the list that was read: two switches at once cannot undo
        // each other.
        let next = next_revision(5);
        let sql = format!(
            "UPDATE mcp_servers SET disabled_tools = $4, updated_at = {next} \
             WHERE org_id = $1 AND id = $2 AND disabled_tools = $3 RETURNING {SERVER_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(origins_json(read))
            .bind(origins_json(disabled))
            .bind(Timestamp::now().micros())
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(server).transpose()
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
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(slug)
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(server).transpose()
    }

    async fn find_server_by_domain(&self, domain: &str) -> Result<Option<McpServer>> {
        let sql = format!("SELECT {SERVER_COLUMNS} FROM mcp_servers WHERE custom_domain = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(domain)
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(server).transpose()
    }

    async fn listed_servers(
        &self,
        query: &crate::servers::ListedServersQuery,
    ) -> Result<Vec<McpServer>> {
        let columns = SERVER_COLUMNS
            .split(", ")
            .map(|c| format!("s.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM mcp_servers s JOIN organizations o ON o.id = s.org_id \
             WHERE o.registry_listed AND s.updated_at >= $1 \
             AND (s.updated_at > $2 OR (s.updated_at = $2 AND s.id > $3)) \
             AND ($4 = '' OR LOWER(s.name) LIKE $4 ESCAPE '\\') \
             ORDER BY s.updated_at, s.id LIMIT $5"
        );
        let (after_time, after_id) = query
            .after
            .as_ref()
            .map_or((i64::MIN, String::new()), |(time, id)| {
                (time.micros(), id.clone())
            });
        let search = query.search.as_deref().map_or(String::new(), |text| {
            let escaped = text
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(query.updated_since.map_or(i64::MIN, |t| t.micros()))
            .bind(after_time)
            .bind(after_id)
            .bind(search)
            .bind(i64::from(query.limit))
            .fetch_all(self.run())
            .await?;
        rows.iter().map(server).collect()
    }
}
