//! The authorization server's row decoding, and the token writes that code redemption
//! and refresh rotation share.

use super::end_users::end_user_at;
use super::*;

pub(super) const CLIENT_COLUMNS: &str = "id, org_id, server_id, client_name, client_uri, redirect_uris, grant_types, \
     token_endpoint_auth_method, scope, secret_hash, created_at";

pub(super) fn oauth_client(row: &DbRow) -> Result<OAuthClient> {
    let method = text(row, "token_endpoint_auth_method")?;
    Ok(OAuthClient {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        server_id: Id::from_trusted(text(row, "server_id")?),
        client_name: opt_text(row, "client_name")?,
        client_uri: opt_text(row, "client_uri")?,
        redirect_uris: json_column(row, "redirect_uris")?,
        grant_types: json_column(row, "grant_types")?,
        token_endpoint_auth_method: TokenEndpointAuthMethod::parse(&method)
            .ok_or_else(|| corrupt("token endpoint auth method", &method))?,
        scope: opt_text(row, "scope")?,
        secret_hash: opt_text(row, "secret_hash")?,
        created_at: time(row, "created_at")?,
    })
}

pub(super) const LOGIN_COLUMNS: &str = "id, org_id, server_id, secret_hash, client_id, client_name, redirect_uri, state, \
     code_challenge, scope, resource, stage, email, code_hash, code_expires_at, code_attempts, codes_sent, \
     end_user_id, upstream_salt, sign_in_provider, sign_in_groups, created_at, expires_at, revision";

pub(super) fn login_session(row: &DbRow) -> Result<LoginSession> {
    let stage = text(row, "stage")?;
    Ok(LoginSession {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        server_id: Id::from_trusted(text(row, "server_id")?),
        secret_hash: text(row, "secret_hash")?,
        request: AuthorizationRequest {
            client_id: text(row, "client_id")?,
            redirect_uri: text(row, "redirect_uri")?,
            state: opt_text(row, "state")?,
            code_challenge: text(row, "code_challenge")?,
            scope: text(row, "scope")?,
            resource: text(row, "resource")?,
        },
        client_name: opt_text(row, "client_name")?,
        stage: LoginStage::parse(&stage).ok_or_else(|| corrupt("login stage", &stage))?,
        email: parse_email(opt_text(row, "email")?)?,
        code_hash: opt_text(row, "code_hash")?,
        code_expires_at: opt_time(row, "code_expires_at")?,
        code_attempts: row.try_get("code_attempts")?,
        codes_sent: row.try_get("codes_sent")?,
        end_user_id: opt_text(row, "end_user_id")?.map(Id::from_trusted),
        upstream_salt: opt_text(row, "upstream_salt")?,
        sign_in: sign_in(row)?,
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
        revision: row.try_get("revision")?,
    })
}

pub(super) const GRANT_COLUMNS: &str = "g.id, g.org_id, g.server_id, g.client_id, g.end_user_id, g.scope, g.resource, \
     g.sign_in_provider, g.sign_in_groups, g.created_at, g.revoked_at";

/// How the person signed in, from a row's `sign_in_provider` and `sign_in_groups`.
pub(super) fn sign_in(row: &DbRow) -> Result<SignInFacts> {
    Ok(SignInFacts {
        identity_provider: opt_text(row, "sign_in_provider")?,
        groups: json_column(row, "sign_in_groups")?,
    })
}

pub(super) fn grant(row: &DbRow) -> Result<Grant> {
    Ok(Grant {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        server_id: Id::from_trusted(text(row, "server_id")?),
        client_id: text(row, "client_id")?,
        end_user_id: Id::from_trusted(text(row, "end_user_id")?),
        scope: text(row, "scope")?,
        resource: text(row, "resource")?,
        sign_in: sign_in(row)?,
        created_at: time(row, "created_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

/// A token joined with its grant (unprefixed columns), its person (`u_` columns) and the
/// role of the organization's member with the person's verified email, if one has it.
pub(super) const TOKEN_SQL: &str = "SELECT t.kind, t.expires_at AS t_expires_at, t.revoked_at AS t_revoked_at, \
     t.used_at AS t_used_at, g.id, g.org_id, g.server_id, g.client_id, g.end_user_id, g.scope, g.resource, \
     g.sign_in_provider, g.sign_in_groups, g.created_at, g.revoked_at, m.role AS member_role, u.id AS u_id, u.org_id AS u_org_id, u.tracking_id AS u_tracking_id, \
     u.email AS u_email, u.email_verified AS u_email_verified, u.linked_end_user_id AS u_linked_end_user_id, \
     u.first_seen_at AS u_first_seen_at, u.last_seen_at AS u_last_seen_at \
     FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id AND g.org_id = t.org_id \
     JOIN end_users u ON u.id = g.end_user_id AND u.org_id = g.org_id \
     LEFT JOIN members m ON m.org_id = g.org_id AND m.email = u.email AND u.email_verified \
     WHERE t.token_hash = $1";

pub(super) fn token_record(row: &DbRow) -> Result<TokenRecord> {
    let kind = text(row, "kind")?;
    Ok(TokenRecord {
        kind: TokenKind::parse(&kind).ok_or_else(|| corrupt("token kind", &kind))?,
        grant: grant(row)?,
        end_user: end_user_at(row, "u_")?,
        member_role: opt_text(row, "member_role")?
            .map(|role| Role::parse(&role).ok_or_else(|| corrupt("member role", &role)))
            .transpose()?,
        expires_at: time(row, "t_expires_at")?,
        revoked_at: opt_time(row, "t_revoked_at")?,
        used_at: opt_time(row, "t_used_at")?,
    })
}

impl ThisStore {
    /// Inserts tokens of a grant that is not revoked; `false` if the grant is revoked.
    pub(super) async fn insert_tokens(
        &self,
        tx: &mut sqlx::Transaction<'static, Db>,
        grant: &str,
        tokens: &[NewToken],
        now: Timestamp,
    ) -> Result<bool> {
        for token in tokens {
            self.count(1);
            let done = sqlx::query(
                "INSERT INTO oauth_tokens (token_hash, org_id, grant_id, kind, created_at, expires_at) \
                 SELECT $1, org_id, id, $3, $4, $5 FROM oauth_grants WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(&token.hash)
            .bind(grant)
            .bind(token.kind.as_str())
            .bind(now.micros())
            .bind(token.expires_at.micros())
            .execute(traced(&mut **tx))
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Revokes a grant and its tokens inside a transaction.
    pub(super) async fn revoke_family(
        &self,
        tx: &mut sqlx::Transaction<'static, Db>,
        grant: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.count(2);
        sqlx::query("UPDATE oauth_grants SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
            .bind(grant)
            .bind(now.micros())
            .execute(traced(&mut **tx))
            .await?;
        sqlx::query(
            "UPDATE oauth_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE grant_id = $1",
        )
        .bind(grant)
        .bind(now.micros())
        .execute(traced(&mut **tx))
        .await?;
        Ok(())
    }
}
