//! Organizations' own catalog entries.

use super::upstream_rows::json_text;
use super::*;

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
        // An organization's own entry runs one process per node.
        stateless: false,
        replicas: None,
    })
}

pub(super) async fn create(store: &ThisStore, org: &OrgId, entry: &CatalogEntry) -> Result<()> {
    let mut tx = store.begin_adding(org, OrgCap::CatalogEntries).await?;
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
        .execute(traced(&mut *tx))
        .await
        .map_err(|e| unique_conflict(e, &["id"]))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    store.finish_adding(tx).await
}

pub(super) async fn list(store: &ThisStore, org: &OrgId) -> Result<Vec<CatalogEntry>> {
    let rows = sqlx::query(
        "SELECT id, name, description, spec, secrets, config FROM catalog_entries \
             WHERE org_id = $1 ORDER BY created_at, id",
    )
    .bind(org.as_str())
    .fetch_all(store.run())
    .await?;
    rows.iter().map(catalog_entry).collect()
}

pub(super) async fn get(store: &ThisStore, org: &OrgId, id: &str) -> Result<CatalogEntry> {
    let row = sqlx::query(
        "SELECT id, name, description, spec, secrets, config FROM catalog_entries \
             WHERE org_id = $1 AND id = $2",
    )
    .bind(org.as_str())
    .bind(id)
    .fetch_optional(store.run())
    .await?;
    catalog_entry(&row.ok_or(StoreError::NotFound)?)
}
