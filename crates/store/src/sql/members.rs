//! Dashboard members, sign-in codes and sessions.

use super::*;
use crate::MemberStore;

const COLUMNS: &str = "id, org_id, email, role, created_at, last_sign_in_at";

fn member_at(row: &DbRow, prefix: &str) -> Result<Member> {
    let column = |name: &str| format!("{prefix}{name}");
    let email = text(row, &column("email"))?;
    let role = text(row, &column("role"))?;
    Ok(Member {
        id: Id::from_trusted(text(row, &column("id"))?),
        org_id: Id::from_trusted(text(row, &column("org_id"))?),
        email: Email::parse(&email).map_err(|_| corrupt("member email", &email))?,
        role: Role::parse(&role).ok_or_else(|| corrupt("member role", &role))?,
        created_at: time(row, &column("created_at"))?,
        last_sign_in_at: row
            .try_get::<Option<i64>, _>(column("last_sign_in_at").as_str())?
            .map(Timestamp::from_micros),
    })
}

fn member(row: &DbRow) -> Result<Member> {
    member_at(row, "")
}

const CODE_COLUMNS: &str =
    "code_hash, failed_attempts, created_at, expires_at, sends, first_sent_at";

fn sign_in_code(row: &DbRow, email: &Email) -> Result<MemberSignInCode> {
    Ok(MemberSignInCode {
        email: email.clone(),
        code_hash: text(row, "code_hash")?,
        failed_attempts: row.try_get::<i64, _>("failed_attempts")?,
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
        sends: row.try_get::<i64, _>("sends")?,
        first_sent_at: time(row, "first_sent_at")?,
    })
}

/// The member, with the organization's row locked (PostgreSQL; SQLite's write
/// transaction is exclusive already), so that owner counts cannot race.
async fn locked_member(
    tx: &mut sqlx::Transaction<'static, Db>,
    org: &OrgId,
    id: &MemberId,
) -> Result<Member> {
    super::caps::lock_organization(tx, org).await?;
    let sql = format!("SELECT {COLUMNS} FROM members WHERE org_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(id.as_str())
        .fetch_optional(traced(&mut **tx))
        .await?;
    member(&row.ok_or(StoreError::NotFound)?)
}

/// Refuses a change that takes away the organization's last owner.
async fn keep_an_owner(tx: &mut sqlx::Transaction<'static, Db>, org: &OrgId) -> Result<()> {
    let row = sqlx::query("SELECT COUNT(*) AS owners FROM members WHERE org_id = $1 AND role = $2")
        .bind(org.as_str())
        .bind(Role::Owner.as_str())
        .fetch_one(traced(&mut **tx))
        .await?;
    if row.try_get::<i64, _>("owners")? <= 1 {
        return Err(StoreError::Conflict(
            "An organization keeps at least one owner: make someone else owner first.".into(),
        ));
    }
    Ok(())
}

#[async_trait]
impl MemberStore for ThisStore {
    async fn create_member(&self, org: &OrgId, email: &Email, role: Role) -> Result<Member> {
        let member = Member {
            id: Id::generate(),
            org_id: org.clone(),
            email: email.clone(),
            role,
            created_at: Timestamp::now(),
            last_sign_in_at: None,
        };
        let mut tx = self.begin_adding(org, OrgCap::Members).await?;
        sqlx::query(
            "INSERT INTO members (id, org_id, email, role, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(member.id.as_str())
        .bind(org.as_str())
        .bind(email.as_str())
        .bind(role.as_str())
        .bind(member.created_at.micros())
        .execute(traced(&mut *tx))
        .await
        .map_err(|e| unique_conflict(e, &["email"]))?;
        self.finish_adding(tx).await?;
        Ok(member)
    }

    async fn get_member(&self, org: &OrgId, id: &MemberId) -> Result<Member> {
        let sql = format!("SELECT {COLUMNS} FROM members WHERE org_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.run())
            .await?;
        member(&row.ok_or(StoreError::NotFound)?)
    }

    async fn list_members(&self, org: &OrgId) -> Result<Vec<Member>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM members WHERE org_id = $1 ORDER BY created_at, id \
             LIMIT {}",
            Limits::MEMBERS
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .fetch_all(self.run())
            .await?;
        rows.iter().map(member).collect()
    }

    async fn set_member_role(&self, org: &OrgId, id: &MemberId, role: Role) -> Result<Member> {
        let mut tx = self.begin_write().await?;
        self.count(3);
        let target = locked_member(&mut tx, org, id).await?;
        if target.role == Role::Owner && role != Role::Owner {
            keep_an_owner(&mut tx, org).await?;
        }
        let sql = format!(
            "UPDATE members SET role = $3 WHERE org_id = $1 AND id = $2 RETURNING {COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(role.as_str())
            .fetch_one(traced(&mut *tx))
            .await?;
        let updated = member(&row)?;
        super::commit(tx).await?;
        Ok(updated)
    }

    async fn delete_member(&self, org: &OrgId, id: &MemberId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.count(3);
        let target = locked_member(&mut tx, org, id).await?;
        if target.role == Role::Owner {
            keep_an_owner(&mut tx, org).await?;
        }
        sqlx::query("DELETE FROM members WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(id.as_str())
            .execute(traced(&mut *tx))
            .await?;
        super::commit(tx).await?;
        Ok(())
    }

    async fn memberships_of_email(&self, email: &Email) -> Result<Vec<Membership>> {
        let rows = sqlx::query(
            "SELECT m.id, m.org_id, m.email, m.role, m.created_at, m.last_sign_in_at, \
             o.name AS org_name FROM members m JOIN organizations o ON o.id = m.org_id \
             WHERE m.email = $1 ORDER BY m.created_at, m.id LIMIT 100",
        )
        .bind(email.as_str())
        .fetch_all(self.run())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Membership {
                    member: member(row)?,
                    org_name: text(row, "org_name")?,
                })
            })
            .collect()
    }

    async fn record_invitation_send(
        &self,
        org: &OrgId,
        address_key: &str,
        now: Timestamp,
        counts_until: Timestamp,
        cap: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        self.count(3);
        super::caps::lock_organization(&mut tx, org).await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS counted FROM member_invitation_sends \
             WHERE org_id = $1 AND address_key = $2 AND counts_until > $3",
        )
        .bind(org.as_str())
        .bind(address_key)
        .bind(now.micros())
        .fetch_one(traced(&mut *tx))
        .await?;
        if row.try_get::<i64, _>("counted")? >= cap {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO member_invitation_sends (org_id, address_key, sent_at, counts_until) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(org.as_str())
        .bind(address_key)
        .bind(now.micros())
        .bind(counts_until.micros())
        .execute(traced(&mut *tx))
        .await?;
        super::commit(tx).await?;
        Ok(true)
    }

    async fn put_sign_in_code(
        &self,
        code: &MemberSignInCode,
        replacing: Option<Timestamp>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO member_sign_in_codes \
             (email, code_hash, failed_attempts, created_at, expires_at, sends, first_sent_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (email) DO UPDATE SET code_hash = excluded.code_hash, \
             failed_attempts = excluded.failed_attempts, created_at = excluded.created_at, \
             expires_at = excluded.expires_at, sends = excluded.sends, \
             first_sent_at = excluded.first_sent_at \
             WHERE member_sign_in_codes.created_at = $8",
        )
        .bind(code.email.as_str())
        .bind(&code.code_hash)
        .bind(code.failed_attempts)
        .bind(code.created_at.micros())
        .bind(code.expires_at.micros())
        .bind(code.sends)
        .bind(code.first_sent_at.micros())
        .bind(replacing.map(Timestamp::micros))
        .execute(self.run())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn get_sign_in_code(&self, email: &Email) -> Result<Option<MemberSignInCode>> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM member_sign_in_codes WHERE email = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(email.as_str())
            .fetch_optional(self.run())
            .await?;
        row.map(|row| sign_in_code(&row, email)).transpose()
    }

    async fn claim_sign_in_guess(
        &self,
        email: &Email,
        max_guesses: i64,
        now: Timestamp,
    ) -> Result<Option<MemberSignInCode>> {
        let sql = format!(
            "UPDATE member_sign_in_codes SET failed_attempts = failed_attempts + 1 \
             WHERE email = $1 AND failed_attempts < $2 AND expires_at > $3 \
             RETURNING {CODE_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(email.as_str())
            .bind(max_guesses)
            .bind(now.micros())
            .fetch_optional(self.run())
            .await?;
        row.map(|row| sign_in_code(&row, email)).transpose()
    }

    async fn take_sign_in_code(&self, email: &Email, code_hash: &str) -> Result<bool> {
        let deleted =
            sqlx::query("DELETE FROM member_sign_in_codes WHERE email = $1 AND code_hash = $2")
                .bind(email.as_str())
                .bind(code_hash)
                .execute(self.run())
                .await?;
        Ok(deleted.rows_affected() == 1)
    }

    async fn create_dashboard_session(&self, s: &DashboardSession) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.count(2);
        sqlx::query(
            "INSERT INTO dashboard_sessions \
             (token_hash, member_id, org_id, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.token_hash)
        .bind(s.member_id.as_str())
        .bind(s.org_id.as_str())
        .bind(s.created_at.micros())
        .bind(s.last_seen_at.micros())
        .bind(s.expires_at.micros())
        .execute(traced(&mut *tx))
        .await?;
        sqlx::query("UPDATE members SET last_sign_in_at = $1 WHERE id = $2 AND org_id = $3")
            .bind(s.created_at.micros())
            .bind(s.member_id.as_str())
            .bind(s.org_id.as_str())
            .execute(traced(&mut *tx))
            .await?;
        super::commit(tx).await?;
        Ok(())
    }

    async fn find_dashboard_session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<(DashboardSession, Member)>> {
        let row = sqlx::query(
            "SELECT s.token_hash, s.created_at AS s_created_at, s.last_seen_at, s.expires_at, \
             m.id AS m_id, m.org_id AS m_org_id, m.email AS m_email, m.role AS m_role, \
             m.created_at AS m_created_at, m.last_sign_in_at AS m_last_sign_in_at \
             FROM dashboard_sessions s JOIN members m ON m.id = s.member_id \
             AND m.org_id = s.org_id WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now.micros())
        .fetch_optional(self.run())
        .await?;
        row.map(|row| {
            let member = member_at(&row, "m_")?;
            let session = DashboardSession {
                token_hash: text(&row, "token_hash")?,
                member_id: member.id.clone(),
                org_id: member.org_id.clone(),
                created_at: time(&row, "s_created_at")?,
                last_seen_at: time(&row, "last_seen_at")?,
                expires_at: time(&row, "expires_at")?,
            };
            Ok((session, member))
        })
        .transpose()
    }

    async fn touch_dashboard_session(&self, token_hash: &str, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE dashboard_sessions SET last_seen_at = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(now.micros())
            .execute(self.run())
            .await?;
        Ok(())
    }

    async fn switch_dashboard_session(&self, token_hash: &str, to: &Member) -> Result<()> {
        sqlx::query(
            "UPDATE dashboard_sessions SET member_id = $2, org_id = $3 WHERE token_hash = $1",
        )
        .bind(token_hash)
        .bind(to.id.as_str())
        .bind(to.org_id.as_str())
        .execute(self.run())
        .await?;
        Ok(())
    }

    async fn delete_dashboard_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM dashboard_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.run())
            .await?;
        Ok(())
    }

    async fn keep_shown_once(
        &self,
        org: &OrgId,
        token_hash: &str,
        sealed: &str,
        expires_at: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO dashboard_shown_once (token_hash, org_id, sealed, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (token_hash) DO UPDATE SET \
             org_id = excluded.org_id, sealed = excluded.sealed, expires_at = excluded.expires_at",
        )
        .bind(token_hash)
        .bind(org.as_str())
        .bind(sealed)
        .bind(expires_at.micros())
        .execute(self.run())
        .await?;
        Ok(())
    }

    async fn take_shown_once(
        &self,
        org: &OrgId,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<String>> {
        // Deleted whether expired or not; returned only when still fresh.
        let taken = sqlx::query(
            "DELETE FROM dashboard_shown_once WHERE token_hash = $1 AND org_id = $2 \
             RETURNING sealed, expires_at",
        )
        .bind(token_hash)
        .bind(org.as_str())
        .fetch_optional(self.run())
        .await?;
        let Some(row) = taken else {
            return Ok(None);
        };
        let expires_at: i64 = row.try_get("expires_at")?;
        if expires_at <= now.micros() {
            return Ok(None);
        }
        Ok(Some(text(&row, "sealed")?))
    }

    async fn delete_expired_dashboard_state(&self, now: Timestamp) -> Result<u64> {
        let shown = sqlx::query("DELETE FROM dashboard_shown_once WHERE expires_at <= $1")
            .bind(now.micros())
            .execute(self.run())
            .await?;
        let sessions = sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= $1")
            .bind(now.micros())
            .execute(self.run())
            .await?;
        let codes = sqlx::query("DELETE FROM member_sign_in_codes WHERE expires_at <= $1")
            .bind(now.micros())
            .execute(self.run())
            .await?;
        let invitations =
            sqlx::query("DELETE FROM member_invitation_sends WHERE counts_until <= $1")
                .bind(now.micros())
                .execute(self.run())
                .await?;
        Ok(shown.rows_affected()
            + sessions.rows_affected()
            + codes.rows_affected()
            + invitations.rows_affected())
    }
}
