//! The rows of upstreams, their definitions and attachments as records, and the
//! approvals every approving write remembers.

use std::collections::BTreeMap;

use super::*;

/// The columns written, in the order `create_upstream` gives them.
pub(super) const UPSTREAM_WRITTEN: &str = "id, org_id, name, catalog_entry_id, spec, \
     secrets_sealed, status, last_error, restarts, created_at, updated_at, start, config, \
     previous_version, catalog_entry_version, replicas";
/// What an upstream's row is read with: also its registry entry's latest version.
pub(super) const UPSTREAM_COLUMNS: &str = "id, org_id, name, catalog_entry_id, spec, \
     secrets_sealed, status, last_error, restarts, created_at, updated_at, start, config, \
     previous_version, catalog_entry_version, replicas, restarted_at, last_fault, result_guard, \
     (SELECT e.version FROM registry_entries e WHERE e.name = upstreams.catalog_entry_id \
      AND upstreams.catalog_entry_version IS NOT NULL) AS latest_version";
pub(super) const ATTACHMENT_COLUMNS: &str =
    "server_id, upstream_id, prefix, allowed_tools, allowed_prompts, timeout_ms, attached_at";
pub(super) const DEFINITION_COLUMNS: &str =
    "kind, name, definition, definition_hash, state, findings";

pub(super) fn upstream(row: &DbRow) -> Result<Upstream> {
    let spec = text(row, "spec")?;
    let secrets = text(row, "secrets_sealed")?;
    let status = text(row, "status")?;
    let start = text(row, "start")?;
    let secrets_sealed: BTreeMap<String, String> =
        serde_json::from_str(&secrets).map_err(|_| corrupt("upstream secrets", "…"))?;
    let config = text(row, "config")?;
    let spec: LaunchSpec =
        serde_json::from_str(&spec).map_err(|_| corrupt("upstream spec", &spec))?;
    let installed = opt_text(row, "catalog_entry_version")?;
    let latest = opt_text(row, "latest_version")?;
    Ok(Upstream {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        name: text(row, "name")?,
        catalog_entry_id: opt_text(row, "catalog_entry_id")?,
        upgrade_available: installed
            .as_deref()
            .zip(latest.as_deref())
            .is_some_and(|(installed, latest)| is_upgrade(installed, latest)),
        catalog_entry_version: installed,
        latest_version: latest,
        version: spec.version().map(str::to_owned),
        spec,
        secret_names: secrets_sealed.keys().cloned().collect(),
        secrets_sealed,
        config: serde_json::from_str(&config).map_err(|_| corrupt("upstream config", &config))?,
        previous_version: opt_text(row, "previous_version")?,
        status: UpstreamStatus::parse(&status)
            .ok_or_else(|| corrupt("upstream status", &status))?,
        start: StartMode::parse(&start).ok_or_else(|| corrupt("upstream start", &start))?,
        replicas: u32::try_from(row.try_get::<i64, _>("replicas")?)
            .map_err(|_| corrupt("upstream replicas", "…"))?,
        result_guard: {
            let guard = text(row, "result_guard")?;
            ResultGuard::parse(&guard).ok_or_else(|| corrupt("upstream result guard", &guard))?
        },
        last_error: opt_text(row, "last_error")?,
        // A fault this build cannot read leaves the words to be diagnosed alone.
        last_fault: opt_text(row, "last_fault")?
            .as_deref()
            .and_then(UpstreamFault::from_stored),
        restarts: row.try_get("restarts")?,
        restarted_at: opt_time(row, "restarted_at")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        confinement: None,
        diagnosis: None,
    })
}

pub(super) fn tool(row: &DbRow) -> Result<UpstreamTool> {
    tool_named(row, text(row, "name")?)
}

/// A tool from a row whose name column is not `name` (joined with its upstream).
pub(super) fn tool_named(row: &DbRow, name: String) -> Result<UpstreamTool> {
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

pub(super) fn attachment(row: &DbRow) -> Result<Attachment> {
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

/// Records that the tool's definition was approved (once per definition).
pub(super) async fn remember_approval(
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

pub(super) fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes")
}
