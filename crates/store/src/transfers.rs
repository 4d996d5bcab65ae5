//! The transfer log (P-TP-3, P-TP-4): every request that carries a user's data to a third-party
//! provider, per job, with what was sent and the provider's request id.
//!
//! A transfer is logged *before* the request leaves (`sending`) and marked `accepted` with the
//! provider's id once it answered, or `failed`; so a crash in the middle of a call still leaves
//! an honest record that data may have gone out.

use serde::Serialize;
use serde_json::Value;

use crate::db::{new_id, with_pool, UnixMillis};
use crate::error::{corrupt_json, StoreResult};
use crate::{Db, Page};

/// What the worker is about to send.
#[derive(Debug, Clone)]
pub struct NewTransfer {
    pub job_id: String,
    pub revision: i64,
    pub user_id: String,
    pub provider: String,
    pub model: String,
    /// `shot`, `transcription` or `script`.
    pub purpose: String,
    /// A description of what goes out (field names, lengths, upload ids, byte counts), never the
    /// content itself.
    pub sent: Value,
}

/// One logged transfer, as the user sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transfer {
    pub id: String,
    /// `None` for a transfer that belongs to no job (the script writer).
    pub job_id: Option<String>,
    pub revision: i64,
    pub provider: String,
    pub model: String,
    pub purpose: String,
    pub sent: Value,
    pub request_id: Option<String>,
    /// `sending`, `accepted` or `failed`.
    pub status: String,
    /// How an accepted request ended: `delivered`, or the error code it ended with; `None` while
    /// it is pending.
    pub outcome: Option<String>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

#[derive(sqlx::FromRow)]
struct TransferRow {
    id: String,
    job_id: Option<String>,
    revision: i64,
    provider: String,
    model: String,
    purpose: String,
    sent_json: String,
    request_id: Option<String>,
    status: String,
    outcome: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TransferRow {
    fn into_transfer(self) -> StoreResult<Transfer> {
        Ok(Transfer {
            sent: serde_json::from_str(&self.sent_json).map_err(|e| corrupt_json("transfer", e))?,
            id: self.id,
            job_id: self.job_id,
            revision: self.revision,
            provider: self.provider,
            model: self.model,
            purpose: self.purpose,
            request_id: self.request_id,
            status: self.status,
            outcome: self.outcome,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

const COLUMNS: &str = "t.id, t.job_id, t.revision, t.provider, t.model, t.purpose, t.sent_json, \
    t.request_id, t.status, t.outcome, t.created_at, t.updated_at";

impl Db {
    /// Log a transfer about to be sent; returns its id for [`Db::transfer_accepted`].
    pub async fn log_transfer(&self, new: &NewTransfer, now: UnixMillis) -> StoreResult<String> {
        let sql =
            "INSERT INTO provider_transfers (id, job_id, revision, user_id, provider, model, \
            purpose, sent_json, status, created_at, updated_at) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'sending', $9, $9)";
        let id = new_id();
        let sent = new.sent.to_string();
        with_pool!(self, pool => sqlx::query(sql)
            .bind(&id).bind(&new.job_id).bind(new.revision).bind(&new.user_id)
            .bind(&new.provider).bind(&new.model).bind(&new.purpose).bind(&sent).bind(now)
            .execute(pool).await.map(|_| ()))?;
        Ok(id)
    }

    /// Log a transfer that belongs to no job (the script writer), attached to its user only, so
    /// it is in the log the user sees (P-TP-4); returns its id like [`Db::log_transfer`].
    pub async fn log_account_transfer(
        &self,
        user_id: &str,
        provider: &str,
        model: &str,
        purpose: &str,
        sent: &Value,
        now: UnixMillis,
    ) -> StoreResult<String> {
        let sql =
            "INSERT INTO provider_transfers (id, job_id, revision, user_id, provider, model, \
            purpose, sent_json, status, created_at, updated_at) \
            VALUES ($1, NULL, 0, $2, $3, $4, $5, $6, 'sending', $7, $7)";
        let id = new_id();
        let sent = sent.to_string();
        with_pool!(self, pool => sqlx::query(sql)
            .bind(&id).bind(user_id).bind(provider).bind(model).bind(purpose).bind(&sent)
            .bind(now).execute(pool).await.map(|_| ()))?;
        Ok(id)
    }

    /// The provider accepted the transfer under `request_id`.
    pub async fn transfer_accepted(
        &self,
        id: &str,
        request_id: &str,
        now: UnixMillis,
    ) -> StoreResult<()> {
        let sql = "UPDATE provider_transfers SET status = 'accepted', request_id = $2, \
            updated_at = $3 WHERE id = $1";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(id).bind(request_id).bind(now).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// The request was refused or never answered.
    pub async fn transfer_failed(&self, id: &str, now: UnixMillis) -> StoreResult<()> {
        let sql = "UPDATE provider_transfers SET status = 'failed', updated_at = $2 \
            WHERE id = $1 AND status = 'sending'";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(id).bind(now).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// How an accepted request ended: `delivered`, or the error code it failed with.
    pub async fn transfer_outcome(
        &self,
        id: &str,
        outcome: &str,
        now: UnixMillis,
    ) -> StoreResult<()> {
        let sql = "UPDATE provider_transfers SET outcome = $2, updated_at = $3 WHERE id = $1";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(id).bind(outcome).bind(now).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// The transfers of the owner's job, oldest first; empty when the job is not theirs.
    pub async fn transfers_for_job(
        &self,
        owner_id: &str,
        job_id: &str,
    ) -> StoreResult<Vec<Transfer>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM provider_transfers t JOIN jobs j ON j.id = t.job_id \
             WHERE t.job_id = $1 AND j.owner_id = $2 ORDER BY t.created_at, t.id"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, TransferRow>(&sql)
            .bind(job_id).bind(owner_id).fetch_all(pool).await)?;
        rows.into_iter().map(TransferRow::into_transfer).collect()
    }

    /// One page of every transfer of the user's data, with or without a job, newest first (the
    /// account's transfer log, P-TP-4).
    pub async fn transfers_page(&self, user_id: &str, page: &Page) -> StoreResult<Vec<Transfer>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM provider_transfers t WHERE t.user_id = $1 AND t.id < $2 \
             ORDER BY t.id DESC LIMIT $3"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, TransferRow>(&sql)
            .bind(user_id).bind(page.before_bound()).bind(i64::from(page.limit))
            .fetch_all(pool).await)?;
        rows.into_iter().map(TransferRow::into_transfer).collect()
    }

    /// Transfers logged before `cutoff`, which the retention sweep deletes (P-RET-3).
    pub async fn transfers_before(&self, cutoff: UnixMillis) -> StoreResult<u64> {
        let sql = "SELECT COUNT(*) FROM provider_transfers WHERE created_at < $1";
        let n = with_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql)
            .bind(cutoff).fetch_one(pool).await)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Deletes the transfers logged before `cutoff` (P-RET-3); the number deleted.
    pub async fn delete_transfers_before(&self, cutoff: UnixMillis) -> StoreResult<u64> {
        let sql = "DELETE FROM provider_transfers WHERE created_at < $1";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(cutoff).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }

    /// Every transfer of the user's data, oldest first (for the export).
    pub async fn transfers_for_user(&self, user_id: &str) -> StoreResult<Vec<Transfer>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM provider_transfers t WHERE t.user_id = $1 \
             ORDER BY t.created_at, t.id"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, TransferRow>(&sql)
            .bind(user_id).fetch_all(pool).await)?;
        rows.into_iter().map(TransferRow::into_transfer).collect()
    }

    /// The job a provider's request belongs to (for webhooks, which name only the request).
    pub async fn job_for_provider_request(
        &self,
        provider: &str,
        request_id: &str,
    ) -> StoreResult<Option<String>> {
        let sql = "SELECT job_id FROM provider_transfers WHERE provider = $1 AND request_id = $2 \
            ORDER BY created_at DESC LIMIT 1";
        let row = with_pool!(self, pool => sqlx::query_scalar::<_, String>(sql)
            .bind(provider).bind(request_id).fetch_optional(pool).await)?;
        Ok(row)
    }
}
