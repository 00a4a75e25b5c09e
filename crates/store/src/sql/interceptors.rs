//! An organization's interceptors, asked in the order they were registered.

use super::*;
use crate::interceptors::{InterceptorStore, NewInterceptor, SealedInterceptor};

const COLUMNS: &str = "id, org_id, name, url, phases, timeout_ms, on_failure, mode, \
     secret_sealed, created_at";

fn sealed_interceptor(row: &DbRow) -> Result<SealedInterceptor> {
    let on_failure = text(row, "on_failure")?;
    let mode = text(row, "mode")?;
    let timeout_ms = row.try_get::<i64, _>("timeout_ms")?;
    let interceptor = Interceptor {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        name: text(row, "name")?,
        url: text(row, "url")?,
        phases: json_column(row, "phases")?,
        timeout_ms: u32::try_from(timeout_ms)
            .map_err(|_| corrupt("interceptor timeout", &timeout_ms.to_string()))?,
        on_failure: InterceptFailure::parse(&on_failure)
            .ok_or_else(|| corrupt("interceptor failure mode", &on_failure))?,
        mode: InterceptMode::parse(&mode).ok_or_else(|| corrupt("interceptor mode", &mode))?,
        created_at: time(row, "created_at")?,
    };
    Ok(SealedInterceptor {
        interceptor,
        secret_sealed: text(row, "secret_sealed")?,
    })
}

#[async_trait]
impl InterceptorStore for ThisStore {
    async fn create_interceptor(&self, new: &NewInterceptor) -> Result<Interceptor> {
        let added = &new.interceptor;
        let mut tx = self
            .begin_adding(&added.org_id, OrgCap::Interceptors)
            .await?;
        sqlx::query(
            "INSERT INTO interceptors (id, org_id, name, url, phases, timeout_ms, on_failure, \
             mode, secret_sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(added.id.as_str())
        .bind(added.org_id.as_str())
        .bind(&added.name)
        .bind(&added.url)
        .bind(to_json(&added.phases))
        .bind(i64::from(added.timeout_ms))
        .bind(added.on_failure.as_str())
        .bind(added.mode.as_str())
        .bind(&new.secret_sealed)
        .bind(added.created_at.micros())
        .execute(traced(&mut *tx))
        .await
        .map_err(|error| unique_conflict(error, &["name"]))?;
        self.finish_adding(tx).await?;
        Ok(added.clone())
    }

    async fn interceptors(&self, org: &OrgId) -> Result<Vec<SealedInterceptor>> {
        let sql =
            format!("SELECT {COLUMNS} FROM interceptors WHERE org_id = $1 ORDER BY created_at, id");
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .fetch_all(self.run())
            .await?;
        rows(found, sealed_interceptor)
    }

    async fn delete_interceptor(&self, org: &OrgId, id: &InterceptorId) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM interceptors WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(id.as_str())
            .execute(self.run())
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
