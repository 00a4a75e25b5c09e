//! Walkthroughs, their draft steps (a linked list), immutable published versions,
//! assignments to servers, and end users' progress (compare-and-set on a revision).

use super::*;

use super::progress_writes::ProgressWrite;
use super::walkthrough_rows::*;
use crate::walkthroughs::{NewWalkthrough, ProgressKey, WalkthroughStore};

#[async_trait]
impl WalkthroughStore for ThisStore {
    async fn create_walkthrough(&self, org: &OrgId, new: &NewWalkthrough) -> Result<Walkthrough> {
        let mut tx = self.begin_adding(org, OrgCap::Walkthroughs).await?;
        let f = &new.fields;
        let now = Timestamp::now().micros();
        let sql = format!(
            "INSERT INTO walkthroughs (id, org_id, external_key, title, description, status, estimated_duration_minutes, \
             tags, metadata, created_at, updated_at) \
             SELECT $1, id, $3, $4, $5, $6, $7, $8, $9, $10, $10 FROM organizations WHERE id = $2 \
             RETURNING {WALKTHROUGH_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(WalkthroughId::generate().as_str())
            .bind(org.as_str())
            .bind(new.external_key.as_deref())
            .bind(&f.title)
            .bind(f.description.as_deref())
            .bind(f.status.as_str())
            .bind(f.estimated_duration_minutes)
            .bind(to_json(&f.tags))
            .bind(to_json(&f.metadata))
            .bind(now)
            .fetch_optional(traced(&mut *tx))
            .await
            .map_err(|e| unique_conflict(e, &["external_key"]))?;
        let created = walkthrough(&row.ok_or(StoreError::NotFound)?)?;
        self.finish_adding(tx).await?;
        Ok(created)
    }

    async fn get_walkthrough(&self, org: &OrgId, id: &WalkthroughId) -> Result<Walkthrough> {
        let sql =
            format!("SELECT {WALKTHROUGH_COLUMNS} FROM walkthroughs WHERE org_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.run())
            .await?;
        walkthrough(&row.ok_or(StoreError::NotFound)?)
    }

    async fn find_walkthrough_by_key(
        &self,
        org: &OrgId,
        external_key: &str,
    ) -> Result<Option<Walkthrough>> {
        let sql = format!(
            "SELECT {WALKTHROUGH_COLUMNS} FROM walkthroughs WHERE org_id = $1 AND external_key = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(external_key)
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(walkthrough).transpose()
    }

    async fn list_walkthroughs(
        &self,
        org: &OrgId,
        page: &PageRequest,
    ) -> Result<Page<Walkthrough>> {
        let (before_time, before_id, limit) = page_bounds(page);
        let sql = format!(
            "SELECT {WALKTHROUGH_COLUMNS} FROM walkthroughs WHERE org_id = $1 \
             AND (created_at < $2 OR (created_at = $2 AND id < $3) OR $3 = '') \
             ORDER BY created_at DESC, id DESC LIMIT $4"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(before_time)
            .bind(before_id)
            .bind(limit)
            .fetch_all(self.run())
            .await?;
        Ok(page_of(rows(found, walkthrough)?, page.limit, |w| Cursor {
            created_at: w.created_at,
            id: w.id.to_string(),
        }))
    }

    async fn update_walkthrough(
        &self,
        org: &OrgId,
        id: &WalkthroughId,
        f: &WalkthroughFields,
        read_at: Option<Timestamp>,
    ) -> Result<Walkthrough> {
        let next = next_revision(9);
        let sql = format!(
            "UPDATE walkthroughs SET title = $3, description = $4, status = $5, estimated_duration_minutes = $6, \
             tags = $7, metadata = $8, updated_at = {next} \
             WHERE org_id = $1 AND id = $2 AND ($10 IS NULL OR updated_at = $10) RETURNING {WALKTHROUGH_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(&f.title)
            .bind(f.description.as_deref())
            .bind(f.status.as_str())
            .bind(f.estimated_duration_minutes)
            .bind(to_json(&f.tags))
            .bind(to_json(&f.metadata))
            .bind(Timestamp::now().micros())
            .bind(read_at.map(Timestamp::micros))
            .fetch_optional(self.run())
            .await?;
        let still_there = self.get_walkthrough(org, id);
        written_over(row.as_ref().map(walkthrough), read_at, still_there).await
    }

    async fn delete_walkthrough(&self, org: &OrgId, id: &WalkthroughId) -> Result<()> {
        let done = sqlx::query("DELETE FROM walkthroughs WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(id.as_str())
            .execute(self.run())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_steps(&self, org: &OrgId, walkthrough: &WalkthroughId) -> Result<Vec<Step>> {
        let found = sqlx::query(ORDERED_STEPS_SQL)
            .bind(org.as_str())
            .bind(walkthrough.as_str())
            .fetch_all(self.run())
            .await?;
        rows(found, step)
    }

    async fn add_step(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        f: &StepFields,
        at: &StepPlacement,
    ) -> Result<Step> {
        let mut tx = self.begin_write().await?;
        let old = self.locked_order(&mut tx, org, walkthrough).await?;
        let id = StepId::generate();
        let mut new = old.clone();
        place_step(&mut new, id.as_str(), at).map_err(chain_refusal)?;
        let now = Timestamp::now().micros();
        self.count(1);
        sqlx::query(
            "INSERT INTO walkthrough_steps (id, org_id, walkthrough_id, title, section_title, content, next_step_id, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $7)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(walkthrough.as_str())
        .bind(&f.title)
        .bind(f.section_title.as_deref())
        .bind(&f.content)
        .bind(now)
        .execute(traced(&mut *tx))
        .await?;
        // The new row's link is not in `old`, so `write_order` always writes it; every other
        // link is compared with what is really stored.
        self.write_order(&mut tx, walkthrough, &old, &new).await?;
        self.count(1);
        super::commit(tx).await?;
        self.get_step_in(org, walkthrough, id.as_str()).await
    }

    async fn update_step(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        step_id: &StepId,
        changes: &StepChanges,
        move_to: Option<&StepPlacement>,
    ) -> Result<Step> {
        let mut tx = self.begin_write().await?;
        let old = self.locked_order(&mut tx, org, walkthrough).await?;
        if !old.iter().any(|id| id == step_id.as_str()) {
            return Err(StoreError::NotFound);
        }
        if !changes.is_empty() {
            self.count(1);
            // Each field not named keeps its stored value, read inside this statement.
            // The revision moves on as the step editor's saves compare it.
            let sql = format!(
                "UPDATE walkthrough_steps SET title = COALESCE($2, title), \
                 section_title = CASE WHEN $3 THEN $4 ELSE section_title END, \
                 content = COALESCE($5, content), updated_at = {} WHERE id = $1",
                next_revision(6)
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(step_id.as_str())
                .bind(changes.title.as_deref())
                .bind(changes.section_title.is_some())
                .bind(changes.section_title.clone().flatten())
                .bind(changes.content.as_deref())
                .bind(Timestamp::now().micros())
                .execute(traced(&mut *tx))
                .await?;
        }
        if let Some(placement) = move_to {
            let mut new = old.clone();
            place_step(&mut new, step_id.as_str(), placement).map_err(chain_refusal)?;
            self.write_order(&mut tx, walkthrough, &old, &new).await?;
        }
        self.count(1);
        super::commit(tx).await?;
        self.get_step_in(org, walkthrough, step_id.as_str()).await
    }

    async fn delete_step(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        step_id: &StepId,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let old = self.locked_order(&mut tx, org, walkthrough).await?;
        if !old.iter().any(|id| id == step_id.as_str()) {
            return Err(StoreError::NotFound);
        }
        let new: Vec<String> = old
            .iter()
            .filter(|id| *id != step_id.as_str())
            .cloned()
            .collect();
        // Relink around the step first, then remove its row.
        self.write_order(&mut tx, walkthrough, &old, &new).await?;
        self.count(1);
        sqlx::query("DELETE FROM walkthrough_steps WHERE id = $1")
            .bind(step_id.as_str())
            .execute(traced(&mut *tx))
            .await?;
        self.count(1);
        super::commit(tx).await?;
        Ok(())
    }

    async fn publish_walkthrough(
        &self,
        org: &OrgId,
        id: &WalkthroughId,
    ) -> Result<WalkthroughVersion> {
        let mut tx = self.begin_write().await?;
        self.locked_order(&mut tx, org, id).await?;
        self.count(1);
        let steps: Vec<PublishedStep> = sqlx::query(ORDERED_STEPS_SQL)
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_all(traced(&mut *tx))
            .await?
            .iter()
            .map(|r| {
                Ok(PublishedStep {
                    id: text(r, "id")?,
                    title: text(r, "title")?,
                    section_title: opt_text(r, "section_title")?,
                    content: text(r, "content")?,
                })
            })
            .collect::<Result<_>>()?;
        if steps.is_empty() {
            return Err(StoreError::Rejected {
                field: "steps",
                message: "add at least one step before publishing".into(),
            });
        }
        let published = self
            .insert_published(&mut tx, org, id, None, &steps)
            .await?;
        super::commit(tx).await?;
        Ok(published)
    }

    async fn republish_version(
        &self,
        org: &OrgId,
        id: &WalkthroughId,
        from: i64,
    ) -> Result<WalkthroughVersion> {
        let mut tx = self.begin_write().await?;
        self.locked_order(&mut tx, org, id).await?;
        self.count(1);
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM walkthrough_versions WHERE org_id = $1 AND walkthrough_id = $2 AND version = $3"
        );
        let old = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(from)
            .fetch_optional(traced(&mut *tx))
            .await?
            .ok_or(StoreError::NotFound)?;
        let old = version(&old)?;
        let title = Some(old.title.as_str());
        let published = self
            .insert_published(&mut tx, org, id, title, &old.steps)
            .await?;
        super::commit(tx).await?;
        Ok(published)
    }

    async fn get_version(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        number: i64,
    ) -> Result<WalkthroughVersion> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM walkthrough_versions WHERE org_id = $1 AND walkthrough_id = $2 AND version = $3"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(walkthrough.as_str())
            .bind(number)
            .fetch_optional(self.run())
            .await?;
        version(&row.ok_or(StoreError::NotFound)?)
    }

    async fn assign_walkthrough(
        &self,
        org: &OrgId,
        server: &ServerId,
        walkthrough: &WalkthroughId,
        display_order: Option<i64>,
        is_enabled: Option<bool>,
    ) -> Result<Assignment> {
        let sql = format!(
            "INSERT INTO server_walkthroughs (server_id, walkthrough_id, org_id, display_order, is_enabled, assigned_at) \
             SELECT s.id, w.id, s.org_id, COALESCE($4, 0), COALESCE($5, TRUE), $6 \
             FROM mcp_servers s JOIN walkthroughs w ON w.org_id = s.org_id \
             WHERE s.org_id = $1 AND s.id = $2 AND w.id = $3 \
             ON CONFLICT (server_id, walkthrough_id) DO UPDATE SET \
             display_order = COALESCE($4, server_walkthroughs.display_order), \
             is_enabled = COALESCE($5, server_walkthroughs.is_enabled) \
             RETURNING {ASSIGNMENT_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(server.as_str())
            .bind(walkthrough.as_str())
            .bind(display_order)
            .bind(is_enabled)
            .bind(Timestamp::now().micros())
            .fetch_optional(self.run())
            .await?;
        assignment(&row.ok_or(StoreError::NotFound)?)
    }

    async fn unassign_walkthrough(
        &self,
        org: &OrgId,
        server: &ServerId,
        walkthrough: &WalkthroughId,
    ) -> Result<()> {
        let done = sqlx::query("DELETE FROM server_walkthroughs WHERE org_id = $1 AND server_id = $2 AND walkthrough_id = $3")
            .bind(org.as_str())
            .bind(server.as_str())
            .bind(walkthrough.as_str())
            .execute(self.run())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_assignments(&self, org: &OrgId, server: &ServerId) -> Result<Vec<Assignment>> {
        let sql = format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM server_walkthroughs WHERE org_id = $1 AND server_id = $2 \
             ORDER BY display_order, walkthrough_id"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(server.as_str())
            .fetch_all(self.run())
            .await?;
        rows(found, assignment)
    }

    async fn servers_of_walkthrough(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
    ) -> Result<Vec<ServerId>> {
        let found = sqlx::query(
            "SELECT server_id FROM server_walkthroughs WHERE org_id = $1 AND walkthrough_id = $2",
        )
        .bind(org.as_str())
        .bind(walkthrough.as_str())
        .fetch_all(self.run())
        .await?;
        found
            .iter()
            .map(|r| Ok(Id::from_trusted(text(r, "server_id")?)))
            .collect()
    }

    async fn available_walkthroughs(
        &self,
        org: &OrgId,
        server: &ServerId,
    ) -> Result<Vec<AvailableWalkthrough>> {
        let sql = format!("{AVAILABLE_SQL} ORDER BY sw.display_order, w.title, w.id");
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(server.as_str())
            .fetch_all(self.run())
            .await?;
        rows(found, available)
    }

    async fn available_walkthrough(
        &self,
        org: &OrgId,
        server: &ServerId,
        id: &WalkthroughId,
    ) -> Result<Option<AvailableWalkthrough>> {
        let sql = format!("{AVAILABLE_SQL} AND w.id = $3");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(server.as_str())
            .bind(id.as_str())
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(available).transpose()
    }

    async fn has_available_walkthroughs(&self, org: &OrgId, server: &ServerId) -> Result<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM server_walkthroughs sw JOIN walkthroughs w \
             ON w.id = sw.walkthrough_id AND w.org_id = sw.org_id \
             WHERE sw.org_id = $1 AND sw.server_id = $2 AND sw.is_enabled AND w.status = 'published' \
             AND w.published_version IS NOT NULL",
        )
        .bind(org.as_str())
        .bind(server.as_str())
        .fetch_one(self.run())
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    async fn get_progress(&self, key: &ProgressKey) -> Result<Option<Progress>> {
        let sql = format!(
            "SELECT {PROGRESS_COLUMNS} FROM walkthrough_progress WHERE org_id = $1 AND end_user_id = $2 \
             AND server_id = $3 AND walkthrough_id = $4"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key.org_id.as_str())
            .bind(key.end_user_id.as_str())
            .bind(key.server_id.as_str())
            .bind(key.walkthrough_id.as_str())
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(progress).transpose()
    }

    async fn list_progress(
        &self,
        org: &OrgId,
        end_user: &EndUserId,
        server: &ServerId,
    ) -> Result<Vec<Progress>> {
        let sql = format!(
            "SELECT {PROGRESS_COLUMNS} FROM walkthrough_progress WHERE org_id = $1 AND end_user_id = $2 \
             AND server_id = $3 ORDER BY last_activity_at DESC, id DESC"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(end_user.as_str())
            .bind(server.as_str())
            .fetch_all(self.run())
            .await?;
        rows(found, progress)
    }

    async fn list_progress_of_end_user(
        &self,
        org: &OrgId,
        end_user: &EndUserId,
        limit: u32,
    ) -> Result<Vec<Progress>> {
        let sql = format!(
            "SELECT {PROGRESS_COLUMNS} FROM walkthrough_progress WHERE org_id = $1 AND end_user_id = $2 \
             ORDER BY last_activity_at DESC, id DESC LIMIT $3"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(end_user.as_str())
            .bind(i64::from(limit))
            .fetch_all(self.run())
            .await?;
        rows(found, progress)
    }

    async fn start_progress(&self, key: &ProgressKey, state: &ProgressState) -> Result<Progress> {
        let write = ProgressWrite::start(key, state, false);
        match self.progress_writes.write(write).await?.row() {
            Some(created) => Ok(created),
            // Someone else started it first: theirs stands.
            None => self.get_progress(key).await?.ok_or(StoreError::NotFound),
        }
    }

    async fn restart_progress(&self, key: &ProgressKey, state: &ProgressState) -> Result<Progress> {
        let write = ProgressWrite::start(key, state, true);
        let written = self.progress_writes.write(write).await?;
        written.row().ok_or(StoreError::NotFound)
    }

    async fn update_progress(
        &self,
        org: &OrgId,
        id: &ProgressId,
        revision: i64,
        state: &ProgressState,
    ) -> Result<Option<Progress>> {
        if state.status == ProgressStatus::Completed {
            // The completing write announces itself (`walkthrough.completed`), in one
            // transaction with it; every other write stays one statement.
            return super::walkthrough_events::complete(self, org, id, revision, state).await;
        }
        super::walkthrough_events::write_progress(self, org, id, revision, state).await
    }

    async fn resume_progress(&self, key: &ProgressKey) -> Result<Option<Progress>> {
        let write = ProgressWrite::Resume {
            key: key.clone(),
            at: Timestamp::now(),
        };
        Ok(self.progress_writes.write(write).await?.row())
    }

    async fn delete_progress(&self, key: &ProgressKey) -> Result<bool> {
        let write = ProgressWrite::Delete { key: key.clone() };
        Ok(self.progress_writes.write(write).await?.deleted())
    }
}
