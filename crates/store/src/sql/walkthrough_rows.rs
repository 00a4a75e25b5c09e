//! Walkthroughs' row decoding, their shared SQL, and the list operations that every
//! step write shares (lock, check whole, write the changed links).

use super::*;

pub(super) const WALKTHROUGH_COLUMNS: &str = "id, org_id, title, description, status, estimated_duration_minutes, tags, \
     metadata, first_step_id, published_version, created_at, updated_at";

pub(super) fn walkthrough(row: &DbRow) -> Result<Walkthrough> {
    let status = text(row, "status")?;
    Ok(Walkthrough {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        title: text(row, "title")?,
        description: opt_text(row, "description")?,
        status: WalkthroughStatus::parse(&status)
            .ok_or_else(|| corrupt("walkthrough status", &status))?,
        estimated_duration_minutes: row.try_get("estimated_duration_minutes")?,
        tags: json_column(row, "tags")?,
        metadata: json_column(row, "metadata")?,
        first_step_id: opt_text(row, "first_step_id")?.map(Id::from_trusted),
        published_version: row.try_get("published_version")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(super) fn step(row: &DbRow) -> Result<Step> {
    Ok(Step {
        id: Id::from_trusted(text(row, "id")?),
        walkthrough_id: Id::from_trusted(text(row, "walkthrough_id")?),
        title: text(row, "title")?,
        section_title: opt_text(row, "section_title")?,
        content: text(row, "content")?,
        next_step_id: opt_text(row, "next_step_id")?.map(Id::from_trusted),
    })
}

pub(super) const VERSION_COLUMNS: &str = "walkthrough_id, version, title, steps, published_at";

pub(super) fn version(row: &DbRow) -> Result<WalkthroughVersion> {
    Ok(WalkthroughVersion {
        walkthrough_id: Id::from_trusted(text(row, "walkthrough_id")?),
        version: row.try_get("version")?,
        title: text(row, "title")?,
        steps: json_column(row, "steps")?,
        published_at: time(row, "published_at")?,
    })
}

pub(super) const ASSIGNMENT_COLUMNS: &str =
    "server_id, walkthrough_id, display_order, is_enabled, assigned_at";

pub(super) fn assignment(row: &DbRow) -> Result<Assignment> {
    Ok(Assignment {
        server_id: Id::from_trusted(text(row, "server_id")?),
        walkthrough_id: Id::from_trusted(text(row, "walkthrough_id")?),
        display_order: row.try_get("display_order")?,
        is_enabled: row.try_get("is_enabled")?,
        assigned_at: time(row, "assigned_at")?,
    })
}

pub(super) const PROGRESS_COLUMNS: &str = "id, org_id, end_user_id, server_id, walkthrough_id, version, current_step_id, \
     completed_step_ids, status, started_at, last_activity_at, completed_at, revision";

pub(super) fn progress(row: &DbRow) -> Result<Progress> {
    let status = text(row, "status")?;
    Ok(Progress {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        end_user_id: Id::from_trusted(text(row, "end_user_id")?),
        server_id: Id::from_trusted(text(row, "server_id")?),
        walkthrough_id: Id::from_trusted(text(row, "walkthrough_id")?),
        version: row.try_get("version")?,
        current_step_id: opt_text(row, "current_step_id")?,
        completed_step_ids: json_column(row, "completed_step_ids")?,
        status: ProgressStatus::parse(&status)
            .ok_or_else(|| corrupt("progress status", &status))?,
        started_at: time(row, "started_at")?,
        last_activity_at: time(row, "last_activity_at")?,
        completed_at: row
            .try_get::<Option<i64>, _>("completed_at")?
            .map(Timestamp::from_micros),
        revision: row.try_get("revision")?,
    })
}

/// An available walkthrough: walkthrough columns plus `display_order` and the newest
/// version's `v_*` columns.
pub(super) fn available(row: &DbRow) -> Result<AvailableWalkthrough> {
    Ok(AvailableWalkthrough {
        walkthrough: walkthrough(row)?,
        display_order: row.try_get("display_order")?,
        latest: std::sync::Arc::new(WalkthroughVersion {
            walkthrough_id: Id::from_trusted(text(row, "id")?),
            version: row.try_get("v_version")?,
            title: text(row, "v_title")?,
            steps: json_column(row, "v_steps")?,
            published_at: time(row, "v_published_at")?,
        }),
    })
}

pub(super) fn chain_refusal(error: ChainError) -> StoreError {
    match error {
        ChainError::Broken(detail) => StoreError::Corrupt(detail),
        other => StoreError::Rejected {
            field: "after_step_id",
            message: other.to_string(),
        },
    }
}

pub(super) const AVAILABLE_SQL: &str = "SELECT w.id, w.org_id, w.title, w.description, w.status, w.estimated_duration_minutes, \
     w.tags, w.metadata, w.first_step_id, w.published_version, w.created_at, w.updated_at, sw.display_order, \
     v.version AS v_version, v.title AS v_title, v.steps AS v_steps, v.published_at AS v_published_at \
     FROM server_walkthroughs sw \
     JOIN walkthroughs w ON w.id = sw.walkthrough_id AND w.org_id = sw.org_id \
     JOIN walkthrough_versions v ON v.walkthrough_id = w.id AND v.version = w.published_version \
     WHERE sw.org_id = $1 AND sw.server_id = $2 AND sw.is_enabled AND w.status = 'published'";

/// The ordered draft steps: follows `next_step_id` from the head in one recursive query.
/// The depth bound stops a corrupted (cyclic) list from looping.
pub(super) const ORDERED_STEPS_SQL: &str = "WITH RECURSIVE chain (id, depth) AS ( \
       SELECT w.first_step_id, 0 FROM walkthroughs w WHERE w.org_id = $1 AND w.id = $2 AND w.first_step_id IS NOT NULL \
       UNION ALL \
       SELECT s.next_step_id, c.depth + 1 FROM chain c JOIN walkthrough_steps s ON s.id = c.id \
       WHERE s.next_step_id IS NOT NULL AND c.depth < 1001) \
     SELECT s.id, s.walkthrough_id, s.title, s.section_title, s.content, s.next_step_id \
     FROM chain c JOIN walkthrough_steps s ON s.id = c.id AND s.walkthrough_id = $2 ORDER BY c.depth";

impl ThisStore {
    /// Locks the walkthrough for a list change and returns its order of steps, checked whole.
    /// Inserts `steps` as the walkthrough's next version, titled `title` (else the
    /// walkthrough's own title), and makes it the published one; in `tx`, whose caller
    /// holds the walkthrough's row.
    pub(super) async fn insert_published(
        &self,
        tx: &mut sqlx::Transaction<'static, Db>,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        title: Option<&str>,
        steps: &[PublishedStep],
    ) -> Result<WalkthroughVersion> {
        self.count(2);
        let sql = format!(
            "INSERT INTO walkthrough_versions (walkthrough_id, version, org_id, title, steps, step_count, published_at) \
             SELECT id, COALESCE(published_version, 0) + 1, org_id, COALESCE($6, title), $3, $4, $5 \
             FROM walkthroughs WHERE org_id = $1 AND id = $2 RETURNING {VERSION_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(walkthrough.as_str())
            .bind(to_json(&steps))
            .bind(steps.len() as i64)
            .bind(Timestamp::now().micros())
            .bind(title)
            .fetch_one(traced(&mut **tx))
            .await?;
        let published = version(&row)?;
        let sql = format!(
            "UPDATE walkthroughs SET published_version = $2, status = 'published', \
             updated_at = {} WHERE id = $1",
            next_revision(3)
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(walkthrough.as_str())
            .bind(published.version)
            .bind(Timestamp::now().micros())
            .execute(traced(&mut **tx))
            .await?;
        self.count(1);
        Ok(published)
    }

    pub(super) async fn locked_order(
        &self,
        tx: &mut sqlx::Transaction<'static, Db>,
        org: &OrgId,
        walkthrough: &WalkthroughId,
    ) -> Result<Vec<String>> {
        self.count(2);
        let sql = format!(
            "SELECT first_step_id FROM walkthroughs WHERE org_id = $1 AND id = $2{LOCK_ROW}"
        );
        let head = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(walkthrough.as_str())
            .fetch_optional(traced(&mut **tx))
            .await?
            .ok_or(StoreError::NotFound)?;
        let first = opt_text(&head, "first_step_id")?;
        let links =
            sqlx::query("SELECT id, next_step_id FROM walkthrough_steps WHERE walkthrough_id = $1")
                .bind(walkthrough.as_str())
                .fetch_all(traced(&mut **tx))
                .await?
                .iter()
                .map(|r| Ok((text(r, "id")?, opt_text(r, "next_step_id")?)))
                .collect::<Result<Vec<_>>>()?;
        chain_order(first.as_deref(), &links).map_err(chain_refusal)
    }

    /// Rewrites the links so that the list is `new`, touching only rows that change.
    pub(super) async fn write_order(
        &self,
        tx: &mut sqlx::Transaction<'static, Db>,
        walkthrough: &WalkthroughId,
        old: &[String],
        new: &[String],
    ) -> Result<()> {
        let (_, old_links) = chain_links(old);
        let (new_first, new_links) = chain_links(new);
        let old_next: std::collections::HashMap<_, _> = old_links.into_iter().collect();
        for (id, next) in &new_links {
            if old_next.get(id) != Some(next) {
                self.count(1);
                sqlx::query("UPDATE walkthrough_steps SET next_step_id = $2 WHERE id = $1")
                    .bind(id)
                    .bind(next.as_deref())
                    .execute(traced(&mut **tx))
                    .await?;
            }
        }
        self.count(1);
        let sql = format!(
            "UPDATE walkthroughs SET first_step_id = $2, updated_at = {} WHERE id = $1",
            next_revision(3)
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(walkthrough.as_str())
            .bind(new_first.as_deref())
            .bind(Timestamp::now().micros())
            .execute(traced(&mut **tx))
            .await?;
        Ok(())
    }

    pub(super) async fn get_step_in(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        id: &str,
    ) -> Result<Step> {
        let row = sqlx::query(
            "SELECT id, walkthrough_id, title, section_title, content, next_step_id FROM walkthrough_steps \
             WHERE org_id = $1 AND walkthrough_id = $2 AND id = $3",
        )
        .bind(org.as_str())
        .bind(walkthrough.as_str())
        .bind(id)
        .fetch_optional(self.run())
        .await?;
        step(&row.ok_or(StoreError::NotFound)?)
    }
}

pub(super) const INSERT_PROGRESS: &str = "INSERT INTO walkthrough_progress (id, org_id, end_user_id, server_id, walkthrough_id, \
     version, current_step_id, completed_step_ids, status, started_at, last_activity_at, completed_at, revision) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, 1) ON CONFLICT (end_user_id, server_id, walkthrough_id)";
