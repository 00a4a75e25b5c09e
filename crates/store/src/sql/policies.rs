//! An organization's call-time policies, version by version.

use super::*;
use crate::{MAX_POLICY_VERSIONS, PolicyStore};

const POLICY_COLUMNS: &str = "org_id, version, source, names, published_by, created_at";

fn policy_version(row: &DbRow) -> Result<PolicyVersion> {
    Ok(PolicyVersion {
        org_id: Id::from_trusted(text(row, "org_id")?),
        version: row.try_get("version")?,
        source: text(row, "source")?,
        names: json_column(row, "names")?,
        published_by: text(row, "published_by")?,
        created_at: time(row, "created_at")?,
    })
}

#[async_trait]
impl PolicyStore for ThisStore {
    async fn publish_policies(
        &self,
        new: &NewPolicyVersion,
        now: Timestamp,
    ) -> Result<PolicyVersion> {
        // The next number is read and taken in one statement; two publications that race
        // for it meet the primary key, and the second is told to publish again.
        let sql = format!(
            "INSERT INTO policy_versions ({POLICY_COLUMNS}) \
             SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5 \
             FROM policy_versions WHERE org_id = $1 \
             RETURNING {POLICY_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(new.org_id.as_str())
            .bind(&new.source)
            .bind(to_json(&new.names))
            .bind(&new.published_by)
            .bind(now.micros())
            .fetch_one(self.run())
            .await
            .map_err(|error| match unique_conflict(error, &["version"]) {
                StoreError::Conflict(_) => StoreError::Conflict(
                    "another version of the policies was published at the same time; \
                     read them again and publish yours over them"
                        .to_owned(),
                ),
                other => other,
            })?;
        policy_version(&row)
    }

    async fn current_policies(&self, org: &OrgId) -> Result<Option<PolicyVersion>> {
        Ok(self.policy_versions(org, 1).await?.into_iter().next())
    }

    async fn policy_version(&self, org: &OrgId, version: i64) -> Result<Option<PolicyVersion>> {
        let sql = format!(
            "SELECT {POLICY_COLUMNS} FROM policy_versions WHERE org_id = $1 AND version = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(version)
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(policy_version).transpose()
    }

    async fn policy_versions(&self, org: &OrgId, limit: u32) -> Result<Vec<PolicyVersion>> {
        let sql = format!(
            "SELECT {POLICY_COLUMNS} FROM policy_versions WHERE org_id = $1 \
             ORDER BY version DESC LIMIT $2"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(i64::from(limit.min(MAX_POLICY_VERSIONS)))
            .fetch_all(self.run())
            .await?;
        rows(found, policy_version)
    }
}
