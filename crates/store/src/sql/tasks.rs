//! Tasks: every change is a compare-and-swap on `revision`.

use super::*;
use crate::TaskStore;

const COLUMNS: &str = "id, org_id, server_id, end_user_id, tool, status, input_requests, \
     input_responses, outcome, created_at, updated_at, expires_at, revision, client_address";

fn task(row: &DbRow) -> Result<Task> {
    let status = text(row, "status")?;
    let outcome = opt_text(row, "outcome")?
        .map(|raw| serde_json::from_str(&raw).map_err(|_| corrupt("task outcome", &raw)))
        .transpose()?;
    Ok(Task {
        id: Id::from_trusted(text(row, "id")?),
        org_id: Id::from_trusted(text(row, "org_id")?),
        server_id: Id::from_trusted(text(row, "server_id")?),
        end_user_id: opt_text(row, "end_user_id")?.map(Id::from_trusted),
        tool: text(row, "tool")?,
        status: TaskStatus::parse(&status).ok_or_else(|| corrupt("task status", &status))?,
        input_requests: json_column(row, "input_requests")?,
        input_responses: json_column(row, "input_responses")?,
        outcome,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        expires_at: time(row, "expires_at")?,
        revision: row.try_get::<i64, _>("revision")?,
        client_address: opt_text(row, "client_address")?
            .map(|raw| {
                raw.parse()
                    .map_err(|_| corrupt("task client address", &raw))
            })
            .transpose()?,
    })
}

const OPEN: &[TaskStatus] = &[TaskStatus::Working, TaskStatus::InputRequired];

/// The unfinished tasks on `like`'s server: all of them, its end user's, and those from
/// its client address (a task of nobody, or from no known address, counts for neither).
fn open_tasks_query(
    like: &Task,
    now: Timestamp,
) -> sqlx::query::Query<'static, Db, <Db as sqlx::Database>::Arguments> {
    sqlx::query(
        "SELECT COUNT(*) AS on_server, \
         COALESCE(SUM(CASE WHEN end_user_id = $6 THEN 1 ELSE 0 END), 0) AS of_end_user, \
         COALESCE(SUM(CASE WHEN client_address = $7 THEN 1 ELSE 0 END), 0) AS from_address \
         FROM tasks WHERE org_id = $1 AND server_id = $2 AND status IN ($3, $4) \
         AND expires_at > $5",
    )
    .bind(like.org_id.to_string())
    .bind(like.server_id.to_string())
    .bind(OPEN[0].as_str())
    .bind(OPEN[1].as_str())
    .bind(now.micros())
    .bind(like.end_user_id.as_ref().map(ToString::to_string))
    .bind(like.client_address.map(|address| address.to_string()))
}

fn open_tasks(row: &DbRow) -> Result<OpenTasks> {
    let count = |column: &str| -> Result<u32> {
        Ok(u32::try_from(row.try_get::<i64, _>(column)?).unwrap_or(u32::MAX))
    };
    Ok(OpenTasks {
        on_server: count("on_server")?,
        of_end_user: count("of_end_user")?,
        from_address: count("from_address")?,
    })
}

#[async_trait]
impl TaskStore for ThisStore {
    async fn create_task(&self, t: &Task) -> Result<Result<(), TasksFull>> {
        let mut tx = self.begin_write().await?;
        self.count(3);
        // Starts on one server queue here (its row locked on PostgreSQL, the write lock
        // taken up front on SQLite), so that concurrent starts cannot pass a cap together.
        let lock = format!("SELECT id FROM mcp_servers WHERE org_id = $1 AND id = $2{LOCK_ROW}");
        sqlx::query(sqlx::AssertSqlSafe(lock))
            .bind(t.org_id.as_str())
            .bind(t.server_id.as_str())
            .fetch_optional(traced(&mut *tx))
            .await?
            .ok_or(StoreError::NotFound)?;
        let open = open_tasks_query(t, t.created_at)
            .fetch_one(traced(&mut *tx))
            .await?;
        if let Some(full) = open_tasks(&open)?.full() {
            return Ok(Err(full));
        }
        sqlx::query(
            "INSERT INTO tasks (id, org_id, server_id, end_user_id, tool, status, \
             input_requests, input_responses, outcome, created_at, updated_at, expires_at, \
             revision, client_address) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(t.id.as_str())
        .bind(t.org_id.as_str())
        .bind(t.server_id.as_str())
        .bind(t.end_user_id.as_ref().map(|id| id.as_str()))
        .bind(&t.tool)
        .bind(t.status.as_str())
        .bind(to_json(&t.input_requests))
        .bind(to_json(&t.input_responses))
        .bind(t.outcome.as_ref().map(to_json))
        .bind(t.created_at.micros())
        .bind(t.updated_at.micros())
        .bind(t.expires_at.micros())
        .bind(t.revision)
        .bind(t.client_address.map(|address| address.to_string()))
        .execute(traced(&mut *tx))
        .await?;
        super::commit(tx).await?;
        Ok(Ok(()))
    }

    async fn get_task(
        &self,
        org: &OrgId,
        server: &ServerId,
        id: &TaskId,
        now: Timestamp,
    ) -> Result<Task> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tasks \
             WHERE org_id = $1 AND server_id = $2 AND id = $3 AND expires_at > $4"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(server.as_str())
            .bind(id.as_str())
            .bind(now.micros())
            .fetch_optional(self.run())
            .await?;
        task(&row.ok_or(StoreError::NotFound)?)
    }

    async fn replace_task(&self, t: &Task) -> Result<bool> {
        let written = sqlx::query(
            "UPDATE tasks SET status = $1, input_requests = $2, input_responses = $3, \
             outcome = $4, updated_at = $5, revision = revision + 1 \
             WHERE id = $6 AND org_id = $7 AND revision = $8",
        )
        .bind(t.status.as_str())
        .bind(to_json(&t.input_requests))
        .bind(to_json(&t.input_responses))
        .bind(t.outcome.as_ref().map(to_json))
        .bind(t.updated_at.micros())
        .bind(t.id.as_str())
        .bind(t.org_id.as_str())
        .bind(t.revision)
        .execute(self.run())
        .await?;
        Ok(written.rows_affected() == 1)
    }

    async fn count_open_tasks(&self, like: &Task, now: Timestamp) -> Result<OpenTasks> {
        let row = open_tasks_query(like, now).fetch_one(self.run()).await?;
        open_tasks(&row)
    }

    async fn delete_expired_tasks(&self, now: Timestamp) -> Result<u64> {
        let deleted = sqlx::query("DELETE FROM tasks WHERE expires_at <= $1")
            .bind(now.micros())
            .execute(self.run())
            .await?;
        Ok(deleted.rows_affected())
    }
}
