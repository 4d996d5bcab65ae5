//! Safety (issue 19): jobs held by the automated checks for review (P-SAFE-1), reports and the
//! moderation queue, takedowns and bans (P-SAFE-2), legal takedown requests (P-SAFE-3).

use crate::db::{new_id, with_pool, BeginWrite, Db, UnixMillis};
use crate::error::{StoreError, StoreResult};

/// A held job's due time: later than any real one, so the queue's claim never reaches it
/// until a moderator approves it (which sets it to "now").
pub const HELD_UNTIL: UnixMillis = i64::MAX / 2;

/// A job waiting for review, with what the checks found.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldJob {
    pub job_id: String,
    pub owner_id: String,
    pub username: String,
    pub categories: Vec<String>,
    pub params_json: String,
    pub title: Option<String>,
    pub created_at: UnixMillis,
}

/// A work with open reports, grouped.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportedWork {
    pub job_id: String,
    pub owner_id: String,
    pub username: String,
    /// The published title, else the job's own title (`None`: the default).
    pub title: Option<String>,
    pub reports: i64,
    /// Distinct reasons given, comma-separated.
    pub reasons: String,
    pub first_reported_at: UnixMillis,
}

/// What a person sends with a report.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub job_id: String,
    pub via: &'static str,
    pub reporter_key: String,
    pub reporter_id: Option<String>,
    pub reason: String,
    pub detail: String,
}

/// A takedown as the owner is shown it.
#[derive(Debug, Clone, PartialEq)]
pub struct Takedown {
    pub job_id: String,
    pub reason: String,
    pub created_at: UnixMillis,
}

/// A legal takedown request and its outcome.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LegalRequest {
    pub id: String,
    pub job_id: Option<String>,
    pub requester: String,
    pub requester_email: String,
    pub basis: String,
    pub received_at: i64,
    /// `pending`, `taken_down` or `rejected`.
    pub decision: String,
    pub decided_at: Option<i64>,
    pub moderator_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct HeldRow {
    job_id: String,
    owner_id: String,
    username: String,
    categories: String,
    params_json: String,
    title: Option<String>,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct ReportedRow {
    job_id: String,
    owner_id: String,
    username: String,
    title: Option<String>,
    reports: i64,
    reasons: String,
    first_reported_at: i64,
}

impl Db {
    /// Holds a queued job for review: it stays queued, out of the claim's reach, until
    /// [`Db::approve_held_job`].
    pub async fn hold_job(
        &self,
        job_id: &str,
        owner_id: &str,
        categories: &[String],
        now: UnixMillis,
    ) -> StoreResult<()> {
        let categories = categories.join(",");
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO moderation_holds (job_id, owner_id, categories, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (job_id) DO UPDATE SET categories = excluded.categories, \
                 created_at = excluded.created_at, decided_at = NULL, decision = NULL, moderator_id = NULL")
                .bind(job_id).bind(owner_id).bind(&categories).bind(now)
                .execute(&mut *tx).await?;
            sqlx::query("UPDATE jobs SET next_attempt_at = $2, stage = 'review', updated_at = $3 \
                 WHERE id = $1 AND status = 'queued'")
                .bind(job_id).bind(HELD_UNTIL).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        }.await)
    }

    /// Whether the job waits for review.
    pub async fn job_is_held(&self, job_id: &str) -> StoreResult<bool> {
        let n: i64 = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM moderation_holds WHERE job_id = $1 AND decided_at IS NULL")
            .bind(job_id).fetch_one(pool).await)?;
        Ok(n > 0)
    }

    /// Whether a moderator approved this job after a hold: the automated checks do not hold
    /// it again for what was already reviewed.
    pub async fn hold_approved(&self, job_id: &str) -> StoreResult<bool> {
        let n: i64 = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM moderation_holds WHERE job_id = $1 AND decision = 'approved'")
            .bind(job_id).fetch_one(pool).await)?;
        Ok(n > 0)
    }

    /// Puts a held job a worker gave back out of the claim's reach again.
    pub async fn park_if_held(&self, job_id: &str, now: UnixMillis) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(
            "UPDATE jobs SET next_attempt_at = $2, stage = 'review', updated_at = $3 WHERE id = $1 \
             AND status = 'queued' AND EXISTS (SELECT 1 FROM moderation_holds h \
               WHERE h.job_id = $1 AND h.decided_at IS NULL)")
            .bind(job_id).bind(HELD_UNTIL).bind(now).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Jobs waiting for review, oldest first.
    pub async fn held_jobs(&self, limit: u32) -> StoreResult<Vec<HeldJob>> {
        let sql = "SELECT h.job_id, h.owner_id, u.username, h.categories, j.params_json, j.title, \
            h.created_at FROM moderation_holds h JOIN jobs j ON j.id = h.job_id \
            JOIN users u ON u.id = h.owner_id WHERE h.decided_at IS NULL \
            ORDER BY h.created_at, h.job_id LIMIT $1";
        let rows: Vec<HeldRow> = with_pool!(self, pool => sqlx::query_as(sql)
            .bind(i64::from(limit.clamp(1, 500))).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|r| HeldJob {
                job_id: r.job_id,
                owner_id: r.owner_id,
                username: r.username,
                categories: r.categories.split(',').map(str::to_owned).collect(),
                params_json: r.params_json,
                title: r.title,
                created_at: r.created_at,
            })
            .collect())
    }

    /// Decides an open hold: approved jobs become due now; refused ones are cancelled with
    /// their credits released. Returns the owner, or `None` when no open hold exists.
    pub async fn decide_hold(
        &self,
        job_id: &str,
        approve: bool,
        moderator_id: &str,
        now: UnixMillis,
    ) -> StoreResult<Option<String>> {
        let decision = if approve { "approved" } else { "refused" };
        let owner: Option<String> = with_pool!(self, pool => sqlx::query_scalar(
            "UPDATE moderation_holds SET decided_at = $2, decision = $3, moderator_id = $4 \
             WHERE job_id = $1 AND decided_at IS NULL RETURNING owner_id")
            .bind(job_id).bind(now).bind(decision).bind(moderator_id)
            .fetch_optional(pool).await)?;
        let Some(owner) = owner else {
            return Ok(None);
        };
        if approve {
            with_pool!(self, pool => sqlx::query(
                "UPDATE jobs SET next_attempt_at = $2, stage = NULL, updated_at = $2 \
                 WHERE id = $1 AND status = 'queued'")
                .bind(job_id).bind(now).execute(pool).await.map(|_| ()))?;
            self.notify_job_queued(job_id).await?;
        } else {
            self.cancel_job(&owner, job_id, now).await?;
        }
        Ok(Some(owner))
    }

    /// Records a report; `false` when this reporter already reported this work (nothing new
    /// is stored).
    pub async fn record_report(&self, report: &NewReport, now: UnixMillis) -> StoreResult<bool> {
        let sql =
            "INSERT INTO reports (id, job_id, via, reporter_key, reporter_id, reason, detail, \
            created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
            ON CONFLICT (job_id, reporter_key) DO NOTHING";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(new_id()).bind(&report.job_id).bind(report.via).bind(&report.reporter_key)
            .bind(&report.reporter_id).bind(&report.reason).bind(&report.detail).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Works with open reports, most reported first.
    pub async fn reported_works(&self, limit: u32) -> StoreResult<Vec<ReportedWork>> {
        let reasons = match self {
            Db::Sqlite(_) => "GROUP_CONCAT(DISTINCT r.reason)",
            Db::Postgres(_) => "STRING_AGG(DISTINCT r.reason, ',')",
        };
        let sql = format!(
            "SELECT r.job_id, j.owner_id, u.username, COALESCE(p.title, j.title) AS title, \
             COUNT(*) AS reports, {reasons} AS reasons, MIN(r.created_at) AS first_reported_at \
             FROM reports r JOIN jobs j ON j.id = r.job_id JOIN users u ON u.id = j.owner_id \
             LEFT JOIN publications p ON p.job_id = r.job_id \
             WHERE r.resolved_at IS NULL \
             GROUP BY r.job_id, j.owner_id, u.username, p.title, j.title \
             ORDER BY COUNT(*) DESC, MIN(r.created_at) LIMIT $1"
        );
        let rows: Vec<ReportedRow> = with_pool!(self, pool => sqlx::query_as(&sql)
            .bind(i64::from(limit.clamp(1, 500))).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|r| ReportedWork {
                job_id: r.job_id,
                owner_id: r.owner_id,
                username: r.username,
                title: r.title,
                reports: r.reports,
                reasons: r.reasons,
                first_reported_at: r.first_reported_at,
            })
            .collect())
    }

    /// Closes the work's open reports with a resolution (`approved`, `taken_down`).
    pub async fn resolve_reports(
        &self,
        job_id: &str,
        resolution: &str,
        now: UnixMillis,
    ) -> StoreResult<u64> {
        let n = with_pool!(self, pool => sqlx::query(
            "UPDATE reports SET resolved_at = $2, resolution = $3 WHERE job_id = $1 AND resolved_at IS NULL")
            .bind(job_id).bind(now).bind(resolution)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }

    /// Takes a work out of public view. Returns its owner, or `None` when no such job exists.
    /// A second takedown keeps the first reason.
    pub async fn take_down(
        &self,
        job_id: &str,
        reason: &str,
        moderator_id: &str,
        legal_id: Option<&str>,
        now: UnixMillis,
    ) -> StoreResult<Option<String>> {
        let owner: Option<String> = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT owner_id FROM jobs WHERE id = $1").bind(job_id).fetch_optional(pool).await)?;
        if owner.is_none() {
            return Ok(None);
        }
        with_pool!(self, pool => sqlx::query(
            "INSERT INTO takedowns (job_id, reason, moderator_id, legal_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id) DO NOTHING")
            .bind(job_id).bind(reason).bind(moderator_id).bind(legal_id).bind(now)
            .execute(pool).await.map(|_| ()))?;
        Ok(owner)
    }

    /// The takedown of the owner's job, if it was taken down.
    pub async fn takedown_for_owner(
        &self,
        owner_id: &str,
        job_id: &str,
    ) -> StoreResult<Option<Takedown>> {
        let row: Option<(String, String, i64)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT t.job_id, t.reason, t.created_at FROM takedowns t JOIN jobs j ON j.id = t.job_id \
             WHERE t.job_id = $1 AND j.owner_id = $2")
            .bind(job_id).bind(owner_id).fetch_optional(pool).await)?;
        Ok(row.map(|(job_id, reason, created_at)| Takedown {
            job_id,
            reason,
            created_at,
        }))
    }

    /// Bans an account: every session and API token ends, and its works leave public view
    /// (the visibility rule reads the ban). `false` when no such account or already banned.
    pub async fn ban_user(
        &self,
        user_id: &str,
        reason: &str,
        moderator_id: &str,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(
                "INSERT INTO account_bans (user_id, reason, moderator_id, created_at) \
                 SELECT id, $2, $3, $4 FROM users WHERE id = $1 ON CONFLICT (user_id) DO NOTHING")
                .bind(user_id).bind(reason).bind(moderator_id).bind(now)
                .execute(&mut *tx).await?.rows_affected();
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                .bind(user_id).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<bool, StoreError>(n == 1)
        }.await)
    }

    /// Whether the account is banned.
    pub async fn is_banned(&self, user_id: &str) -> StoreResult<bool> {
        let n: i64 = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM account_bans WHERE user_id = $1")
            .bind(user_id).fetch_one(pool).await)?;
        Ok(n > 0)
    }

    /// Records a legal takedown request, pending a decision.
    pub async fn record_legal_request(
        &self,
        job_id: Option<&str>,
        requester: &str,
        requester_email: &str,
        basis: &str,
        now: UnixMillis,
    ) -> StoreResult<LegalRequest> {
        let id = new_id();
        with_pool!(self, pool => sqlx::query(
            "INSERT INTO legal_requests (id, job_id, requester, requester_email, basis, received_at, decision) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending')")
            .bind(&id).bind(job_id).bind(requester).bind(requester_email).bind(basis).bind(now)
            .execute(pool).await.map(|_| ()))?;
        Ok(LegalRequest {
            id,
            job_id: job_id.map(str::to_owned),
            requester: requester.to_owned(),
            requester_email: requester_email.to_owned(),
            basis: basis.to_owned(),
            received_at: now,
            decision: "pending".to_owned(),
            decided_at: None,
            moderator_id: None,
        })
    }

    /// Records the decision on a pending legal request; `None` when unknown or decided.
    pub async fn decide_legal_request(
        &self,
        id: &str,
        decision: &str,
        moderator_id: &str,
        now: UnixMillis,
    ) -> StoreResult<Option<LegalRequest>> {
        let row: Option<LegalRequest> = with_pool!(self, pool => sqlx::query_as(
            "UPDATE legal_requests SET decision = $2, decided_at = $3, moderator_id = $4 \
             WHERE id = $1 AND decision = 'pending' RETURNING id, job_id, requester, requester_email, \
             basis, received_at, decision, decided_at, moderator_id")
            .bind(id).bind(decision).bind(now).bind(moderator_id)
            .fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Legal requests, newest first.
    pub async fn legal_requests(&self, limit: u32) -> StoreResult<Vec<LegalRequest>> {
        let rows = with_pool!(self, pool => sqlx::query_as(
            "SELECT id, job_id, requester, requester_email, basis, received_at, decision, decided_at, \
             moderator_id FROM legal_requests ORDER BY received_at DESC, id DESC LIMIT $1")
            .bind(i64::from(limit.clamp(1, 500))).fetch_all(pool).await)?;
        Ok(rows)
    }
}
