//! The authorization server's records: clients, login sessions, grants, codes and
//! tokens. Every secret arrives here already hashed.

use super::auth_rows::*;
use super::end_users::{END_USER_COLUMNS, end_user};
use super::walkthrough_rows::{PROGRESS_COLUMNS, progress};
use super::*;

use crate::auth::AuthStore;

#[async_trait]
impl AuthStore for ThisStore {
    async fn create_oauth_client(&self, c: &NewOAuthClient) -> Result<OAuthClient> {
        let sql = format!(
            "INSERT INTO oauth_clients ({CLIENT_COLUMNS}) \
             SELECT $1, org_id, id, $4, $5, $6, $7, $8, $9, $10, $11 FROM mcp_servers WHERE org_id = $2 AND id = $3 \
             RETURNING {CLIENT_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(OAuthClientId::generate().as_str())
            .bind(c.org_id.as_str())
            .bind(c.server_id.as_str())
            .bind(c.client_name.as_deref())
            .bind(c.client_uri.as_deref())
            .bind(to_json(&c.redirect_uris))
            .bind(to_json(&c.grant_types))
            .bind(c.token_endpoint_auth_method.as_str())
            .bind(c.scope.as_deref())
            .bind(c.secret_hash.as_deref())
            .bind(Timestamp::now().micros())
            .fetch_optional(self.run())
            .await?;
        oauth_client(&row.ok_or(StoreError::NotFound)?)
    }

    async fn get_oauth_client(
        &self,
        org: &OrgId,
        server: &ServerId,
        client_id: &str,
    ) -> Result<Option<OAuthClient>> {
        let sql = format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE org_id = $1 AND server_id = $2 AND id = $3"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(server.as_str())
            .bind(client_id)
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(oauth_client).transpose()
    }

    async fn delete_unused_clients(&self, registered_before: Timestamp) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM oauth_clients WHERE created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM oauth_grants g WHERE g.client_id = oauth_clients.id) \
             AND NOT EXISTS (SELECT 1 FROM oauth_login_sessions l WHERE l.client_id = oauth_clients.id)",
        )
        .bind(registered_before.micros())
        .execute(self.run())
        .await?;
        Ok(done.rows_affected())
    }

    async fn create_login_session(&self, s: &NewLoginSession) -> Result<LoginSession> {
        let sql = format!(
            "INSERT INTO oauth_login_sessions ({LOGIN_COLUMNS}) \
             SELECT $1, org_id, id, $4, $5, $6, $7, $8, $9, $10, $11, 'email', NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, '[]', $12, $13, 1 \
             FROM mcp_servers WHERE org_id = $2 AND id = $3 RETURNING {LOGIN_COLUMNS}"
        );
        let r = &s.request;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(LoginSessionId::generate().as_str())
            .bind(s.org_id.as_str())
            .bind(s.server_id.as_str())
            .bind(&s.secret_hash)
            .bind(&r.client_id)
            .bind(s.client_name.as_deref())
            .bind(&r.redirect_uri)
            .bind(r.state.as_deref())
            .bind(&r.code_challenge)
            .bind(&r.scope)
            .bind(&r.resource)
            .bind(Timestamp::now().micros())
            .bind(s.expires_at.micros())
            .fetch_optional(self.run())
            .await?;
        login_session(&row.ok_or(StoreError::NotFound)?)
    }

    async fn get_login_session(
        &self,
        org: &OrgId,
        server: &ServerId,
        id: &LoginSessionId,
    ) -> Result<Option<LoginSession>> {
        let sql = format!(
            "SELECT {LOGIN_COLUMNS} FROM oauth_login_sessions WHERE org_id = $1 AND server_id = $2 AND id = $3"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(server.as_str())
            .bind(id.as_str())
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(login_session).transpose()
    }

    async fn update_login_session(&self, s: &LoginSession) -> Result<Option<LoginSession>> {
        // The end user, when set, must be of the session's organization.
        let sql = format!(
            "UPDATE oauth_login_sessions SET stage = $4, email = $5, code_hash = $6, code_expires_at = $7, \
             code_attempts = $8, codes_sent = $9, end_user_id = $10, upstream_salt = $11, sign_in_provider = $12, \
             sign_in_groups = $13, revision = revision + 1 \
             WHERE org_id = $1 AND id = $2 AND revision = $3 \
             AND ($10 IS NULL OR EXISTS (SELECT 1 FROM end_users WHERE org_id = $1 AND id = $10)) \
             RETURNING {LOGIN_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(s.org_id.as_str())
            .bind(s.id.as_str())
            .bind(s.revision)
            .bind(s.stage.as_str())
            .bind(s.email.as_ref().map(|e| e.as_str()))
            .bind(s.code_hash.as_deref())
            .bind(s.code_expires_at.map(Timestamp::micros))
            .bind(s.code_attempts)
            .bind(s.codes_sent)
            .bind(s.end_user_id.as_ref().map(|id| id.as_str()))
            .bind(s.upstream_salt.as_deref())
            .bind(s.sign_in.identity_provider.as_deref())
            .bind(to_json(&s.sign_in.groups))
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(login_session).transpose()
    }

    async fn record_code_send(&self, send: &CodeSend, limits: CodeSendLimits) -> Result<CodeSends> {
        let since = send.at.plus_seconds(-3600).micros();
        let mut tx = self.begin_write().await?;
        self.count(2);
        let row = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM oauth_code_sends WHERE org_id = $1 AND address_key = $2 AND sent_at > $4) AS to_mailbox, \
             (SELECT COUNT(*) FROM oauth_code_sends WHERE org_id = $1 AND client_ip = $3 AND sent_at > $4) AS from_ip, \
             (SELECT COUNT(*) FROM oauth_code_sends WHERE org_id = $1 AND sent_at > $4) AS in_org",
        )
        .bind(send.org_id.as_str())
        .bind(&send.address_key)
        .bind(send.client_ip.as_deref())
        .bind(since)
        .fetch_one(traced(&mut *tx))
        .await?;
        let mut sends = CodeSends {
            to_mailbox: row.try_get("to_mailbox")?,
            from_client_ip: row.try_get("from_ip")?,
            in_organization: row.try_get("in_org")?,
            recorded: false,
        };
        if sends.limit_reached(limits).is_some() {
            return Ok(sends);
        }
        sqlx::query(
            "INSERT INTO oauth_code_sends (org_id, address_key, client_ip, sent_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(send.org_id.as_str())
        .bind(&send.address_key)
        .bind(send.client_ip.as_deref())
        .bind(send.at.micros())
        .execute(traced(&mut *tx))
        .await?;
        super::commit(tx).await?;
        sends.to_mailbox += 1;
        sends.from_client_ip += i64::from(send.client_ip.is_some());
        sends.in_organization += 1;
        sends.recorded = true;
        Ok(sends)
    }

    async fn create_grant_with_code(
        &self,
        g: &NewGrant,
        code: &NewAuthorizationCode,
        now: Timestamp,
    ) -> Result<Grant> {
        let mut tx = self.begin_write().await?;
        self.count(2);
        // The server and the person must both belong to the grant's organization.
        let row = sqlx::query(
            "INSERT INTO oauth_grants (id, org_id, server_id, client_id, end_user_id, scope, resource, \
             sign_in_provider, sign_in_groups, created_at) \
             SELECT $1, org_id, id, $4, $5, $6, $7, $9, $10, $8 FROM mcp_servers WHERE org_id = $2 AND id = $3 \
             AND EXISTS (SELECT 1 FROM end_users WHERE org_id = $2 AND id = $5) \
             RETURNING id, org_id, server_id, client_id, end_user_id, scope, resource, sign_in_provider, \
             sign_in_groups, created_at, revoked_at",
        )
        .bind(GrantId::generate().as_str())
        .bind(g.org_id.as_str())
        .bind(g.server_id.as_str())
        .bind(&g.client_id)
        .bind(g.end_user_id.as_str())
        .bind(&g.scope)
        .bind(&g.resource)
        .bind(now.micros())
        .bind(g.sign_in.identity_provider.as_deref())
        .bind(to_json(&g.sign_in.groups))
        .fetch_optional(traced(&mut *tx))
        .await?;
        let created = grant(&row.ok_or(StoreError::NotFound)?)?;
        sqlx::query(
            "INSERT INTO oauth_codes (code_hash, org_id, grant_id, redirect_uri, code_challenge, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&code.code_hash)
        .bind(g.org_id.as_str())
        .bind(created.id.as_str())
        .bind(&code.redirect_uri)
        .bind(&code.code_challenge)
        .bind(now.micros())
        .bind(code.expires_at.micros())
        .execute(traced(&mut *tx))
        .await?;
        self.count(1);
        super::commit(tx).await?;
        Ok(created)
    }

    async fn find_authorization_code(&self, code_hash: &str) -> Result<Option<AuthorizationCode>> {
        let sql = format!(
            "SELECT c.redirect_uri, c.code_challenge, c.expires_at, c.used_at, {GRANT_COLUMNS} \
             FROM oauth_codes c JOIN oauth_grants g ON g.id = c.grant_id WHERE c.code_hash = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(code_hash)
            .fetch_optional(self.run())
            .await?;
        row.map(|row| {
            Ok(AuthorizationCode {
                grant: grant(&row)?,
                redirect_uri: text(&row, "redirect_uri")?,
                code_challenge: text(&row, "code_challenge")?,
                expires_at: time(&row, "expires_at")?,
                used_at: opt_time(&row, "used_at")?,
            })
        })
        .transpose()
    }

    async fn consume_authorization_code(
        &self,
        code_hash: &str,
        now: Timestamp,
    ) -> Result<CodeRedemption> {
        let mut tx = self.begin_write().await?;
        self.count(1);
        let spent = sqlx::query(
            "UPDATE oauth_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL \
             RETURNING grant_id, redirect_uri, code_challenge, expires_at, used_at",
        )
        .bind(code_hash)
        .bind(now.micros())
        .fetch_optional(traced(&mut *tx))
        .await?;
        let outcome = match spent {
            Some(code) => {
                self.count(1);
                let sql = format!("SELECT {GRANT_COLUMNS} FROM oauth_grants g WHERE g.id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(text(&code, "grant_id")?)
                    .fetch_one(traced(&mut *tx))
                    .await?;
                CodeRedemption::Fresh(Box::new(AuthorizationCode {
                    grant: grant(&row)?,
                    redirect_uri: text(&code, "redirect_uri")?,
                    code_challenge: text(&code, "code_challenge")?,
                    expires_at: time(&code, "expires_at")?,
                    used_at: opt_time(&code, "used_at")?,
                }))
            }
            None => {
                self.count(1);
                let used = sqlx::query("SELECT grant_id FROM oauth_codes WHERE code_hash = $1")
                    .bind(code_hash)
                    .fetch_optional(traced(&mut *tx))
                    .await?;
                match used {
                    Some(row) => {
                        self.revoke_family(&mut tx, &text(&row, "grant_id")?, now)
                            .await?;
                        CodeRedemption::Replayed
                    }
                    None => CodeRedemption::Unknown,
                }
            }
        };
        self.count(1);
        super::commit(tx).await?;
        Ok(outcome)
    }

    async fn issue_tokens(
        &self,
        org: &OrgId,
        grant_id: &GrantId,
        tokens: &[NewToken],
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        self.count(1);
        let owned = sqlx::query("SELECT id FROM oauth_grants WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(grant_id.as_str())
            .fetch_optional(traced(&mut *tx))
            .await?;
        if owned.is_none()
            || !self
                .insert_tokens(&mut tx, grant_id.as_str(), tokens, now)
                .await?
        {
            return Ok(false);
        }
        self.count(1);
        super::commit(tx).await?;
        Ok(true)
    }

    async fn find_token(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(TOKEN_SQL)
            .bind(token_hash)
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(token_record).transpose()
    }

    async fn rotate_refresh_token(&self, rotation: &RefreshRotation<'_>) -> Result<Rotation> {
        let now = rotation.now;
        let mut tx = self.begin_write().await?;
        self.count(1);
        let spent = sqlx::query(
            "UPDATE oauth_tokens SET used_at = $2, successor_nonce = $3 WHERE token_hash = $1 \
             AND kind = 'refresh' AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
             RETURNING grant_id",
        )
        .bind(rotation.token_hash)
        .bind(now.micros())
        .bind(rotation.successor_nonce)
        .fetch_optional(traced(&mut *tx))
        .await?;
        if let Some(row) = spent {
            let grant = text(&row, "grant_id")?;
            if !self
                .insert_tokens(&mut tx, &grant, rotation.successors, now)
                .await?
            {
                return Ok(Rotation::Invalid);
            }
            self.count(1);
            super::commit(tx).await?;
            return Ok(Rotation::Rotated);
        }
        self.count(1);
        let known = sqlx::query(
            "SELECT grant_id, used_at, revoked_at, successor_nonce FROM oauth_tokens \
             WHERE token_hash = $1 AND kind = 'refresh'",
        )
        .bind(rotation.token_hash)
        .fetch_optional(traced(&mut *tx))
        .await?;
        let Some(row) = known else {
            return Ok(Rotation::Invalid);
        };
        let Some(used_at) = opt_time(&row, "used_at")? else {
            return Ok(Rotation::Invalid);
        };
        let revoked = opt_time(&row, "revoked_at")?.is_some();
        let nonce: Option<String> = row.try_get("successor_nonce")?;
        match nonce {
            Some(nonce) if !revoked && used_at >= rotation.grace_since => Ok(Rotation::Repeated {
                successor_nonce: nonce,
                rotated_at: used_at,
            }),
            _ => {
                self.revoke_family(&mut tx, &text(&row, "grant_id")?, now)
                    .await?;
                self.count(1);
                super::commit(tx).await?;
                Ok(Rotation::Reused)
            }
        }
    }

    async fn revoke_grant(&self, org: &OrgId, grant_id: &GrantId, now: Timestamp) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.count(1);
        let owned = sqlx::query("SELECT id FROM oauth_grants WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(grant_id.as_str())
            .fetch_optional(traced(&mut *tx))
            .await?;
        if owned.is_some() {
            self.revoke_family(&mut tx, grant_id.as_str(), now).await?;
        }
        self.count(1);
        super::commit(tx).await?;
        Ok(())
    }

    async fn revoke_token(&self, org: &OrgId, token_hash: &str, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE oauth_tokens SET revoked_at = COALESCE(revoked_at, $3) WHERE org_id = $1 AND token_hash = $2")
            .bind(org.as_str())
            .bind(token_hash)
            .bind(now.micros())
            .execute(self.run())
            .await?;
        Ok(())
    }

    async fn delete_expired_auth_records(&self, cutoff: Timestamp) -> Result<u64> {
        let mut deleted = 0;
        for sql in [
            "DELETE FROM oauth_login_sessions WHERE expires_at < $1",
            "DELETE FROM oauth_code_sends WHERE sent_at < $1",
            "DELETE FROM oauth_codes WHERE expires_at < $1",
            "DELETE FROM oauth_tokens WHERE expires_at < $1",
            "DELETE FROM oauth_grants WHERE created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM oauth_tokens t WHERE t.grant_id = oauth_grants.id) \
             AND NOT EXISTS (SELECT 1 FROM oauth_codes c WHERE c.grant_id = oauth_grants.id)",
        ] {
            deleted += sqlx::query(sql)
                .bind(cutoff.micros())
                .execute(self.run())
                .await?
                .rows_affected();
        }
        Ok(deleted)
    }

    async fn end_user_for_verified_email(
        &self,
        org: &OrgId,
        email: &Email,
        now: Timestamp,
    ) -> Result<EndUser> {
        // One statement that creates or touches, like tracking ids: concurrent first
        // sign-ins of one person agree on one end user (unique partial index).
        let sql = format!(
            "INSERT INTO end_users (id, org_id, email, email_verified, first_seen_at, last_seen_at) \
             VALUES ($1, $2, $3, TRUE, $4, $4) \
             ON CONFLICT (org_id, email) WHERE email_verified DO UPDATE SET last_seen_at = CASE \
             WHEN excluded.last_seen_at > end_users.last_seen_at THEN excluded.last_seen_at \
             ELSE end_users.last_seen_at END \
             RETURNING {END_USER_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(EndUserId::generate().as_str())
            .bind(org.as_str())
            .bind(email.as_str())
            .bind(now.micros())
            .fetch_one(self.run())
            .await?;
        end_user(&row)
    }

    async fn link_end_users(
        &self,
        org: &OrgId,
        anonymous: &EndUserId,
        person: &EndUserId,
        now: Timestamp,
    ) -> Result<LinkOutcome> {
        if anonymous == person {
            return Ok(LinkOutcome::default());
        }
        let mut tx = self.begin_write().await?;
        self.count(2);
        let sql = format!(
            "SELECT {END_USER_COLUMNS} FROM end_users WHERE org_id = $1 AND id = $2{LOCK_ROW}"
        );
        let anon = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(anonymous.as_str())
            .fetch_optional(traced(&mut *tx))
            .await?
            .ok_or(StoreError::NotFound)?;
        let anon = end_user(&anon)?;
        let target = sqlx::query("SELECT id FROM end_users WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(person.as_str())
            .fetch_optional(traced(&mut *tx))
            .await?;
        if target.is_none() {
            return Err(StoreError::NotFound);
        }
        if anon.email_verified || anon.linked_end_user_id.is_some() {
            return Ok(LinkOutcome::default());
        }
        self.count(2);
        let sql = format!(
            "SELECT {PROGRESS_COLUMNS} FROM walkthrough_progress WHERE org_id = $1 AND end_user_id = $2{LOCK_ROW}"
        );
        let theirs = rows(
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(org.as_str())
                .bind(anonymous.as_str())
                .fetch_all(traced(&mut *tx))
                .await?,
            progress,
        )?;
        let mine = rows(
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(org.as_str())
                .bind(person.as_str())
                .fetch_all(traced(&mut *tx))
                .await?,
            progress,
        )?;
        let mut outcome = LinkOutcome {
            linked: true,
            ..LinkOutcome::default()
        };
        for p in &theirs {
            let same = mine
                .iter()
                .find(|q| q.server_id == p.server_id && q.walkthrough_id == p.walkthrough_id);
            match same {
                None => {
                    self.count(1);
                    sqlx::query("UPDATE walkthrough_progress SET end_user_id = $2, revision = revision + 1 WHERE id = $1")
                        .bind(p.id.as_str())
                        .bind(person.as_str())
                        .execute(traced(&mut *tx))
                        .await?;
                    outcome.moved += 1;
                }
                Some(q) => {
                    if p.is_ahead_of(q) {
                        self.count(1);
                        sqlx::query(
                            "UPDATE walkthrough_progress SET version = $2, current_step_id = $3, completed_step_ids = $4, \
                             status = $5, started_at = $6, last_activity_at = $7, completed_at = $8, \
                             revision = revision + 1 WHERE id = $1",
                        )
                        .bind(q.id.as_str())
                        .bind(p.version)
                        .bind(p.current_step_id.as_deref())
                        .bind(to_json(&p.completed_step_ids))
                        .bind(p.status.as_str())
                        .bind(p.started_at.micros())
                        .bind(p.last_activity_at.micros())
                        .bind(p.completed_at.map(Timestamp::micros))
                        .execute(traced(&mut *tx))
                        .await?;
                    }
                    self.count(1);
                    sqlx::query("DELETE FROM walkthrough_progress WHERE id = $1")
                        .bind(p.id.as_str())
                        .execute(traced(&mut *tx))
                        .await?;
                    outcome.merged += 1;
                }
            }
        }
        self.count(3);
        sqlx::query(
            "UPDATE mcp_sessions SET end_user_id = $3 WHERE org_id = $1 AND end_user_id = $2",
        )
        .bind(org.as_str())
        .bind(anonymous.as_str())
        .bind(person.as_str())
        .execute(traced(&mut *tx))
        .await?;
        sqlx::query("UPDATE end_users SET linked_end_user_id = $3, linked_at = $4 WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(anonymous.as_str())
            .bind(person.as_str())
            .bind(now.micros())
            .execute(traced(&mut *tx))
            .await?;
        super::commit(tx).await?;
        Ok(outcome)
    }
}
