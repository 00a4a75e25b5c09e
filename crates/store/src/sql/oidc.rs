//! Organizations' OpenID Connect providers. Client secrets arrive here already sealed.

use super::*;
use guidepost_domain::{NewOidcProvider, OidcProvider};

use crate::oidc::OidcStore;

const OIDC_COLUMNS: &str = "server_id, org_id, issuer_url, client_id, client_secret_sealed, accept_unverified_email, \
     created_at, updated_at";

fn oidc_provider(row: &DbRow) -> Result<OidcProvider> {
    Ok(OidcProvider {
        server_id: Id::from_trusted(text(row, "server_id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        issuer_url: text(row, "issuer_url")?,
        client_id: text(row, "client_id")?,
        client_secret_sealed: opt_text(row, "client_secret_sealed")?,
        accept_unverified_email: row.try_get("accept_unverified_email")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

#[async_trait]
impl OidcStore for ThisStore {
    async fn put_oidc_provider(
        &self,
        org: &OrgId,
        server: &ServerId,
        p: &NewOidcProvider,
    ) -> Result<OidcProvider> {
        // The server must be the organization's: the row is selected from it.
        let sql = format!(
            "INSERT INTO oidc_providers ({OIDC_COLUMNS}) \
             SELECT id, org_id, $3, $4, $5, $7, $6, $6 FROM mcp_servers WHERE org_id = $1 AND id = $2 \
             ON CONFLICT (server_id) DO UPDATE SET issuer_url = excluded.issuer_url, client_id = excluded.client_id, \
             client_secret_sealed = excluded.client_secret_sealed, \
             accept_unverified_email = excluded.accept_unverified_email, updated_at = excluded.updated_at \
             RETURNING {OIDC_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(server.as_str())
            .bind(&p.issuer_url)
            .bind(&p.client_id)
            .bind(p.client_secret_sealed.as_deref())
            .bind(Timestamp::now().micros())
            .bind(p.accept_unverified_email)
            .fetch_optional(self.run())
            .await?;
        oidc_provider(&row.ok_or(StoreError::NotFound)?)
    }

    async fn get_oidc_provider(
        &self,
        org: &OrgId,
        server: &ServerId,
    ) -> Result<Option<OidcProvider>> {
        let sql = format!(
            "SELECT {OIDC_COLUMNS} FROM oidc_providers WHERE org_id = $1 AND server_id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(server.as_str())
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(oidc_provider).transpose()
    }

    async fn delete_oidc_provider(&self, org: &OrgId, server: &ServerId) -> Result<()> {
        // The check is in the delete itself, after the server's row is locked as a change of
        // its auth_mode locks it (`sign_in_rules`): it reads the auth_mode that change wrote.
        let mut tx = self.begin_write().await?;
        self.lock_server(&mut tx, org, server).await?;
        self.count(2);
        let done = sqlx::query(
            "DELETE FROM oidc_providers WHERE org_id = $1 AND server_id = $2 AND NOT EXISTS \
             (SELECT 1 FROM mcp_servers WHERE org_id = $1 AND id = $2 AND auth_mode = 'custom_oauth')",
        )
        .bind(org.as_str())
        .bind(server.as_str())
        .execute(traced(&mut *tx))
        .await?;
        super::commit(tx).await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        match self.get_oidc_provider(org, server).await? {
            Some(_) => Err(StoreError::Conflict(
                "the server signs people in with this provider (auth_mode custom_oauth): \
                 change its auth_mode first"
                    .into(),
            )),
            None => Err(StoreError::NotFound),
        }
    }
}
