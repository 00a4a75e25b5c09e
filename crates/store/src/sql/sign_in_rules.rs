//! Rules between rows that a write must keep: a `person` upstream is attached only to
//! servers whose people sign in (`guidepost_domain::person_sign_in`), and a
//! `custom_oauth` server keeps its OpenID Connect provider. Each is checked inside the
//! write's own transaction after locking the rows it reads (PostgreSQL; SQLite's write
//! transaction is exclusive already), so that two writes at once cannot each pass
//! against the other's old row. Every write locks an upstream before a server and a
//! server before its provider, so that none waits on another in a circle.

use super::*;

/// The row `select` reads (its `$1` the organization, its `$2` the id; the lock is added
/// at its end), locked for the rest of `tx`; `NotFound` when it is not the organization's.
async fn locked_row(
    tx: &mut sqlx::Transaction<'static, Db>,
    select: &str,
    org: &OrgId,
    id: &str,
) -> Result<DbRow> {
    let sql = format!("{select}{LOCK_ROW}");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(traced(&mut **tx))
        .await?
        .ok_or(StoreError::NotFound)
}

/// The server's name and sign-in, its row locked.
async fn locked_server(
    tx: &mut sqlx::Transaction<'static, Db>,
    org: &OrgId,
    id: &ServerId,
) -> Result<(String, AuthMode)> {
    let select = "SELECT name, auth_mode FROM mcp_servers WHERE org_id = $1 AND id = $2";
    name_and_auth_mode(&locked_row(tx, select, org, id.as_str()).await?)
}

fn name_and_auth_mode(row: &DbRow) -> Result<(String, AuthMode)> {
    let auth_mode = text(row, "auth_mode")?;
    let parsed = AuthMode::parse(&auth_mode).ok_or_else(|| corrupt("auth mode", &auth_mode))?;
    Ok((text(row, "name")?, parsed))
}

/// Refuses a `person` upstream on the server named `server_name`, whose people sign in
/// as `auth_mode` says.
fn person_fits(server_name: &str, auth_mode: AuthMode, sign_in: UpstreamSignIn) -> Result<()> {
    if sign_in == UpstreamSignIn::Person && !auth_mode.requires_token() {
        return Err(StoreError::Conflict(person_sign_in::refused_on(
            server_name,
        )));
    }
    Ok(())
}

fn name_and_sign_in(row: &DbRow) -> Result<(String, UpstreamSignIn)> {
    let spec = text(row, "spec")?;
    let spec: LaunchSpec =
        serde_json::from_str(&spec).map_err(|_| corrupt("upstream spec", &spec))?;
    Ok((text(row, "name")?, spec.sign_in()))
}

/// The upstream's name and sign-in, its row locked.
async fn locked_upstream(
    tx: &mut sqlx::Transaction<'static, Db>,
    org: &OrgId,
    id: &UpstreamId,
) -> Result<(String, UpstreamSignIn)> {
    let select = "SELECT name, spec FROM upstreams WHERE org_id = $1 AND id = $2";
    name_and_sign_in(&locked_row(tx, select, org, id.as_str()).await?)
}

impl ThisStore {
    /// The server's name and sign-in, its row locked for the rest of `tx`.
    pub(super) async fn lock_server(
        &self,
        tx: &mut sqlx::Transaction<'static, Db>,
        org: &OrgId,
        id: &ServerId,
    ) -> Result<(String, AuthMode)> {
        self.count(1);
        locked_server(tx, org, id).await
    }

    /// Before attaching `upstream` to `server`: a `person` upstream only where people
    /// sign in.
    pub(super) async fn keep_rules_attaching(
        &self,
        tx: &mut sqlx::Transaction<'static, Db>,
        org: &OrgId,
        server: &ServerId,
        upstream: &UpstreamId,
    ) -> Result<()> {
        self.count(2);
        let (_, sign_in) = locked_upstream(tx, org, upstream).await?;
        let (server_name, auth_mode) = locked_server(tx, org, server).await?;
        person_fits(&server_name, auth_mode, sign_in)
    }

    /// Before writing `upstream` with `sign_in`: switched to `person`, every server that
    /// attaches it signs its people in.
    pub(super) async fn keep_rules_for_upstream(
        &self,
        tx: &mut sqlx::Transaction<'static, Db>,
        org: &OrgId,
        upstream: &UpstreamId,
        sign_in: UpstreamSignIn,
    ) -> Result<()> {
        self.count(1);
        locked_upstream(tx, org, upstream).await?;
        if sign_in != UpstreamSignIn::Person {
            return Ok(());
        }
        self.count(1);
        let sql = format!(
            "SELECT name, auth_mode FROM mcp_servers WHERE org_id = $1 AND id IN \
             (SELECT server_id FROM upstream_attachments WHERE org_id = $1 AND upstream_id = $2) \
             ORDER BY id{LOCK_ROW}"
        );
        let servers = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(upstream.as_str())
            .fetch_all(traced(&mut **tx))
            .await?;
        for row in &servers {
            let (server_name, auth_mode) = name_and_auth_mode(row)?;
            person_fits(&server_name, auth_mode, sign_in)?;
        }
        Ok(())
    }

    /// Before writing `server` with `auth_mode`: people let in unsigned only while no
    /// `person` upstream is attached, and `custom_oauth` only with a provider.
    pub(super) async fn keep_rules_for_server(
        &self,
        tx: &mut sqlx::Transaction<'static, Db>,
        org: &OrgId,
        server: &ServerId,
        auth_mode: AuthMode,
    ) -> Result<()> {
        let (_, current) = self.lock_server(tx, org, server).await?;
        if auth_mode == current {
            return Ok(());
        }
        if !auth_mode.requires_token() {
            self.count(1);
            let attached = sqlx::query(
                "SELECT u.name, u.spec FROM upstreams u JOIN upstream_attachments a \
                 ON a.org_id = u.org_id AND a.upstream_id = u.id \
                 WHERE a.org_id = $1 AND a.server_id = $2 ORDER BY u.id",
            )
            .bind(org.as_str())
            .bind(server.as_str())
            .fetch_all(traced(&mut **tx))
            .await?;
            for row in &attached {
                let (upstream_name, sign_in) = name_and_sign_in(row)?;
                if sign_in == UpstreamSignIn::Person {
                    let refusal = person_sign_in::refused_off(&upstream_name);
                    return Err(StoreError::Conflict(refusal));
                }
            }
        }
        if auth_mode == AuthMode::CustomOauth {
            self.count(1);
            let select =
                "SELECT server_id FROM oidc_providers WHERE org_id = $1 AND server_id = $2";
            let provider = locked_row(tx, select, org, server.as_str()).await;
            if let Err(StoreError::NotFound) = provider {
                return Err(StoreError::Rejected {
                    field: "auth_mode",
                    message: "custom_oauth needs the server's OpenID Connect provider, which \
                              was removed meanwhile: set it again first"
                        .into(),
                });
            }
            provider?;
        }
        Ok(())
    }
}
