//! The queries the retention sweep needs (P-RET-1..4): revisions that ended before a cutoff,
//! which uploads jobs refer to, audit anonymisation, and what a purged account leaves behind.
//!
//! These are system-level: unlike the `*_for_owner` methods they are not scoped to a caller,
//! because the sweep acts for the operator's retention policy, never for a user's request.
//! Deleting rows here never deletes objects; the caller (`reelsmith-worker`'s sweep) deletes
//! the objects first and the rows last, so a failure part way never leaves objects that no row
//! records (the next sweep finishes the deletion).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::db::{with_pool, BeginWrite, Db, UnixMillis};
use crate::error::{StoreError, StoreResult};
use crate::jobs::{object_keys_in, parse_json, parse_output_keys, JobStatus};
use crate::uploads::{Upload, UploadRow, UPLOAD_COLUMNS};

/// A revision that ended (succeeded, failed or was cancelled) before the cutoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedRevision {
    pub job_id: String,
    pub owner_id: String,
    pub revision: i64,
    /// The job's current revision when read.
    pub current_revision: i64,
    /// The job's status when read.
    pub job_status: JobStatus,
    pub finished_at: UnixMillis,
}

impl EndedRevision {
    /// Whether this is the job's current revision of a job that has ended: expiring it means
    /// deleting the whole job (nothing newer is left to show).
    pub fn ends_the_job(&self) -> bool {
        self.revision == self.current_revision && self.job_status.is_terminal()
    }
}

/// The object keys one revision recorded: its outputs and the `object_key(s)` fields of its
/// stage outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionKeys {
    pub revision: i64,
    pub keys: Vec<String>,
}

/// Which uploads one job refers to, over all its revisions, or one draft storyboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobUploadRefs {
    pub job_id: String,
    pub owner_id: String,
    /// `None` for a draft storyboard: not a job yet, and its uploads will be needed when it
    /// renders, so it counts as active.
    pub status: Option<JobStatus>,
    pub upload_ids: BTreeSet<String>,
}

impl JobUploadRefs {
    /// Queued, running or a draft: its uploads are still needed.
    pub fn is_active(&self) -> bool {
        self.status.is_none_or(|s| !s.is_terminal())
    }
}

/// What the reference queries read: every revision's parameters, and each draft storyboard's
/// (a draft's `status` is `NULL`, its revision 0), so an upload a draft shows is never taken
/// for unused.
const UPLOAD_REFS: &str = "SELECT j.id, j.owner_id, j.status, r.revision, r.params_json \
    FROM jobs j JOIN job_revisions r ON r.job_id = j.id WHERE $1 IS NULL OR j.owner_id = $1 \
    UNION ALL SELECT s.id, s.owner_id, NULL, 0, s.params_json FROM storyboards s \
    WHERE $1 IS NULL OR s.owner_id = $1 ORDER BY 1, 4";

/// The upload ids a render spec refers to: the `media` list and the `voice` recording (see
/// `reelsmith_core::RenderSpec`). Read from the JSON rather than the typed spec, so a document
/// the current spec would refuse (written by an older version) still gives up its references.
pub fn upload_ids_in(params: &Value) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    if let Some(media) = params.get("media").and_then(Value::as_array) {
        ids.extend(media.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    if let Some(voice) = params.get("voice").and_then(Value::as_str) {
        ids.insert(voice.to_owned());
    }
    // Music is an upload unless it names a track of the operator's library.
    if let Some(music) = params.get("music").and_then(Value::as_str) {
        if !music.starts_with("library:") {
            ids.insert(music.to_owned());
        }
    }
    ids
}

/// `%` and `_` are wildcards in LIKE: escape them (and the escape character) so a pattern
/// built from an email address matches only that text.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An audit row counts as anonymised when nothing in it points at a person.
const AUDIT_NOT_ANONYMOUS: &str =
    "(user_id IS NOT NULL OR ip IS NOT NULL OR user_agent IS NOT NULL \
    OR detail_json IS NOT NULL)";

impl Db {
    /// Revisions that ended before `cutoff`, oldest first, at most `limit` (P-RET-1).
    pub async fn revisions_ended_before(
        &self,
        cutoff: UnixMillis,
        limit: u32,
    ) -> StoreResult<Vec<EndedRevision>> {
        let sql = "SELECT r.job_id, j.owner_id, r.revision, j.current_revision, j.status, \
            r.finished_at FROM job_revisions r JOIN jobs j ON j.id = r.job_id \
            WHERE r.status IN ('succeeded', 'failed', 'cancelled') \
            AND r.finished_at IS NOT NULL AND r.finished_at < $1 \
            ORDER BY r.finished_at, r.job_id, r.revision LIMIT $2";
        let rows: Vec<(String, String, i64, i64, String, i64)> = with_pool!(self, pool =>
            sqlx::query_as(sql).bind(cutoff).bind(i64::from(limit.max(1)))
                .fetch_all(pool).await)?;
        rows.into_iter()
            .map(
                |(job_id, owner_id, revision, current_revision, status, finished_at)| {
                    Ok(EndedRevision {
                        job_status: JobStatus::parse(&status)?,
                        job_id,
                        owner_id,
                        revision,
                        current_revision,
                        finished_at,
                    })
                },
            )
            .collect()
    }

    /// Every revision of a job with the object keys it recorded, oldest first. Empty when the
    /// job does not exist.
    pub async fn job_revision_keys(&self, job_id: &str) -> StoreResult<Vec<RevisionKeys>> {
        let revisions = "SELECT revision, output_keys_json FROM job_revisions WHERE job_id = $1 \
            ORDER BY revision";
        let stages = "SELECT revision, output_json FROM job_stage_outputs WHERE job_id = $1";
        let (lists, docs) = with_pool!(self, pool => async {
            let lists: Vec<(i64, String)> = sqlx::query_as(revisions).bind(job_id)
                .fetch_all(pool).await?;
            let docs: Vec<(i64, String)> = sqlx::query_as(stages).bind(job_id)
                .fetch_all(pool).await?;
            Ok::<_, StoreError>((lists, docs))
        }.await)?;
        let mut out = Vec::with_capacity(lists.len());
        for (revision, list) in lists {
            let mut keys = parse_output_keys(&list)?;
            for (_, doc) in docs.iter().filter(|(r, _)| *r == revision) {
                keys.extend(object_keys_in(&parse_json("stage output", doc)?));
            }
            keys.sort();
            keys.dedup();
            out.push(RevisionKeys { revision, keys });
        }
        Ok(out)
    }

    /// Delete a job whose current revision expired, with every revision, stage output and
    /// event (by cascade). Only while `revision` is still its current revision and the job has
    /// ended: a job revised meanwhile stays (its expired revision goes on the next sweep).
    pub async fn delete_ended_job(&self, job_id: &str, revision: i64) -> StoreResult<bool> {
        let sql = "DELETE FROM jobs WHERE id = $1 AND current_revision = $2 \
            AND status IN ('succeeded', 'failed', 'cancelled')";
        let n = with_pool!(self, pool => sqlx::query(sql).bind(job_id).bind(revision)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Delete one expired revision that is not its job's current one, with its stage outputs.
    /// `false` when it is current (delete the job instead) or already gone.
    pub async fn delete_ended_revision(&self, job_id: &str, revision: i64) -> StoreResult<bool> {
        let current = "SELECT current_revision FROM jobs WHERE id = $1";
        let delete_stages = "DELETE FROM job_stage_outputs WHERE job_id = $1 AND revision = $2";
        let delete = "DELETE FROM job_revisions WHERE job_id = $1 AND revision = $2";
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let current: Option<i64> = sqlx::query_scalar(current).bind(job_id)
                .fetch_optional(&mut *tx).await?;
            // Checked inside the transaction: a revision that is not current never becomes
            // current again (revisions only count up).
            if current.is_none_or(|c| c == revision) {
                return Ok::<bool, StoreError>(false);
            }
            sqlx::query(delete_stages).bind(job_id).bind(revision).execute(&mut *tx).await?;
            let n = sqlx::query(delete).bind(job_id).bind(revision)
                .execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok(n == 1)
        }.await)
    }

    /// For every job and draft, the uploads its revisions refer to (P-RET-2). Reads every
    /// revision's parameters: the references live only in the render spec JSON (`media`,
    /// `voice`), not in a table of their own.
    pub async fn job_upload_refs(&self) -> StoreResult<Vec<JobUploadRefs>> {
        self.upload_refs(None).await
    }

    /// [`Db::job_upload_refs`] of one owner's jobs and drafts only: what a job's end needs to
    /// know, since only the owner's own jobs can refer to their uploads.
    pub async fn job_upload_refs_of(&self, owner_id: &str) -> StoreResult<Vec<JobUploadRefs>> {
        self.upload_refs(Some(owner_id)).await
    }

    async fn upload_refs(&self, owner_id: Option<&str>) -> StoreResult<Vec<JobUploadRefs>> {
        let rows: Vec<(String, String, Option<String>, i64, String)> = with_pool!(self, pool =>
            sqlx::query_as(UPLOAD_REFS).bind(owner_id).fetch_all(pool).await)?;
        group_upload_refs(rows)
    }
}

/// One [`JobUploadRefs`] per job or draft from rows ordered by id then revision.
fn group_upload_refs(
    rows: Vec<(String, String, Option<String>, i64, String)>,
) -> StoreResult<Vec<JobUploadRefs>> {
    let mut out: Vec<JobUploadRefs> = Vec::new();
    for (job_id, owner_id, status, _revision, params) in rows {
        let ids = upload_ids_in(&parse_json("revision params", &params)?);
        match out.last_mut() {
            Some(last) if last.job_id == job_id => last.upload_ids.extend(ids),
            _ => out.push(JobUploadRefs {
                status: status.as_deref().map(JobStatus::parse).transpose()?,
                job_id,
                owner_id,
                upload_ids: ids,
            }),
        }
    }
    Ok(out)
}

impl Db {
    /// Every upload id that some revision of one of the owner's jobs refers to: what a user's
    /// own deletion of a job or revision must keep (P-RET-2), with those a draft storyboard
    /// of theirs shows.
    pub async fn upload_ids_used_by(&self, owner_id: &str) -> StoreResult<BTreeSet<String>> {
        Ok(self
            .upload_refs(Some(owner_id))
            .await?
            .into_iter()
            .flat_map(|r| r.upload_ids)
            .collect())
    }

    /// Any upload by id, whoever owns it: for the retention sweep, never for a user's request.
    pub async fn upload_by_id(&self, id: &str) -> StoreResult<Option<Upload>> {
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1");
        let row = with_pool!(self, pool => sqlx::query_as::<_, UploadRow>(&sql)
            .bind(id).fetch_optional(pool).await)?;
        row.map(UploadRow::into_upload).transpose()
    }

    /// Uploads created before `cutoff`, oldest first.
    pub async fn uploads_created_before(&self, cutoff: UnixMillis) -> StoreResult<Vec<Upload>> {
        let sql = format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE created_at < $1 ORDER BY created_at, id"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, UploadRow>(&sql)
            .bind(cutoff).fetch_all(pool).await)?;
        rows.into_iter().map(UploadRow::into_upload).collect()
    }

    /// Whether an upload other than `except_id` points at `object_key` (content addressing
    /// lets two uploads of the same bytes share one object).
    pub async fn object_key_shared(&self, object_key: &str, except_id: &str) -> StoreResult<bool> {
        let sql = "SELECT COUNT(*) FROM uploads WHERE object_key = $1 AND id <> $2";
        let n = with_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql)
            .bind(object_key).bind(except_id).fetch_one(pool).await)?;
        Ok(n > 0)
    }

    /// The ids of every upload that points at `object_key`.
    pub async fn upload_ids_with_key(&self, object_key: &str) -> StoreResult<Vec<String>> {
        let sql = "SELECT id FROM uploads WHERE object_key = $1 ORDER BY id";
        let ids = with_pool!(self, pool => sqlx::query_scalar::<_, String>(sql)
            .bind(object_key).fetch_all(pool).await)?;
        Ok(ids)
    }

    /// Delete an upload row by id, whoever owns it (the sweep deleted its object first).
    pub async fn delete_upload_by_id(&self, id: &str) -> StoreResult<bool> {
        let n = with_pool!(self, pool => sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// How many audit entries older than `cutoff` still name a person (what
    /// [`Db::anonymise_audit_before`] would change).
    pub async fn audit_to_anonymise(&self, cutoff: UnixMillis) -> StoreResult<u64> {
        let sql = format!(
            "SELECT COUNT(*) FROM audit_log WHERE created_at < $1 AND {AUDIT_NOT_ANONYMOUS}"
        );
        let n = with_pool!(self, pool => sqlx::query_scalar::<_, i64>(&sql)
            .bind(cutoff).fetch_one(pool).await)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Anonymise audit entries older than `cutoff` (P-RET-3): the user, IP address, user agent
    /// and detail are cleared; the kind and time stay, so counts of security events over time
    /// survive without pointing at anyone. Returns how many entries changed.
    pub async fn anonymise_audit_before(&self, cutoff: UnixMillis) -> StoreResult<u64> {
        let sql = format!(
            "UPDATE audit_log SET user_id = NULL, ip = NULL, user_agent = NULL, detail_json = NULL \
             WHERE created_at < $1 AND {AUDIT_NOT_ANONYMOUS}"
        );
        let n = with_pool!(self, pool => sqlx::query(&sql)
            .bind(cutoff).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }

    /// How many revisions that ended before `cutoff` still carry usage details (what
    /// [`Db::clear_usage_before`] would clear).
    pub async fn usage_to_clear(&self, cutoff: UnixMillis) -> StoreResult<u64> {
        let sql = "SELECT COUNT(*) FROM job_revisions WHERE finished_at < $1 \
            AND usage_json IS NOT NULL";
        let n = with_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql)
            .bind(cutoff).fetch_one(pool).await)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Usage details follow the log period (P-RET-3): for every revision that ended before
    /// `cutoff`, its usage (model, provider, stage times, length, credits) and the `store` stage
    /// record that holds a copy of it are deleted; the job, its video and its credit ledger stay.
    /// Returns how many revisions lost their usage.
    pub async fn clear_usage_before(&self, cutoff: UnixMillis) -> StoreResult<u64> {
        let jobs = "UPDATE jobs SET usage_json = NULL WHERE usage_json IS NOT NULL AND EXISTS \
            (SELECT 1 FROM job_revisions r WHERE r.job_id = jobs.id \
             AND r.revision = jobs.current_revision AND r.finished_at < $1)";
        // Only the `store` record carries the usage; the others name objects the video
        // retention still needs to find.
        let stages = "DELETE FROM job_stage_outputs WHERE stage = 'store' AND EXISTS \
            (SELECT 1 FROM job_revisions r WHERE r.job_id = job_stage_outputs.job_id \
             AND r.revision = job_stage_outputs.revision AND r.finished_at < $1)";
        let revisions = "UPDATE job_revisions SET usage_json = NULL WHERE finished_at < $1 \
            AND usage_json IS NOT NULL";
        let n = with_pool!(self, pool => async {
            sqlx::query(jobs).bind(cutoff).execute(pool).await?;
            sqlx::query(stages).bind(cutoff).execute(pool).await?;
            sqlx::query(revisions).bind(cutoff).execute(pool).await.map(|r| r.rows_affected())
        }.await)?;
        Ok(n)
    }

    /// The ids of every job the user owns.
    pub async fn job_ids_of(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let sql = "SELECT id FROM jobs WHERE owner_id = $1 ORDER BY id";
        let ids = with_pool!(self, pool => sqlx::query_scalar::<_, String>(sql)
            .bind(user_id).fetch_all(pool).await)?;
        Ok(ids)
    }

    /// The user's queued jobs (to announce them when their processing resumes).
    pub async fn queued_job_ids_of(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let sql = "SELECT id FROM jobs WHERE owner_id = $1 AND status = 'queued' ORDER BY id";
        let ids = with_pool!(self, pool => sqlx::query_scalar::<_, String>(sql)
            .bind(user_id).fetch_all(pool).await)?;
        Ok(ids)
    }

    /// The object keys of every upload the user owns.
    pub async fn upload_keys_of(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let sql = "SELECT DISTINCT object_key FROM uploads WHERE owner_id = $1 ORDER BY object_key";
        let keys = with_pool!(self, pool => sqlx::query_scalar::<_, String>(sql)
            .bind(user_id).fetch_all(pool).await)?;
        Ok(keys)
    }

    /// Remove what of a person outlives their account row (P-RET-4), before
    /// [`Db::purge_user`]: audit entries about them or mentioning their email address are
    /// anonymised (the foreign key would only clear `user_id`, leaving IP, user agent and a
    /// detail that may hold the address), and rate-limit counters keyed by their email address
    /// or id are deleted. Returns how many rows changed.
    pub async fn scrub_user_traces(&self, user_id: &str, email: &str) -> StoreResult<u64> {
        let email_like = format!("%{}%", like_escaped(&email.trim().to_lowercase()));
        let id_like = format!("%{}%", like_escaped(user_id));
        let audit = "UPDATE audit_log SET user_id = NULL, ip = NULL, user_agent = NULL, \
            detail_json = NULL WHERE user_id = $1 \
            OR LOWER(detail_json) LIKE $2 ESCAPE '\\' OR detail_json LIKE $3 ESCAPE '\\'";
        let limits = "DELETE FROM rate_limits WHERE LOWER(key) LIKE $1 ESCAPE '\\' \
            OR key LIKE $2 ESCAPE '\\'";
        // A rights request stays as the record that it was handled (kind, dates, outcome), but
        // no longer says who asked or what they wrote (P-RIGHTS-5 meets P-RET-4).
        let rights = "UPDATE rights_requests SET requester_email = '', notes = '', \
            identity_method = CASE WHEN identity_method IS NULL THEN NULL ELSE '' END \
            WHERE user_id = $1 OR LOWER(requester_email) = $2";
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let a = sqlx::query(audit).bind(user_id).bind(&email_like).bind(&id_like)
                .execute(&mut *tx).await?.rows_affected();
            let r = sqlx::query(limits).bind(&email_like).bind(&id_like)
                .execute(&mut *tx).await?.rows_affected();
            let q = sqlx::query(rights).bind(user_id).bind(email.trim().to_lowercase())
                .execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok::<u64, StoreError>(a + r + q)
        }.await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn upload_ids_come_from_media_and_voice() {
        let ids = upload_ids_in(&json!({ "script": "x", "media": ["a", "b", 3], "voice": "v" }));
        assert_eq!(
            ids.into_iter().collect::<Vec<_>>(),
            vec!["a".to_owned(), "b".into(), "v".into()]
        );
        assert!(upload_ids_in(&json!({ "script": "x" })).is_empty());
        let with_music = upload_ids_in(&json!({ "script": "x", "music": "m" }));
        assert_eq!(with_music.into_iter().collect::<Vec<_>>(), ["m"]);
        assert!(upload_ids_in(&json!({ "script": "x", "music": "library:calm" })).is_empty());
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_escaped("a_b%c\\d"), "a\\_b\\%c\\\\d");
    }
}
