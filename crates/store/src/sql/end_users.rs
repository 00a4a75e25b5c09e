//! End users: created on first sight of a tracking id, or anonymous for a session.

use super::*;

pub(super) const END_USER_COLUMNS: &str = "id, org_id, tracking_id, email, email_verified, linked_end_user_id, first_seen_at, last_seen_at";

pub(super) fn end_user(row: &DbRow) -> Result<EndUser> {
    end_user_at(row, "")
}

fn end_user_summary(row: &DbRow) -> Result<EndUserSummary> {
    Ok(EndUserSummary {
        end_user: end_user(row)?,
        session_count: row.try_get("session_count")?,
        tool_call_count: row.try_get("tool_call_count")?,
    })
}

/// An end user from columns named with `prefix` (for joins).
pub(super) fn end_user_at(row: &DbRow, prefix: &str) -> Result<EndUser> {
    let column = |name: &str| format!("{prefix}{name}");
    Ok(EndUser {
        id: Id::from_trusted(text(row, &column("id"))?),
        org_id: Id::from_trusted(text(row, &column("org_id"))?),
        tracking_id: opt_text(row, &column("tracking_id"))?,
        email: parse_email(opt_text(row, &column("email"))?)?,
        email_verified: row.try_get(column("email_verified").as_str())?,
        linked_end_user_id: opt_text(row, &column("linked_end_user_id"))?.map(Id::from_trusted),
        first_seen_at: time(row, &column("first_seen_at"))?,
        last_seen_at: time(row, &column("last_seen_at"))?,
    })
}

#[async_trait]
impl EndUserStore for ThisStore {
    async fn end_user_for_tracking_id(
        &self,
        org: &OrgId,
        tracking_id: &str,
        now: Timestamp,
    ) -> Result<EndUser> {
        // One statement that creates or touches: concurrent first requests with the same
        // tracking id agree on one end user. `last_seen_at` only moves forward (requests
        // from several nodes may arrive out of order).
        let sql = format!(
            "INSERT INTO end_users (id, org_id, tracking_id, email_verified, first_seen_at, last_seen_at) \
             VALUES ($1, $2, $3, FALSE, $4, $4) \
             ON CONFLICT (org_id, tracking_id) DO UPDATE SET last_seen_at = CASE \
             WHEN excluded.last_seen_at > end_users.last_seen_at THEN excluded.last_seen_at \
             ELSE end_users.last_seen_at END \
             RETURNING {END_USER_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(EndUserId::generate().as_str())
            .bind(org.as_str())
            .bind(tracking_id)
            .bind(now.micros())
            .fetch_one(self.run())
            .await?;
        end_user(&row)
    }

    async fn create_anonymous_end_user(&self, org: &OrgId, now: Timestamp) -> Result<EndUser> {
        let sql = format!(
            "INSERT INTO end_users (id, org_id, email_verified, first_seen_at, last_seen_at) \
             VALUES ($1, $2, FALSE, $3, $3) RETURNING {END_USER_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(EndUserId::generate().as_str())
            .bind(org.as_str())
            .bind(now.micros())
            .fetch_one(self.run())
            .await?;
        end_user(&row)
    }

    async fn delete_forgotten_end_users(&self, idle_since: Timestamp) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM end_users WHERE email IS NULL AND linked_end_user_id IS NULL \
             AND last_seen_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM walkthrough_progress p WHERE p.end_user_id = end_users.id) \
             AND NOT EXISTS (SELECT 1 FROM tool_calls t WHERE t.end_user_id = end_users.id) \
             AND NOT EXISTS (SELECT 1 FROM support_requests r WHERE r.end_user_id = end_users.id) \
             AND NOT EXISTS (SELECT 1 FROM mcp_sessions s WHERE s.end_user_id = end_users.id) \
             AND NOT EXISTS (SELECT 1 FROM end_users l WHERE l.linked_end_user_id = end_users.id)",
        )
        .bind(idle_since.micros())
        .execute(self.run())
        .await?;
        Ok(done.rows_affected())
    }

    async fn get_end_user(&self, org: &OrgId, id: &EndUserId) -> Result<EndUser> {
        let sql = format!("SELECT {END_USER_COLUMNS} FROM end_users WHERE org_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.run())
            .await?;
        end_user(&row.ok_or(StoreError::NotFound)?)
    }

    async fn set_end_user_email(
        &self,
        org: &OrgId,
        id: &EndUserId,
        email: &Email,
        verified: bool,
    ) -> Result<EndUser> {
        // A verified email is never downgraded by an unverified one.
        let sql = format!(
            "UPDATE end_users SET email = CASE WHEN email_verified AND NOT $4 THEN email ELSE $3 END, \
             email_verified = (email_verified OR $4) \
             WHERE org_id = $1 AND id = $2 RETURNING {END_USER_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(email.as_str())
            .bind(verified)
            .fetch_optional(self.run())
            .await?;
        end_user(&row.ok_or(StoreError::NotFound)?)
    }

    async fn list_end_users(
        &self,
        org: &OrgId,
        filter: &EndUserFilter,
        page: &PageRequest,
    ) -> Result<Page<EndUserSummary>> {
        let found = end_user_listing("", org, filter, page)
            .build()
            .fetch_all(self.run())
            .await?;
        Ok(page_of(rows(found, end_user_summary)?, page.limit, |u| {
            Cursor {
                created_at: u.end_user.first_seen_at,
                id: u.end_user.id.to_string(),
            }
        }))
    }

    async fn explain_end_user_listing(
        &self,
        org: &OrgId,
        filter: &EndUserFilter,
        page: &PageRequest,
    ) -> Result<Vec<String>> {
        let found = end_user_listing(explain_prefix(), org, filter, page)
            .build()
            .fetch_all(self.run())
            .await?;
        plan_lines(&found)
    }
}

/// The listing's statement, one per filter shape: a filter that is not set is left out
/// rather than written `($2 IS NULL OR email = $2)`, which SQLite's planner cannot answer
/// from an index (it walked every person of the organization by time to find one email).
/// A search orders and pages by `+first_seen_at`, which no index serves, so that SQLite
/// (without statistics) reads the email or tracking-id index and sorts the few it finds
/// rather than walking the organization's people by time to spare the sort.
/// The page and its counts come in one statement, never one per person; the counts go by
/// the person's id alone (ids are platform-wide, and the people are this organization's),
/// so that each is counted in its `end_user_id` index without reading the rows.
fn end_user_listing(
    head: &str,
    org: &OrgId,
    filter: &EndUserFilter,
    page: &PageRequest,
) -> sqlx::QueryBuilder<Db> {
    let mut query = sqlx::QueryBuilder::<Db>::new(format!(
        "{head}SELECT {END_USER_COLUMNS}, \
         (SELECT COUNT(*) FROM mcp_sessions s WHERE s.end_user_id = end_users.id) \
          AS session_count, \
         (SELECT COUNT(*) FROM tool_calls c WHERE c.end_user_id = end_users.id) \
          AS tool_call_count \
         FROM end_users WHERE org_id = "
    ));
    query.push_bind(org.as_str());
    if let Some(email) = &filter.email {
        query.push(" AND email = ").push_bind(email.clone());
    }
    if let Some(tracking_id) = &filter.tracking_id {
        query
            .push(" AND tracking_id = ")
            .push_bind(tracking_id.clone());
    }
    let searched = filter.email.is_some() || filter.tracking_id.is_some();
    let first_seen = if searched {
        "+first_seen_at"
    } else {
        "first_seen_at"
    };
    if let Some(after) = &page.after {
        let at = after.created_at.micros();
        query.push(format!(" AND ({first_seen} < ")).push_bind(at);
        query.push(format!(" OR ({first_seen} = ")).push_bind(at);
        query
            .push(" AND id < ")
            .push_bind(after.id.clone())
            .push("))");
    }
    query.push(format!(" ORDER BY {first_seen} DESC, id DESC LIMIT "));
    query.push_bind(i64::from(page.limit) + 1);
    query
}
