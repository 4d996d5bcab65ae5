//! Building an account export (P-RIGHTS-1): JSON documents of everything held about the user plus
//! their original media, written as a ZIP to a temporary file and stored sealed under the
//! owner's data key. Media is copied object by object through a small buffer, so an archive of
//! many videos never sits in memory.
//!
//! What goes in is read through the same owner-scoped store methods the API uses, so the archive
//! holds exactly what the user can see, and never a secret: no password hash, no session or
//! token hashes, no keys.

use std::fs::File;
use std::io::{BufWriter, Write};

use futures::StreamExt;
use reelsmith_core::{Code, ErrorCode};
use reelsmith_store::{
    export_key, Export, Job, JobRevision, ObjectError, OwnerMedia, Page, StoreError, Upload,
};
use serde_json::{json, Value};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::jobs::Output;
use crate::time::{opt_rfc3339, rfc3339};
use crate::AppState;

/// Rows read per page while collecting (ledger and audit are paged by the store).
const PAGE: u32 = 500;

/// Why a build failed. Every variant has a stable code, stored on the export row.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error("could not write the archive: {0}")]
    Io(#[from] std::io::Error),
    #[error("could not write the archive: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("the archive task stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl ErrorCode for ExportError {
    fn code(&self) -> Code {
        match self {
            ExportError::Store(e) => e.code(),
            ExportError::Object(e) => e.code(),
            ExportError::Io(_) => Code::ExportIo,
            ExportError::Zip(_) => Code::ExportArchive,
            ExportError::Task(_) => Code::ExportTaskFailed,
        }
    }

    fn is_client_error(&self) -> bool {
        false
    }
}

/// One file of the archive: a document made here, or a stored object copied in.
enum Entry {
    Document { path: String, bytes: Vec<u8> },
    Object { path: String, key: String },
}

/// Build `export`, store it, and mark it ready; on any failure mark it failed with the error's
/// code and leave no object behind. Runs as a spawned task: the request that asked has already
/// been answered.
pub async fn run(state: AppState, export: Export) {
    let key = export_key(&export.user_id, &export.id);
    match build(&state, &export, &key).await {
        Ok(size) => {
            let now = state.clock.now();
            let expires_at = now + i64::from(state.config.retention.export_hours) * 3_600_000;
            match state
                .db
                .mark_export_ready(&export.id, &key, size, now, expires_at)
                .await
            {
                Ok(true) => tracing::info!(export = %export.id, size, "account export ready"),
                // Failed as interrupted, or the account was purged, meanwhile: the object
                // must not outlive its row.
                Ok(false) => discard(&state, &key).await,
                Err(err) => {
                    discard(&state, &key).await;
                    fail(&state, &export, err.code(), err.to_string()).await;
                }
            }
        }
        Err(err) => {
            discard(&state, &key).await;
            fail(&state, &export, err.code(), err.to_string()).await;
        }
    }
}

async fn discard(state: &AppState, key: &str) {
    if let Err(err) = state.media.delete(key).await {
        tracing::error!(key, error = %err, "could not delete an unused export archive");
    }
}

async fn fail(state: &AppState, export: &Export, code: Code, err: String) {
    tracing::error!(export = %export.id, code = code.as_str(), error = %err, "account export failed");
    if let Err(err) = state.db.mark_export_failed(&export.id, code.as_str()).await {
        tracing::error!(export = %export.id, error = %err, "could not mark the export failed");
    }
}

/// Collect, write the ZIP to a temporary file, store it sealed at `key`; the archive's size.
async fn build(state: &AppState, export: &Export, key: &str) -> Result<i64, ExportError> {
    let media = state.media.for_owner(&export.user_id).await?;
    let entries = collect(state, export).await?;
    let file = tempfile::NamedTempFile::new()?;
    let path = file.path().to_owned();
    let handle = tokio::runtime::Handle::current();
    let writer_media = media.clone();
    // The ZIP writer is synchronous: it runs on a blocking thread, which drives the async
    // object reads with the runtime's handle.
    let file = tokio::task::spawn_blocking(move || {
        write_zip(&handle, &writer_media, file.reopen()?, entries)?;
        Ok::<_, ExportError>(file)
    })
    .await??;
    let info = media.put_file(key, &path).await?;
    drop(file);
    Ok(i64::try_from(info.size).unwrap_or(i64::MAX))
}

fn write_zip(
    handle: &tokio::runtime::Handle,
    media: &OwnerMedia,
    file: File,
    entries: Vec<Entry>,
) -> Result<(), ExportError> {
    let mut zip = ZipWriter::new(BufWriter::new(file));
    // Documents compress well; media is already compressed, so it is stored as is.
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let mut missing = Vec::new();
    for entry in entries {
        match entry {
            Entry::Document { path, bytes } => {
                zip.start_file(path, deflated)?;
                zip.write_all(&bytes)?;
            }
            Entry::Object { path, key } => {
                let reader = match handle.block_on(media.open(&key, None)) {
                    Ok(reader) => reader,
                    // A row names an object storage no longer has (deleted by hand, say): the
                    // user still gets everything else, and is told what is not there.
                    Err(ObjectError::NotFound(_)) => {
                        missing.push(path);
                        continue;
                    }
                    Err(err) => return Err(err.into()),
                };
                zip.start_file(path, stored.large_file(reader.size >= u64::from(u32::MAX)))?;
                let mut stream = reader.stream;
                while let Some(chunk) = handle.block_on(stream.next()) {
                    zip.write_all(&chunk?)?;
                }
            }
        }
    }
    if !missing.is_empty() {
        tracing::warn!(
            count = missing.len(),
            "account export: recorded objects are missing"
        );
        zip.start_file("missing.json", deflated)?;
        zip.write_all(
            &serde_json::to_vec_pretty(&json!({ "missing": missing })).unwrap_or_default(),
        )?;
    }
    let mut out = zip.finish()?;
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(())
}

fn document(path: &str, value: &Value) -> Entry {
    Entry::Document {
        path: path.to_owned(),
        bytes: serde_json::to_vec_pretty(value).unwrap_or_default(),
    }
}

/// Every document and object of the archive, in the order written.
async fn collect(state: &AppState, export: &Export) -> Result<Vec<Entry>, ExportError> {
    let db = &state.db;
    let user_id = export.user_id.as_str();
    let now = state.clock.now();
    let mut entries = vec![Entry::Document {
        path: "README.txt".to_owned(),
        bytes: readme(export, now).into_bytes(),
    }];

    if let Some(user) = db.user_by_id(user_id).await? {
        // The settings the Create form starts from (P-IN-6).
        let preferences = db
            .preferences(user_id)
            .await?
            .map(|(settings, at)| json!({ "settings": settings, "updated_at": rfc3339(at) }));
        // Every field of the account except the password hash.
        entries.push(document(
            "profile.json",
            &json!({
                "id": user.id,
                "email": user.email,
                "username": user.username,
                "display_name": user.display_name,
                "role": user.role.as_str(),
                "email_verified_at": opt_rfc3339(user.email_verified_at),
                "birth_year": user.birth_year,
                "age_confirmed_min": user.age_confirmed_min,
                "processing_paused": user.processing_paused,
                "marketing_opt_in_at": opt_rfc3339(user.marketing_opt_in_at),
                "notify_job_finished": user.notify_job_finished,
                "preferences": preferences,
                "created_at": rfc3339(user.created_at),
                "updated_at": rfc3339(user.updated_at),
            }),
        ));
    }
    let sessions: Vec<Value> = db
        .list_sessions(user_id, now)
        .await?
        .into_iter()
        .map(|s| {
            json!({
                "id": s.id, "created_at": rfc3339(s.created_at),
                "last_seen_at": rfc3339(s.last_seen_at), "expires_at": rfc3339(s.expires_at),
                "user_agent": s.user_agent, "ip": s.ip,
            })
        })
        .collect();
    let tokens: Vec<Value> = db
        .list_api_tokens(user_id)
        .await?
        .into_iter()
        .map(|t| {
            json!({
                "id": t.id, "name": t.name, "prefix": t.prefix,
                "created_at": rfc3339(t.created_at), "last_used_at": opt_rfc3339(t.last_used_at),
                "revoked_at": opt_rfc3339(t.revoked_at),
            })
        })
        .collect();
    entries.push(document(
        "sessions.json",
        &json!({ "sessions": sessions, "api_tokens": tokens }),
    ));

    // The providers one signs in with (P-ACC-4): who they say the person is, never a token
    // (none is kept after sign-in).
    let identities: Vec<Value> = db
        .oidc_identities_of(user_id)
        .await?
        .into_iter()
        .map(|i| {
            json!({
                "id": i.id, "provider": i.provider, "subject": i.subject, "email": i.email,
                "linked_at": rfc3339(i.created_at), "last_used_at": rfc3339(i.last_used_at),
            })
        })
        .collect();
    entries.push(document("identities.json", &Value::Array(identities)));

    let consents: Vec<Value> = db
        .consents_for_user(user_id)
        .await?
        .into_iter()
        .map(|c| {
            json!({
                "id": c.id, "provider": c.provider, "policy_version": c.policy_version,
                "granted_at": rfc3339(c.granted_at), "withdrawn_at": opt_rfc3339(c.withdrawn_at),
            })
        })
        .collect();
    entries.push(document("consents.json", &Value::Array(consents)));

    // Which versions of the privacy notice and terms were accepted, and what the operator
    // recorded or sent about the person (P-COMM-2, P-RIGHTS-5, P-COMM-3).
    let accepted: Vec<Value> = db
        .policy_acceptances_of(user_id)
        .await?
        .into_iter()
        .map(|a| json!({ "kind": a.kind, "version": a.version, "accepted_at": rfc3339(a.accepted_at) }))
        .collect();
    entries.push(document("policies.json", &Value::Array(accepted)));
    let requests: Vec<Value> = db
        .rights_requests_of(user_id)
        .await?
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id, "kind": r.kind, "from": r.requester_email,
                "received_at": rfc3339(r.received_at), "due_at": rfc3339(r.due_at),
                "identity_checked_at": opt_rfc3339(r.identity_checked_at),
                "status": r.status, "closed_at": opt_rfc3339(r.closed_at),
            })
        })
        .collect();
    let notices: Vec<Value> = db
        .breach_notices_to(user_id)
        .await?
        .into_iter()
        .map(|(n, s)| {
            json!({
                "notice_id": n.id, "subject": n.subject, "text": n.template,
                "status": s.status, "sent_at": rfc3339(s.sent_at),
            })
        })
        .collect();
    entries.push(document(
        "notices.json",
        &json!({ "rights_requests": requests, "breach_notices": notices }),
    ));

    let (jobs, mut media_entries) = collect_jobs(state, user_id).await?;
    entries.push(document("jobs.json", &Value::Array(jobs)));

    let mut ledger = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = db.credit_ledger(user_id, PAGE, before.as_deref()).await?;
        let done = page.len() < PAGE as usize;
        before = page.last().map(|e| e.id.clone());
        ledger.extend(page.into_iter().map(|e| {
            json!({
                "id": e.id, "kind": e.kind.as_str(), "amount": e.amount, "job_id": e.job_id,
                "revision": e.revision, "note": e.note, "created_at": rfc3339(e.created_at),
            })
        }));
        if done {
            break;
        }
    }
    let balance = db.credit_balance(user_id).await?;
    entries.push(document(
        "credits.json",
        &json!({ "balance": balance, "ledger": ledger }),
    ));
    entries.push(document(
        "payments.json",
        &payments_json(db, user_id).await?,
    ));

    let mut audit = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let page = db.audit_for_user(user_id, PAGE, before).await?;
        let done = page.len() < PAGE as usize;
        before = page.last().map(|e| e.id);
        audit.extend(page.into_iter().map(|e| {
            json!({
                "id": e.id, "kind": e.kind, "ip": e.ip, "user_agent": e.user_agent,
                "detail": e.detail, "created_at": rfc3339(e.created_at),
            })
        }));
        if done {
            break;
        }
    }
    entries.push(document("audit.json", &Value::Array(audit)));

    let transfers: Vec<Value> = db
        .transfers_for_user(user_id)
        .await?
        .into_iter()
        .map(|t| {
            json!({
                "id": t.id, "job_id": t.job_id, "revision": t.revision, "provider": t.provider,
                "model": t.model, "purpose": t.purpose, "sent": t.sent,
                "request_id": t.request_id, "status": t.status,
                "created_at": rfc3339(t.created_at), "updated_at": rfc3339(t.updated_at),
            })
        })
        .collect();
    entries.push(document("transfers.json", &Value::Array(transfers)));

    let mut uploads = Vec::new();
    let mut page = Page::first(100);
    loop {
        let batch = db.list_uploads(user_id, &page).await?;
        let done = batch.len() < 100;
        page.before = batch.last().map(|u| u.id.clone());
        for upload in batch {
            let path = upload_path(&upload);
            uploads.push(json!({
                "id": upload.id, "kind": upload.kind.as_str(), "mime": upload.mime,
                "size": upload.size, "width": upload.width, "height": upload.height,
                "duration_ms": upload.duration_ms, "created_at": rfc3339(upload.created_at),
                "file": path,
            }));
            media_entries.push(Entry::Object {
                path,
                key: upload.object_key,
            });
        }
        if done {
            break;
        }
    }
    entries.push(document("uploads.json", &Value::Array(uploads)));
    // Storyboards not rendered yet (issue 25): their scripts are the person's words too.
    let drafts: Vec<Value> = db
        .storyboards_of(user_id)
        .await?
        .into_iter()
        .map(|d| {
            json!({ "id": d.id, "params": d.params, "storyboard": d.storyboard,
                    "version": d.version, "created_at": rfc3339(d.created_at),
                    "updated_at": rfc3339(d.updated_at) })
        })
        .collect();
    entries.push(document("storyboards.json", &Value::Array(drafts)));
    entries.push(document(
        "presets.json",
        &presets_json(state, user_id).await?,
    ));
    entries.extend(media_entries);
    Ok(entries)
}

/// The person's presets and batches (issue 25): settings they chose and named, and which jobs
/// each batch made.
async fn presets_json(state: &AppState, user_id: &str) -> Result<Value, ExportError> {
    let presets: Vec<Value> = state
        .db
        .presets_of(user_id)
        .await?
        .into_iter()
        .map(|p| {
            json!({ "id": p.id, "name": p.name, "settings": p.settings,
                    "created_at": rfc3339(p.created_at), "updated_at": rfc3339(p.updated_at) })
        })
        .collect();
    let mut batches = Vec::new();
    for b in state.db.batches_of(user_id, i64::MAX).await? {
        let jobs: Vec<String> = state
            .db
            .batch_jobs(&b.id)
            .await?
            .into_iter()
            .map(|j| j.id)
            .collect();
        batches.push(
            json!({ "id": b.id, "preset": b.preset_id, "settings": b.settings,
            "credits": b.credits, "jobs": jobs, "created_at": rfc3339(b.created_at) }),
        );
    }
    Ok(json!({ "presets": presets, "batches": batches }))
}

/// `jobs.json` and the scripts and outputs of every revision.
async fn collect_jobs(
    state: &AppState,
    user_id: &str,
) -> Result<(Vec<Value>, Vec<Entry>), ExportError> {
    let db = &state.db;
    let mut docs = Vec::new();
    let mut files = Vec::new();
    for job_id in db.job_ids_of(user_id).await? {
        let Some(job) = db.job_for_owner(user_id, &job_id).await? else {
            continue; // deleted meanwhile
        };
        let holds = db.credit_holds(&job.id).await?;
        let mut revisions = Vec::new();
        for rev in db.list_revisions(user_id, &job.id).await? {
            let cost = holds
                .iter()
                .find(|h| h.revision == rev.revision)
                .map(|h| json!({ "credits": h.amount, "state": h.state }));
            let mut paths = Vec::new();
            if let Some(script) = rev.params.get("script").and_then(Value::as_str) {
                let path = format!("scripts/{}-r{}.txt", job.id, rev.revision);
                files.push(Entry::Document {
                    path: path.clone(),
                    bytes: script.as_bytes().to_vec(),
                });
                paths.push(path);
            }
            for (key, path) in output_files(&job, &rev) {
                files.push(Entry::Object {
                    path: path.clone(),
                    key,
                });
                paths.push(path);
            }
            // The video's description file (its credits), beside the video (issue 25).
            if !rev.output_keys.is_empty() {
                let plan = db.revision_plan(user_id, &job.id, rev.revision).await?;
                let text = crate::stock_search::job_description(
                    &job,
                    &rev.params,
                    plan.flatten().as_ref(),
                );
                let path = format!("videos/{}-r{}.description.txt", job.id, rev.revision);
                files.push(Entry::Document {
                    path: path.clone(),
                    bytes: text.into_bytes(),
                });
                paths.push(path);
            }
            revisions.push(json!({
                "revision": rev.revision,
                "status": rev.status.as_str(),
                "settings": rev.params,
                "usage": rev.usage,
                "error": rev.error,
                "cost": cost,
                "created_at": rfc3339(rev.created_at),
                "finished_at": opt_rfc3339(rev.finished_at),
                "files": paths,
            }));
        }
        docs.push(json!({
            "id": job.id,
            "title": job.title,
            "status": job.status.as_str(),
            "current_revision": job.current_revision,
            "usage": job.usage,
            "error": job.error,
            "created_at": rfc3339(job.created_at),
            "updated_at": rfc3339(job.updated_at),
            "revisions": revisions,
        }));
    }
    Ok((docs, files))
}

/// (object key, archive path) of a revision's video, poster and captions.
fn output_files(job: &Job, rev: &JobRevision) -> Vec<(String, String)> {
    let outputs = [
        (Output::Video, "mp4"),
        (Output::Poster, "jpg"),
        (Output::CaptionsVtt, "vtt"),
        (Output::CaptionsSrt, "srt"),
    ];
    let mut files = Vec::new();
    for (output, ext) in outputs {
        let suffix = format!("/{}", output.file_name());
        if let Some(key) = rev.output_keys.iter().find(|k| k.ends_with(&suffix)) {
            let path = format!("videos/{}-r{}.{ext}", job.id, rev.revision);
            files.push((key.clone(), path));
        }
    }
    files
}

/// `uploads/<id>.<ext>`, the extension from the stored type.
fn upload_path(upload: &Upload) -> String {
    let ext = match upload.mime.as_str() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        "video/webm" => "webm",
        "audio/mpeg" => "mp3",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        "audio/ogg" => "ogg",
        "audio/mp4" | "audio/x-m4a" => "m4a",
        "audio/flac" => "flac",
        "audio/webm" => "weba",
        _ => "bin",
    };
    format!("uploads/{}.{ext}", upload.id)
}

fn readme(export: &Export, now: i64) -> String {
    format!(
        "Reelsmith account export {id}\n\
         Made {made} for account {user}.\n\n\
         Everything Reelsmith holds about you (P-RIGHTS-1):\n\n\
         profile.json     your account: email, username, display name, role, age statement,\n\
         \x20                processing pause, dates (no password: only its hash is kept, and\n\
         \x20                that is not exported)\n\
         sessions.json    your signed-in sessions (browser, IP address) and API tokens (name and\n\
         \x20                prefix only)\n\
         identities.json  the identity providers linked for signing in (provider, your id\n\
         \x20                there, email, when linked and last used; no provider token is kept)\n\
         consents.json    every consent to a third-party provider, with withdrawals\n\
         policies.json    the versions of the privacy notice and terms you accepted, and when\n\
         notices.json     rights requests you made by email and breach notices sent to you\n\
         jobs.json        your creations: every revision with its settings (the render spec,\n\
         \x20                script included), status, usage, credits cost and files below\n\
         credits.json     your balance and the whole credits ledger\n\
         payments.json    your payments as the payment processor reported them: amount, tax,\n\
         \x20                receipt link, credits bought, refunds (issue 18)\n\
         audit.json       security events recorded about your account\n\
         transfers.json   every transfer of your data to a third-party provider\n\
         uploads.json     your uploads, with the file each one is in\n\
         storyboards.json your storyboards not rendered yet: their scenes and settings\n\
         presets.json     your presets (named settings) and batches (which jobs each made)\n\n\
         scripts/<job>-r<revision>.txt   each revision's script, exactly as written\n\
         videos/<job>-r<revision>.mp4    the videos (with .jpg posters and .vtt/.srt captions)\n\
         videos/<job>-r<revision>.description.txt  each video's description and picture credits\n\
         uploads/<id>.<ext>              your uploads, exactly as Reelsmith serves them\n\n\
         missing.json     only if some file above is recorded but no longer in storage: which\n\
         \x20                ones\n\n\
         Times are UTC (RFC 3339). The JSON files are UTF-8.\n",
        id = export.id,
        made = rfc3339(now),
        user = export.user_id,
    )
}

/// Every payment of the user, with the fields the invoices page shows (issue 18).
async fn payments_json(
    db: &reelsmith_store::Db,
    user_id: &str,
) -> reelsmith_store::StoreResult<Value> {
    let payments = db.payments(user_id).await?;
    Ok(Value::Array(
        payments
            .iter()
            .map(|p| {
                json!({
                    "id": p.id, "processor": p.processor, "reference": p.external_id,
                    "item": p.item, "description": p.description,
                    "amount_cents": p.amount_cents, "currency": p.currency,
                    "tax_cents": p.tax_cents, "receipt_url": p.receipt_url,
                    "credits": p.credits, "refunded_cents": p.refunded_cents,
                    "credits_taken_back": p.credits_reversed,
                    "created_at": rfc3339(p.created_at),
                })
            })
            .collect(),
    ))
}
