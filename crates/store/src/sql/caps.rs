//! Additions an organization is capped on (`OrgCap`): counted in the transaction that
//! adds, with the organization's row locked, so that two additions at once cannot both
//! pass the count (PostgreSQL reads each statement's own snapshot; SQLite's write
//! transaction is exclusive already, and the lock is a no-op there).

use super::*;

/// The rows `cap` counts.
fn counted(cap: OrgCap) -> &'static str {
    match cap {
        OrgCap::Servers => "SELECT COUNT(*) AS n FROM mcp_servers WHERE org_id = $1",
        OrgCap::Walkthroughs => "SELECT COUNT(*) AS n FROM walkthroughs WHERE org_id = $1",
        OrgCap::ApiKeys => {
            "SELECT COUNT(*) AS n FROM api_keys WHERE org_id = $1 AND revoked_at IS NULL"
        }
        OrgCap::Webhooks => "SELECT COUNT(*) AS n FROM webhooks WHERE org_id = $1",
        OrgCap::Interceptors => "SELECT COUNT(*) AS n FROM interceptors WHERE org_id = $1",
        OrgCap::Members => "SELECT COUNT(*) AS n FROM members WHERE org_id = $1",
        OrgCap::Upstreams => "SELECT COUNT(*) AS n FROM upstreams WHERE org_id = $1",
        OrgCap::CatalogEntries => "SELECT COUNT(*) AS n FROM catalog_entries WHERE org_id = $1",
    }
}

/// Locks the organization's row for the rest of `tx` (PostgreSQL; SQLite's write
/// transaction is exclusive already): whether it is there.
pub(super) async fn lock_organization(
    tx: &mut sqlx::Transaction<'static, Db>,
    org: &OrgId,
) -> Result<bool> {
    let lock = format!("SELECT id FROM organizations WHERE id = $1{LOCK_ROW}");
    let found = sqlx::query(sqlx::AssertSqlSafe(lock))
        .bind(org.as_str())
        .fetch_optional(traced(&mut **tx))
        .await?;
    Ok(found.is_some())
}

impl ThisStore {
    /// A write transaction in which the organization may add one more of `cap`: its row
    /// locked, then its rows counted. `NotFound` when the organization is gone,
    /// `Conflict` with the cap's refusal when it has as many as it may.
    pub(super) async fn begin_adding(
        &self,
        org: &OrgId,
        cap: OrgCap,
    ) -> Result<sqlx::Transaction<'static, Db>> {
        let mut tx = self.begin_write().await?;
        // The lock, the count and the addition that follows.
        self.count(3);
        if !lock_organization(&mut tx, org).await? {
            return Err(StoreError::NotFound);
        }
        let row = sqlx::query(counted(cap))
            .bind(org.as_str())
            .fetch_one(traced(&mut *tx))
            .await?;
        let held = usize::try_from(row.try_get::<i64, _>("n")?).unwrap_or(usize::MAX);
        if held >= cap.max() {
            return Err(StoreError::Conflict(cap.refusal()));
        }
        Ok(tx)
    }

    /// Commits an addition begun with [`Self::begin_adding`], counting the commit.
    pub(super) async fn finish_adding(&self, tx: sqlx::Transaction<'static, Db>) -> Result<()> {
        self.count(1);
        commit(tx).await
    }
}
