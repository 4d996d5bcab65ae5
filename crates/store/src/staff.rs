//! What staff and second factors need from the database (issue 20; P-SEC-4, P-SEC-5): TOTP
//! secrets sealed under each person's data key, the replay guard, hashed recovery codes,
//! session step-up, suspension, and the admin console's views of users, jobs and the audit log.

use aes_gcm::aead::{Aead, AeadCore, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::audit::AuditEntry;
use crate::credits::hold_credits;
use crate::db::{new_id, with_pool, BeginWrite, Db, UnixMillis};
use crate::error::{StoreError, StoreResult};
use crate::jobs::{insert_event, Job, JobRow, JOB_COLUMNS};
use crate::keys::DataKey;

const NONCE_LEN: usize = 12;

impl DataKey {
    /// Seal a small value (a TOTP secret) under this data key. `context` is bound as associated
    /// data, so a sealed value cannot be moved to another column or person.
    #[expect(
        clippy::expect_used,
        reason = "AES-GCM fails only on messages over 64 GiB"
    )]
    pub fn seal_value(&self, context: &[u8], plain: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            .expect("AES-GCM seals a short message");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// The plain value, or `None` when it was not sealed under this key with this context.
    pub fn open_value(&self, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN + 16 {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context,
                },
            )
            .ok()
    }
}

/// A person's second factor as stored.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct TotpState {
    /// The confirmed secret, sealed.
    pub totp_secret: Option<Vec<u8>>,
    /// A secret awaiting its first code, sealed.
    pub totp_pending: Option<Vec<u8>>,
    pub totp_enabled_at: Option<UnixMillis>,
    pub totp_last_step: Option<i64>,
}

impl TotpState {
    pub fn enabled(&self) -> bool {
        self.totp_enabled_at.is_some() && self.totp_secret.is_some()
    }
}

/// One account as the console lists it: no password hash, no token, no secret.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StaffUserRow {
    pub id: String,
    pub email: String,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub email_verified_at: Option<UnixMillis>,
    pub created_at: UnixMillis,
    pub deleted_at: Option<UnixMillis>,
    pub suspended_at: Option<UnixMillis>,
    pub totp_enabled_at: Option<UnixMillis>,
}

/// A filter on the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Entries whose kind starts with this (`admin.`, `auth.login`).
    pub kind_prefix: Option<String>,
    pub user_id: Option<String>,
    pub since: Option<UnixMillis>,
    pub until: Option<UnixMillis>,
    /// Entries older than this id (paging).
    pub before: Option<i64>,
    pub limit: u32,
}

/// A failed job's error, for the providers page.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct JobFailure {
    pub id: String,
    pub params_json: String,
    pub error_code: Option<String>,
    pub updated_at: UnixMillis,
}

const STAFF_USER_COLUMNS: &str = "id, email, username, display_name, role, email_verified_at, \
    created_at, deleted_at, suspended_at, totp_enabled_at";

/// `LIKE` with the pattern's own wildcards taken literally.
fn like_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl Db {
    /// The person's TOTP state; `None` when the account does not exist.
    pub async fn totp_state(&self, user_id: &str) -> StoreResult<Option<TotpState>> {
        let sql = "SELECT totp_secret, totp_pending, totp_enabled_at, totp_last_step \
            FROM users WHERE id = $1";
        let row = with_pool!(self, pool => sqlx::query_as::<_, TotpState>(sql)
            .bind(user_id).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Start (or restart) an enrolment with a sealed secret; a confirmed factor stays in force
    /// until the new one is confirmed.
    pub async fn set_totp_pending(&self, user_id: &str, sealed: &[u8]) -> StoreResult<bool> {
        let n = with_pool!(self, pool => sqlx::query(
            "UPDATE users SET totp_pending = $2 WHERE id = $1")
            .bind(user_id).bind(sealed).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Confirm the pending secret with the step of its first code and replace the recovery
    /// codes with `recovery_hashes`, in one transaction. `false` when nothing was pending.
    pub async fn confirm_totp(
        &self,
        user_id: &str,
        step: i64,
        recovery_hashes: &[String],
        now: UnixMillis,
    ) -> StoreResult<bool> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(
                "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, \
                 totp_enabled_at = $2, totp_last_step = $3 \
                 WHERE id = $1 AND totp_pending IS NOT NULL")
                .bind(user_id).bind(now).bind(step)
                .execute(&mut *tx).await?.rows_affected();
            if n != 1 {
                return Ok::<bool, StoreError>(false);
            }
            sqlx::query("DELETE FROM totp_recovery_codes WHERE user_id = $1")
                .bind(user_id).execute(&mut *tx).await?;
            for hash in recovery_hashes {
                sqlx::query("INSERT INTO totp_recovery_codes (id, user_id, code_hash, created_at) \
                    VALUES ($1, $2, $3, $4)")
                    .bind(new_id()).bind(user_id).bind(hash).bind(now)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(true)
        }.await)
    }

    /// Accept a code's time step only if it is later than every step accepted before: the
    /// atomic replay guard (two requests racing with one code cannot both pass).
    pub async fn accept_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool> {
        let n = with_pool!(self, pool => sqlx::query(
            "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_enabled_at IS NOT NULL \
             AND (totp_last_step IS NULL OR totp_last_step < $2)")
            .bind(user_id).bind(step).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Spend one recovery code: `true` only the first time a code with this digest is used.
    pub async fn use_recovery_code(
        &self,
        user_id: &str,
        code_hash: &str,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let n = with_pool!(self, pool => sqlx::query(
            "UPDATE totp_recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL")
            .bind(user_id).bind(code_hash).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n >= 1)
    }

    /// How many unused recovery codes the person has left.
    pub async fn recovery_codes_left(&self, user_id: &str) -> StoreResult<i64> {
        let n: i64 = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM totp_recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id).fetch_one(pool).await)?;
        Ok(n)
    }

    /// Remove the second factor entirely (the person turns it off, or the operator resets a lost
    /// device): secret, pending enrolment, recovery codes and every session's step-up.
    pub async fn clear_totp(&self, user_id: &str) -> StoreResult<bool> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(
                "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_enabled_at = NULL, \
                 totp_last_step = NULL WHERE id = $1")
                .bind(user_id).execute(&mut *tx).await?.rows_affected();
            sqlx::query("DELETE FROM totp_recovery_codes WHERE user_id = $1")
                .bind(user_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE sessions SET step_up_at = NULL WHERE user_id = $1")
                .bind(user_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<bool, StoreError>(n == 1)
        }.await)
    }

    /// Record that this session just passed a TOTP check.
    pub async fn set_session_step_up(&self, session_id: &str, now: UnixMillis) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query("UPDATE sessions SET step_up_at = $2 WHERE id = $1")
            .bind(session_id).bind(now).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// When this session last passed a TOTP check.
    pub async fn session_step_up_at(&self, session_id: &str) -> StoreResult<Option<UnixMillis>> {
        let at: Option<Option<i64>> = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT step_up_at FROM sessions WHERE id = $1")
            .bind(session_id).fetch_optional(pool).await)?;
        Ok(at.flatten())
    }

    /// Suspend an account: it can no longer sign in or use its tokens, and its sessions end.
    /// `false` when it does not exist or is already suspended.
    pub async fn suspend_user(&self, user_id: &str, now: UnixMillis) -> StoreResult<bool> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(
                "UPDATE users SET suspended_at = $2, updated_at = $2 \
                 WHERE id = $1 AND suspended_at IS NULL")
                .bind(user_id).bind(now).execute(&mut *tx).await?.rows_affected();
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<bool, StoreError>(n == 1)
        }.await)
    }

    /// Lift a suspension. `false` when it was not suspended.
    pub async fn restore_user(&self, user_id: &str, now: UnixMillis) -> StoreResult<bool> {
        let n = with_pool!(self, pool => sqlx::query(
            "UPDATE users SET suspended_at = NULL, updated_at = $2 \
             WHERE id = $1 AND suspended_at IS NOT NULL")
            .bind(user_id).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// When the account was suspended, if it is.
    pub async fn suspended_at(&self, user_id: &str) -> StoreResult<Option<UnixMillis>> {
        let at: Option<Option<i64>> = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT suspended_at FROM users WHERE id = $1")
            .bind(user_id).fetch_optional(pool).await)?;
        Ok(at.flatten())
    }

    /// Accounts whose email, username or display name contains `query` (any case), newest
    /// first, at most `limit`.
    pub async fn staff_users(&self, query: &str, limit: u32) -> StoreResult<Vec<StaffUserRow>> {
        let sql = format!(
            "SELECT {STAFF_USER_COLUMNS} FROM users WHERE email_norm LIKE $1 ESCAPE '\\' \
             OR username_norm LIKE $1 ESCAPE '\\' OR LOWER(display_name) LIKE $1 ESCAPE '\\' \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, StaffUserRow>(&sql)
            .bind(like_pattern(query)).bind(i64::from(limit.clamp(1, 500)))
            .fetch_all(pool).await)?;
        Ok(rows)
    }

    pub async fn staff_user(&self, user_id: &str) -> StoreResult<Option<StaffUserRow>> {
        let sql = format!("SELECT {STAFF_USER_COLUMNS} FROM users WHERE id = $1");
        let row = with_pool!(self, pool => sqlx::query_as::<_, StaffUserRow>(&sql)
            .bind(user_id).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Every person's jobs, newest first, optionally in one status.
    pub async fn staff_jobs(&self, status: Option<&str>, limit: u32) -> StoreResult<Vec<Job>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1 IS NULL OR status = $1) \
             ORDER BY id DESC LIMIT $2"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, JobRow>(&sql)
            .bind(status).bind(i64::from(limit.clamp(1, 500)))
            .fetch_all(pool).await)?;
        rows.into_iter().map(JobRow::into_job).collect()
    }

    /// Failed jobs updated since `since`, newest first (the providers page's recent errors).
    pub async fn failed_jobs_since(
        &self,
        since: UnixMillis,
        limit: u32,
    ) -> StoreResult<Vec<JobFailure>> {
        let sql = "SELECT id, params_json, error_code, updated_at FROM jobs \
            WHERE status = 'failed' AND updated_at >= $1 ORDER BY updated_at DESC LIMIT $2";
        let rows = with_pool!(self, pool => sqlx::query_as::<_, JobFailure>(sql)
            .bind(since).bind(i64::from(limit.clamp(1, 1000))).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Credits spent (net of refunds) per job since `since`: `(params_json, credits)`.
    pub async fn spend_by_job_since(&self, since: UnixMillis) -> StoreResult<Vec<(String, i64)>> {
        let sql = "SELECT j.params_json, CAST(-SUM(l.amount) AS BIGINT) FROM credit_ledger l \
            JOIN jobs j ON j.id = l.job_id \
            WHERE l.kind IN ('spend', 'refund') AND l.created_at >= $1 GROUP BY j.id, j.params_json";
        let rows: Vec<(String, i64)> = with_pool!(self, pool => sqlx::query_as(sql)
            .bind(since).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Put a failed job back in the queue from the start of its current revision's remaining
    /// work (recorded stages are kept), reserving its cost again. `Ok(false)` when the job is
    /// not failed; [`StoreError::InsufficientCredits`] when its owner can no longer pay.
    pub async fn retry_failed_job(&self, job_id: &str, now: UnixMillis) -> StoreResult<bool> {
        let requeue = "UPDATE jobs SET status = 'queued', attempts = 0, next_attempt_at = $2, \
            error_code = NULL, error_message = NULL, updated_at = $2 \
            WHERE id = $1 AND status = 'failed'";
        let requeued = with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let row: Option<(String, i64)> = sqlx::query_as(
                "SELECT owner_id, current_revision FROM jobs WHERE id = $1 AND status = 'failed'")
                .bind(job_id).fetch_optional(&mut *tx).await?;
            let Some((owner_id, revision)) = row else {
                return Ok::<bool, StoreError>(false);
            };
            let released: Option<i64> = sqlx::query_scalar(
                "SELECT amount FROM credit_holds WHERE job_id = $1 AND revision = $2 \
                 AND state = 'released'")
                .bind(job_id).bind(revision).fetch_optional(&mut *tx).await?;
            if let Some(amount) = released {
                sqlx::query("DELETE FROM credit_holds WHERE job_id = $1 AND revision = $2")
                    .bind(job_id).bind(revision).execute(&mut *tx).await?;
                hold_credits!(tx, &owner_id, job_id, revision, amount, now).await?;
            }
            sqlx::query(requeue).bind(job_id).bind(now).execute(&mut *tx).await?;
            sqlx::query("UPDATE job_revisions SET status = 'queued', error_code = NULL, \
                error_message = NULL, finished_at = NULL WHERE job_id = $1 AND revision = $2")
                .bind(job_id).bind(revision).execute(&mut *tx).await?;
            insert_event!(tx, job_id, "retrying", None::<String>, None::<f64>, None::<String>, now)?;
            tx.commit().await?;
            crate::live::job_events_committed(self, job_id);
            Ok(true)
        }.await)?;
        if requeued {
            self.notify_job_queued(job_id).await?;
        }
        Ok(requeued)
    }

    /// The audit log through `filter`, newest first.
    pub async fn audit_search(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let sql =
            "SELECT id, kind, user_id, ip, user_agent, detail_json, created_at FROM audit_log \
            WHERE id < $1 AND ($2 IS NULL OR kind LIKE $2 ESCAPE '\\') \
            AND ($3 IS NULL OR user_id = $3) AND created_at >= $4 AND created_at <= $5 \
            ORDER BY id DESC LIMIT $6";
        let prefix = filter.kind_prefix.as_deref().map(|p| {
            let mut pattern = like_pattern(p);
            pattern.remove(0);
            pattern
        });
        let rows = with_pool!(self, pool => sqlx::query_as::<_, crate::audit::AuditRow>(sql)
            .bind(filter.before.unwrap_or(i64::MAX))
            .bind(prefix)
            .bind(&filter.user_id)
            .bind(filter.since.unwrap_or(0))
            .bind(filter.until.unwrap_or(i64::MAX))
            .bind(i64::from(filter.limit.clamp(1, 10_000)))
            .fetch_all(pool).await)?;
        rows.into_iter()
            .map(crate::audit::AuditRow::into_entry)
            .collect()
    }

    /// Credits an admin grants or refunds by hand, with the reason in the ledger's note.
    pub async fn add_manual_credits(
        &self,
        user_id: &str,
        refund: bool,
        amount: i64,
        reason: &str,
        now: UnixMillis,
    ) -> StoreResult<String> {
        if amount <= 0 {
            return Err(StoreError::InvalidCredits(
                "a grant or refund is a positive number of credits".into(),
            ));
        }
        let id = new_id();
        let kind = if refund { "refund" } else { "grant" };
        with_pool!(self, pool => sqlx::query(crate::credits::INSERT_LEDGER)
            .bind(&id).bind(user_id).bind(kind).bind(amount)
            .bind(None::<String>).bind(None::<i64>).bind(reason).bind(now)
            .execute(pool).await.map(|_| ()))?;
        Ok(id)
    }

    /// The earliest deletion still awaiting its purge, if any (the next purge is due
    /// `retention.purge_days` after it).
    pub async fn earliest_pending_deletion(&self) -> StoreResult<Option<UnixMillis>> {
        let at: Option<i64> = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT MIN(deleted_at) FROM users WHERE deleted_at IS NOT NULL")
            .fetch_one(pool).await)?;
        Ok(at)
    }
}
