//! Bulk loads of end users and support requests: one multi-row INSERT per chunk.

use super::*;
use crate::BulkStore;

/// Rows per statement: 11 parameters a row stays under both backends' limits.
const ROWS_PER_STATEMENT: usize = 500;

#[async_trait]
impl BulkStore for ThisStore {
    async fn insert_end_users(&self, end_users: &[EndUser]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for chunk in end_users.chunks(ROWS_PER_STATEMENT) {
            self.count(1);
            let mut insert = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO end_users (id, org_id, tracking_id, email, email_verified, \
                 linked_end_user_id, first_seen_at, last_seen_at) ",
            );
            insert.push_values(chunk, |mut row, person| {
                row.push_bind(person.id.as_str())
                    .push_bind(person.org_id.as_str())
                    .push_bind(person.tracking_id.as_deref())
                    .push_bind(person.email.as_ref().map(|e| e.as_str()))
                    .push_bind(person.email_verified)
                    .push_bind(person.linked_end_user_id.as_ref().map(|id| id.as_str()))
                    .push_bind(person.first_seen_at.micros())
                    .push_bind(person.last_seen_at.micros());
            });
            insert.build().execute(&mut *tx).await?;
        }
        self.count(1);
        super::commit(tx).await?;
        Ok(())
    }

    async fn insert_support_requests(&self, requests: &[SupportRequest]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for chunk in requests.chunks(ROWS_PER_STATEMENT) {
            self.count(1);
            let mut insert = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO support_requests (id, org_id, server_id, end_user_id, email, \
                 title, description, context, status, created_at, updated_at) ",
            );
            insert.push_values(chunk, |mut row, request| {
                row.push_bind(request.id.as_str())
                    .push_bind(request.org_id.as_str())
                    .push_bind(request.server_id.as_str())
                    .push_bind(request.end_user_id.as_ref().map(|id| id.as_str()))
                    .push_bind(request.email.as_str())
                    .push_bind(&request.title)
                    .push_bind(&request.description)
                    .push_bind(request.context.as_deref())
                    .push_bind(request.status.as_str())
                    .push_bind(request.created_at.micros())
                    .push_bind(request.updated_at.micros());
            });
            insert.build().execute(&mut *tx).await?;
        }
        self.count(1);
        super::commit(tx).await?;
        Ok(())
    }
}
