//! A hosted server's attachments, each with its upstream and definitions, in one
//! statement.

use super::upstream_rows::*;
use super::*;
use crate::upstreams::AttachedUpstream;

/// Each attachment with its upstream, once per definition (or once with none), in attach
/// order, then the upstream's order. The upstream's registry entry's latest version is not
/// read (a correlated subquery per row that calls and the node cache's view do not use:
/// the upstream listings read it), so `latest_version` is `None` and `upgrade_available`
/// false here.
const ATTACHED: &str = "SELECT a.server_id, a.upstream_id, a.prefix, a.allowed_tools, a.allowed_prompts, \
     a.timeout_ms, \
     a.attached_at, u.id, u.org_id, u.name, u.catalog_entry_id, u.spec, \
     u.secrets_sealed, u.status, u.last_error, u.restarts, u.created_at, u.updated_at, u.start, \
     u.config, u.previous_version, u.catalog_entry_version, u.replicas, u.restarted_at, u.last_fault, u.result_guard, \
     CAST(NULL AS TEXT) AS latest_version, \
     t.kind, t.name AS tool_name, t.definition, t.definition_hash, t.state, t.findings \
     FROM upstream_attachments a JOIN upstreams u ON u.id = a.upstream_id \
     LEFT JOIN upstream_tools t ON t.upstream_id = a.upstream_id";
const ORDER: &str = "WHERE a.org_id = $1 AND a.server_id = $2 \
     ORDER BY a.attached_at, a.upstream_id, t.kind = 'tool' DESC, t.kind, t.position";

/// One statement, whatever the number of attachments; `tools_only` joins only the
/// definitions that are tools.
pub(super) async fn attached(
    store: &ThisStore,
    org: &OrgId,
    server: &ServerId,
    tools_only: bool,
) -> Result<Vec<AttachedUpstream>> {
    let kinds = if tools_only {
        "AND t.kind = 'tool'"
    } else {
        ""
    };
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
