//! Jobs, their revisions (P-VIS-4), their per-stage outputs and their event stream. A job row is
//! also its queue entry; the queue's transitions live in [`crate::queue`].

use serde::Serialize;
use serde_json::{json, Value};

use crate::credits::{hold_credits, settle_holds};
use crate::db::{new_id, now_ms, with_pool, BeginWrite, Db, UnixMillis};
use crate::error::{corrupt_json, StoreError, StoreResult};
use crate::uploads::Page;

/// Where a job (or one revision of it) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Succeeded, failed and cancelled jobs do not change again (until a new revision).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }

    pub(crate) fn parse(s: &str) -> StoreResult<JobStatus> {
        match s {
            "queued" => Ok(JobStatus::Queued),
            "running" => Ok(JobStatus::Running),
            "succeeded" => Ok(JobStatus::Succeeded),
            "failed" => Ok(JobStatus::Failed),
            "cancelled" => Ok(JobStatus::Cancelled),
            other => Err(StoreError::Corrupt(format!("unknown job status `{other}`"))),
        }
    }
}

/// Why a job failed, as the API shows it: a stable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobError {
    pub code: String,
    pub message: String,
}

/// A job as stored: its current revision's parameters and state, plus the queue bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub owner_id: String,
    pub status: JobStatus,
    pub stage: Option<String>,
    /// 0.0 to 1.0.
    pub progress: f64,
    pub params: Value,
    /// The last error: the reason for `failed`, or the last retryable failure while re-queued.
    pub error: Option<JobError>,
    /// Usage metrics (P-IN-6): engine, model, time per stage, output length and size.
    pub usage: Option<Value>,
    pub idempotency_key: Option<String>,
    pub current_revision: i64,
    /// How many times the current revision has been claimed.
    pub attempts: i64,
    pub next_attempt_at: UnixMillis,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<UnixMillis>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
    /// The title its owner gave it; `None` means the default (the script's first words).
    pub title: Option<String>,
    /// The current revision's plan, stored at submission (`reelsmith_jobs::StoredPlan`); `None`
    /// for a job stored before plans were.
    pub plan: Option<Value>,
}

/// One version of a job's parameters and what it produced.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRevision {
    pub job_id: String,
    pub revision: i64,
    pub params: Value,
    pub status: JobStatus,
    /// Object keys of the outputs (video, poster, captions) this revision produced.
    pub output_keys: Vec<String>,
    pub usage: Option<Value>,
    pub error: Option<JobError>,
    pub created_at: UnixMillis,
    pub finished_at: Option<UnixMillis>,
}

/// The recorded output of one pipeline stage of one revision, so a retry can resume.
#[derive(Debug, Clone, PartialEq)]
pub struct StageOutput {
    pub job_id: String,
    pub revision: i64,
    pub stage: String,
    pub output: Value,
    pub created_at: UnixMillis,
}

/// One entry of a job's event stream (what `GET /jobs/{id}/events` sends).
#[derive(Debug, Clone, PartialEq)]
pub struct JobEvent {
    /// Increasing per database, so clients resume with "events after id N".
    pub id: i64,
    pub job_id: String,
    /// `queued`, `started`, `progress`, `retrying`, `released`, `succeeded`, `failed`,
    /// `cancelled`, or a caller's own kind.
    pub kind: String,
    pub stage: Option<String>,
    pub progress: Option<f64>,
    pub payload: Option<Value>,
    pub created_at: UnixMillis,
}

/// What submitting a job records.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub owner_id: String,
    pub params: Value,
    /// The client's `Idempotency-Key`: a second submission with the same key by the same owner
    /// returns the first job instead of creating another.
    pub idempotency_key: Option<String>,
    /// The quoted cost in credits, reserved from the owner's balance in the same transaction
    /// (P-BILL-4); 0 for the built-in engine.
    pub cost: i64,
}

/// The answer to a submission.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmittedJob {
    pub job: Job,
    /// False when an earlier submission with the same idempotency key is being returned.
    pub created: bool,
    /// False when that earlier submission carried a different request digest: the key was
    /// reused for another request, and `job` is not what this request asked for.
    pub same_request: bool,
}

/// The answer to a cancellation.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// The job was queued or running and is now cancelled.
    Cancelled(Job),
    /// The job had already ended; it is unchanged.
    AlreadyFinished(Job),
    /// No such job for this owner.
    NotFound,
}

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: String,
    owner_id: String,
    status: String,
    stage: Option<String>,
    progress: f64,
    params_json: String,
    error_code: Option<String>,
    error_message: Option<String>,
    usage_json: Option<String>,
    idempotency_key: Option<String>,
    current_revision: i64,
    attempts: i64,
    next_attempt_at: i64,
    lease_owner: Option<String>,
    lease_expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    title: Option<String>,
    plan_json: Option<String>,
}

pub(crate) const JOB_COLUMNS: &str = "id, owner_id, status, stage, progress, params_json, \
    error_code, error_message, usage_json, idempotency_key, current_revision, attempts, \
    next_attempt_at, lease_owner, lease_expires_at, created_at, updated_at, title, plan_json";

pub(crate) fn parse_json(what: &str, text: &str) -> StoreResult<Value> {
    serde_json::from_str(text).map_err(|e| corrupt_json(what, e))
}

fn parse_opt_json(what: &str, text: Option<&str>) -> StoreResult<Option<Value>> {
    text.map(|t| parse_json(what, t)).transpose()
}

fn job_error(code: Option<String>, message: Option<String>) -> Option<JobError> {
    code.map(|code| JobError {
        code,
        message: message.unwrap_or_default(),
    })
}

impl JobRow {
    pub(crate) fn into_job(self) -> StoreResult<Job> {
        Ok(Job {
            status: JobStatus::parse(&self.status)?,
            params: parse_json("job params", &self.params_json)?,
            usage: parse_opt_json("job usage", self.usage_json.as_deref())?,
            plan: parse_opt_json("job plan", self.plan_json.as_deref())?,
            error: job_error(self.error_code, self.error_message),
            id: self.id,
            owner_id: self.owner_id,
            stage: self.stage,
            progress: self.progress,
            idempotency_key: self.idempotency_key,
            current_revision: self.current_revision,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            lease_owner: self.lease_owner,
            lease_expires_at: self.lease_expires_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
            title: self.title,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RevisionRow {
    job_id: String,
    revision: i64,
    params_json: String,
    status: String,
    output_keys_json: String,
    usage_json: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    created_at: i64,
    finished_at: Option<i64>,
}

const REVISION_COLUMNS: &str = "r.job_id, r.revision, r.params_json, r.status, \
    r.output_keys_json, r.usage_json, r.error_code, r.error_message, r.created_at, r.finished_at";

impl RevisionRow {
    fn into_revision(self) -> StoreResult<JobRevision> {
        Ok(JobRevision {
            status: JobStatus::parse(&self.status)?,
            params: parse_json("revision params", &self.params_json)?,
            output_keys: parse_output_keys(&self.output_keys_json)?,
            usage: parse_opt_json("revision usage", self.usage_json.as_deref())?,
            error: job_error(self.error_code, self.error_message),
            job_id: self.job_id,
            revision: self.revision,
            created_at: self.created_at,
            finished_at: self.finished_at,
        })
    }
}

pub(crate) fn parse_output_keys(text: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(|e| corrupt_json("revision output keys", e))
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    job_id: String,
    kind: String,
    stage: Option<String>,
    progress: Option<f64>,
    payload_json: Option<String>,
    created_at: i64,
}

impl EventRow {
    fn into_event(self) -> StoreResult<JobEvent> {
        Ok(JobEvent {
            payload: parse_opt_json("event payload", self.payload_json.as_deref())?,
            id: self.id,
            job_id: self.job_id,
            kind: self.kind,
            stage: self.stage,
            progress: self.progress,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct StageRow {
    job_id: String,
    revision: i64,
    stage: String,
    output_json: String,
    created_at: i64,
}

pub(crate) const INSERT_EVENT: &str = "INSERT INTO job_events \
    (job_id, kind, stage, progress, payload_json, created_at) VALUES ($1, $2, $3, $4, $5, $6)";

/// Append an event inside the caller's transaction, so a state change and its event commit
/// together.
macro_rules! insert_event {
    ($tx:expr, $job_id:expr, $kind:expr, $stage:expr, $progress:expr, $payload:expr, $now:expr) => {
        sqlx::query($crate::jobs::INSERT_EVENT)
            .bind($job_id)
            .bind($kind)
            .bind($stage)
            .bind($progress)
            .bind($payload)
            .bind($now)
            .execute(&mut *$tx)
            .await
    };
}
pub(crate) use insert_event;

/// Inserts a queued job (its row, first revision, credit hold and `queued` event) on `$tx`,
/// exactly as a single submission does; a batch inserts each of its jobs with it. `Ok(false)`
/// when the owner's idempotency key is taken (nothing inserted); the active-jobs cap and a short
/// balance are errors, and dropping `$tx` undoes everything.
macro_rules! insert_queued_job {
    ($tx:expr, $id:expr, $new:expr, $params:expr, $plan:expr, $digest:expr, $max_active:expr, $now:expr) => {
        async {
            let insert_job = "INSERT INTO jobs (id, owner_id, status, params_json, idempotency_key, \
                current_revision, attempts, next_attempt_at, created_at, updated_at, \
                idempotency_digest, plan_json) \
                VALUES ($1, $2, 'queued', $3, $4, 1, 0, $5, $5, $5, $6, $7) \
                ON CONFLICT (owner_id, idempotency_key) DO NOTHING";
            let insert_revision =
                "INSERT INTO job_revisions (job_id, revision, params_json, status, created_at, \
                plan_json) VALUES ($1, 1, $2, 'queued', $3, $4)";
            let n = sqlx::query(insert_job)
                .bind($id).bind(&$new.owner_id).bind($params).bind(&$new.idempotency_key)
                .bind($now).bind($digest).bind($plan)
                .execute(&mut *$tx).await?.rows_affected();
            if n == 0 {
                return Ok::<bool, $crate::error::StoreError>(false);
            }
            if let Some(limit) = $max_active {
                let active: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM jobs WHERE owner_id = $1 \
                     AND status IN ('queued', 'running')",
                )
                .bind(&$new.owner_id).fetch_one(&mut *$tx).await?;
                // The count includes the job just inserted; dropping the transaction rolls it back.
                if active > limit {
                    return Err($crate::error::StoreError::ActiveJobLimit { limit });
                }
            }
            sqlx::query(insert_revision).bind($id).bind($params).bind($now).bind($plan)
                .execute(&mut *$tx).await?;
            $crate::credits::hold_credits!($tx, &$new.owner_id, $id, 1_i64, $new.cost, $now).await?;
            let payload = serde_json::json!({ "revision": 1 }).to_string();
            $crate::jobs::insert_event!(
                $tx, $id, "queued", None::<String>, Some(0.0_f64), Some(payload), $now
            )?;
            Ok(true)
        }
    };
}
pub(crate) use insert_queued_job;

/// The object keys of one non-current revision of the owner's job, read on `$conn` (a
/// connection or a transaction): `Ok(None)` when not theirs or unknown.
macro_rules! revision_keys {
    ($conn:expr, $owner_id:expr, $id:expr, $revision:expr) => {
        async {
            let current: Option<i64> = sqlx::query_scalar(
                "SELECT current_revision FROM jobs WHERE id = $1 AND owner_id = $2",
            )
            .bind($id)
            .bind($owner_id)
            .fetch_optional(&mut *$conn)
            .await?;
            let Some(current) = current else {
                return Ok(None);
            };
            let outputs: Option<String> = sqlx::query_scalar(
                "SELECT output_keys_json FROM job_revisions WHERE job_id = $1 AND revision = $2",
            )
            .bind($id)
            .bind($revision)
            .fetch_optional(&mut *$conn)
            .await?;
            let Some(outputs) = outputs else {
                return Ok(None);
            };
            if current == $revision {
                return Err(StoreError::RevisionIsCurrent);
            }
            let stage_docs: Vec<String> = sqlx::query_scalar(
                "SELECT output_json FROM job_stage_outputs WHERE job_id = $1 AND revision = $2",
            )
            .bind($id)
            .bind($revision)
            .fetch_all(&mut *$conn)
            .await?;
            let mut keys = parse_output_keys(&outputs)?;
            for doc in &stage_docs {
                keys.extend(object_keys_in(&parse_json("stage output", doc)?));
            }
            keys.sort();
            keys.dedup();
            Ok::<Option<Vec<String>>, StoreError>(Some(keys))
        }
        .await
    };
}

impl Db {
    /// Submit a job: the job row (queued, revision 1), its first revision and a `queued` event,
    /// in one transaction. With an idempotency key already used by this owner, returns the
    /// first job and creates nothing.
    pub async fn submit_job(&self, new: &NewJob, now: UnixMillis) -> StoreResult<SubmittedJob> {
        self.submit_job_once(new, None, now).await
    }

    /// [`Db::submit_job`], recording `request_digest` (a hash of the request) with the
    /// idempotency key, so that a later submission with the same key can be told apart from
    /// a retry: [`SubmittedJob::same_request`] is false when the digests differ. A job stored
    /// without a digest matches any.
    pub async fn submit_job_once(
        &self,
        new: &NewJob,
        request_digest: Option<&str>,
        now: UnixMillis,
    ) -> StoreResult<SubmittedJob> {
        self.submit_job_limited(new, request_digest, None, now)
            .await
    }

    /// [`Db::submit_job_once`] that also refuses with [`StoreError::ActiveJobLimit`], writing
    /// nothing, when the owner would have more than `max_active` jobs queued or running. The
    /// count is taken under the owner's row lock in the transaction that inserts the job, so
    /// parallel submissions cannot overshoot it (issue 18, the plan's concurrent-jobs limit).
    pub async fn submit_job_limited(
        &self,
        new: &NewJob,
        request_digest: Option<&str>,
        max_active: Option<i64>,
        now: UnixMillis,
    ) -> StoreResult<SubmittedJob> {
        self.submit_planned_job(new, None, request_digest, max_active, now)
            .await
    }

    /// [`Db::submit_job_limited`] storing `plan`, the plan the job was quoted with, in the same
    /// transaction: the worker executes it instead of planning again.
    pub async fn submit_planned_job(
        &self,
        new: &NewJob,
        plan: Option<&Value>,
        request_digest: Option<&str>,
        max_active: Option<i64>,
        now: UnixMillis,
    ) -> StoreResult<SubmittedJob> {
        let id = new_id();
        self.insert_planned_job(&id, None, new, plan, request_digest, max_active, now)
            .await?
            .ok_or_else(|| StoreError::Corrupt("submitted job vanished".into()))
    }

    /// [`Db::submit_planned_job`] under a given id. With `draft` (the owner's storyboard of
    /// that id), the draft is deleted in the same transaction; `None` when it no longer exists
    /// (rendered already, or deleted), and nothing is written.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_planned_job(
        &self,
        id: &str,
        draft: Option<&str>,
        new: &NewJob,
        plan: Option<&Value>,
        request_digest: Option<&str>,
        max_active: Option<i64>,
        now: UnixMillis,
    ) -> StoreResult<Option<SubmittedJob>> {
        let id = id.to_owned();
        let params = new.params.to_string();
        let plan = plan.map(Value::to_string);
        let created = with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            if max_active.is_some() {
                // Serialises this owner's submissions on PostgreSQL; SQLite's write
                // transaction already excludes every other writer.
                sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                    .bind(&new.owner_id).execute(&mut *tx).await?;
            }
            if let Some(draft) = draft {
                let gone = sqlx::query("DELETE FROM storyboards WHERE id = $1 AND owner_id = $2")
                    .bind(draft).bind(&new.owner_id).execute(&mut *tx).await?.rows_affected();
                if gone == 0 {
                    return Ok::<Option<bool>, StoreError>(None);
                }
            }
            let inserted = insert_queued_job!(
                tx, &id, new, &params, &plan, request_digest, max_active, now
            ).await?;
            if !inserted {
                return Ok(Some(false));
            }
            tx.commit().await?;
            crate::live::job_events_committed(self, &id);
            Ok(Some(true))
        }.await)?;
        let Some(created) = created else {
            return Ok(None);
        };
        let mut same_request = true;
        let job = if created {
            self.notify_job_queued(&id).await?;
            self.job_by_id(&id).await?
        } else {
            let key = new.idempotency_key.as_deref().unwrap_or_default();
            let first = self.idempotency_digest(&new.owner_id, key).await?;
            same_request = match (first.as_deref(), request_digest) {
                (Some(first), Some(this)) => first == this,
                _ => true,
            };
            self.job_by_idempotency_key(&new.owner_id, key).await?
        };
        let job = job.ok_or_else(|| StoreError::Corrupt("submitted job vanished".into()))?;
        Ok(Some(SubmittedJob {
            job,
            created,
            same_request,
        }))
    }

    async fn idempotency_digest(&self, owner_id: &str, key: &str) -> StoreResult<Option<String>> {
        let sql =
            "SELECT idempotency_digest FROM jobs WHERE owner_id = $1 AND idempotency_key = $2";
        let digest: Option<Option<String>> = with_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(owner_id).bind(key).fetch_optional(pool).await)?;
        Ok(digest.flatten())
    }

    async fn job_by_idempotency_key(&self, owner_id: &str, key: &str) -> StoreResult<Option<Job>> {
        let sql =
            format!("SELECT {JOB_COLUMNS} FROM jobs WHERE owner_id = $1 AND idempotency_key = $2");
        let row = with_pool!(self, pool => sqlx::query_as::<_, JobRow>(&sql)
            .bind(owner_id).bind(key).fetch_optional(pool).await)?;
        row.map(JobRow::into_job).transpose()
    }

    /// Any job by id, whoever owns it: for workers and administrators, never for answering a
    /// user's request (use [`Db::job_for_owner`]).
    pub async fn job_by_id(&self, id: &str) -> StoreResult<Option<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row = with_pool!(self, pool => sqlx::query_as::<_, JobRow>(&sql)
            .bind(id).fetch_optional(pool).await)?;
        row.map(JobRow::into_job).transpose()
    }

    /// The owner's job with this id; `None` for anyone else's (P-SEC-4).
    pub async fn job_for_owner(&self, owner_id: &str, id: &str) -> StoreResult<Option<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND owner_id = $2");
        let row = with_pool!(self, pool => sqlx::query_as::<_, JobRow>(&sql)
            .bind(id).bind(owner_id).fetch_optional(pool).await)?;
        row.map(JobRow::into_job).transpose()
    }

    /// The owner's jobs, newest first.
    pub async fn list_jobs(&self, owner_id: &str, page: &Page) -> StoreResult<Vec<Job>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE owner_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, JobRow>(&sql)
            .bind(owner_id).bind(page.before_bound()).bind(page.sql_limit())
            .fetch_all(pool).await)?;
        rows.into_iter().map(JobRow::into_job).collect()
    }

    /// Sets (or with `None` clears) the title of the owner's job; `None` when not theirs. The
    /// caller checks the text; `updated_at` stays, as it tracks rendering, not naming.
    pub async fn set_job_title(
        &self,
        owner_id: &str,
        id: &str,
        title: Option<&str>,
    ) -> StoreResult<Option<Job>> {
        let sql = "UPDATE jobs SET title = $3 WHERE id = $1 AND owner_id = $2";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(id).bind(owner_id).bind(title).execute(pool).await
            .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Ok(None);
        }
        self.job_for_owner(owner_id, id).await
    }

    /// Cancel the owner's job if it is queued or running. A running job's lease is cleared, so
    /// its worker's next heartbeat answers `false` and its finish is refused.
    pub async fn cancel_job(
        &self,
        owner_id: &str,
        id: &str,
        now: UnixMillis,
    ) -> StoreResult<CancelOutcome> {
        let cancel =
            "UPDATE jobs SET status = 'cancelled', lease_owner = NULL, lease_token = NULL, \
            lease_expires_at = NULL, updated_at = $3 \
            WHERE id = $1 AND owner_id = $2 AND status IN ('queued', 'running')";
        let cancel_revision = "UPDATE job_revisions SET status = 'cancelled', finished_at = $2 \
            WHERE job_id = $1 AND revision = (SELECT current_revision FROM jobs WHERE id = $1)";
        let cancelled = with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(cancel).bind(id).bind(owner_id).bind(now)
                .execute(&mut *tx).await?.rows_affected();
            if n == 1 {
                sqlx::query(cancel_revision).bind(id).bind(now).execute(&mut *tx).await?;
                settle_holds!(tx, id, None, false, now).await?;
                insert_event!(tx, id, "cancelled", None::<String>, None::<f64>, None::<String>, now)?;
                tx.commit().await?;
                crate::live::job_events_committed(self, id);
            }
            Ok::<bool, StoreError>(n == 1)
        }.await)?;
        Ok(match self.job_for_owner(owner_id, id).await? {
            None => CancelOutcome::NotFound,
            Some(job) if cancelled => CancelOutcome::Cancelled(job),
            Some(job) => CancelOutcome::AlreadyFinished(job),
        })
    }

    /// Delete the owner's job with its revisions, stage outputs and events. Returns the object
    /// keys every revision produced, for the caller to delete from media storage (P-RET-5), or
    /// `None` when not theirs. A worker still running it loses its lease.
    pub async fn delete_job(&self, owner_id: &str, id: &str) -> StoreResult<Option<Vec<String>>> {
        let outputs =
            "SELECT r.output_keys_json FROM job_revisions r JOIN jobs j ON j.id = r.job_id \
            WHERE j.id = $1 AND j.owner_id = $2 ORDER BY r.revision";
        let stage_outputs =
            "SELECT s.output_json FROM job_stage_outputs s JOIN jobs j ON j.id = s.job_id \
            WHERE j.id = $1 AND j.owner_id = $2";
        let delete = "DELETE FROM jobs WHERE id = $1 AND owner_id = $2";
        let (lists, stage_docs, n) = with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let lists: Vec<String> = sqlx::query_scalar(outputs).bind(id).bind(owner_id)
                .fetch_all(&mut *tx).await?;
            let stage_docs: Vec<String> = sqlx::query_scalar(stage_outputs).bind(id).bind(owner_id)
                .fetch_all(&mut *tx).await?;
            let n = sqlx::query(delete).bind(id).bind(owner_id).execute(&mut *tx).await?.rows_affected();
            if n == 1 {
                settle_holds!(tx, id, None, false, now_ms()).await?;
                sqlx::query("DELETE FROM stock_offers WHERE job_id = $1 AND owner_id = $2")
                    .bind(id).bind(owner_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>((lists, stage_docs, n))
        }.await)?;
        if n == 0 {
            return Ok(None);
        }
        // Its open event streams end now instead of at their next safety re-read.
        crate::live::job_events_committed(self, id);
        let mut keys = Vec::new();
        for list in &lists {
            keys.extend(parse_output_keys(list)?);
        }
        for doc in &stage_docs {
            keys.extend(object_keys_in(&parse_json("stage output", doc)?));
        }
        keys.sort();
        keys.dedup();
        Ok(Some(keys))
    }

    /// Start a new revision of the owner's job with new parameters (P-VIS-4): the job goes back
    /// to `queued` with fresh progress and attempts; earlier revisions stay readable. Refused
    /// with [`StoreError::JobBusy`] while the job runs. `None` when not theirs.
    pub async fn add_revision(
        &self,
        owner_id: &str,
        id: &str,
        params: &Value,
        cost: i64,
        now: UnixMillis,
    ) -> StoreResult<Option<Job>> {
        self.add_planned_revision(owner_id, id, params, None, cost, now)
            .await
    }

    /// [`Db::add_revision`] storing the new revision's plan (see [`Db::submit_planned_job`]).
    pub async fn add_planned_revision(
        &self,
        owner_id: &str,
        id: &str,
        params: &Value,
        plan: Option<&Value>,
        cost: i64,
        now: UnixMillis,
    ) -> StoreResult<Option<Job>> {
        let current = "SELECT status, current_revision FROM jobs WHERE id = $1 AND owner_id = $2";
        let requeue = "UPDATE jobs SET params_json = $2, current_revision = $3, status = 'queued', \
            stage = NULL, progress = 0, error_code = NULL, error_message = NULL, usage_json = NULL, \
            attempts = 0, next_attempt_at = $4, lease_owner = NULL, lease_token = NULL, \
            lease_expires_at = NULL, updated_at = $4, plan_json = $5 WHERE id = $1";
        let insert_revision =
            "INSERT INTO job_revisions (job_id, revision, params_json, status, created_at, \
            plan_json) VALUES ($1, $2, $3, 'queued', $4, $5)";
        let params = params.to_string();
        let plan = plan.map(Value::to_string);
        let revised = with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let row: Option<(String, i64)> = sqlx::query_as(current).bind(id).bind(owner_id)
                .fetch_optional(&mut *tx).await?;
            let Some((status, revision)) = row else {
                return Ok::<bool, StoreError>(false);
            };
            if JobStatus::parse(&status)? == JobStatus::Running {
                return Err(StoreError::JobBusy);
            }
            let next = revision + 1;
            sqlx::query(requeue).bind(id).bind(&params).bind(next).bind(now).bind(&plan)
                .execute(&mut *tx).await?;
            sqlx::query(insert_revision).bind(id).bind(next).bind(&params).bind(now).bind(&plan)
                .execute(&mut *tx).await?;
            // A revision replaced before it ran gives its credits back before the new one holds.
            settle_holds!(tx, id, None, false, now).await?;
            hold_credits!(tx, owner_id, id, next, cost, now).await?;
            let payload = json!({ "revision": next }).to_string();
            insert_event!(tx, id, "queued", None::<String>, Some(0.0_f64), Some(payload), now)?;
            tx.commit().await?;
            crate::live::job_events_committed(self, id);
            Ok(true)
        }.await)?;
        if !revised {
            return Ok(None);
        }
        self.notify_job_queued(id).await?;
        self.job_for_owner(owner_id, id).await
    }

    /// Every revision of the owner's job, oldest first (empty when not theirs).
    pub async fn list_revisions(&self, owner_id: &str, id: &str) -> StoreResult<Vec<JobRevision>> {
        let sql = format!(
            "SELECT {REVISION_COLUMNS} FROM job_revisions r JOIN jobs j ON j.id = r.job_id \
             WHERE r.job_id = $1 AND j.owner_id = $2 ORDER BY r.revision"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, RevisionRow>(&sql)
            .bind(id).bind(owner_id).fetch_all(pool).await)?;
        rows.into_iter().map(RevisionRow::into_revision).collect()
    }

    /// One revision of the owner's job.
    pub async fn revision_for_owner(
        &self,
        owner_id: &str,
        id: &str,
        revision: i64,
    ) -> StoreResult<Option<JobRevision>> {
        let sql = format!(
            "SELECT {REVISION_COLUMNS} FROM job_revisions r JOIN jobs j ON j.id = r.job_id \
             WHERE r.job_id = $1 AND j.owner_id = $2 AND r.revision = $3"
        );
        let row = with_pool!(self, pool => sqlx::query_as::<_, RevisionRow>(&sql)
            .bind(id).bind(owner_id).bind(revision).fetch_optional(pool).await)?;
        row.map(RevisionRow::into_revision).transpose()
    }

    /// Every object key an earlier revision of the owner's job recorded: its outputs and the
    /// keys in its stage outputs. `None` when the job is not theirs or the revision unknown;
    /// [`StoreError::RevisionIsCurrent`] for the current revision. Callers delete these objects
    /// *before* [`Db::delete_revision`] removes the rows that list them, so a failure part way
    /// leaves rows pointing at (some) missing objects, which a retry finishes, never objects
    /// that nothing records.
    pub async fn revision_object_keys(
        &self,
        owner_id: &str,
        id: &str,
        revision: i64,
    ) -> StoreResult<Option<Vec<String>>> {
        with_pool!(self, pool => async {
            let mut conn = pool.acquire().await?;
            revision_keys!(conn, owner_id, id, revision)
        }.await)
    }

    /// Delete an earlier revision of the owner's job (P-VIS-4) with its stage outputs, and
    /// return the object keys it recorded (see [`Db::revision_object_keys`] for the order of
    /// deletion). The current revision cannot be deleted this way (delete the job): asking for
    /// it gives [`StoreError::RevisionIsCurrent`]. `None` when not theirs or unknown.
    pub async fn delete_revision(
        &self,
        owner_id: &str,
        id: &str,
        revision: i64,
    ) -> StoreResult<Option<Vec<String>>> {
        let delete_stages = "DELETE FROM job_stage_outputs WHERE job_id = $1 AND revision = $2";
        let delete = "DELETE FROM job_revisions WHERE job_id = $1 AND revision = $2";
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            // Checked inside the transaction: a revision that is not current now never becomes
            // current again (revisions only count up), so the check cannot go stale.
            let Some(keys) = revision_keys!(tx, owner_id, id, revision)? else {
                return Ok::<_, StoreError>(None);
            };
            sqlx::query(delete_stages).bind(id).bind(revision).execute(&mut *tx).await?;
            sqlx::query(delete).bind(id).bind(revision).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(keys))
        }.await)
    }

    /// The recorded stage outputs of one revision, for a worker resuming it.
    pub async fn stage_outputs(
        &self,
        job_id: &str,
        revision: i64,
    ) -> StoreResult<Vec<StageOutput>> {
        let sql = "SELECT job_id, revision, stage, output_json, created_at FROM job_stage_outputs \
            WHERE job_id = $1 AND revision = $2 ORDER BY created_at, stage";
        let rows = with_pool!(self, pool => sqlx::query_as::<_, StageRow>(sql)
            .bind(job_id).bind(revision).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|r| {
                Ok(StageOutput {
                    output: parse_json("stage output", &r.output_json)?,
                    job_id: r.job_id,
                    revision: r.revision,
                    stage: r.stage,
                    created_at: r.created_at,
                })
            })
            .collect()
    }

    /// Append an event of the caller's own kind to a job's stream. The queue's transitions
    /// append their own events; this is for anything else worth showing.
    pub async fn append_job_event(
        &self,
        job_id: &str,
        kind: &str,
        stage: Option<&str>,
        progress: Option<f64>,
        payload: Option<&Value>,
        now: UnixMillis,
    ) -> StoreResult<()> {
        let payload = payload.map(Value::to_string);
        with_pool!(self, pool => sqlx::query(INSERT_EVENT)
            .bind(job_id).bind(kind).bind(stage).bind(progress).bind(&payload).bind(now)
            .execute(pool).await.map(|_| ()))?;
        crate::live::job_events_committed(self, job_id);
        Ok(())
    }

    /// The id of the job's newest event (0 when it has none): where a watcher starts reading.
    pub async fn last_job_event_id(&self, job_id: &str) -> StoreResult<i64> {
        let sql = "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM job_events WHERE job_id = $1";
        let id = with_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql)
            .bind(job_id).fetch_one(pool).await)?;
        Ok(id)
    }

    /// A job's events with id greater than `after_id` (0 for all), oldest first, at most `limit`.
    pub async fn job_events_since(
        &self,
        job_id: &str,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<JobEvent>> {
        let sql =
            "SELECT id, job_id, kind, stage, progress, payload_json, created_at FROM job_events \
            WHERE job_id = $1 AND id > $2 ORDER BY id LIMIT $3";
        let rows = with_pool!(self, pool => sqlx::query_as::<_, EventRow>(sql)
            .bind(job_id).bind(after_id).bind(i64::from(limit.clamp(1, 10_000)))
            .fetch_all(pool).await)?;
        rows.into_iter().map(EventRow::into_event).collect()
    }
}

/// Object keys a stage recorded in its output document under `"object_keys": [...]` or
/// `"object_key": "..."`, so deleting a job also finds intermediate objects.
pub(crate) fn object_keys_in(doc: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(key) = doc.get("object_key").and_then(Value::as_str) {
        keys.push(key.to_owned());
    }
    if let Some(list) = doc.get("object_keys").and_then(Value::as_array) {
        keys.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    keys
}
