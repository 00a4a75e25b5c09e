//! Upstreams, their tools and their attachments: the store's methods. The
//! rows they read are `upstream_rows`, a server's attachments with their upstreams
//! `upstream_attached`, organizations' own catalog entries `catalog_entries`.

use std::collections::{BTreeMap, HashMap};

use super::upstream_rows::*;
use super::*;
use crate::upstreams::{AttachedUpstream, ORG_UPSTREAM_TOOLS_MAX, UpstreamSettings, UpstreamStore};

#[async_trait]
impl UpstreamStore for ThisStore {
    async fn create_upstream(&self, org: &OrgId, new: &NewUpstream) -> Result<Upstream> {
        let mut tx = self.begin_adding(org, OrgCap::Upstreams).await?;
        let now = Timestamp::now().micros();
        let sql = format!(
            "INSERT INTO upstreams ({UPSTREAM_WRITTEN}) \
             SELECT $1, id, $3, $4, $5, $6, $7, NULL, 0, $8, $8, $9, $10, NULL, $11, $12 \
             FROM organizations WHERE id = $2 \
             RETURNING {UPSTREAM_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(UpstreamId::generate().as_str())
            .bind(org.as_str())
            .bind(&new.name)
            .bind(new.catalog_entry_id.as_deref())
            .bind(json_text(&new.spec))
            .bind(json_text(&new.secrets_sealed))
            .bind(UpstreamStatus::Installing.as_str())
            .bind(now)
            .bind(new.start.as_str())
            .bind(json_text(&new.config))
            .bind(new.catalog_entry_version.as_deref())
            .bind(i64::from(new.replicas))
            .fetch_optional(traced(&mut *tx))
            .await?;
        let created = upstream(&row.ok_or(StoreError::NotFound)?)?;
        self.finish_adding(tx).await?;
        Ok(created)
    }

    async fn get_upstream(&self, org: &OrgId, id: &UpstreamId) -> Result<Upstream> {
        let sql = format!("SELECT {UPSTREAM_COLUMNS} FROM upstreams WHERE org_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.run())
            .await?;
        upstream(&row.ok_or(StoreError::NotFound)?)
    }

    async fn list_upstreams(&self, org: &OrgId) -> Result<Vec<Upstream>> {
        let sql = format!(
            "SELECT {UPSTREAM_COLUMNS} FROM upstreams WHERE org_id = $1 \
             ORDER BY created_at, id LIMIT {}",
            Limits::UPSTREAMS
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .fetch_all(self.run())
            .await?;
        rows.iter().map(upstream).collect()
    }

    async fn list_all_upstreams(&self) -> Result<Vec<Upstream>> {
        let sql = format!("SELECT {UPSTREAM_COLUMNS} FROM upstreams ORDER BY created_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.run())
            .await?;
        rows.iter().map(upstream).collect()
    }

    async fn set_upstream_status(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        status: UpstreamStatus,
        last_error: Option<&str>,
        last_fault: Option<&UpstreamFault>,
        restarts: i64,
    ) -> Result<()> {
        super::upstream_events::set_status(self, org, id, status, last_error, last_fault, restarts)
            .await
    }

    async fn mark_upstream_restarted(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        at: Timestamp,
    ) -> Result<()> {
        self.count(1);
        let done =
            sqlx::query("UPDATE upstreams SET restarted_at = $3 WHERE org_id = $1 AND id = $2")
                .bind(org.as_str())
                .bind(id.as_str())
                .bind(at.micros())
                .execute(self.run())
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_upstream(&self, org: &OrgId, id: &UpstreamId) -> Result<()> {
        let done = sqlx::query("DELETE FROM upstreams WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(id.as_str())
            .execute(self.run())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn replace_upstream_tools(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        kind: DefinitionKind,
        tools: &[UpstreamTool],
    ) -> Result<()> {
        self.replace_tools(org, id, kind, None, tools)
            .await
            .map(drop)
    }

    async fn replace_upstream_tools_if_unchanged(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        kind: DefinitionKind,
        seen: &[UpstreamTool],
        tools: &[UpstreamTool],
    ) -> Result<bool> {
        self.replace_tools(org, id, kind, Some(seen), tools).await
    }

    async fn approved_definitions(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        kind: DefinitionKind,
    ) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT name, definition_hash FROM approved_definitions \
             WHERE org_id = $1 AND upstream_id = $2 AND kind = $3",
        )
        .bind(org.as_str())
        .bind(id.as_str())
        .bind(kind.as_str())
        .fetch_all(self.run())
        .await?;
        rows.iter()
            .map(|row| Ok((text(row, "name")?, text(row, "definition_hash")?)))
            .collect()
    }

    async fn decide_tool(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        kind: DefinitionKind,
        name: &str,
        state: ToolState,
    ) -> Result<UpstreamTool> {
        let mut tx = self.begin_write().await?;
        self.count(2);
        let sql = format!(
            "UPDATE upstream_tools SET state = $4 \
             WHERE org_id = $1 AND upstream_id = $2 AND name = $3 AND kind = $5 \
             RETURNING {DEFINITION_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(name)
            .bind(state.as_str())
            .bind(kind.as_str())
            .fetch_optional(traced(&mut *tx))
            .await?;
        let tool = tool(&row.ok_or(StoreError::NotFound)?)?;
        if state == ToolState::Approved {
            let now = Timestamp::now().micros();
            remember_approval(&mut tx, org, id, &tool, now).await?;
        }
        super::commit(tx).await?;
        Ok(tool)
    }

    async fn approve_pending_tools(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        chosen: &[(DefinitionKind, String, String)],
    ) -> Result<Vec<UpstreamTool>> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "UPDATE upstream_tools SET state = 'approved' \
             WHERE org_id = $1 AND upstream_id = $2 AND kind = $3 AND name = $4 \
               AND definition_hash = $5 AND state = 'pending' \
             RETURNING {DEFINITION_COLUMNS}"
        );
        let now = Timestamp::now().micros();
        let mut approved = Vec::new();
        for (kind, name, hash) in chosen {
            self.count(1);
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(org.as_str())
                .bind(id.as_str())
                .bind(kind.as_str())
                .bind(name)
                .bind(hash)
                .fetch_optional(traced(&mut *tx))
                .await?;
            if let Some(row) = row {
                let tool = tool(&row)?;
                self.count(1);
                remember_approval(&mut tx, org, id, &tool, now).await?;
                approved.push(tool);
            }
        }
        super::commit(tx).await?;
        Ok(approved)
    }

    async fn approved_tool_definitions(
        &self,
        org: &OrgId,
        id: &UpstreamId,
    ) -> Result<BTreeMap<(DefinitionKind, String), serde_json::Value>> {
        let rows = sqlx::query(
            "SELECT kind, name, definition FROM approved_definitions \
             WHERE org_id = $1 AND upstream_id = $2 AND definition IS NOT NULL \
             ORDER BY approved_at",
        )
        .bind(org.as_str())
        .bind(id.as_str())
        .fetch_all(self.run())
        .await?;
        let mut latest = BTreeMap::new();
        for row in &rows {
            let definition = text(row, "definition")?;
            let value = serde_json::from_str(&definition)
                .map_err(|_| corrupt("approved definition", "…"))?;
            let kind = text(row, "kind")?;
            let kind =
                DefinitionKind::parse(&kind).ok_or_else(|| corrupt("definition kind", &kind))?;
            latest.insert((kind, text(row, "name")?), value);
        }
        Ok(latest)
    }

    async fn quarantine_tool(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        name: &str,
        hash: &str,
        findings: &[Finding],
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE upstream_tools SET state = $5, findings = $6 \
             WHERE org_id = $1 AND upstream_id = $2 AND name = $3 AND definition_hash = $4 \
             AND kind = 'tool'",
        )
        .bind(org.as_str())
        .bind(id.as_str())
        .bind(name)
        .bind(hash)
        .bind(ToolState::Quarantined.as_str())
        .bind(json_text(&findings))
        .execute(self.run())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_upstream_tools_by_state(&self) -> Result<Vec<(ToolState, i64)>> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM upstream_tools GROUP BY state")
            .fetch_all(self.run())
            .await?;
        rows.iter()
            .map(|row| {
                let state = text(row, "state")?;
                let state =
                    ToolState::parse(&state).ok_or_else(|| corrupt("tool state", &state))?;
                Ok((state, row.try_get("n")?))
            })
            .collect()
    }

    async fn list_upstream_tools(&self, org: &OrgId, id: &UpstreamId) -> Result<Vec<UpstreamTool>> {
        let sql = format!(
            "SELECT {DEFINITION_COLUMNS} FROM upstream_tools \
             WHERE org_id = $1 AND upstream_id = $2 ORDER BY kind = 'tool' DESC, kind, position"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_all(self.run())
            .await?;
        rows.iter().map(tool).collect()
    }

    async fn list_org_upstream_tools(
        &self,
        org: &OrgId,
    ) -> Result<Vec<(UpstreamId, UpstreamTool)>> {
        let sql = format!(
            "SELECT upstream_id, {DEFINITION_COLUMNS} \
             FROM upstream_tools WHERE org_id = $1 \
             ORDER BY upstream_id, kind = 'tool' DESC, kind, position \
             LIMIT {ORG_UPSTREAM_TOOLS_MAX}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .fetch_all(self.run())
            .await?;
        rows.iter()
            .map(|row| Ok((Id::from_trusted(text(row, "upstream_id")?), tool(row)?)))
            .collect()
    }

    async fn list_org_attachments(&self, org: &OrgId) -> Result<Vec<Attachment>> {
        let sql = format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM upstream_attachments WHERE org_id = $1 \
             ORDER BY attached_at, server_id, upstream_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .fetch_all(self.run())
            .await?;
        rows.iter().map(attachment).collect()
    }

    async fn attach_upstream(&self, org: &OrgId, a: &Attachment) -> Result<Attachment> {
        let mut tx = self.begin_write().await?;
        self.keep_rules_attaching(&mut tx, org, &a.server_id, &a.upstream_id)
            .await?;
        self.count(2);
        // Server and upstream must both be the organization's: the row is selected from
        // their join.
        let sql = format!(
            "INSERT INTO upstream_attachments (server_id, upstream_id, org_id, prefix, allowed_tools, \
             timeout_ms, attached_at, allowed_prompts) \
             SELECT s.id, u.id, s.org_id, $4, $5, $6, $7, $8 FROM mcp_servers s JOIN upstreams u \
             ON u.org_id = s.org_id WHERE s.org_id = $1 AND s.id = $2 AND u.id = $3 \
             ON CONFLICT (server_id, upstream_id) DO UPDATE SET prefix = excluded.prefix, \
             allowed_tools = excluded.allowed_tools, timeout_ms = excluded.timeout_ms, \
             allowed_prompts = excluded.allowed_prompts \
             RETURNING {ATTACHMENT_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(a.server_id.as_str())
            .bind(a.upstream_id.as_str())
            .bind(&a.prefix)
            .bind(a.allowed_tools.as_ref().map(json_text))
            .bind(a.timeout_ms)
            .bind(a.attached_at.micros())
            .bind(a.allowed_prompts.as_ref().map(json_text))
            .fetch_optional(traced(&mut *tx))
            .await
            .map_err(|e| unique_conflict(e, &["prefix"]))?;
        let attached = attachment(&row.ok_or(StoreError::NotFound)?)?;
        super::commit(tx).await?;
        Ok(attached)
    }

    async fn detach_upstream(&self, org: &OrgId, server: &ServerId, id: &UpstreamId) -> Result<()> {
        let done = sqlx::query(
            "DELETE FROM upstream_attachments WHERE org_id = $1 AND server_id = $2 AND upstream_id = $3",
        )
        .bind(org.as_str())
        .bind(server.as_str())
        .bind(id.as_str())
        .execute(self.run())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn update_upstream(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        settings: &UpstreamSettings<'_>,
        read_at: Option<Timestamp>,
    ) -> Result<Upstream> {
        let mut tx = self.begin_write().await?;
        self.keep_rules_for_upstream(&mut tx, org, id, settings.sign_in)
            .await?;
        self.count(2);
        let next = next_revision(5);
        let sql = format!(
            "UPDATE upstreams SET name = $3, start = $4, updated_at = {next}, spec = $6, \
             replicas = $7, result_guard = $9 \
             WHERE org_id = $1 AND id = $2 AND ($8 IS NULL OR updated_at = $8) \
             RETURNING {UPSTREAM_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(settings.name)
            .bind(settings.start.as_str())
            .bind(Timestamp::now().micros())
            .bind(json_text(settings.spec))
            .bind(i64::from(settings.replicas))
            .bind(read_at.map(Timestamp::micros))
            .bind(settings.result_guard.as_str())
            .fetch_optional(traced(&mut *tx))
            .await?;
        // The row is there: the rules locked it.
        let still_there = std::future::ready(Ok(()));
        let written = written_over(row.as_ref().map(upstream), read_at, still_there).await?;
        super::commit(tx).await?;
        Ok(written)
    }

    async fn change_upstream_launch(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        launch: &UpstreamLaunch,
        previous: Option<(&UpstreamRelease, &str)>,
    ) -> Result<Upstream> {
        let mut tx = self.begin_write().await?;
        self.keep_rules_for_upstream(&mut tx, org, id, launch.spec.sign_in())
            .await?;
        self.count(2);
        let next = next_revision(8);
        let sql = format!(
            "UPDATE upstreams SET spec = $3, secrets_sealed = $4, config = $5, previous = $6, \
             previous_version = $7, updated_at = {next}, catalog_entry_version = $9 \
             WHERE org_id = $1 AND id = $2 RETURNING {UPSTREAM_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(json_text(&launch.spec))
            .bind(json_text(&launch.secrets_sealed))
            .bind(json_text(&launch.config))
            .bind(previous.map(|(release, _)| json_text(release)))
            .bind(previous.map(|(_, version)| version))
            .bind(Timestamp::now().micros())
            .bind(launch.catalog_entry_version.as_deref())
            .fetch_optional(traced(&mut *tx))
            .await?;
        let changed = upstream(&row.ok_or(StoreError::NotFound)?)?;
        super::commit(tx).await?;
        Ok(changed)
    }

    async fn previous_release(
        &self,
        org: &OrgId,
        id: &UpstreamId,
    ) -> Result<Option<UpstreamRelease>> {
        let row = sqlx::query("SELECT previous FROM upstreams WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.run())
            .await?
            .ok_or(StoreError::NotFound)?;
        opt_text(&row, "previous")?
            .map(|text| serde_json::from_str(&text).map_err(|_| corrupt("upstream release", "…")))
            .transpose()
    }

    async fn create_catalog_entry(&self, org: &OrgId, entry: &CatalogEntry) -> Result<()> {
        super::catalog_entries::create(self, org, entry).await
    }

    async fn list_catalog_entries(&self, org: &OrgId) -> Result<Vec<CatalogEntry>> {
        super::catalog_entries::list(self, org).await
    }

    async fn get_catalog_entry(&self, org: &OrgId, id: &str) -> Result<CatalogEntry> {
        super::catalog_entries::get(self, org, id).await
    }

    async fn servers_attaching(&self, org: &OrgId, id: &UpstreamId) -> Result<Vec<ServerId>> {
        let rows = sqlx::query(
            "SELECT server_id FROM upstream_attachments WHERE org_id = $1 AND upstream_id = $2 \
             ORDER BY server_id",
        )
        .bind(org.as_str())
        .bind(id.as_str())
        .fetch_all(self.run())
        .await?;
        rows.iter()
            .map(|row| Ok(Id::from_trusted(text(row, "server_id")?)))
            .collect()
    }

    async fn attached_upstreams(
        &self,
        org: &OrgId,
        server: &ServerId,
    ) -> Result<Vec<AttachedUpstream>> {
        super::upstream_attached::attached(self, org, server, false).await
    }

    async fn attached_upstream_tools(
        &self,
        org: &OrgId,
        server: &ServerId,
    ) -> Result<Vec<AttachedUpstream>> {
        super::upstream_attached::attached(self, org, server, true).await
    }
}

impl ThisStore {
    /// Replaces the definitions of `kind`, if they are still `seen` (when given): whether
    /// it did.
    async fn replace_tools(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        kind: DefinitionKind,
        seen: Option<&[UpstreamTool]>,
        tools: &[UpstreamTool],
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        if seen.is_some() {
            // Another discovery of this upstream waits here until this one is done (on
            // SQLite the write transaction holds the lock already).
            self.count(1);
            let lock = format!("SELECT id FROM upstreams WHERE org_id = $1 AND id = $2{LOCK_ROW}");
            sqlx::query(sqlx::AssertSqlSafe(lock))
                .bind(org.as_str())
                .bind(id.as_str())
                .fetch_optional(traced(&mut *tx))
                .await?;
        }
        let before = super::upstream_events::held_before(self, &mut tx, org, id, kind).await?;
        if let Some(seen) = seen
            && !still(&before, seen)
        {
            return Ok(false);
        }
        self.count(1 + tools.len() as u64);
        sqlx::query(
            "DELETE FROM upstream_tools WHERE org_id = $1 AND upstream_id = $2 AND kind = $3",
        )
        .bind(org.as_str())
        .bind(id.as_str())
        .bind(kind.as_str())
        .execute(traced(&mut *tx))
        .await?;
        let now = Timestamp::now().micros();
        for (position, tool) in tools.iter().enumerate() {
            sqlx::query(
                "INSERT INTO upstream_tools (upstream_id, org_id, name, definition, definition_hash, \
                 state, position, discovered_at, findings, kind) \
                 SELECT id, org_id, $3, $4, $5, $6, $7, $8, $9, $10 FROM upstreams \
                 WHERE org_id = $1 AND id = $2",
            )
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(&tool.name)
            .bind(json_text(&tool.definition))
            .bind(&tool.definition_hash)
            .bind(tool.state.as_str())
            .bind(position as i64)
            .bind(now)
            .bind(json_text(&tool.findings))
            .bind(kind.as_str())
            .execute(traced(&mut *tx))
            .await?;
            if tool.state == ToolState::Approved {
                self.count(1);
                remember_approval(&mut tx, org, id, tool, now).await?;
            }
        }
        super::upstream_events::announce_review(self, &mut tx, org, id, &before, tools).await?;
        super::commit(tx).await?;
        Ok(true)
    }
}

/// Whether the definitions held `before` are those `seen`: the same names, hashes and states.
fn still(before: &HashMap<String, (String, String)>, seen: &[UpstreamTool]) -> bool {
    before.len() == seen.len()
        && seen.iter().all(|tool| {
            before.get(&tool.name).is_some_and(|(state, hash)| {
                state == tool.state.as_str() && *hash == tool.definition_hash
            })
        })
}
