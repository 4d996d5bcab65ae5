//! Batches (issue 25, migration 0028): many jobs submitted in one request. Every job is queued
//! and its credits held exactly as a single submission does it ([`insert_queued_job`]), all in
//! one transaction: a balance too short for the whole batch, or any other refusal, leaves
//! nothing behind.

use serde_json::Value;

use crate::db::{new_id, with_pool, BeginWrite, Db, UnixMillis};
use crate::error::{StoreError, StoreResult};
use crate::jobs::{insert_queued_job, parse_json, Job, JobRow, NewJob, JOB_COLUMNS};

/// A batch as stored (its jobs are read with [`Db::batch_jobs`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub id: String,
    pub owner_id: String,
    /// The preset named in the request, if any (it may have been deleted since).
    pub preset_id: Option<String>,
    /// The settings every job was given besides its script (the preset's with the overrides).
    pub settings: Value,
    /// The credits reserved for the whole batch when it was created.
    pub credits: i64,
    pub created_at: UnixMillis,
}

/// What [`Db::create_batch`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedBatch {
    pub batch: Batch,
    /// False when an earlier batch with the same idempotency key is being returned.
    pub created: bool,
    /// False when that earlier batch was created from a different request (another digest).
    pub same_request: bool,
}

/// An idempotency key for a batch and the digest of the request it came with.
#[derive(Debug, Clone, Copy)]
pub struct BatchOnce<'a> {
    pub key: &'a str,
    pub digest: &'a str,
}

/// One job of a new batch: what a single submission would store.
pub struct NewBatchJob {
    pub job: NewJob,
    pub plan: Value,
}

#[derive(sqlx::FromRow)]
struct BatchRow {
    id: String,
    owner_id: String,
    preset_id: Option<String>,
    settings_json: String,
    credits: i64,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct KeyedBatchRow {
    #[sqlx(flatten)]
    batch: BatchRow,
    idempotency_digest: Option<String>,
}

const COLUMNS: &str = "id, owner_id, preset_id, settings_json, credits, created_at";

impl BatchRow {
    fn into_batch(self) -> StoreResult<Batch> {
        Ok(Batch {
            settings: parse_json("batch settings", &self.settings_json)?,
            id: self.id,
            owner_id: self.owner_id,
            preset_id: self.preset_id,
            credits: self.credits,
            created_at: self.created_at,
        })
    }
}

impl Db {
    /// Queues every job of a batch, in order, with its credits held, in one transaction.
    /// `InsufficientCredits` (naming the whole batch's cost) or `ActiveJobLimit` when the
    /// owner cannot take them all: then nothing is written. With `once`, a key this owner
    /// already used returns that batch and writes nothing (the key's row is the first thing
    /// the transaction inserts, so two racing requests cannot both create one).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_batch(
        &self,
        owner_id: &str,
        preset_id: Option<&str>,
        settings: &Value,
        jobs: &[NewBatchJob],
        max_active: Option<i64>,
        once: Option<BatchOnce<'_>>,
        now: UnixMillis,
    ) -> StoreResult<CreatedBatch> {
        let id = new_id();
        let credits: i64 = jobs.iter().map(|j| j.job.cost).sum();
        let settings_text = settings.to_string();
        let rows: Vec<(String, String, String)> = jobs
            .iter()
            .map(|j| (new_id(), j.job.params.to_string(), j.plan.to_string()))
            .collect();
        let insert_batch = "INSERT INTO batches (id, owner_id, preset_id, settings_json, credits, \
            created_at, idempotency_key, idempotency_digest) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
            ON CONFLICT (owner_id, idempotency_key) DO NOTHING";
        let insert_member =
            "INSERT INTO batch_jobs (batch_id, position, job_id) VALUES ($1, $2, $3)";
        let balance = self.credit_balance(owner_id).await?;
        let created = with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            // Serialises this owner's submissions on PostgreSQL, as a single submission does.
            sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                .bind(owner_id).execute(&mut *tx).await?;
            let inserted = sqlx::query(insert_batch)
                .bind(&id).bind(owner_id).bind(preset_id).bind(&settings_text).bind(credits)
                .bind(now).bind(once.map(|o| o.key)).bind(once.map(|o| o.digest))
                .execute(&mut *tx).await?.rows_affected();
            if inserted == 0 {
                // The key is taken: the transaction is dropped, nothing is written.
                return Ok::<bool, StoreError>(false);
            }
            for (position, (job, (job_id, params, plan))) in jobs.iter().zip(&rows).enumerate() {
                let plan = Some(plan);
                let inserted = insert_queued_job!(
                    tx, job_id, &job.job, params, &plan, None::<&str>, max_active, now
                )
                .await
                .map_err(|e| match e {
                    // The whole batch's cost, not the one job's that found the balance short.
                    StoreError::InsufficientCredits { .. } => {
                        StoreError::InsufficientCredits { needed: credits, balance }
                    }
                    other => other,
                })?;
                if !inserted {
                    return Err(StoreError::Corrupt("a batch job's id was taken".into()));
                }
                sqlx::query(insert_member)
                    .bind(&id).bind(position as i64).bind(job_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(true)
        }.await)?;
        if !created {
            let once = once.ok_or_else(|| StoreError::Corrupt("a batch id was taken".into()))?;
            let (batch, digest) = self
                .batch_by_idempotency_key(owner_id, once.key)
                .await?
                .ok_or_else(|| StoreError::Corrupt("the batch of a taken key vanished".into()))?;
            return Ok(CreatedBatch {
                batch,
                created: false,
                same_request: digest.is_none_or(|d| d == once.digest),
            });
        }
        for (job_id, _, _) in &rows {
            crate::live::job_events_committed(self, job_id);
            self.notify_job_queued(job_id).await?;
        }
        let batch = self
            .batch_for_owner(owner_id, &id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("stored batch vanished".into()))?;
        Ok(CreatedBatch {
            batch,
            created: true,
            same_request: true,
        })
    }

    /// The owner's batch created with this idempotency key, and the digest of its request.
    pub async fn batch_by_idempotency_key(
        &self,
        owner_id: &str,
        key: &str,
    ) -> StoreResult<Option<(Batch, Option<String>)>> {
        let sql = format!(
            "SELECT {COLUMNS}, idempotency_digest FROM batches \
             WHERE owner_id = $1 AND idempotency_key = $2"
        );
        let row = with_pool!(self, pool => sqlx::query_as::<_, KeyedBatchRow>(&sql)
            .bind(owner_id).bind(key).fetch_optional(pool).await)?;
        row.map(|r| Ok((r.batch.into_batch()?, r.idempotency_digest)))
            .transpose()
    }

    /// The owner's batch with this id; `None` for anyone else's (P-SEC-4).
    pub async fn batch_for_owner(&self, owner_id: &str, id: &str) -> StoreResult<Option<Batch>> {
        let sql = format!("SELECT {COLUMNS} FROM batches WHERE id = $1 AND owner_id = $2");
        let row = with_pool!(self, pool => sqlx::query_as::<_, BatchRow>(&sql)
            .bind(id).bind(owner_id).fetch_optional(pool).await)?;
        row.map(BatchRow::into_batch).transpose()
    }

    /// The owner's batches, newest first, at most `limit`.
    pub async fn batches_of(&self, owner_id: &str, limit: i64) -> StoreResult<Vec<Batch>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM batches WHERE owner_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, BatchRow>(&sql)
            .bind(owner_id).bind(limit).fetch_all(pool).await)?;
        rows.into_iter().map(BatchRow::into_batch).collect()
    }

    /// The jobs of a batch still there (their owner may have deleted some), in batch order.
    pub async fn batch_jobs(&self, batch_id: &str) -> StoreResult<Vec<Job>> {
        let columns = JOB_COLUMNS
            .split(", ")
            .map(|c| format!("j.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM batch_jobs b JOIN jobs j ON j.id = b.job_id \
             WHERE b.batch_id = $1 ORDER BY b.position"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, JobRow>(&sql)
            .bind(batch_id).fetch_all(pool).await)?;
        rows.into_iter().map(JobRow::into_job).collect()
    }
}
