//! Upstreams, their tools and their attachments (SPEC §8).

use std::collections::BTreeMap;

use super::*;
use crate::upstreams::{AttachedUpstream, ORG_UPSTREAM_TOOLS_MAX, UpstreamStore};

const UPSTREAM_COLUMNS: &str = "id, org_id, name, catalog_entry_id, spec, secrets_sealed, status, \
     last_error, restarts, created_at, updated_at, start, config, previous_version";
const ATTACHMENT_COLUMNS: &str =
    "server_id, upstream_id, prefix, allowed_tools, allowed_prompts, timeout_ms, attached_at";
const DEFINITION_COLUMNS: &str = "kind, name, definition, definition_hash, state, findings";

fn upstream(row: &DbRow) -> Result<Upstream> {
    let spec = text(row, "spec")?;
    let secrets = text(row, "secrets_sealed")?;
    let status = text(row, "status")?;
    let start = text(row, "start")?;
    let secrets_sealed: BTreeMap<String, String> =
        serde_json::from_str(&secrets).map_err(|_| corrupt("upstream secrets", "…"))?;
    let config = text(row, "config")?;
    let spec: LaunchSpec =
        serde_json::from_str(&spec).map_err(|_| corrupt("upstream spec", &spec))?;
    Ok(Upstream {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        name: text(row, "name")?,
        catalog_entry_id: opt_text(row, "catalog_entry_id")?,
        version: spec.version().map(str::to_owned),
        spec,
        secret_names: secrets_sealed.keys().cloned().collect(),
        secrets_sealed,
        config: serde_json::from_str(&config).map_err(|_| corrupt("upstream config", &config))?,
        previous_version: opt_text(row, "previous_version")?,
        status: UpstreamStatus::parse(&status)
            .ok_or_else(|| corrupt("upstream status", &status))?,
        start: StartMode::parse(&start).ok_or_else(|| corrupt("upstream start", &start))?,
        last_error: opt_text(row, "last_error")?,
        restarts: row.try_get("restarts")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        confinement: None,
    })
}

fn tool(row: &DbRow) -> Result<UpstreamTool> {
    tool_named(row, text(row, "name")?)
}

/// A tool from a row whose name column is not `name` (joined with its upstream).
fn tool_named(row: &DbRow, name: String) -> Result<UpstreamTool> {
    let definition = text(row, "definition")?;
    let state = text(row, "state")?;
    let findings = text(row, "findings")?;
    let kind = text(row, "kind")?;
    Ok(UpstreamTool {
        kind: DefinitionKind::parse(&kind).ok_or_else(|| corrupt("definition kind", &kind))?,
        name,
        definition: serde_json::from_str(&definition)
            .map_err(|_| corrupt("tool definition", "…"))?,
        definition_hash: text(row, "definition_hash")?,
        state: ToolState::parse(&state).ok_or_else(|| corrupt("tool state", &state))?,
        findings: serde_json::from_str(&findings).map_err(|_| corrupt("tool findings", "…"))?,
    })
}

/// A stored list of names (an allowlist), if any.
fn names(row: &DbRow, column: &str) -> Result<Option<Vec<String>>> {
    opt_text(row, column)?
        .map(|a| serde_json::from_str(&a).map_err(|_| corrupt(column, &a)))
        .transpose()
}

fn attachment(row: &DbRow) -> Result<Attachment> {
    Ok(Attachment {
        server_id: Id::from_trusted(text(row, "server_id")?),
        upstream_id: Id::from_trusted(text(row, "upstream_id")?),
        prefix: text(row, "prefix")?,
        allowed_tools: names(row, "allowed_tools")?,
        allowed_prompts: names(row, "allowed_prompts")?,
        timeout_ms: row.try_get("timeout_ms")?,
        attached_at: time(row, "attached_at")?,
    })
}

fn catalog_entry(row: &DbRow) -> Result<CatalogEntry> {
    let spec = text(row, "spec")?;
    let secrets = text(row, "secrets")?;
    let config = text(row, "config")?;
    Ok(CatalogEntry {
        id: text(row, "id")?,
        name: text(row, "name")?,
        description: text(row, "description")?,
        spec: serde_json::from_str(&spec).map_err(|_| corrupt("catalog entry spec", &spec))?,
        secrets: serde_json::from_str(&secrets)
            .map_err(|_| corrupt("catalog entry secrets", &secrets))?,
        config: serde_json::from_str(&config)
            .map_err(|_| corrupt("catalog entry config", &config))?,
    })
}

/// Records that the tool's definition was approved (once per definition).
async fn remember_approval(
    tx: &mut sqlx::Transaction<'_, Db>,
    org: &OrgId,
    id: &UpstreamId,
    tool: &UpstreamTool,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO approved_definitions (upstream_id, org_id, kind, name, definition_hash, \
         approved_at, definition) VALUES ($1, $2, $7, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(id.as_str())
    .bind(org.as_str())
    .bind(&tool.name)
    .bind(&tool.definition_hash)
    .bind(now)
    .bind(json_text(&tool.definition))
    .bind(tool.kind.as_str())
    .execute(traced(&mut **tx))
    .await?;
    Ok(())
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes")
}

#[async_trait]
impl UpstreamStore for ThisStore {
    async fn create_upstream(&self, org: &OrgId, new: &NewUpstream) -> Result<Upstream> {
        let now = Timestamp::now().micros();
        let sql = format!(
            "INSERT INTO upstreams ({UPSTREAM_COLUMNS}) \
             SELECT $1, id, $3, $4, $5, $6, $7, NULL, 0, $8, $8, $9, $10, NULL FROM organizations WHERE id = $2 \
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
            .fetch_optional(self.run())
            .await?;
        upstream(&row.ok_or(StoreError::NotFound)?)
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
        restarts: i64,
    ) -> Result<()> {
        super::upstream_events::set_status(self, org, id, status, last_error, restarts).await
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
        let mut tx = self.begin_write().await?;
        let before = super::upstream_events::held_before(self, &mut tx, org, id, kind).await?;
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
        tx.commit().await?;
        Ok(())
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
        tx.commit().await?;
        Ok(tool)
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
            .fetch_optional(self.run())
            .await
            .map_err(|e| unique_conflict(e, &["prefix"]))?;
        attachment(&row.ok_or(StoreError::NotFound)?)
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
        name: &str,
        start: StartMode,
        spec: &LaunchSpec,
    ) -> Result<Upstream> {
        let sql = format!(
            "UPDATE upstreams SET name = $3, start = $4, updated_at = $5, spec = $6 \
             WHERE org_id = $1 AND id = $2 RETURNING {UPSTREAM_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(name)
            .bind(start.as_str())
            .bind(Timestamp::now().micros())
            .bind(json_text(spec))
            .fetch_optional(self.run())
            .await?;
        upstream(&row.ok_or(StoreError::NotFound)?)
    }

    async fn change_upstream_launch(
        &self,
        org: &OrgId,
        id: &UpstreamId,
        launch: &UpstreamLaunch,
        previous: Option<(&UpstreamRelease, &str)>,
    ) -> Result<Upstream> {
        let sql = format!(
            "UPDATE upstreams SET spec = $3, secrets_sealed = $4, config = $5, previous = $6, \
             previous_version = $7, updated_at = $8 \
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
            .fetch_optional(self.run())
            .await?;
        upstream(&row.ok_or(StoreError::NotFound)?)
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
        let done = sqlx::query(
            "INSERT INTO catalog_entries (org_id, id, name, description, spec, secrets, config, created_at) \
             SELECT id, $2, $3, $4, $5, $6, $7, $8 FROM organizations WHERE id = $1",
        )
        .bind(org.as_str())
        .bind(&entry.id)
        .bind(&entry.name)
        .bind(&entry.description)
        .bind(json_text(&entry.spec))
        .bind(json_text(&entry.secrets))
        .bind(json_text(&entry.config))
        .bind(Timestamp::now().micros())
        .execute(self.run())
        .await
        .map_err(|e| unique_conflict(e, &["id"]))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_catalog_entries(&self, org: &OrgId) -> Result<Vec<CatalogEntry>> {
        let rows = sqlx::query(
            "SELECT id, name, description, spec, secrets, config FROM catalog_entries \
             WHERE org_id = $1 ORDER BY created_at, id",
        )
        .bind(org.as_str())
        .fetch_all(self.run())
        .await?;
        rows.iter().map(catalog_entry).collect()
    }

    async fn get_catalog_entry(&self, org: &OrgId, id: &str) -> Result<CatalogEntry> {
        let row = sqlx::query(
            "SELECT id, name, description, spec, secrets, config FROM catalog_entries \
             WHERE org_id = $1 AND id = $2",
        )
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(self.run())
        .await?;
        catalog_entry(&row.ok_or(StoreError::NotFound)?)
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
        attached(self, org, server, ATTACHED_ALL_KINDS).await
    }

    async fn attached_upstream_tools(
        &self,
        org: &OrgId,
        server: &ServerId,
    ) -> Result<Vec<AttachedUpstream>> {
        attached(self, org, server, ATTACHED_TOOLS).await
    }
}

/// Each attachment with its upstream, once per definition (or once with none), in attach
/// order, then the upstream's order; `{kinds}` narrows the definitions joined.
const ATTACHED: &str = "SELECT a.server_id, a.upstream_id, a.prefix, a.allowed_tools, a.allowed_prompts, \
     a.timeout_ms, \
     a.attached_at, u.id, u.org_id, u.name, u.catalog_entry_id, u.spec, \
     u.secrets_sealed, u.status, u.last_error, u.restarts, u.created_at, u.updated_at, u.start, \
     u.config, u.previous_version, \
     t.kind, t.name AS tool_name, t.definition, t.definition_hash, t.state, t.findings \
     FROM upstream_attachments a JOIN upstreams u ON u.id = a.upstream_id \
     LEFT JOIN upstream_tools t ON t.upstream_id = a.upstream_id";
const ORDER: &str = "WHERE a.org_id = $1 AND a.server_id = $2 \
     ORDER BY a.attached_at, a.upstream_id, t.kind = 'tool' DESC, t.kind, t.position";
const ATTACHED_ALL_KINDS: &str = "";
const ATTACHED_TOOLS: &str = "AND t.kind = 'tool'";

/// One statement, whatever the number of attachments.
async fn attached(
    store: &ThisStore,
    org: &OrgId,
    server: &ServerId,
    kinds: &str,
) -> Result<Vec<AttachedUpstream>> {
    let statement = format!("{ATTACHED} {kinds} {ORDER}");
    let rows = sqlx::query(sqlx::AssertSqlSafe(statement))
        .bind(org.as_str())
        .bind(server.as_str())
        .fetch_all(store.run())
        .await?;
    let mut attached: Vec<AttachedUpstream> = Vec::new();
    for row in &rows {
        let upstream_id = text(row, "upstream_id")?;
        let same = attached
            .last()
            .is_some_and(|last| last.attachment.upstream_id.as_str() == upstream_id);
        if !same {
            attached.push(AttachedUpstream {
                attachment: attachment(row)?,
                upstream: upstream(row)?,
                tools: Vec::new(),
                features: Vec::new(),
            });
        }
        if let Some(name) = opt_text(row, "tool_name")? {
            let entry = attached.last_mut().expect("pushed above");
            let definition = tool_named(row, name)?;
            match definition.kind {
                DefinitionKind::Tool => entry.tools.push(definition),
                _ => entry.features.push(definition),
            }
        }
    }
    Ok(attached)
}
