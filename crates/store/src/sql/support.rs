//! Support requests.

use super::webhooks;
use super::*;

const SUPPORT_COLUMNS: &str = "id, org_id, server_id, end_user_id, email, title, description, \
     context, status, created_at, updated_at";

fn support_request(row: &DbRow) -> Result<SupportRequest> {
    let status = text(row, "status")?;
    let email = text(row, "email")?;
    Ok(SupportRequest {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        server_id: Id::from_trusted(text(row, "server_id")?),
        end_user_id: opt_text(row, "end_user_id")?.map(Id::from_trusted),
        email: Email::parse(&email).map_err(|_| corrupt("email", &email))?,
        title: text(row, "title")?,
        description: text(row, "description")?,
        context: opt_text(row, "context")?,
        status: SupportStatus::parse(&status).ok_or_else(|| corrupt("support status", &status))?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

#[async_trait]
impl SupportStore for ThisStore {
    async fn create_support_request(
        &self,
        r: &NewSupportRequest,
        now: Timestamp,
    ) -> Result<SupportRequest> {
        let sql = format!(
            "INSERT INTO support_requests ({SUPPORT_COLUMNS}) \
             SELECT $1, org_id, id, $4, $5, $6, $7, $8, 'open', $9, $9 FROM mcp_servers \
             WHERE org_id = $2 AND id = $3 \
             AND ($4 IS NULL OR EXISTS (SELECT 1 FROM end_users WHERE org_id = $2 AND id = $4)) \
             RETURNING {SUPPORT_COLUMNS}"
        );
        // The request and its webhook deliveries are written together (an outbox), so that
        // neither is kept without the other.
        let mut tx = self.begin_write().await?;
        self.count(1);
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(SupportRequestId::generate().as_str())
            .bind(r.org_id.as_str())
            .bind(r.server_id.as_str())
            .bind(r.end_user_id.as_ref().map(|id| id.as_str()))
            .bind(r.email.as_str())
            .bind(&r.title)
            .bind(&r.description)
            .bind(r.context.as_deref())
            .bind(now.micros())
            .fetch_optional(traced(&mut *tx))
            .await?;
        let created = support_request(&row.ok_or(StoreError::NotFound)?)?;
        let event = WebhookEvent::SupportRequestCreated;
        webhooks::enqueue(self, &mut tx, &r.org_id, None, event, &created, now).await?;
        self.count(1);
        super::commit(tx).await?;
        Ok(created)
    }

    async fn list_support_requests(
        &self,
        org: &OrgId,
        filter: &SupportRequestFilter,
        page: &PageRequest,
    ) -> Result<Page<SupportRequest>> {
        let (before_time, before_id, limit) = page_bounds(page);
        let sql = format!(
            "SELECT {SUPPORT_COLUMNS} FROM support_requests WHERE org_id = $1 \
             AND ($2 IS NULL OR server_id = $2) AND ($3 IS NULL OR status = $3) \
             AND ($7 IS NULL OR end_user_id = $7) \
             AND (created_at < $4 OR (created_at = $4 AND id < $5) OR $5 = '') \
             ORDER BY created_at DESC, id DESC LIMIT $6"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(filter.server_id.as_ref().map(|id| id.as_str()))
            .bind(filter.status.map(|s| s.as_str()))
            .bind(before_time)
            .bind(before_id)
            .bind(limit)
            .bind(filter.end_user_id.as_ref().map(|id| id.as_str()))
            .fetch_all(self.run())
            .await?;
        Ok(page_of(rows(found, support_request)?, page.limit, |r| {
            Cursor {
                created_at: r.created_at,
                id: r.id.to_string(),
            }
        }))
    }

    async fn get_support_request(
        &self,
        org: &OrgId,
        id: &SupportRequestId,
    ) -> Result<SupportRequest> {
        let sql =
            format!("SELECT {SUPPORT_COLUMNS} FROM support_requests WHERE org_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.run())
            .await?;
        support_request(&row.ok_or(StoreError::NotFound)?)
    }

    async fn update_support_request_status(
        &self,
        org: &OrgId,
        id: &SupportRequestId,
        status: SupportStatus,
        now: Timestamp,
    ) -> Result<SupportRequest> {
        let sql = format!(
            "UPDATE support_requests SET status = $3, updated_at = $4 \
             WHERE org_id = $1 AND id = $2 RETURNING {SUPPORT_COLUMNS}"
        );
        let mut tx = self.begin_write().await?;
        self.count(1);
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(status.as_str())
            .bind(now.micros())
            .fetch_optional(traced(&mut *tx))
            .await?;
        let updated = support_request(&row.ok_or(StoreError::NotFound)?)?;
        let event = WebhookEvent::SupportRequestUpdated;
        webhooks::enqueue(self, &mut tx, org, None, event, &updated, now).await?;
        self.count(1);
        super::commit(tx).await?;
        Ok(updated)
    }
}
