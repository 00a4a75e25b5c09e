//! Approvals of single calls. A decision and a use are each one conditional `UPDATE`, so
//! that two members deciding at once, or two nodes running the same approved call, cannot
//! both succeed.

use super::webhooks;
use super::*;
use crate::approvals::{ApprovalStore, NewApproval};

const COLUMNS: &str = "id, org_id, server_id, caller, caller_name, tool, arguments, \
     arguments_digest, definition_hash, policy_version, policy, reason, approver, status, \
     created_at, expires_at, decided_by, decided_at";

fn approval(row: &DbRow) -> Result<CallApproval> {
    let approver = text(row, "approver")?;
    let status = text(row, "status")?;
    let server_id: ServerId = Id::from_trusted(text(row, "server_id")?);
    Ok(CallApproval {
        id: Id::from_trusted(text(row, "id")?),
        binding: ApprovalBinding {
            org_id: Id::from_trusted(text(row, "org_id")?),
            server_id: server_id.clone(),
            caller: text(row, "caller")?,
            tool: text(row, "tool")?,
            arguments_digest: text(row, "arguments_digest")?,
            definition_hash: text(row, "definition_hash")?,
            policy_version: row.try_get::<i64, _>("policy_version")?,
        },
        server_id,
        tool: text(row, "tool")?,
        arguments: text(row, "arguments")?,
        caller_name: text(row, "caller_name")?,
        policy: text(row, "policy")?,
        reason: opt_text(row, "reason")?,
        approver: Approver::parse(&approver).ok_or_else(|| corrupt("approver", &approver))?,
        status: ApprovalStatus::parse(&status)
            .ok_or_else(|| corrupt("approval status", &status))?,
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
        decided_by: opt_text(row, "decided_by")?,
        decided_at: opt_time(row, "decided_at")?,
    })
}

#[async_trait]
impl ApprovalStore for ThisStore {
    async fn create_approval(&self, new: &NewApproval) -> Result<()> {
        let a = &new.approval;
        let b = &a.binding;
        let mut tx = self.begin_write().await?;
        self.count(1);
        sqlx::query(
            "INSERT INTO call_approvals (id, org_id, server_id, caller, caller_name, tool, \
             arguments, arguments_digest, definition_hash, policy_version, policy, reason, \
             approver, status, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(a.id.as_str())
        .bind(b.org_id.as_str())
        .bind(b.server_id.as_str())
        .bind(&b.caller)
        .bind(&a.caller_name)
        .bind(&b.tool)
        .bind(&a.arguments)
        .bind(&b.arguments_digest)
        .bind(&b.definition_hash)
        .bind(b.policy_version)
        .bind(&a.policy)
        .bind(&a.reason)
        .bind(a.approver.as_str())
        .bind(a.status.as_str())
        .bind(&new.token_hash)
        .bind(a.created_at.micros())
        .bind(a.expires_at.micros())
        .execute(traced(&mut *tx))
        .await?;
        // A member's queue is announced with the approval, in its transaction (outbox).
        if a.approver == Approver::Member {
            let event = WebhookEvent::ApprovalRequested;
            webhooks::enqueue(self, &mut tx, &b.org_id, None, event, a, a.created_at).await?;
        }
        self.count(1);
        super::commit(tx).await?;
        Ok(())
    }

    async fn find_approval(
        &self,
        binding: &ApprovalBinding,
        now: Timestamp,
    ) -> Result<Option<CallApproval>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM call_approvals WHERE org_id = $1 AND server_id = $2 \
             AND caller = $3 AND tool = $4 AND arguments_digest = $5 AND definition_hash = $6 \
             AND policy_version = $7 AND expires_at > $8 AND status <> 'used' \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(binding.org_id.as_str())
            .bind(binding.server_id.as_str())
            .bind(&binding.caller)
            .bind(&binding.tool)
            .bind(&binding.arguments_digest)
            .bind(&binding.definition_hash)
            .bind(binding.policy_version)
            .bind(now.micros())
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(approval).transpose()
    }

    async fn get_approval(&self, org: &OrgId, id: &ApprovalId) -> Result<CallApproval> {
        let sql = format!("SELECT {COLUMNS} FROM call_approvals WHERE org_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.run())
            .await?;
        approval(&row.ok_or(StoreError::NotFound)?)
    }

    async fn approval_by_token(&self, token_hash: &str) -> Result<Option<CallApproval>> {
        let sql = format!("SELECT {COLUMNS} FROM call_approvals WHERE token_hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(approval).transpose()
    }

    async fn decide_approval(
        &self,
        org: &OrgId,
        id: &ApprovalId,
        status: ApprovalStatus,
        decided_by: &str,
        now: Timestamp,
    ) -> Result<Option<CallApproval>> {
        let sql = format!(
            "UPDATE call_approvals SET status = $1, decided_by = $2, decided_at = $3 \
             WHERE org_id = $4 AND id = $5 AND status = 'pending' AND expires_at > $3 \
             RETURNING {COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(status.as_str())
            .bind(decided_by)
            .bind(now.micros())
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.run())
            .await?;
        row.as_ref().map(approval).transpose()
    }

    async fn use_approval(&self, org: &OrgId, id: &ApprovalId, now: Timestamp) -> Result<bool> {
        let used = sqlx::query(
            "UPDATE call_approvals SET status = 'used' WHERE org_id = $1 AND id = $2 \
             AND status = 'approved' AND expires_at > $3",
        )
        .bind(org.as_str())
        .bind(id.as_str())
        .bind(now.micros())
        .execute(self.run())
        .await?;
        Ok(used.rows_affected() == 1)
    }

    async fn delete_expired_approvals(&self, before: Timestamp) -> Result<u64> {
        let deleted = sqlx::query("DELETE FROM call_approvals WHERE expires_at < $1")
            .bind(before.micros())
            .execute(self.run())
            .await?;
        Ok(deleted.rows_affected())
    }

    async fn list_approvals(
        &self,
        org: &OrgId,
        status: ApprovalStatus,
        limit: u32,
    ) -> Result<Vec<CallApproval>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM call_approvals WHERE org_id = $1 AND status = $2 \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(status.as_str())
            .bind(i64::from(limit))
            .fetch_all(self.run())
            .await?;
        rows(found, approval)
    }
}
