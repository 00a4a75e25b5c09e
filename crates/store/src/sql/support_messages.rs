//! Replies, internal notes and follow-ups on support requests.

use super::*;
use crate::support_messages::{MAX_SUPPORT_MESSAGES, NewSupportMessage, SupportMessageStore};

const COLUMNS: &str = "id, request_id, kind, author, body, created_at";

fn support_message(row: &DbRow) -> Result<SupportMessage> {
    let kind = text(row, "kind")?;
    Ok(SupportMessage {
        id: Id::from_trusted(text(row, "id")?),
        support_request_id: Id::from_trusted(text(row, "request_id")?),
        kind: SupportMessageKind::parse(&kind)
            .ok_or_else(|| corrupt("support message kind", &kind))?,
        author: text(row, "author")?,
        body: text(row, "body")?,
        created_at: time(row, "created_at")?,
    })
}

#[async_trait]
impl SupportMessageStore for ThisStore {
    async fn add_support_message(
        &self,
        org: &OrgId,
        message: &NewSupportMessage<'_>,
        now: Timestamp,
    ) -> Result<SupportMessage> {
        let id = SupportMessageId::generate();
        // Written only on the organization's own request, and below the cap.
        let done = sqlx::query(
            "INSERT INTO support_messages (id, org_id, request_id, kind, author, body, created_at) \
             SELECT $1, org_id, id, $4, $5, $6, $7 FROM support_requests \
             WHERE org_id = $2 AND id = $3 \
             AND (SELECT COUNT(*) FROM support_messages WHERE org_id = $2 AND request_id = $3) < $8",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(message.request.as_str())
        .bind(message.kind.as_str())
        .bind(message.author)
        .bind(message.body)
        .bind(now.micros())
        .bind(MAX_SUPPORT_MESSAGES)
        .execute(self.run())
        .await?;
        if done.rows_affected() == 0 {
            self.get_support_request(org, message.request).await?;
            return Err(StoreError::Conflict(format!(
                "a support request holds at most {MAX_SUPPORT_MESSAGES} messages"
            )));
        }
        Ok(SupportMessage {
            id,
            support_request_id: message.request.clone(),
            kind: message.kind,
            author: message.author.to_owned(),
            body: message.body.to_owned(),
            created_at: now,
        })
    }

    async fn list_support_messages(
        &self,
        org: &OrgId,
        request: &SupportRequestId,
        kinds: &[SupportMessageKind],
    ) -> Result<Vec<SupportMessage>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM support_messages WHERE org_id = $1 AND request_id = $2 \
             ORDER BY created_at, id LIMIT $3"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(request.as_str())
            .bind(MAX_SUPPORT_MESSAGES)
            .fetch_all(self.run())
            .await?;
        let messages = rows(found, support_message)?;
        Ok(messages
            .into_iter()
            .filter(|m| kinds.contains(&m.kind))
            .collect())
    }
}
