//! What the dashboard's walkthrough editor reads and writes beyond authoring: draft step
//! counts, version history with the people still on each version, step saves checked
//! against a revision (one conditional statement), and a walkthrough's assignments.

use super::*;

use super::walkthrough_rows::*;
use crate::walkthroughs::{DraftBesidePublished, VersionSummary, WalkthroughEditorStore};

#[async_trait]
impl WalkthroughEditorStore for ThisStore {
    async fn drafts_beside_published(
        &self,
        org: &OrgId,
        walkthroughs: &[WalkthroughId],
    ) -> Result<Vec<DraftBesidePublished>> {
        let ids = &walkthroughs[..walkthroughs.len().min(Limits::PAGE_SIZE_MAX as usize)];
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // The steps and the published versions in one statement, told apart by `kind`;
        // only numbered placeholders are formatted in, the ids are bound (and used twice).
        let placeholders: Vec<String> = (0..ids.len()).map(|n| format!("${}", n + 2)).collect();
        let list = placeholders.join(", ");
        let sql = format!(
            "SELECT 'step' AS kind, s.walkthrough_id, s.id, s.title, s.section_title, s.content, \
             s.next_step_id, NULL AS steps, 0 AS version, 0 AS published_at \
             FROM walkthrough_steps s WHERE s.org_id = $1 AND s.walkthrough_id IN ({list}) \
             UNION ALL \
             SELECT 'version', v.walkthrough_id, NULL, v.title, NULL, NULL, NULL, v.steps, \
             v.version, v.published_at FROM walkthrough_versions v \
             JOIN walkthroughs w ON w.org_id = v.org_id AND w.id = v.walkthrough_id \
             AND w.published_version = v.version \
             WHERE v.org_id = $1 AND v.walkthrough_id IN ({list})"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str());
        for id in ids {
            query = query.bind(id.as_str());
        }
        let found = query.fetch_all(self.run()).await?;
        let mut drafts: Vec<DraftBesidePublished> = Vec::new();
        for row in &found {
            let walkthrough_id: WalkthroughId = Id::from_trusted(text(row, "walkthrough_id")?);
            let at = match drafts
                .iter()
                .position(|d| d.walkthrough_id == walkthrough_id)
            {
                Some(at) => at,
                None => {
                    drafts.push(DraftBesidePublished {
                        walkthrough_id,
                        steps: Vec::new(),
                        published: None,
                    });
                    drafts.len() - 1
                }
            };
            if text(row, "kind")? == "step" {
                drafts[at].steps.push(step(row)?);
            } else {
                drafts[at].published = Some(version(row)?);
            }
        }
        Ok(drafts)
    }

    async fn draft_step_counts(
        &self,
        org: &OrgId,
        walkthroughs: &[WalkthroughId],
    ) -> Result<Vec<(WalkthroughId, i64)>> {
        let ids = &walkthroughs[..walkthroughs.len().min(Limits::PAGE_SIZE_MAX as usize)];
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Only numbered placeholders are formatted in; the ids are bound.
        let placeholders: Vec<String> = (0..ids.len()).map(|n| format!("${}", n + 2)).collect();
        let sql = format!(
            "SELECT walkthrough_id, COUNT(*) AS n FROM walkthrough_steps WHERE org_id = $1 \
             AND walkthrough_id IN ({}) GROUP BY walkthrough_id",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str());
        for id in ids {
            query = query.bind(id.as_str());
        }
        let found = query.fetch_all(self.run()).await?;
        found
            .iter()
            .map(|r| {
                Ok((
                    Id::from_trusted(text(r, "walkthrough_id")?),
                    r.try_get("n")?,
                ))
            })
            .collect()
    }

    async fn list_versions(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        limit: u32,
    ) -> Result<Vec<VersionSummary>> {
        let found = sqlx::query(
            "SELECT v.version, v.published_at, v.step_count, \
             (SELECT COUNT(DISTINCT p.end_user_id) FROM walkthrough_progress p WHERE p.org_id = v.org_id \
             AND p.walkthrough_id = v.walkthrough_id AND p.version = v.version \
             AND p.status <> 'completed') AS people \
             FROM walkthrough_versions v WHERE v.org_id = $1 AND v.walkthrough_id = $2 \
             ORDER BY v.version DESC LIMIT $3",
        )
        .bind(org.as_str())
        .bind(walkthrough.as_str())
        .bind(i64::from(limit))
        .fetch_all(self.run())
        .await?;
        rows(found, version_summary)
    }

    async fn people_with_unfinished_progress(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
    ) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(DISTINCT end_user_id) AS people FROM walkthrough_progress \
             WHERE org_id = $1 AND walkthrough_id = $2 AND status <> 'completed'",
        )
        .bind(org.as_str())
        .bind(walkthrough.as_str())
        .fetch_one(self.run())
        .await?;
        Ok(row.try_get("people")?)
    }

    async fn step_revision(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        step_id: &StepId,
    ) -> Result<Timestamp> {
        let row = sqlx::query(
            "SELECT updated_at FROM walkthrough_steps WHERE org_id = $1 AND walkthrough_id = $2 AND id = $3",
        )
        .bind(org.as_str())
        .bind(walkthrough.as_str())
        .bind(step_id.as_str())
        .fetch_optional(self.run())
        .await?;
        time(&row.ok_or(StoreError::NotFound)?, "updated_at")
    }

    async fn update_step_at_revision(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        step_id: &StepId,
        f: &StepFields,
        revision: Timestamp,
    ) -> Result<Option<Step>> {
        // The new revision is always later than the old one, even within one microsecond,
        // so that a second save over the same revision is refused.
        let sql = format!(
            "UPDATE walkthrough_steps SET title = $4, section_title = $5, content = $6, \
             updated_at = {} \
             WHERE org_id = $1 AND walkthrough_id = $2 AND id = $3 AND updated_at = $8 \
             RETURNING id, walkthrough_id, title, section_title, content, next_step_id",
            next_revision(7)
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(walkthrough.as_str())
            .bind(step_id.as_str())
            .bind(&f.title)
            .bind(f.section_title.as_deref())
            .bind(&f.content)
            .bind(Timestamp::now().micros())
            .bind(revision.micros())
            .fetch_optional(self.run())
            .await?;
        match row {
            Some(row) => Ok(Some(step(&row)?)),
            // Gone (`NotFound`) or written by someone else since.
            None => self
                .step_revision(org, walkthrough, step_id)
                .await
                .map(|_| None),
        }
    }

    async fn walkthrough_assignments(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
    ) -> Result<Vec<Assignment>> {
        let sql = format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM server_walkthroughs WHERE org_id = $1 AND walkthrough_id = $2 \
             ORDER BY display_order, server_id"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(walkthrough.as_str())
            .fetch_all(self.run())
            .await?;
        rows(found, assignment)
    }
}

/// A row of the version history: `version`, `published_at`, `step_count`, `people`.
fn version_summary(row: &DbRow) -> Result<VersionSummary> {
    Ok(VersionSummary {
        version: row.try_get("version")?,
        published_at: time(row, "published_at")?,
        step_count: row.try_get("step_count")?,
        people: row.try_get("people")?,
    })
}
