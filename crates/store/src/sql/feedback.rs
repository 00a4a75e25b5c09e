//! Feedback sent through `send_feedback`.

use super::webhooks;
use super::*;
use crate::{FeedbackFilter, FeedbackStore};

const FEEDBACK_COLUMNS: &str =
    "id, org_id, server_id, end_user_id, session_id, rating, text, created_at";

const MICROS_PER_DAY: i64 = 86_400_000_000;

fn feedback(row: &DbRow) -> Result<Feedback> {
    let rating: i32 = row.try_get("rating")?;
    Ok(Feedback {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        server_id: Id::from_trusted(text(row, "server_id")?),
        end_user_id: opt_text(row, "end_user_id")?.map(Id::from_trusted),
        session_id: opt_text(row, "session_id")?.map(Id::from_trusted),
        rating: Rating::new(rating.into()).map_err(|_| corrupt("rating", &rating.to_string()))?,
        text: text(row, "text")?,
        created_at: time(row, "created_at")?,
    })
}

#[async_trait]
impl FeedbackStore for ThisStore {
    async fn create_feedback(&self, f: &NewFeedback, now: Timestamp) -> Result<Feedback> {
        let sql = format!(
            "INSERT INTO feedback ({FEEDBACK_COLUMNS}) \
             SELECT $1, org_id, id, $4, $5, $6, $7, $8 FROM mcp_servers \
             WHERE org_id = $2 AND id = $3 \
             AND ($4 IS NULL OR EXISTS (SELECT 1 FROM end_users WHERE org_id = $2 AND id = $4)) \
             RETURNING {FEEDBACK_COLUMNS}"
        );
        // The feedback and its webhook deliveries are written together (an outbox), as a
        // support request and its deliveries are.
        let mut tx = self.begin_write().await?;
        self.count(1);
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(FeedbackId::generate().as_str())
            .bind(f.org_id.as_str())
            .bind(f.server_id.as_str())
            .bind(f.end_user_id.as_ref().map(|id| id.as_str()))
            .bind(f.session_id.as_ref().map(|id| id.as_str()))
            .bind(i32::from(f.rating.get()))
            .bind(&f.text)
            .bind(now.micros())
            .fetch_optional(traced(&mut *tx))
            .await?;
        let created = feedback(&row.ok_or(StoreError::NotFound)?)?;
        let event = WebhookEvent::FeedbackCreated;
        webhooks::enqueue(self, &mut tx, &f.org_id, None, event, &created, now).await?;
        self.count(1);
        super::commit(tx).await?;
        Ok(created)
    }

    async fn list_feedback(
        &self,
        org: &OrgId,
        filter: &FeedbackFilter,
        page: &PageRequest,
    ) -> Result<Page<Feedback>> {
        let (before_time, before_id, limit) = page_bounds(page);
        let sql = format!(
            "SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE org_id = $1 \
             AND ($2 IS NULL OR server_id = $2) AND ($3 IS NULL OR end_user_id = $3) \
             AND (created_at < $4 OR (created_at = $4 AND id < $5) OR $5 = '') \
             ORDER BY created_at DESC, id DESC LIMIT $6"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(filter.server_id.as_ref().map(|id| id.as_str()))
            .bind(filter.end_user_id.as_ref().map(|id| id.as_str()))
            .bind(before_time)
            .bind(before_id)
            .bind(limit)
            .fetch_all(self.run())
            .await?;
        Ok(page_of(rows(found, feedback)?, page.limit, |f| Cursor {
            created_at: f.created_at,
            id: f.id.to_string(),
        }))
    }

    async fn feedback_per_day(
        &self,
        org: &OrgId,
        server: Option<&ServerId>,
        since: Timestamp,
    ) -> Result<Vec<FeedbackDay>> {
        // Whole days since the epoch: integer division in both dialects.
        let sql = format!(
            "SELECT created_at / {MICROS_PER_DAY} AS day, COUNT(*) AS count, \
             SUM(rating) AS rating_sum FROM feedback \
             WHERE org_id = $1 AND ($2 IS NULL OR server_id = $2) AND created_at >= $3 \
             GROUP BY created_at / {MICROS_PER_DAY} ORDER BY day"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(server.map(|id| id.as_str()))
            .bind(since.micros())
            .fetch_all(self.run())
            .await?;
        found
            .iter()
            .map(|row| {
                let day: i64 = row.try_get("day")?;
                let count: i64 = row.try_get("count")?;
                let sum: i64 = row.try_get("rating_sum")?;
                let date = Timestamp::from_micros(day * MICROS_PER_DAY).to_rfc3339();
                Ok(FeedbackDay {
                    day: date.chars().take(10).collect(),
                    count: count.max(0) as u64,
                    average_rating: sum as f64 / count.max(1) as f64,
                })
            })
            .collect()
    }
}
