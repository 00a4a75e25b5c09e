//! A person's data: the erasure (the export reads it, `personal_export`).

use super::personal_export::containing;
use super::*;
use crate::{Erasure, ExportCursor, ExportPage, ExportedTable, PersonalDataStore};

/// What erased text is replaced with, and the address kept on a support request (its
/// column requires one).
const ERASED_TEXT: &str = "[erased]";
const ERASED_EMAIL: &str = "erased@erased.invalid";

/// The free-text columns that may quote a person's email (a tool call's arguments, a
/// support request's texts and messages (a follow-up's author is the person's email), a
/// task's exchanges, a webhook's payload, an audit detail);
/// an erasure replaces the email in them throughout the organization.
const TEXT_COLUMNS: &[(&str, &str)] = &[
    ("tool_calls", "arguments"),
    ("tool_calls", "result_summary"),
    ("support_requests", "title"),
    ("support_requests", "description"),
    ("support_requests", "context"),
    ("support_messages", "author"),
    ("support_messages", "body"),
    ("feedback", "text"),
    ("tasks", "input_requests"),
    ("tasks", "input_responses"),
    ("tasks", "outcome"),
    ("webhook_deliveries", "payload"),
    ("webhook_deliveries", "last_error"),
    ("audit_events", "detail"),
];

#[async_trait]
impl PersonalDataStore for ThisStore {
    async fn export_page(
        &self,
        person: &EndUser,
        table: ExportedTable,
        after: Option<&ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage> {
        super::personal_export::page(self, person, table, after, limit).await
    }

    // What an erasure does, in one transaction:
    // - deleted: the person's end-user row (email, tracking id), their sessions, their
    //   OAuth grants with every code and token of them, their login sessions (by end user
    //   or email), their upstream connections and connect flows (core revokes them at the
    //   upstream first), the sign-in codes counted against their address, and the link and
    //   tracking id of the anonymous end users linked to them (their personal URLs);
    // - kept anonymous: their tool calls, support requests, feedback, tasks and walkthrough
    //   progress move to one new anonymous end user (the tombstone, carrying no email, no
    //   tracking id, and the person's first and last seen times). One tombstone per
    //   person, not one per organization: funnels and reports count *distinct* end
    //   users, so one person's records must stay one end user's for every count to stay
    //   exact; and not the person's own id, so that nothing a caller kept (an export, a
    //   log) names the anonymous records;
    // - the email is replaced in every free-text column of the organization that quotes it
    //   (a support request keeps `erased@erased.invalid`, its column requires an
    //   address). Emails are stored lowercase; text quoting one in other case is not
    //   matched.
    async fn erase_end_user(&self, org: &OrgId, id: &EndUserId) -> Result<Erasure> {
        let mut tx = self.begin_write().await?;
        self.count(1);
        let found = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT email FROM end_users WHERE org_id = $1 AND id = $2{LOCK_ROW}"
        )))
        .bind(org.as_str())
        .bind(id.as_str())
        .fetch_optional(traced(&mut *tx))
        .await?
        .ok_or(StoreError::NotFound)?;
        let email = parse_email(opt_text(&found, "email")?)?;
        let tombstone = EndUserId::generate();
        let (o, p, t) = (org.as_str(), id.as_str(), tombstone.as_str());

        self.count(1);
        sqlx::query(
            "INSERT INTO end_users (id, org_id, email_verified, first_seen_at, last_seen_at) \
             SELECT $3, org_id, FALSE, first_seen_at, last_seen_at FROM end_users \
             WHERE org_id = $1 AND id = $2",
        )
        .bind(o)
        .bind(p)
        .bind(t)
        .execute(traced(&mut *tx))
        .await?;
        let mut moved = [0u64; 5];
        for (at, table) in [
            "walkthrough_progress",
            "tool_calls",
            "support_requests",
            "tasks",
            "feedback",
        ]
        .iter()
        .enumerate()
        {
            self.count(1);
            moved[at] = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET end_user_id = $3 WHERE org_id = $1 AND end_user_id = $2"
            )))
            .bind(o)
            .bind(p)
            .bind(t)
            .execute(traced(&mut *tx))
            .await?
            .rows_affected();
        }
        let mut erasure = Erasure {
            tombstone: Some(tombstone.clone()),
            progress_kept_anonymous: moved[0],
            tool_calls_kept_anonymous: moved[1],
            support_requests_kept_anonymous: moved[2],
            feedback_kept_anonymous: moved[4],
            ..Erasure::default()
        };

        let grants = "SELECT id FROM oauth_grants WHERE org_id = $1 AND end_user_id = $2";
        for table in ["oauth_tokens", "oauth_codes"] {
            self.count(1);
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE org_id = $1 AND grant_id IN ({grants})"
            )))
            .bind(o)
            .bind(p)
            .execute(traced(&mut *tx))
            .await?;
        }
        // Connections core did not revoke (an upstream gone meanwhile) and connect flows.
        for table in ["upstream_connections", "upstream_connect_flows"] {
            self.count(1);
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE org_id = $1 AND owner = $2"
            )))
            .bind(o)
            .bind(p)
            .execute(traced(&mut *tx))
            .await?;
        }
        let mut deleted = [0u64; 2];
        for (at, table) in ["oauth_grants", "mcp_sessions"].iter().enumerate() {
            self.count(1);
            deleted[at] = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE org_id = $1 AND end_user_id = $2"
            )))
            .bind(o)
            .bind(p)
            .execute(traced(&mut *tx))
            .await?
            .rows_affected();
        }
        (erasure.grants_deleted, erasure.sessions_deleted) = (deleted[0], deleted[1]);
        self.count(1);
        erasure.login_sessions_deleted = sqlx::query(
            "DELETE FROM oauth_login_sessions WHERE org_id = $1 AND (end_user_id = $2 OR email = $3)",
        )
        .bind(o)
        .bind(p)
        .bind(email.as_ref().map(|e| e.as_str()))
        .execute(traced(&mut *tx))
        .await?
        .rows_affected();
        // The personal URLs that led to them lead nowhere now: the anonymous end users
        // linked to them keep their (anonymous) records, without tracking id or link.
        self.count(1);
        sqlx::query(
            "UPDATE end_users SET tracking_id = NULL, linked_end_user_id = NULL, linked_at = NULL, \
             email = NULL, email_verified = FALSE WHERE org_id = $1 AND linked_end_user_id = $2",
        )
        .bind(o)
        .bind(p)
        .execute(traced(&mut *tx))
        .await?;
        if let Some(email) = &email {
            self.erase_email(&mut tx, org, id, email).await?;
        }
        self.count(1);
        sqlx::query("DELETE FROM end_users WHERE org_id = $1 AND id = $2")
            .bind(o)
            .bind(p)
            .execute(traced(&mut *tx))
            .await?;
        self.count(1);
        super::commit(tx).await?;
        Ok(erasure)
    }

    async fn find_text_anywhere(&self, needle: &str) -> Result<Vec<(String, String)>> {
        let catalog = match BACKEND {
            Backend::Sqlite => {
                // The database's tables and those of the recorded calls' own file.
                "SELECT m.name AS table_name, c.name AS column_name FROM \
                 (SELECT name, type FROM main.sqlite_master \
                  UNION ALL SELECT name, type FROM analytics.sqlite_master) m \
                 JOIN pragma_table_info(m.name) c WHERE m.type = 'table' \
                 AND m.name NOT LIKE 'sqlite%' ORDER BY m.name, c.cid"
            }
            Backend::Postgres => {
                "SELECT table_name::text AS table_name, column_name::text AS column_name \
                 FROM information_schema.columns WHERE table_schema = current_schema() \
                 ORDER BY table_name, ordinal_position"
            }
        };
        let columns = sqlx::query(catalog).fetch_all(self.run()).await?;
        let pattern = containing(&needle.to_lowercase());
        let mut found = Vec::new();
        for row in &columns {
            let (table, column) = (text(row, "table_name")?, text(row, "column_name")?);
            let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
            let sql = format!(
                "SELECT COUNT(*) FROM {} WHERE LOWER(CAST({} AS TEXT)) LIKE $1",
                quote(&table),
                quote(&column)
            );
            let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(&pattern)
                .fetch_one(self.run())
                .await?;
            if count > 0 {
                found.push((table, column));
            }
        }
        Ok(found)
    }
}

impl ThisStore {
    /// The email's part of an erasure: wherever the organization stores it outside the
    /// end user's row.
    async fn erase_email(
        &self,
        tx: &mut sqlx::Transaction<'static, Db>,
        org: &OrgId,
        id: &EndUserId,
        email: &Email,
    ) -> Result<()> {
        let (o, e) = (org.as_str(), email.as_str());
        self.count(3);
        sqlx::query("UPDATE support_requests SET email = $3 WHERE org_id = $1 AND email = $2")
            .bind(o)
            .bind(e)
            .bind(ERASED_EMAIL)
            .execute(traced(&mut **tx))
            .await?;
        // Other end users who gave the same address (unverified) lose it too.
        sqlx::query(
            "UPDATE end_users SET email = NULL, email_verified = FALSE \
             WHERE org_id = $1 AND email = $2 AND id <> $3",
        )
        .bind(o)
        .bind(e)
        .bind(id.as_str())
        .execute(traced(&mut **tx))
        .await?;
        sqlx::query("DELETE FROM oauth_code_sends WHERE org_id = $1 AND address_key = $2")
            .bind(o)
            .bind(email.mailbox_key())
            .execute(traced(&mut **tx))
            .await?;
        for (table, column) in TEXT_COLUMNS {
            self.count(1);
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET {column} = REPLACE({column}, $2, $3) \
                 WHERE org_id = $1 AND {column} LIKE $4"
            )))
            .bind(o)
            .bind(e)
            .bind(ERASED_TEXT)
            .bind(containing(e))
            .execute(traced(&mut **tx))
            .await?;
        }
        Ok(())
    }
}
