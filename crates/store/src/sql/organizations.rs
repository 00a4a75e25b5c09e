//! Organizations and their API keys (stored as hashes only).

use super::*;
use crate::KeyMaker;

const ORG_COLUMNS: &str = "id, name, created_at, tool_approval, raw_tool_results, registry_listed";

fn organization(row: &DbRow) -> Result<Organization> {
    Ok(Organization {
        id: Id::from_trusted(text(row, "id")?),
        name: text(row, "name")?,
        created_at: time(row, "created_at")?,
        tool_approval: {
            let rule = text(row, "tool_approval")?;
            ToolApproval::parse(&rule).ok_or_else(|| corrupt("tool approval", &rule))?
        },
        raw_tool_results: row.try_get("raw_tool_results")?,
        registry_listed: row.try_get("registry_listed")?,
    })
}

const KEY_COLUMNS: &str = "id, org_id, name, display_prefix, scopes, created_at, revoked_at";

fn api_key(row: &DbRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        name: text(row, "name")?,
        display_prefix: text(row, "display_prefix")?,
        scopes: {
            let list = text(row, "scopes")?;
            ApiKeyScopes::parse_list(&list).map_err(|_| corrupt("API key scopes", &list))?
        },
        created_at: time(row, "created_at")?,
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(Timestamp::from_micros),
    })
}

/// Refuses a key's maker that no longer may make one: a key's row is locked until the key
/// is added, so that a revocation waits for the addition or wins; a member's change of
/// role or removal is ordered by the organization's lock `begin_adding` took.
async fn maker_still_may(
    store: &ThisStore,
    tx: &mut sqlx::Transaction<'static, Db>,
    org: &OrgId,
    maker: KeyMaker<'_>,
) -> Result<()> {
    let still = match maker {
        KeyMaker::Platform => true,
        KeyMaker::Key(id) => {
            store.count(1);
            let sql = format!(
                "SELECT id FROM api_keys WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL{LOCK_ROW}"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(org.as_str())
                .bind(id.as_str())
                .fetch_optional(traced(&mut **tx))
                .await?
                .is_some()
        }
        KeyMaker::Member(id) => {
            store.count(1);
            // Not locked: a change of role or a removal locks the organization's row
            // first, as the addition did (`begin_adding`), so they are ordered already.
            let sql = "SELECT role FROM members WHERE org_id = $1 AND id = $2";
            let row = sqlx::query(sql)
                .bind(org.as_str())
                .bind(id.as_str())
                .fetch_optional(traced(&mut **tx))
                .await?;
            match row {
                Some(row) => Role::parse(&text(&row, "role")?).is_some_and(Role::can_administer),
                None => false,
            }
        }
    };
    if still {
        return Ok(());
    }
    Err(StoreError::Conflict(
        "The key or member making this request was revoked or lost the owner's role \
         meanwhile: no key was made."
            .into(),
    ))
}

#[async_trait]
impl OrganizationStore for ThisStore {
    async fn create_organization(&self, name: &str) -> Result<Organization> {
        let org = Organization {
            id: Id::generate(),
            name: name.to_owned(),
            created_at: Timestamp::now(),
            tool_approval: ToolApproval::Manual,
            raw_tool_results: false,
            registry_listed: false,
        };
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(org.id.as_str())
            .bind(&org.name)
            .bind(org.created_at.micros())
            .execute(self.run())
            .await?;
        Ok(org)
    }

    async fn set_tool_approval(&self, org: &OrgId, rule: ToolApproval) -> Result<Organization> {
        let sql = format!(
            "UPDATE organizations SET tool_approval = $2 WHERE id = $1 RETURNING {ORG_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(rule.as_str())
            .fetch_optional(self.run())
            .await?;
        organization(&row.ok_or(StoreError::NotFound)?)
    }

    async fn set_registry_listed(&self, org: &OrgId, listed: bool) -> Result<Organization> {
        let sql = format!(
            "UPDATE organizations SET registry_listed = $2 WHERE id = $1 RETURNING {ORG_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(listed)
            .fetch_optional(self.run())
            .await?;
        organization(&row.ok_or(StoreError::NotFound)?)
    }

    async fn set_raw_tool_results(&self, org: &OrgId, raw: bool) -> Result<Organization> {
        let sql = format!(
            "UPDATE organizations SET raw_tool_results = $2 WHERE id = $1 RETURNING {ORG_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(raw)
            .fetch_optional(self.run())
            .await?;
        organization(&row.ok_or(StoreError::NotFound)?)
    }

    async fn get_organization(&self, org: &OrgId) -> Result<Organization> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .fetch_optional(self.run())
            .await?;
        organization(&row.ok_or(StoreError::NotFound)?)
    }

    async fn create_api_key(
        &self,
        org: &OrgId,
        maker: KeyMaker<'_>,
        name: &str,
        scopes: &ApiKeyScopes,
        secret: &ApiKeySecret,
    ) -> Result<ApiKey> {
        let mut tx = self.begin_adding(org, OrgCap::ApiKeys).await?;
        maker_still_may(self, &mut tx, org, maker).await?;
        let sql = format!(
            "INSERT INTO api_keys (id, org_id, name, display_prefix, key_hash, created_at, scopes) \
             SELECT $1, id, $3, $4, $5, $6, $7 FROM organizations WHERE id = $2 RETURNING {KEY_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ApiKeyId::generate().as_str())
            .bind(org.as_str())
            .bind(name)
            .bind(&secret.display_prefix)
            .bind(&secret.hash)
            .bind(Timestamp::now().micros())
            .bind(scopes.to_list())
            .fetch_optional(traced(&mut *tx))
            .await?;
        let created = api_key(&row.ok_or(StoreError::NotFound)?)?;
        self.finish_adding(tx).await?;
        Ok(created)
    }

    async fn list_api_keys(&self, org: &OrgId) -> Result<Vec<ApiKey>> {
        let sql =
            format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 ORDER BY created_at, id");
        rows(
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(org.as_str())
                .fetch_all(self.run())
                .await?,
            api_key,
        )
    }

    async fn page_api_keys(&self, org: &OrgId, page: &PageRequest) -> Result<Page<ApiKey>> {
        let (after_time, after_id, limit) = page_bounds_oldest_first(page);
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 \
             AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
             ORDER BY created_at, id LIMIT $4"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(after_time)
            .bind(after_id)
            .bind(limit)
            .fetch_all(self.run())
            .await?;
        Ok(page_of(rows(found, api_key)?, page.limit, |k| Cursor {
            created_at: k.created_at,
            id: k.id.to_string(),
        }))
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
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key_hash)
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(api_key).transpose()
    }
}
