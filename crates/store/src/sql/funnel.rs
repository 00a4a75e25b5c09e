//! A walkthrough's funnel, counted in one statement: the records that started, the step
//! ids each names (completed ones from its JSON list, and its current one) grouped by step,
//! the totals, and the one or two middle completion times (by rank, so that the median is
//! the same on both backends and exact).

use super::walkthrough_rows::{PROGRESS_COLUMNS, progress};
use super::*;
use crate::{FunnelCounts, FunnelStore, StepCount, StuckAt, StuckPerson};

/// The step ids of the JSON list `p.completed_step_ids`, each as `s.value`.
const COMPLETED_STEPS: &str = match BACKEND {
    Backend::Sqlite => "json_each(p.completed_step_ids) AS s",
    Backend::Postgres => {
        "LATERAL jsonb_array_elements_text(CAST(p.completed_step_ids AS jsonb)) AS s(value)"
    }
};

/// Rows of three kinds: `step` (a step id, reached, completed), `totals` (started,
/// completed) and `middle` (a completion time in microseconds, its place in order).
fn funnel_sql() -> String {
    format!(
        "WITH p AS (\
           SELECT end_user_id, current_step_id, completed_step_ids, status, \
             CASE WHEN completed_at IS NULL THEN NULL WHEN completed_at > started_at \
               THEN completed_at - started_at ELSE 0 END AS took \
           FROM walkthrough_progress \
           WHERE org_id = $1 AND walkthrough_id = $2 AND ($3 IS NULL OR server_id = $3) \
             AND status <> 'not_started'), \
         marks AS (\
           SELECT p.end_user_id, s.value AS step_id, 1 AS done FROM p CROSS JOIN {COMPLETED_STEPS} \
           UNION ALL \
           SELECT end_user_id, current_step_id, 0 FROM p WHERE current_step_id IS NOT NULL), \
         ranked AS (\
           SELECT took, ROW_NUMBER() OVER (ORDER BY took) AS place, COUNT(*) OVER () AS n \
           FROM p WHERE status = 'completed' AND took IS NOT NULL) \
         SELECT 'step' AS kind, step_id, COUNT(DISTINCT end_user_id) AS a, \
           COUNT(DISTINCT CASE WHEN done = 1 THEN end_user_id END) AS b \
         FROM marks GROUP BY step_id \
         UNION ALL \
         SELECT 'totals', NULL, COUNT(DISTINCT end_user_id), \
           COUNT(DISTINCT CASE WHEN status = 'completed' THEN end_user_id END) FROM p \
         UNION ALL \
         SELECT 'middle', NULL, took, place FROM ranked WHERE place IN ((n + 1) / 2, n / 2 + 1)"
    )
}

#[async_trait]
impl FunnelStore for ThisStore {
    async fn walkthrough_funnel(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        server: Option<&ServerId>,
    ) -> Result<FunnelCounts> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(funnel_sql()))
            .bind(org.as_str())
            .bind(walkthrough.as_str())
            .bind(server.map(|s| s.as_str()))
            .fetch_all(self.run())
            .await?;
        let mut counts = FunnelCounts::default();
        let mut middle = Vec::new();
        for row in &rows {
            let (a, b) = (row.try_get::<i64, _>("a")?, row.try_get::<i64, _>("b")?);
            match text(row, "kind")?.as_str() {
                "step" => counts.steps.push(StepCount {
                    step_id: text(row, "step_id")?,
                    reached: count(a)?,
                    completed: count(b)?,
                }),
                "totals" => (counts.started, counts.completed) = (count(a)?, count(b)?),
                _ => middle.push((b, a)),
            }
        }
        middle.sort_unstable();
        counts.middle_durations = middle.into_iter().map(|(_, took)| took).collect();
        Ok(counts)
    }

    async fn stuck_at_step(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        step: &StuckAt<'_>,
        limit: u32,
    ) -> Result<(Vec<StuckPerson>, u64)> {
        let sql = format!(
            "SELECT s.*, e.email AS person_email, e.tracking_id AS person_tracking_id FROM (\
               SELECT {PROGRESS_COLUMNS}, COUNT(*) OVER () AS stuck FROM walkthrough_progress \
               WHERE org_id = $1 AND walkthrough_id = $2 AND current_step_id = $3 \
                 AND status = 'in_progress' AND last_activity_at < $4 \
                 AND ($5 IS NULL OR server_id = $5) \
               ORDER BY last_activity_at, id LIMIT $6) AS s \
             LEFT JOIN end_users e ON e.id = s.end_user_id AND e.org_id = s.org_id \
             ORDER BY s.last_activity_at, s.id"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(walkthrough.as_str())
            .bind(step.step_id)
            .bind(step.inactive_since.micros())
            .bind(step.server.map(|s| s.as_str()))
            .bind(i64::from(limit))
            .fetch_all(self.run())
            .await?;
        let stuck = match found.first() {
            Some(row) => count(row.try_get::<i64, _>("stuck")?)?,
            None => 0,
        };
        Ok((rows(found, stuck_person)?, stuck))
    }
}

fn stuck_person(row: &DbRow) -> Result<StuckPerson> {
    Ok(StuckPerson {
        progress: progress(row)?,
        email: row.try_get("person_email")?,
        tracking_id: row.try_get("person_tracking_id")?,
    })
}

fn count(value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("a negative count: {value}")))
}
