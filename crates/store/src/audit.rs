//! The audit log of security events (P-SEC-6), kept for an operator-set period (P-RET-3).

use serde_json::Value;

use crate::db::{with_pool, Db, UnixMillis};
use crate::error::{corrupt_json, StoreResult};

/// One recorded security event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    /// A stable dotted name such as `auth.login_failed`.
    pub kind: String,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<Value>,
    pub created_at: UnixMillis,
}

/// What recording an event needs.
#[derive(Debug, Clone, Default)]
pub struct NewAuditEntry {
    pub kind: String,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<Value>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    kind: String,
    user_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail_json: Option<String>,
    created_at: i64,
}

impl AuditRow {
    pub(crate) fn into_entry(self) -> StoreResult<AuditEntry> {
        let detail = self
            .detail_json
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| corrupt_json("audit detail", e))?;
        Ok(AuditEntry {
            id: self.id,
            kind: self.kind,
            user_id: self.user_id,
            ip: self.ip,
            user_agent: self.user_agent,
            detail,
            created_at: self.created_at,
        })
    }
}

impl Db {
    /// Append an event.
    pub async fn audit(&self, entry: &NewAuditEntry, now: UnixMillis) -> StoreResult<()> {
        let detail = entry.detail.as_ref().map(Value::to_string);
        let sql = "INSERT INTO audit_log (kind, user_id, ip, user_agent, detail_json, created_at) \
            VALUES ($1, $2, $3, $4, $5, $6)";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(&entry.kind).bind(&entry.user_id).bind(&entry.ip).bind(&entry.user_agent)
            .bind(&detail).bind(now)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// The user's events, newest first, at most `limit`, older than event id `before` if given.
    pub async fn audit_for_user(
        &self,
        user_id: &str,
        limit: u32,
        before: Option<i64>,
    ) -> StoreResult<Vec<AuditEntry>> {
        let sql =
            "SELECT id, kind, user_id, ip, user_agent, detail_json, created_at FROM audit_log \
            WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3";
        let rows = with_pool!(self, pool => sqlx::query_as::<_, AuditRow>(sql)
            .bind(user_id).bind(before.unwrap_or(i64::MAX)).bind(i64::from(limit.clamp(1, 1000)))
            .fetch_all(pool).await)?;
        rows.into_iter().map(AuditRow::into_entry).collect()
    }

    /// Delete events older than `cutoff` (P-RET-3). Returns how many went.
    pub async fn purge_audit_before(&self, cutoff: UnixMillis) -> StoreResult<u64> {
        let n = with_pool!(self, pool => sqlx::query("DELETE FROM audit_log WHERE created_at < $1")
            .bind(cutoff).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }
}
