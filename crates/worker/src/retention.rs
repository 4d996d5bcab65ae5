//! The retention sweep (P-RET-1..4): expired videos, source uploads per the operator's policy,
//! expired account exports (P-RIGHTS-1), audit anonymisation, and the purge of accounts deleted
//! long enough ago. Every worker runs it
//! every `retention.sweep_minutes`; `reelsmith retention [--dry-run]` runs it once.
//!
//! Order of deletion: objects first, rows last. A row is the only record of where its objects
//! are, so deleting it first would orphan them if a storage delete then failed; this way a
//! failure part way leaves the row, and the next sweep finishes the job (deleting a missing
//! object succeeds). Several workers may sweep at once: every step is idempotent, and row
//! deletions are conditional, so two sweeps at worst both delete the same objects.
//!
//! A dry run makes the same plan from the same queries and listings, reports it, and changes
//! nothing.

use std::collections::{BTreeMap, BTreeSet};

use reelsmith_config::{RetentionConfig, UploadRetention};
use reelsmith_core::{Code, ErrorCode};
use reelsmith_store::{
    export_key, export_prefix, CryptError, Db, EndedRevision, JobUploadRefs, ObjectError,
    SealedMedia, StoreError, UnixMillis, Upload,
};
use serde::Serialize;
use tracing::{info, warn};

use crate::keys::job_prefix;

const DAY_MS: i64 = 86_400_000;
/// Audit retention is set in months; a month counts as 30 days, so "12 months" is 360 days and
/// never longer than a calendar year.
const MONTH_MS: i64 = 30 * DAY_MS;
/// Revisions handled per sweep: a backlog is worked through over several sweeps instead of one
/// huge transaction-free loop holding everything in memory.
const REVISIONS_PER_SWEEP: u32 = 10_000;
/// Exports handled per sweep, for the same reason.
const EXPORTS_PER_SWEEP: u32 = 10_000;

/// Why a sweep could not run at all. Failures of single items are recorded in the report and do
/// not stop the sweep.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error(transparent)]
    Crypt(#[from] CryptError),
}

impl ErrorCode for RetentionError {
    fn code(&self) -> Code {
        match self {
            RetentionError::Store(e) => e.code(),
            RetentionError::Object(e) => e.code(),
            RetentionError::Crypt(e) => e.code(),
        }
    }

    fn is_client_error(&self) -> bool {
        false
    }
}

/// What one sweep deleted, or with `dry_run` would delete.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub dry_run: bool,
    /// The sweep's clock, unix milliseconds.
    pub now: UnixMillis,
    pub videos: VideoReport,
    pub uploads: UploadReport,
    pub drafts: DraftReport,
    pub exports: ExportReport,
    pub audit: AuditReport,
    pub accounts: AccountReport,
    /// Items that could not be handled this time (the next sweep retries them).
    pub failures: Vec<Failure>,
}

/// P-RET-1.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VideoReport {
    /// Revisions that ended before this are expired; `None` when videos are kept until their
    /// owner deletes them.
    pub cutoff: Option<UnixMillis>,
    /// Jobs deleted whole: their current revision expired.
    pub jobs: Vec<String>,
    /// Earlier revisions deleted from jobs that stay.
    pub revisions: Vec<RevisionRef>,
    /// Every object key deleted.
    pub objects: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RevisionRef {
    pub job_id: String,
    pub revision: i64,
}

/// P-RET-2.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UploadReport {
    pub policy: &'static str,
    /// Upload ids deleted.
    pub deleted: Vec<String>,
    /// Object keys deleted (an object shared by an upload that stays is kept).
    pub objects: Vec<String>,
}

/// Draft storyboards no one changed for `retention.draft_days`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DraftReport {
    pub cutoff: UnixMillis,
    /// Draft ids deleted.
    pub deleted: Vec<String>,
}

/// P-RIGHTS-1: account exports whose download link expired, failed builds, and builds a
/// stopped server left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// Export ids deleted.
    pub deleted: Vec<String>,
    /// Archive keys deleted.
    pub objects: Vec<String>,
}

/// P-RET-3.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub cutoff: UnixMillis,
    pub anonymised: u64,
    /// Transfer log rows older than the cutoff, deleted.
    pub transfers_deleted: u64,
    /// Job revisions older than the cutoff whose usage details were deleted.
    pub usage_cleared: u64,
}

/// P-RET-4.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountReport {
    /// Accounts deleted before this are purged.
    pub cutoff: UnixMillis,
    /// Purged account ids (never their email: the report goes to logs).
    pub purged: Vec<String>,
    /// Every object key deleted.
    pub objects: Vec<String>,
}

/// One item the sweep could not handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What it was about: `job:<id>`, `upload:<id>`, `account:<id>`.
    pub item: String,
    pub code: &'static str,
    pub message: String,
}

impl RetentionReport {
    fn fail(&mut self, item: String, err: &RetentionError) {
        warn!(%item, code = %err.code(), error = %err, "retention: could not handle an item");
        self.failures.push(Failure {
            item,
            code: err.code().as_str(),
            message: err.to_string(),
        });
    }
}

/// Run one sweep at `now` under `policy`. With `dry_run`, nothing changes and the report lists
/// what would go.
pub async fn sweep(
    db: &Db,
    media: &SealedMedia,
    policy: &RetentionConfig,
    now: UnixMillis,
    dry_run: bool,
) -> Result<RetentionReport, RetentionError> {
    let mut report = RetentionReport {
        dry_run,
        now,
        ..RetentionReport::default()
    };
    expire_usage_and_transfers(db, policy, now, dry_run, &mut report).await?;
    let gone_jobs = expire_videos(db, media, policy, now, dry_run, &mut report).await?;
    expire_drafts(db, policy, now, dry_run, &mut report).await?;
    expire_uploads(db, media, policy, dry_run, &gone_jobs, &mut report).await?;
    expire_exports(db, media, policy, now, dry_run, &mut report).await?;
    anonymise_audit(db, policy, now, dry_run, &mut report).await?;
    purge_accounts(db, media, policy, now, dry_run, &mut report).await?;
    info!(
        dry_run,
        jobs = report.videos.jobs.len(),
        revisions = report.videos.revisions.len(),
        uploads = report.uploads.deleted.len(),
        drafts = report.drafts.deleted.len(),
        exports = report.exports.deleted.len(),
        audit = report.audit.anonymised,
        accounts = report.accounts.purged.len(),
        failures = report.failures.len(),
        "retention sweep done"
    );
    Ok(report)
}

fn days_ms(days: u32) -> i64 {
    i64::from(days) * DAY_MS
}

/// Every object recorded for the revisions plus anything stored under their folders
/// (`jobs/<id>/r<rev>/`), sorted and without duplicates.
async fn revision_objects(
    media: &SealedMedia,
    job_id: &str,
    revisions: &[(i64, Vec<String>)],
) -> Result<Vec<String>, RetentionError> {
    let mut keys = BTreeSet::new();
    for (revision, recorded) in revisions {
        keys.extend(recorded.iter().cloned());
        let prefix = format!("{}/r{revision}", job_prefix(job_id));
        keys.extend(media.list(&prefix).await?.into_iter().map(|o| o.key));
    }
    Ok(keys.into_iter().collect())
}

async fn delete_objects(media: &SealedMedia, keys: &[String]) -> Result<(), RetentionError> {
    for key in keys {
        media.delete(key).await?;
    }
    Ok(())
}

/// P-RET-1: revisions that ended more than `video_days` ago. A job whose current revision
/// expired is deleted whole (its earlier revisions are older still); an earlier revision of a
/// job that has a newer one is deleted alone. Returns the jobs that are (or would be) gone.
async fn expire_videos(
    db: &Db,
    media: &SealedMedia,
    policy: &RetentionConfig,
    now: UnixMillis,
    dry_run: bool,
    report: &mut RetentionReport,
) -> Result<BTreeSet<String>, RetentionError> {
    let mut gone = BTreeSet::new();
    let Some(days) = policy.video_days else {
        return Ok(gone);
    };
    let cutoff = now - days_ms(days);
    report.videos.cutoff = Some(cutoff);
    let ended = db
        .revisions_ended_before(cutoff, REVISIONS_PER_SWEEP)
        .await?;
    // Whole jobs first, so their earlier revisions are not also handled one by one.
    let (whole, single): (Vec<&EndedRevision>, Vec<&EndedRevision>) =
        ended.iter().partition(|r| r.ends_the_job());
    let whole_ids: BTreeSet<&str> = whole.iter().map(|r| r.job_id.as_str()).collect();
    for rev in whole {
        let item = format!("job:{}", rev.job_id);
        match expire_job(db, media, rev, dry_run).await {
            Ok(Some(keys)) => {
                gone.insert(rev.job_id.clone());
                report.videos.jobs.push(rev.job_id.clone());
                report.videos.objects.extend(keys);
            }
            Ok(None) => {}
            Err(err) => report.fail(item, &err),
        }
    }
    for rev in single {
        if whole_ids.contains(rev.job_id.as_str()) {
            continue;
        }
        let item = format!("job:{}/r{}", rev.job_id, rev.revision);
        match expire_revision(db, media, rev, dry_run).await {
            Ok(Some(keys)) => {
                report.videos.revisions.push(RevisionRef {
                    job_id: rev.job_id.clone(),
                    revision: rev.revision,
                });
                report.videos.objects.extend(keys);
            }
            Ok(None) => {}
            Err(err) => report.fail(item, &err),
        }
    }
    report.videos.objects.sort();
    report.videos.objects.dedup();
    Ok(gone)
}

/// Deletes a job whose current revision expired; the keys deleted, or `None` when the job
/// changed meanwhile (revised: its old revision goes on a later sweep).
async fn expire_job(
    db: &Db,
    media: &SealedMedia,
    rev: &EndedRevision,
    dry_run: bool,
) -> Result<Option<Vec<String>>, RetentionError> {
    let revisions: Vec<(i64, Vec<String>)> = db
        .job_revision_keys(&rev.job_id)
        .await?
        .into_iter()
        // Only revisions up to the expired one: a revision added after the listing is not
        // ours to delete (its worker may be writing it now).
        .filter(|r| r.revision <= rev.revision)
        .map(|r| (r.revision, r.keys))
        .collect();
    let keys = revision_objects(media, &rev.job_id, &revisions).await?;
    if dry_run {
        return Ok(Some(keys));
    }
    delete_objects(media, &keys).await?;
    if db.delete_ended_job(&rev.job_id, rev.revision).await? {
        Ok(Some(keys))
    } else {
        Ok(None)
    }
}

async fn expire_revision(
    db: &Db,
    media: &SealedMedia,
    rev: &EndedRevision,
    dry_run: bool,
) -> Result<Option<Vec<String>>, RetentionError> {
    let Some(recorded) = db
        .job_revision_keys(&rev.job_id)
        .await?
        .into_iter()
        .find(|r| r.revision == rev.revision)
    else {
        return Ok(None);
    };
    let keys = revision_objects(media, &rev.job_id, &[(rev.revision, recorded.keys)]).await?;
    if dry_run {
        return Ok(Some(keys));
    }
    delete_objects(media, &keys).await?;
    if db.delete_ended_revision(&rev.job_id, rev.revision).await? {
        Ok(Some(keys))
    } else {
        Ok(None)
    }
}

/// P-RET-2. Which uploads go:
/// - `until_job_ends`: every upload some ended job refers to and no queued or running job does;
/// - `with_video`: every upload a job deleted by this sweep referred to and no remaining job does;
/// - with `video_days` set, under either policy: uploads older than the video cutoff that no
///   remaining job refers to (no upload outlives the video retention unused).
///
/// References are the upload ids in the jobs' render specs (`media` and `voice` of every
/// revision), and only an upload of the job's owner counts (the API refuses others' ids).
async fn expire_uploads(
    db: &Db,
    media: &SealedMedia,
    policy: &RetentionConfig,
    dry_run: bool,
    gone_jobs: &BTreeSet<String>,
    report: &mut RetentionReport,
) -> Result<(), RetentionError> {
    report.uploads.policy = policy.uploads.as_str();
    let refs = db.job_upload_refs().await?;
    let (gone, remaining): (Vec<&JobUploadRefs>, Vec<&JobUploadRefs>) =
        refs.iter().partition(|r| gone_jobs.contains(&r.job_id));
    let used: BTreeSet<String> = ids_of(&remaining, |_| true)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let active: BTreeSet<String> = ids_of(&remaining, |j| j.is_active())
        .into_iter()
        .map(|(id, _)| id)
        .collect();

    // Candidates as (upload id, the owner a referencing job has), checked against the row.
    let mut candidates: BTreeMap<String, Option<String>> = BTreeMap::new();
    let referenced = match policy.uploads {
        // Jobs this sweep deletes have ended too, so their uploads count here as well.
        UploadRetention::UntilJobEnds => {
            ids_of(&refs.iter().collect::<Vec<_>>(), |j| !j.is_active())
                .into_iter()
                .filter(|(id, _)| !active.contains(id))
                .collect::<Vec<_>>()
        }
        UploadRetention::WithVideo => ids_of(&gone, |_| true)
            .into_iter()
            .filter(|(id, _)| !used.contains(id))
            .collect(),
    };
    for (id, owner) in referenced {
        candidates.insert(id, Some(owner));
    }
    if let Some(cutoff) = report.videos.cutoff {
        for upload in db.uploads_created_before(cutoff).await? {
            if !used.contains(&upload.id) {
                candidates.entry(upload.id).or_insert(None);
            }
        }
    }

    let mut objects = BTreeSet::new();
    for (id, owner) in candidates {
        let item = format!("upload:{id}");
        let upload = match db.upload_by_id(&id).await {
            Ok(Some(upload)) => upload,
            Ok(None) => continue,
            Err(err) => {
                report.fail(item, &err.into());
                continue;
            }
        };
        if owner.is_some_and(|owner| owner != upload.owner_id) {
            continue;
        }
        match expire_upload(db, media, &upload, dry_run, &report.uploads.deleted).await {
            Ok(Some(key)) => {
                objects.extend(key);
                report.uploads.deleted.push(upload.id);
            }
            Ok(None) => {}
            Err(err) => report.fail(item, &err),
        }
    }
    report.uploads.objects = objects.into_iter().collect();
    Ok(())
}

/// P-RET-2 under `until_job_ends`, at the moment a job ends (the worker's end-of-job path):
/// the owner's uploads this job refers to that none of their queued or running jobs still
/// needs. Returns the upload ids deleted. The periodic sweep applies the same rule and catches
/// what this missed (a worker that died between finishing the job and deleting).
pub async fn expire_uploads_of_ended_job(
    db: &Db,
    media: &SealedMedia,
    owner_id: &str,
    job_id: &str,
) -> Result<Vec<String>, RetentionError> {
    let refs = db.job_upload_refs_of(owner_id).await?;
    let Some(ended) = refs.iter().find(|r| r.job_id == job_id) else {
        return Ok(Vec::new());
    };
    if ended.is_active() {
        return Ok(Vec::new());
    }
    let still_needed: BTreeSet<String> =
        ids_of(&refs.iter().collect::<Vec<_>>(), |j| j.is_active())
            .into_iter()
            .map(|(id, _)| id)
            .collect();
    let mut deleted = Vec::new();
    for id in ended.upload_ids.difference(&still_needed) {
        let Some(upload) = db.upload_by_id(id).await? else {
            continue;
        };
        if upload.owner_id != owner_id {
            continue;
        }
        if expire_upload(db, media, &upload, false, &[])
            .await?
            .is_some()
        {
            deleted.push(upload.id);
        }
    }
    Ok(deleted)
}

/// (upload id, owner) for every upload the jobs that `keep` accepts refer to.
fn ids_of(
    jobs: &[&JobUploadRefs],
    keep: impl Fn(&JobUploadRefs) -> bool,
) -> BTreeSet<(String, String)> {
    jobs.iter()
        .filter(|j| keep(j))
        .flat_map(|j| {
            j.upload_ids
                .iter()
                .map(|id| (id.clone(), j.owner_id.clone()))
        })
        .collect()
}

/// Deletes one upload's object (unless an upload that stays shares it) and then its row. The
/// deleted key, `Some(None)` when the object stays, `None` when the row was already gone.
async fn expire_upload(
    db: &Db,
    media: &SealedMedia,
    upload: &Upload,
    dry_run: bool,
    already: &[String],
) -> Result<Option<Option<String>>, RetentionError> {
    // Shared with another upload of the same bytes (same owner, content addressing): the
    // object goes only with the last one. In a dry run the uploads this sweep "deleted" so far
    // are still there, so they do not count as sharing.
    let shared = if dry_run {
        db.upload_ids_with_key(&upload.object_key)
            .await?
            .iter()
            .any(|id| id != &upload.id && !already.contains(id))
    } else {
        db.object_key_shared(&upload.object_key, &upload.id).await?
    };
    let key = (!shared).then(|| upload.object_key.clone());
    if dry_run {
        return Ok(Some(key));
    }
    if let Some(key) = &key {
        media.delete(key).await?;
    }
    if db.delete_upload_by_id(&upload.id).await? {
        Ok(Some(key))
    } else {
        Ok(None)
    }
}

/// Drafts untouched for `draft_days` go, before the uploads are weighed: an upload only such a
/// draft showed is then unused like any other. A draft has no objects, only its row.
async fn expire_drafts(
    db: &Db,
    policy: &RetentionConfig,
    now: UnixMillis,
    dry_run: bool,
    report: &mut RetentionReport,
) -> Result<(), RetentionError> {
    let cutoff = now - days_ms(policy.draft_days);
    report.drafts.cutoff = cutoff;
    for id in db.storyboards_untouched_since(cutoff).await? {
        if dry_run || db.delete_storyboard_untouched(&id, cutoff).await? {
            report.drafts.deleted.push(id);
        }
    }
    Ok(())
}

/// P-RIGHTS-1: an export's archive lives `export_hours` after it is ready. A failed build (no
/// archive) stays listed for as long, so its owner sees why, and a build still `building` after
/// the store's stale limit was interrupted. The archive's key is derived from the row, so even
/// an archive a crash stored without marking the row ready is found.
async fn expire_exports(
    db: &Db,
    media: &SealedMedia,
    policy: &RetentionConfig,
    now: UnixMillis,
    dry_run: bool,
    report: &mut RetentionReport,
) -> Result<(), RetentionError> {
    let keep_failed = i64::from(policy.export_hours) * 3_600_000;
    for export in db
        .exports_to_expire(now, keep_failed, EXPORTS_PER_SWEEP)
        .await?
    {
        let key = export_key(&export.user_id, &export.id);
        let present = match media.head(&key).await {
            Ok(info) => info.is_some(),
            Err(err) => {
                report.fail(format!("export:{}", export.id), &err.into());
                continue;
            }
        };
        if !dry_run {
            let deleted = async {
                if present {
                    media.delete(&key).await?;
                }
                db.delete_export(&export.id).await?;
                Ok::<(), RetentionError>(())
            }
            .await;
            if let Err(err) = deleted {
                report.fail(format!("export:{}", export.id), &err);
                continue;
            }
        }
        if present {
            report.exports.objects.push(key);
        }
        report.exports.deleted.push(export.id);
    }
    Ok(())
}

/// P-RET-3: audit entries anonymised.
async fn anonymise_audit(
    db: &Db,
    policy: &RetentionConfig,
    now: UnixMillis,
    dry_run: bool,
    report: &mut RetentionReport,
) -> Result<(), RetentionError> {
    let cutoff = now - i64::from(policy.logs_months) * MONTH_MS;
    report.audit.cutoff = cutoff;
    report.audit.anonymised = if dry_run {
        db.audit_to_anonymise(cutoff).await?
    } else {
        db.anonymise_audit_before(cutoff).await?
    };
    Ok(())
}

/// P-RET-3: usage and transfer logs follow the same period as the security log: the job and
/// its video stay (their own retention is P-RET-1), the record of how it was made goes. Runs
/// before the video expiry, so a dry run (where expired jobs stay) counts the same rows as the
/// real sweep.
async fn expire_usage_and_transfers(
    db: &Db,
    policy: &RetentionConfig,
    now: UnixMillis,
    dry_run: bool,
    report: &mut RetentionReport,
) -> Result<(), RetentionError> {
    let cutoff = now - i64::from(policy.logs_months) * MONTH_MS;
    if dry_run {
        report.audit.transfers_deleted = db.transfers_before(cutoff).await?;
        report.audit.usage_cleared = db.usage_to_clear(cutoff).await?;
    } else {
        report.audit.transfers_deleted = db.delete_transfers_before(cutoff).await?;
        report.audit.usage_cleared = db.clear_usage_before(cutoff).await?;
    }
    Ok(())
}

/// P-RET-4: accounts deleted more than `purge_days` ago lose every object (uploads, every
/// job's outputs, their export archives, anything under `uploads/<id>/`, `exports/<id>/` or
/// their jobs' folders), their data key
/// (crypto-shredding: copies of their objects in backups become unreadable), the traces that
/// outlive the row (audit entries, rate-limit counters), then the row and everything that
/// cascades from it.
async fn purge_accounts(
    db: &Db,
    media: &SealedMedia,
    policy: &RetentionConfig,
    now: UnixMillis,
    dry_run: bool,
    report: &mut RetentionReport,
) -> Result<(), RetentionError> {
    // Purge early by up to one sweep interval, so that with sweeps every `sweep_minutes` an
    // account is gone by `deleted_at + purge_days` at the latest, as promised (P-RET-4),
    // instead of up to one interval after it.
    let interval = i64::from(policy.sweep_minutes) * 60_000;
    let cutoff = (now - days_ms(policy.purge_days) + interval).min(now);
    report.accounts.cutoff = cutoff;
    // Objects earlier steps already deleted (or would delete) are not counted twice, so a dry
    // run reports exactly what the real sweep does.
    let handled: BTreeSet<String> = report
        .videos
        .objects
        .iter()
        .chain(&report.uploads.objects)
        .chain(&report.exports.objects)
        .cloned()
        .collect();
    let mut objects = BTreeSet::new();
    for user_id in db.users_deleted_before(cutoff).await? {
        match purge_account(db, media, &user_id, dry_run, &handled).await {
            Ok(keys) => {
                objects.extend(keys);
                report.accounts.purged.push(user_id);
            }
            Err(err) => report.fail(format!("account:{user_id}"), &err),
        }
    }
    report.accounts.objects = objects.into_iter().collect();
    Ok(())
}

async fn purge_account(
    db: &Db,
    media: &SealedMedia,
    user_id: &str,
    dry_run: bool,
    handled: &BTreeSet<String>,
) -> Result<Vec<String>, RetentionError> {
    let mut keys: BTreeSet<String> = db.upload_keys_of(user_id).await?.into_iter().collect();
    keys.extend(
        media
            .list(&format!("uploads/{user_id}"))
            .await?
            .into_iter()
            .map(|o| o.key),
    );
    // Export archives: every one is under the owner's folder (`export_key`), row or not.
    keys.extend(
        media
            .list(&export_prefix(user_id))
            .await?
            .into_iter()
            .map(|o| o.key),
    );
    for job_id in db.job_ids_of(user_id).await? {
        for revision in db.job_revision_keys(&job_id).await? {
            keys.extend(revision.keys);
        }
        keys.extend(
            media
                .list(&job_prefix(&job_id))
                .await?
                .into_iter()
                .map(|o| o.key),
        );
    }
    let keys: Vec<String> = keys.into_iter().filter(|k| !handled.contains(k)).collect();
    if dry_run {
        return Ok(keys);
    }
    delete_objects(media, &keys).await?;
    media.destroy_owner_key(user_id).await?;
    if let Some(user) = db.user_by_id(user_id).await? {
        db.scrub_user_traces(user_id, &user.email).await?;
    }
    db.purge_user(user_id).await?;
    Ok(keys)
}
