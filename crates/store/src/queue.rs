//! The durable job queue. A job row is its own queue entry: a worker claims it with a lease
//! (owner id, random token, expiry), extends the lease with heartbeats, and ends it with
//! finish / fail / retry_later / release. Every one of those checks the lease token, so a worker
//! whose lease expired and was taken over cannot change the job any more: each revision
//! finishes exactly once.

use serde_json::{json, Value};

use crate::credits::{settle_holds, CreditHold};
use crate::db::{qualified, with_pool, BeginWrite, Db, UnixMillis};
use crate::error::{StoreError, StoreResult};
use crate::jobs::{insert_event, Job, JobError, JobRow, JOB_COLUMNS};
use crate::webhooks::{enqueue_webhooks, EVENT_FAILED, EVENT_PROGRESS, EVENT_SUCCEEDED};

/// Proof that a worker holds a job. Every later queue call presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub job_id: String,
    pub worker_id: String,
    /// Random per claim: a worker that claims the same job twice holds two different leases.
    pub token: String,
    /// The revision this claim works on.
    pub revision: i64,
}

/// A claimed job and the lease that holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    pub job: Job,
    pub lease: Lease,
    /// True when the job was running under another worker whose lease had expired.
    pub takeover: bool,
}

/// How many jobs may run at once. A job counts as running while its lease is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    pub per_user: u32,
    pub global: u32,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            per_user: 2,
            global: 4,
        }
    }
}

/// PostgreSQL: claims take a transaction-scoped advisory lock so that two claimers cannot both
/// see "one slot left" under READ COMMITTED and exceed a running limit. Claims are short, so
/// serialising them costs little; `SKIP LOCKED` still keeps claimers from waiting on rows that
/// heartbeats or cancellations hold.
const PG_CLAIM_LOCK: &str = "SELECT pg_advisory_xact_lock(7305861126221) ";

const LIVE_RUNNING: &str =
    "SELECT COUNT(*) FROM jobs WHERE status = 'running' AND lease_expires_at > $1";

/// The candidate: a queued job that is due, or a running job whose lease has expired; its owner
/// neither paused nor deleted and under the per-user limit. Expired leases first (they have
/// waited longest), then by due time.
const CANDIDATE: &str = "SELECT j.id, j.status FROM jobs j JOIN users u ON u.id = j.owner_id \
    WHERE ((j.status = 'queued' AND j.next_attempt_at <= $1) \
        OR (j.status = 'running' AND j.lease_expires_at <= $1)) \
      AND NOT u.processing_paused AND u.deleted_at IS NULL \
      AND (SELECT COUNT(*) FROM jobs r WHERE r.owner_id = j.owner_id AND r.status = 'running' \
           AND r.lease_expires_at > $1) < $2 \
    ORDER BY CASE WHEN j.status = 'running' THEN 0 ELSE 1 END, j.next_attempt_at, j.id \
    LIMIT 1";

/// How many queued jobs a worker takes before the job aliased `me` (a scalar subquery): the
/// claim's order (due time, then id) among jobs whose owners neither paused nor deleted.
const QUEUED_AHEAD_OF_ME: &str = "SELECT COUNT(*) FROM jobs j JOIN users u ON u.id = j.owner_id \
    WHERE j.status = 'queued' AND j.id <> me.id \
      AND NOT u.processing_paused AND u.deleted_at IS NULL \
      AND (j.next_attempt_at < me.next_attempt_at \
        OR (j.next_attempt_at = me.next_attempt_at AND j.id < me.id))";

/// One job as its owner reads it (see [`Db::job_read_for_owner`]).
#[derive(Debug, Clone)]
pub struct JobRead {
    pub job: Job,
    pub holds: Vec<CreditHold>,
    /// Only while the job is queued.
    pub queue_ahead: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct JobReadRow {
    #[sqlx(flatten)]
    job: JobRow,
    hold_revision: Option<i64>,
    hold_amount: Option<i64>,
    hold_state: Option<String>,
    queue_ahead: Option<i64>,
}

impl JobReadRow {
    fn hold(&self) -> Option<CreditHold> {
        Some(CreditHold {
            revision: self.hold_revision?,
            amount: self.hold_amount?,
            state: self.hold_state.clone()?,
        })
    }
}

fn lease_cleared() -> &'static str {
    "lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL"
}

impl Db {
    /// How many queued jobs a worker would take before this queued one: the claim's order (due
    /// time, then id) among jobs whose owners neither paused nor deleted. Retries waiting for
    /// a later due time count as behind.
    pub async fn queued_jobs_ahead(&self, job_id: &str) -> StoreResult<i64> {
        let sql = format!("SELECT ({QUEUED_AHEAD_OF_ME}) FROM jobs me WHERE me.id = $1");
        let n = with_pool!(self, pool => sqlx::query_scalar::<_, i64>(&sql)
            .bind(job_id).fetch_optional(pool).await)?;
        Ok(n.unwrap_or(0))
    }

    /// The owner's job as its page and `GET /api/v1/jobs/{id}` show it, in one query: the job,
    /// its credit holds (by revision) and, while queued, the jobs ahead of it. `None` when the
    /// job is not the owner's. The stored plan is read too: the answer's stock credits come
    /// from its storyboard (issue 25).
    pub async fn job_read_for_owner(
        &self,
        owner_id: &str,
        id: &str,
    ) -> StoreResult<Option<JobRead>> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let columns = qualified("me", JOB_COLUMNS);
            format!(
                "SELECT {columns}, h.revision AS hold_revision, h.amount AS hold_amount, \
                 h.state AS hold_state, \
                 CASE WHEN me.status = 'queued' THEN ({QUEUED_AHEAD_OF_ME}) END AS queue_ahead \
                 FROM jobs me LEFT JOIN credit_holds h ON h.job_id = me.id \
                 WHERE me.id = $1 AND me.owner_id = $2 ORDER BY h.revision"
            )
        });
        let rows = with_pool!(self, pool => sqlx::query_as::<_, JobReadRow>(SQL.as_str())
            .bind(id).bind(owner_id).fetch_all(pool).await)?;
        let mut rows = rows.into_iter();
        let Some(first) = rows.next() else {
            return Ok(None);
        };
        let queue_ahead = first.queue_ahead;
        let mut holds: Vec<CreditHold> = first.hold().into_iter().collect();
        holds.extend(rows.filter_map(|r| r.hold()));
        Ok(Some(JobRead {
            job: first.job.into_job()?,
            holds,
            queue_ahead,
        }))
    }

    /// Atomically claim one job for `worker_id` with a lease of `lease_ms`, or `None` when
    /// nothing is claimable: no due job, every candidate's owner paused or at the per-user
    /// limit, or the global limit reached. Takes over running jobs whose lease has expired.
    ///
    /// SQLite runs it in a `BEGIN IMMEDIATE` transaction (one writer at a time); PostgreSQL
    /// serialises claimers with an advisory lock and selects with `FOR UPDATE SKIP LOCKED`.
    pub async fn claim_next_job(
        &self,
        worker_id: &str,
        lease_ms: i64,
        limits: RunLimits,
        now: UnixMillis,
    ) -> StoreResult<Option<ClaimedJob>> {
        let (preamble, candidate) = match self {
            Db::Sqlite(_) => (None, CANDIDATE.to_owned()),
            Db::Postgres(_) => (
                Some(PG_CLAIM_LOCK),
                format!("{CANDIDATE} FOR UPDATE OF j SKIP LOCKED"),
            ),
        };
        let token = uuid::Uuid::new_v4().to_string();
        let expires = now + lease_ms.max(1);
        let claim = format!(
            "UPDATE jobs SET status = 'running', lease_owner = $2, lease_token = $3, \
             lease_expires_at = $4, attempts = attempts + 1, updated_at = $5 WHERE id = $1 \
             RETURNING {JOB_COLUMNS}"
        );
        let mark_revision =
            "UPDATE job_revisions SET status = 'running' WHERE job_id = $1 AND revision = $2";
        let claimed = with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            if let Some(preamble) = preamble {
                sqlx::query(preamble).execute(&mut *tx).await?;
            }
            let running: i64 = sqlx::query_scalar(LIVE_RUNNING).bind(now).fetch_one(&mut *tx).await?;
            if running >= i64::from(limits.global) {
                return Ok::<_, StoreError>(None);
            }
            let candidate: Option<(String, String)> = sqlx::query_as(&candidate)
                .bind(now).bind(i64::from(limits.per_user))
                .fetch_optional(&mut *tx).await?;
            let Some((id, previous_status)) = candidate else {
                return Ok(None);
            };
            let row: JobRow = sqlx::query_as(&claim)
                .bind(&id).bind(worker_id).bind(&token).bind(expires).bind(now)
                .fetch_one(&mut *tx).await?;
            let job = row.into_job()?;
            sqlx::query(mark_revision).bind(&id).bind(job.current_revision).execute(&mut *tx).await?;
            let takeover = previous_status == "running";
            let payload = json!({
                "worker": worker_id,
                "attempt": job.attempts,
                "revision": job.current_revision,
                "takeover": takeover,
            }).to_string();
            insert_event!(tx, &id, "started", &job.stage, Some(job.progress), Some(payload), now)?;
            tx.commit().await?;
            crate::live::job_events_committed(self, &id);
            Ok(Some((job, takeover)))
        }.await)?;
        Ok(claimed.map(|(job, takeover)| ClaimedJob {
            lease: Lease {
                job_id: job.id.clone(),
                worker_id: worker_id.to_owned(),
                token,
                revision: job.current_revision,
            },
            job,
            takeover,
        }))
    }

    /// Extend the lease to `now + lease_ms`. `false` when the worker no longer holds it
    /// (cancelled, deleted, or taken over after expiring): the worker must stop and discard.
    pub async fn heartbeat(
        &self,
        lease: &Lease,
        lease_ms: i64,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let sql = "UPDATE jobs SET lease_expires_at = $3, updated_at = $4 \
            WHERE id = $1 AND lease_token = $2 AND status = 'running'";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(&lease.job_id).bind(&lease.token).bind(now + lease_ms.max(1)).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Report the current stage and progress (0.0 to 1.0), with a `progress` event.
    pub async fn update_progress(
        &self,
        lease: &Lease,
        stage: &str,
        progress: f64,
        now: UnixMillis,
    ) -> StoreResult<()> {
        let progress = progress.clamp(0.0, 1.0);
        let sql = "UPDATE jobs SET stage = $3, progress = $4, updated_at = $5 \
            WHERE id = $1 AND lease_token = $2 AND status = 'running'";
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(sql)
                .bind(&lease.job_id).bind(&lease.token).bind(stage).bind(progress).bind(now)
                .execute(&mut *tx).await?.rows_affected();
            if n != 1 {
                return Err(StoreError::LeaseLost);
            }
            insert_event!(tx, &lease.job_id, "progress", Some(stage), Some(progress), None::<String>, now)?;
            let data = json!({ "job_id": lease.job_id, "revision": lease.revision, "status": "running", "stage": stage, "progress": progress });
            enqueue_webhooks!(tx, &lease.job_id, EVENT_PROGRESS, &data, now).await?;
            tx.commit().await?;
            crate::live::job_events_committed(self, &lease.job_id);
            Ok(())
        }.await)
    }

    /// Record what a stage produced (for example `{"object_key": "..."}`), so a retry of this
    /// revision resumes after it. Replaces an earlier record of the same stage.
    pub async fn record_stage_output(
        &self,
        lease: &Lease,
        stage: &str,
        output: &Value,
        now: UnixMillis,
    ) -> StoreResult<()> {
        let held =
            "SELECT COUNT(*) FROM jobs WHERE id = $1 AND lease_token = $2 AND status = 'running'";
        let upsert =
            "INSERT INTO job_stage_outputs (job_id, revision, stage, output_json, created_at) \
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id, revision, stage) DO UPDATE SET \
            output_json = excluded.output_json, created_at = excluded.created_at";
        let output = output.to_string();
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let n: i64 = sqlx::query_scalar(held).bind(&lease.job_id).bind(&lease.token)
                .fetch_one(&mut *tx).await?;
            if n != 1 {
                return Err(StoreError::LeaseLost);
            }
            sqlx::query(upsert)
                .bind(&lease.job_id).bind(lease.revision).bind(stage).bind(&output).bind(now)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }.await)
    }

    /// The job succeeded: record its output object keys and usage on the job and its revision.
    /// [`StoreError::LeaseLost`] when the lease is no longer held, in which case the caller
    /// deletes the objects it wrote, since nothing references them.
    pub async fn finish_job(
        &self,
        lease: &Lease,
        output_keys: &[String],
        usage: &Value,
        now: UnixMillis,
    ) -> StoreResult<()> {
        let usage = usage.to_string();
        let keys = serde_json::to_string(output_keys).unwrap_or_else(|_| "[]".into());
        let job = format!(
            "UPDATE jobs SET status = 'succeeded', stage = NULL, progress = 1, usage_json = $3, \
             error_code = NULL, error_message = NULL, {}, updated_at = $4 \
             WHERE id = $1 AND lease_token = $2 AND status = 'running'",
            lease_cleared()
        );
        let revision = "UPDATE job_revisions SET status = 'succeeded', output_keys_json = $3, \
            usage_json = $4, error_code = NULL, error_message = NULL, finished_at = $5 \
            WHERE job_id = $1 AND revision = $2";
        let payload = json!({ "revision": lease.revision, "outputs": output_keys }).to_string();
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(&job).bind(&lease.job_id).bind(&lease.token).bind(&usage).bind(now)
                .execute(&mut *tx).await?.rows_affected();
            if n != 1 {
                return Err(StoreError::LeaseLost);
            }
            sqlx::query(revision)
                .bind(&lease.job_id).bind(lease.revision).bind(&keys).bind(&usage).bind(now)
                .execute(&mut *tx).await?;
            settle_holds!(tx, &lease.job_id, Some(lease.revision), true, now).await?;
            insert_event!(tx, &lease.job_id, "succeeded", None::<String>, Some(1.0_f64), Some(&payload), now)?;
            let data = json!({ "job_id": lease.job_id, "revision": lease.revision, "status": "succeeded" });
            enqueue_webhooks!(tx, &lease.job_id, EVENT_SUCCEEDED, &data, now).await?;
            tx.commit().await?;
            crate::live::job_events_committed(self, &lease.job_id);
            Ok(())
        }.await)
    }

    /// The job failed for good (a non-retryable error, or retries exhausted).
    pub async fn fail_job(
        &self,
        lease: &Lease,
        error: &JobError,
        usage: Option<&Value>,
        now: UnixMillis,
    ) -> StoreResult<()> {
        let usage = usage.map(Value::to_string);
        let job = format!(
            "UPDATE jobs SET status = 'failed', error_code = $3, error_message = $4, \
             usage_json = COALESCE($5, usage_json), {}, updated_at = $6 \
             WHERE id = $1 AND lease_token = $2 AND status = 'running'",
            lease_cleared()
        );
        let revision =
            "UPDATE job_revisions SET status = 'failed', error_code = $3, error_message = $4, \
            usage_json = $5, finished_at = $6 WHERE job_id = $1 AND revision = $2";
        let payload = json!({ "code": error.code, "message": error.message }).to_string();
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(&job)
                .bind(&lease.job_id).bind(&lease.token).bind(&error.code).bind(&error.message)
                .bind(&usage).bind(now)
                .execute(&mut *tx).await?.rows_affected();
            if n != 1 {
                return Err(StoreError::LeaseLost);
            }
            sqlx::query(revision)
                .bind(&lease.job_id).bind(lease.revision).bind(&error.code).bind(&error.message)
                .bind(&usage).bind(now)
                .execute(&mut *tx).await?;
            settle_holds!(tx, &lease.job_id, Some(lease.revision), false, now).await?;
            insert_event!(tx, &lease.job_id, "failed", None::<String>, None::<f64>, Some(&payload), now)?;
            let data = json!({ "job_id": lease.job_id, "revision": lease.revision, "status": "failed",
                "error": { "code": error.code, "message": error.message } });
            enqueue_webhooks!(tx, &lease.job_id, EVENT_FAILED, &data, now).await?;
            tx.commit().await?;
            crate::live::job_events_committed(self, &lease.job_id);
            Ok(())
        }.await)
    }

    /// A retryable failure: back to `queued`, due again at `next_attempt_at` (the caller computes
    /// the backoff from `job.attempts`), keeping the error visible meanwhile. Recorded stage
    /// outputs stay, so the retry resumes.
    pub async fn retry_job_later(
        &self,
        lease: &Lease,
        error: &JobError,
        next_attempt_at: UnixMillis,
        now: UnixMillis,
    ) -> StoreResult<()> {
        self.requeue_after_failure(lease, error, next_attempt_at, false, now)
            .await
    }

    /// Like [`Db::retry_job_later`] for a failure of the infrastructure (the database or the
    /// media store unreachable): the attempt is given back, so an outage longer than the
    /// retries allow does not fail jobs that did nothing wrong. The `retrying` event is marked
    /// `"outage": true`, which [`Db::outage_retries`] counts for the backoff.
    pub async fn retry_job_after_outage(
        &self,
        lease: &Lease,
        error: &JobError,
        next_attempt_at: UnixMillis,
        now: UnixMillis,
    ) -> StoreResult<()> {
        self.requeue_after_failure(lease, error, next_attempt_at, true, now)
            .await
    }

    /// How many times this job was put back because of an outage (its backoff exponent).
    pub async fn outage_retries(&self, job_id: &str) -> StoreResult<i64> {
        let sql = "SELECT COUNT(*) FROM job_events WHERE job_id = $1 AND kind = 'retrying' \
            AND payload_json LIKE '%\"outage\":true%'";
        Ok(with_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql)
            .bind(job_id).fetch_one(pool).await)?)
    }

    async fn requeue_after_failure(
        &self,
        lease: &Lease,
        error: &JobError,
        next_attempt_at: UnixMillis,
        outage: bool,
        now: UnixMillis,
    ) -> StoreResult<()> {
        let attempts = if outage {
            "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, "
        } else {
            ""
        };
        let job = format!(
            "UPDATE jobs SET status = 'queued', error_code = $3, error_message = $4, {attempts}\
             next_attempt_at = $5, {}, updated_at = $6 \
             WHERE id = $1 AND lease_token = $2 AND status = 'running'",
            lease_cleared()
        );
        let mut payload = json!({
            "code": error.code,
            "message": error.message,
            "next_attempt_at": next_attempt_at,
        });
        if outage {
            payload["outage"] = json!(true);
        }
        let payload = payload.to_string();
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(&job)
                .bind(&lease.job_id).bind(&lease.token).bind(&error.code).bind(&error.message)
                .bind(next_attempt_at).bind(now)
                .execute(&mut *tx).await?.rows_affected();
            if n != 1 {
                return Err(StoreError::LeaseLost);
            }
            sqlx::query(REVISION_QUEUED).bind(&lease.job_id).bind(lease.revision)
                .execute(&mut *tx).await?;
            insert_event!(tx, &lease.job_id, "retrying", None::<String>, None::<f64>, Some(&payload), now)?;
            tx.commit().await?;
            crate::live::job_events_committed(self, &lease.job_id);
            Ok(())
        }.await)?;
        self.notify_job_queued(&lease.job_id).await
    }

    /// Give the job back without counting the attempt (shutdown): queued and due at once.
    pub async fn release_job(&self, lease: &Lease, now: UnixMillis) -> StoreResult<()> {
        let job = format!(
            "UPDATE jobs SET status = 'queued', \
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
             next_attempt_at = $3, {}, updated_at = $3 \
             WHERE id = $1 AND lease_token = $2 AND status = 'running'",
            lease_cleared()
        );
        let payload = json!({ "worker": lease.worker_id }).to_string();
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(&job).bind(&lease.job_id).bind(&lease.token).bind(now)
                .execute(&mut *tx).await?.rows_affected();
            if n != 1 {
                return Err(StoreError::LeaseLost);
            }
            sqlx::query(REVISION_QUEUED).bind(&lease.job_id).bind(lease.revision)
                .execute(&mut *tx).await?;
            insert_event!(tx, &lease.job_id, "released", None::<String>, None::<f64>, Some(&payload), now)?;
            tx.commit().await?;
            crate::live::job_events_committed(self, &lease.job_id);
            Ok(())
        }.await)?;
        self.notify_job_queued(&lease.job_id).await
    }
}

const REVISION_QUEUED: &str =
    "UPDATE job_revisions SET status = 'queued' WHERE job_id = $1 AND revision = $2";
