//! The retention sweep (P-RET-1..4, P-RIGHTS-3) with the clock moved past each period. Every case
//! runs twice: SQLite with a local media folder, and PostgreSQL with S3 (`moto_server`), so both
//! backends and both stores are exercised. The throwaway services are the store suite's own.

#[path = "../../store/tests/support/mod.rs"]
mod support;

use bytes::Bytes;
use reelsmith_config::{RetentionConfig, UploadRetention};
use reelsmith_store::*;
use reelsmith_worker::{sweep, RetentionReport};
use serde_json::{json, Value};
use sqlx::Row;

const DAY: i64 = 86_400_000;
/// The tests' epoch: every time is an offset from here.
const T0: i64 = 1_700_000_000_000;

struct Env {
    db: Db,
    raw: MediaStore,
    media: SealedMedia,
    _dir: tempfile::TempDir,
}

async fn sqlite_local() -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open_sqlite(&dir.path().join("reelsmith.db"), 8)
        .await
        .expect("open SQLite");
    db.migrate().await.expect("migrate SQLite");
    let raw = MediaStore::local(&dir.path().join("media")).expect("local store");
    env_with(db, raw, dir)
}

async fn postgres_s3() -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = support::postgres::shared().create_database().await;
    let db = Db::connect(&url, 8).await.expect("connect PostgreSQL");
    db.migrate().await.expect("migrate PostgreSQL");
    let moto = support::moto::shared();
    let raw = MediaStore::s3(&S3Config {
        endpoint: Some(moto.endpoint()),
        region: "us-east-1".into(),
        bucket: moto.create_bucket(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
        path_style: true,
        allow_http: true,
    })
    .expect("S3 store");
    env_with(db, raw, dir)
}

fn env_with(db: Db, raw: MediaStore, dir: tempfile::TempDir) -> Env {
    let media = SealedMedia::new(
        raw.clone(),
        db.clone(),
        Keyring::new(OperatorKey::from_bytes(&[7; 32])),
    );
    Env {
        db,
        raw,
        media,
        _dir: dir,
    }
}

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod sqlite_local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let env = super::sqlite_local().await;
                    super::$case(&env).await;
                    env.db.close().await;
                }
            )*
        }
        mod postgres_s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let env = super::postgres_s3().await;
                    super::$case(&env).await;
                    env.db.close().await;
                }
            )*
        }
    };
}

on_both!(
    p_ret_1_expired_video_object_is_gone_from_local_and_s3,
    p_ret_2_uploads_go_when_the_job_ends_under_until_job_ends_and_stay_with_video,
    p_ret_3_audit_entries_older_than_the_period_are_anonymised,
    p_ret_3_transfer_rows_and_usage_details_older_than_the_period_are_deleted,
    p_ret_4_purge_leaves_no_email_no_object_and_backups_unreadable,
    p_ret_dry_run_deletes_nothing_and_reports_the_same_items,
    p_rights_1_expired_export_archive_is_gone_and_a_purge_removes_every_export,
);

fn policy(video_days: Option<u32>, uploads: UploadRetention) -> RetentionConfig {
    RetentionConfig {
        video_days,
        uploads,
        ..RetentionConfig::default()
    }
}

async fn user(db: &Db, name: &str) -> String {
    db.create_user(
        &NewUser {
            email: format!("{name}@example.org"),
            username: name.to_owned(),
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
            display_name: format!("{name} display"),
            role: Role::User,
            birth_year: None,
            age_confirmed_min: Some(13),
        },
        T0,
    )
    .await
    .expect("create user")
    .id
}

/// An upload with a sealed object under `uploads/<owner>/…`.
async fn upload(env: &Env, owner: &str, bytes: &'static [u8]) -> Upload {
    let key = content_key(&format!("uploads/{owner}"), bytes);
    env.media
        .for_owner(owner)
        .await
        .unwrap()
        .put_bytes(&key, Bytes::from_static(bytes))
        .await
        .unwrap();
    env.db
        .create_upload(
            &NewUpload {
                owner_id: owner.to_owned(),
                kind: UploadKind::Image,
                object_key: key,
                size: bytes.len() as i64,
                mime: "image/png".into(),
                width: Some(1),
                height: Some(1),
                duration_ms: None,
            },
            T0,
        )
        .await
        .unwrap()
}

fn spec(media: &[&Upload]) -> Value {
    json!({ "script": "A short script.", "media": media.iter().map(|u| u.id.clone()).collect::<Vec<_>>() })
}

/// Runs the job's current revision to success at `finished_at`, storing sealed outputs under
/// `jobs/<id>/r<rev>/` as a worker would. Returns the output keys.
async fn finish(env: &Env, job_id: &str, finished_at: i64) -> Vec<String> {
    let claimed = env
        .db
        .claim_next_job(
            "test-worker",
            60_000,
            RunLimits {
                per_user: 10,
                global: 10,
            },
            finished_at - 1_000,
        )
        .await
        .unwrap()
        .expect("a job to claim");
    assert_eq!(claimed.job.id, job_id, "the test claims the job it means");
    let rev = claimed.lease.revision;
    let owner = env.media.for_owner(&claimed.job.owner_id).await.unwrap();
    let mut keys = Vec::new();
    for file in ["video.mp4", "poster.jpg"] {
        let key = format!("jobs/{job_id}/r{rev}/{file}");
        owner
            .put_bytes(&key, Bytes::from(format!("{file} of {job_id} r{rev}")))
            .await
            .unwrap();
        keys.push(key);
    }
    // An intermediate object recorded only in a stage output.
    let stage_key = format!("jobs/{job_id}/r{rev}/narration.wav");
    owner
        .put_bytes(&stage_key, Bytes::from_static(b"wav"))
        .await
        .unwrap();
    env.db
        .record_stage_output(
            &claimed.lease,
            "narrate",
            &json!({ "object_key": stage_key }),
            finished_at - 500,
        )
        .await
        .unwrap();
    env.db
        .finish_job(&claimed.lease, &keys, &json!({}), finished_at)
        .await
        .unwrap();
    keys.push(stage_key);
    keys
}

async fn submit(env: &Env, owner: &str, params: Value, at: i64) -> String {
    env.db
        .submit_job(
            &NewJob {
                owner_id: owner.to_owned(),
                params,
                idempotency_key: None,
                cost: 0,
            },
            at,
        )
        .await
        .unwrap()
        .job
        .id
}

async fn exists(env: &Env, key: &str) -> bool {
    env.raw.head(key).await.unwrap().is_some()
}

async fn p_ret_1_expired_video_object_is_gone_from_local_and_s3(env: &Env) {
    let ada = user(&env.db, "ada").await;
    let img = upload(env, &ada, b"image one").await;
    // An old job, finished at T0 + 1 day.
    let old = submit(env, &ada, spec(&[&img]), T0).await;
    let old_keys = finish(env, &old, T0 + DAY).await;
    // A job with two revisions: the first old, the second recent.
    let revised = submit(env, &ada, spec(&[&img]), T0 + DAY).await;
    let first_keys = finish(env, &revised, T0 + 2 * DAY).await;
    env.db
        .add_revision(&ada, &revised, &spec(&[&img]), 0, T0 + 20 * DAY)
        .await
        .unwrap()
        .unwrap();
    let second_keys = finish(env, &revised, T0 + 25 * DAY).await;
    for key in old_keys.iter().chain(&first_keys).chain(&second_keys) {
        assert!(exists(env, key).await, "{key} stored");
    }

    // Videos kept until deleted: nothing expires, however late it is.
    let kept = sweep(
        &env.db,
        &env.media,
        &policy(None, UploadRetention::WithVideo),
        T0 + 1000 * DAY,
        false,
    )
    .await
    .unwrap();
    assert!(kept.videos.jobs.is_empty() && kept.videos.revisions.is_empty());
    assert!(exists(env, &old_keys[0]).await);

    // 30 days: at T0 + 33 days the old job and the first revision expired, the second did not.
    let policy = policy(Some(30), UploadRetention::WithVideo);
    let report = sweep(&env.db, &env.media, &policy, T0 + 33 * DAY, false)
        .await
        .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.videos.jobs, vec![old.clone()]);
    assert_eq!(report.videos.revisions.len(), 1);
    assert_eq!(report.videos.revisions[0].job_id, revised);
    assert_eq!(report.videos.revisions[0].revision, 1);
    for key in old_keys.iter().chain(&first_keys) {
        assert!(!exists(env, key).await, "{key} is gone from storage");
        assert!(report.videos.objects.contains(key), "{key} reported");
    }
    for key in &second_keys {
        assert!(exists(env, key).await, "{key} is not expired yet");
    }
    // Gone from the database too.
    assert!(env.db.job_by_id(&old).await.unwrap().is_none());
    let revisions = env.db.list_revisions(&ada, &revised).await.unwrap();
    assert_eq!(
        revisions.iter().map(|r| r.revision).collect::<Vec<_>>(),
        vec![2]
    );
    // The image only the expired job used goes with it ("with the video"); the revised job
    // still uses it, so it stays.
    assert!(exists(env, &img.object_key).await);

    // Past the second revision's period the whole job goes, and its upload with it.
    let report = sweep(&env.db, &env.media, &policy, T0 + 56 * DAY, false)
        .await
        .unwrap();
    assert_eq!(report.videos.jobs, vec![revised.clone()]);
    for key in &second_keys {
        assert!(!exists(env, key).await, "{key} is gone from storage");
    }
    assert!(env.db.job_by_id(&revised).await.unwrap().is_none());
    assert_eq!(report.uploads.deleted, vec![img.id.clone()]);
    assert!(!exists(env, &img.object_key).await);
    assert!(env.raw.list("").await.unwrap().is_empty(), "nothing left");
}

async fn p_ret_2_uploads_go_when_the_job_ends_under_until_job_ends_and_stay_with_video(env: &Env) {
    let ada = user(&env.db, "ada").await;
    let only_ended = upload(env, &ada, b"used by an ended job only").await;
    let also_queued = upload(env, &ada, b"used by a queued job too").await;
    let unused = upload(env, &ada, b"never used").await;
    let ended = submit(env, &ada, spec(&[&only_ended, &also_queued]), T0).await;
    let outputs = finish(env, &ended, T0 + 1_000).await;
    let queued = submit(env, &ada, spec(&[&also_queued]), T0 + 2_000).await;

    // "with the video": every upload stays while its video does.
    let with_video = policy(None, UploadRetention::WithVideo);
    let report = sweep(&env.db, &env.media, &with_video, T0 + 3_000, false)
        .await
        .unwrap();
    assert!(report.uploads.deleted.is_empty(), "{report:?}");
    for u in [&only_ended, &also_queued, &unused] {
        assert!(exists(env, &u.object_key).await);
    }

    // "until the job ends": the upload of the ended job goes at once, object and row; the one a
    // queued job still needs stays, and so does the one no job used.
    let until_end = policy(None, UploadRetention::UntilJobEnds);
    let report = sweep(&env.db, &env.media, &until_end, T0 + 3_000, false)
        .await
        .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.uploads.deleted, vec![only_ended.id.clone()]);
    assert_eq!(report.uploads.objects, vec![only_ended.object_key.clone()]);
    assert!(!exists(env, &only_ended.object_key).await);
    assert!(env
        .db
        .upload_for_owner(&ada, &only_ended.id)
        .await
        .unwrap()
        .is_none());
    assert!(exists(env, &also_queued.object_key).await);
    assert!(exists(env, &unused.object_key).await);
    // The video itself is untouched: only the source upload went.
    assert!(exists(env, &outputs[0]).await);

    // Once the queued job ends too (cancelled here), its upload goes on the next sweep.
    env.db.cancel_job(&ada, &queued, T0 + 4_000).await.unwrap();
    let report = sweep(&env.db, &env.media, &until_end, T0 + 5_000, false)
        .await
        .unwrap();
    assert_eq!(report.uploads.deleted, vec![also_queued.id.clone()]);
    assert!(!exists(env, &also_queued.object_key).await);
    assert!(exists(env, &unused.object_key).await);
}

async fn p_ret_3_audit_entries_older_than_the_period_are_anonymised(env: &Env) {
    let ada = user(&env.db, "ada").await;
    let entry = |kind: &str| NewAuditEntry {
        kind: kind.into(),
        user_id: Some(ada.clone()),
        ip: Some("203.0.113.9".into()),
        user_agent: Some("Browser/1".into()),
        detail: Some(json!({ "email": "ada@example.org" })),
    };
    env.db.audit(&entry("sign_in.failed"), T0).await.unwrap();
    env.db
        .audit(&entry("sign_in.succeeded"), T0 + 400 * DAY)
        .await
        .unwrap();

    // 12 months (of 30 days) after T0 + 1 day: the first entry is older than the period.
    let now = T0 + 400 * DAY;
    let policy = policy(None, UploadRetention::WithVideo);
    let report = sweep(&env.db, &env.media, &policy, now, false)
        .await
        .unwrap();
    assert_eq!(report.audit.anonymised, 1);
    assert_eq!(report.audit.cutoff, now - 360 * DAY);
    let mine = env.db.audit_for_user(&ada, 10, None).await.unwrap();
    assert_eq!(mine.len(), 1, "only the recent entry still names the user");
    assert_eq!(mine[0].kind, "sign_in.succeeded");
    assert_eq!(mine[0].ip.as_deref(), Some("203.0.113.9"));
    // The old entry's kind and time stay; nothing in it points at anyone.
    let rows = rows_as_text(&env.db, "audit_log").await;
    let old = rows
        .iter()
        .find(|r| r.iter().any(|v| v.contains("sign_in.failed")))
        .expect("the old entry stays, anonymised");
    assert!(
        !old.iter()
            .any(|v| v.contains("ada") || v.contains("203.0.113") || v.contains("Browser")),
        "{old:?}"
    );
    // A second sweep finds nothing more to do.
    let again = sweep(&env.db, &env.media, &policy, now, false)
        .await
        .unwrap();
    assert_eq!(again.audit.anonymised, 0);
}

async fn p_ret_4_purge_leaves_no_email_no_object_and_backups_unreadable(env: &Env) {
    let ada = user(&env.db, "ada").await;
    let bob = user(&env.db, "bob").await;
    let email = "ada@example.org";
    // Ada's data everywhere: uploads, a finished job, sessions, tokens, codes, audit entries
    // (one mentioning her address), rate-limit counters keyed by her address and id.
    let img = upload(env, &ada, b"ada's photo").await;
    let job = submit(env, &ada, spec(&[&img]), T0).await;
    let outputs = finish(env, &job, T0 + 1_000).await;
    let bob_img = upload(env, &bob, b"bob's photo").await;
    env.db
        .create_session(
            &NewSession {
                user_id: ada.clone(),
                token_hash: "session-hash".into(),
                expires_at: T0 + 30 * DAY,
                user_agent: Some("Browser/1".into()),
                ip: Some("203.0.113.9".into()),
            },
            T0,
        )
        .await
        .unwrap();
    env.db
        .create_api_token(&ada, "laptop", "token-hash", "rs_abc", T0)
        .await
        .unwrap();
    env.db
        .create_email_change_code(&ada, "ada.new@example.org", "code-hash", T0 + DAY, T0)
        .await
        .unwrap();
    env.db
        .audit(
            &NewAuditEntry {
                kind: "sign_in.failed".into(),
                user_id: None,
                ip: Some("203.0.113.9".into()),
                user_agent: None,
                detail: Some(json!({ "email": email })),
            },
            T0,
        )
        .await
        .unwrap();
    env.db
        .audit(
            &NewAuditEntry {
                kind: "email.change_requested".into(),
                user_id: Some(ada.clone()),
                ip: Some("203.0.113.9".into()),
                user_agent: Some("Browser/1".into()),
                detail: Some(json!({ "new_email": "ada.new@example.org" })),
            },
            T0,
        )
        .await
        .unwrap();
    env.db
        .rate_limit_hit("sign_in", &format!("{email}|203.0.113.9"), 10, 60_000, T0)
        .await
        .unwrap();
    env.db
        .rate_limit_hit("codes", email, 10, 60_000, T0)
        .await
        .unwrap();
    env.db
        .rate_limit_hit("password_check", &format!("account:{ada}"), 10, 60_000, T0)
        .await
        .unwrap();
    // What the notices and rights commands keep about her: a policy acceptance, a marketing
    // opt-in with its token, a rights request from her address, a breach notice sent to her.
    env.db
        .publish_policy(PolicyKind::Privacy, "v2", "changed", "", true, T0)
        .await
        .unwrap();
    env.db
        .accept_policy(&ada, PolicyKind::Privacy, "v2", T0)
        .await
        .unwrap();
    env.db
        .set_marketing_opt_in(&ada, true, "ada-unsubscribe-token", T0)
        .await
        .unwrap();
    let request = env
        .db
        .record_rights_request(email, RightsKind::Erasure, T0, "sent from ada@example.org")
        .await
        .unwrap();
    env.db
        .check_rights_identity(&request.id, "ada@example.org replied", T0)
        .await
        .unwrap();
    let notice = env
        .db
        .create_breach_notice("Incident", "Dear {name}", None, T0)
        .await
        .unwrap();
    env.db
        .record_breach_send(&notice.id, &ada, None, T0)
        .await
        .unwrap();
    // The "backup": a copy of one of her stored (sealed) objects, taken before the purge.
    let backup = env.raw.get_bytes(&outputs[0]).await.unwrap();

    let deleted_at = T0 + 2 * DAY;
    assert!(env.db.mark_user_deleted(&ada, deleted_at).await.unwrap());
    let policy = policy(None, UploadRetention::WithVideo);

    // Within the period nothing is purged yet.
    let early = sweep(&env.db, &env.media, &policy, deleted_at + 10 * DAY, false)
        .await
        .unwrap();
    assert!(early.accounts.purged.is_empty());
    assert!(exists(env, &img.object_key).await);

    // After `purge_days` (30) the account goes, whatever the sweep interval.
    let report = sweep(&env.db, &env.media, &policy, deleted_at + 30 * DAY, false)
        .await
        .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.accounts.purged, vec![ada.clone()]);
    for key in outputs.iter().chain([&img.object_key]) {
        assert!(report.accounts.objects.contains(key), "{key} reported");
    }

    // No row anywhere holds her email address, her new address or her id.
    for table in tables(&env.db).await {
        for row in rows_as_text(&env.db, &table).await {
            for value in &row {
                let lower = value.to_lowercase();
                assert!(
                    !lower.contains("ada@example.org")
                        && !lower.contains("ada.new@example.org")
                        && !lower.contains(&ada.to_lowercase()),
                    "table {table} still holds {value:?} in {row:?}"
                );
            }
        }
    }
    assert!(env.db.user_by_id(&ada).await.unwrap().is_none());
    // The records that she was answered and told stay, without her.
    let kept = env.db.rights_request(&request.id).await.unwrap().unwrap();
    assert_eq!((kept.kind.as_str(), kept.user_id), ("erasure", None));
    assert_eq!(env.db.breach_sends(&notice.id).await.unwrap().len(), 1);
    // No storage object of hers is left; Bob's are untouched.
    let left: Vec<String> = env
        .raw
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(left, vec![bob_img.object_key.clone()]);
    assert_eq!(
        env.media
            .for_owner(&bob)
            .await
            .unwrap()
            .get_bytes(&bob_img.object_key)
            .await
            .unwrap(),
        Bytes::from_static(b"bob's photo")
    );
    // The copy taken before the purge cannot be decrypted: her key is destroyed, she gets no
    // new one, and nobody else's key opens it.
    assert!(!env.db.has_data_key(&ada).await.unwrap());
    env.raw.put_bytes(&outputs[0], backup).await.unwrap();
    let err = env.media.for_owner(&ada).await.unwrap_err();
    assert_eq!(reelsmith_core::ErrorCode::code(&err), "crypt.unknown_owner");
    let err = env
        .media
        .for_owner(&bob)
        .await
        .unwrap()
        .get_bytes(&outputs[0])
        .await
        .unwrap_err();
    assert_eq!(
        reelsmith_core::ErrorCode::code(&err),
        "crypt.key_unavailable"
    );
}

async fn p_ret_dry_run_deletes_nothing_and_reports_the_same_items(env: &Env) {
    let ada = user(&env.db, "ada").await;
    let cy = user(&env.db, "cy").await;
    let img = upload(env, &ada, b"ada's image").await;
    let job = submit(env, &ada, spec(&[&img]), T0).await;
    let outputs = finish(env, &job, T0 + DAY).await;
    let cy_img = upload(env, &cy, b"cy's image").await;
    let cy_job = submit(env, &cy, spec(&[&cy_img]), T0).await;
    let cy_outputs = finish(env, &cy_job, T0 + DAY).await;
    env.db
        .audit(
            &NewAuditEntry {
                kind: "sign_in.succeeded".into(),
                user_id: Some(ada.clone()),
                ip: Some("203.0.113.9".into()),
                ..NewAuditEntry::default()
            },
            T0,
        )
        .await
        .unwrap();
    env.db.mark_user_deleted(&cy, T0 + DAY).await.unwrap();
    let policy = policy(Some(30), UploadRetention::UntilJobEnds);
    let now = T0 + 400 * DAY;
    let everything_before: Vec<ObjectInfo> = env.raw.list("").await.unwrap();

    let dry = sweep(&env.db, &env.media, &policy, now, true)
        .await
        .unwrap();
    assert!(dry.dry_run);
    // It found work of every kind: both videos expired (Cy's too: deleted accounts' videos
    // expire like anyone's), both uploads went with them, Cy's account is due.
    assert_eq!(dry.videos.jobs, vec![job.clone(), cy_job.clone()]);
    assert_eq!(dry.uploads.deleted, vec![img.id.clone(), cy_img.id.clone()]);
    assert_eq!(dry.audit.anonymised, 1);
    assert_eq!(dry.accounts.purged, vec![cy.clone()]);
    for key in outputs.iter().chain(&cy_outputs) {
        assert!(
            dry.videos.objects.contains(key) || dry.accounts.objects.contains(key),
            "{key}"
        );
    }
    // ...and changed nothing.
    assert_eq!(env.raw.list("").await.unwrap(), everything_before);
    assert!(env.db.job_by_id(&job).await.unwrap().is_some());
    assert!(env.db.upload_by_id(&img.id).await.unwrap().is_some());
    assert!(env.db.user_by_id(&cy).await.unwrap().is_some());
    assert!(env.db.has_data_key(&cy).await.unwrap());
    assert_eq!(
        env.db.audit_for_user(&ada, 10, None).await.unwrap().len(),
        1
    );

    // The real sweep does exactly what the dry run said.
    let real = sweep(&env.db, &env.media, &policy, now, false)
        .await
        .unwrap();
    assert!(real.failures.is_empty(), "{:?}", real.failures);
    let as_real = RetentionReport {
        dry_run: false,
        ..dry.clone()
    };
    assert_eq!(real, as_real);
    assert!(env.raw.list("").await.unwrap().is_empty());
}

/// A ready export of `owner`'s, its sealed archive stored, its link expiring at `expires_at`.
async fn ready_export(
    env: &Env,
    owner: &str,
    created_at: i64,
    expires_at: i64,
) -> (String, String) {
    let export = env.db.create_export(owner, created_at).await.unwrap();
    let key = export_key(owner, &export.id);
    env.media
        .for_owner(owner)
        .await
        .unwrap()
        .put_bytes(&key, Bytes::from_static(b"PK archive"))
        .await
        .unwrap();
    assert!(env
        .db
        .mark_export_ready(&export.id, &key, 10, created_at, expires_at)
        .await
        .unwrap());
    (export.id, key)
}

async fn p_rights_1_expired_export_archive_is_gone_and_a_purge_removes_every_export(env: &Env) {
    let ada = user(&env.db, "ada").await;
    let bob = user(&env.db, "bob").await;
    let policy = policy(None, UploadRetention::WithVideo);
    let (old, old_key) = ready_export(env, &ada, T0, T0 + DAY).await;
    // A build that failed (no archive), and Bob's export, still valid.
    let failed = env.db.create_export(&ada, T0 + 1).await.unwrap();
    assert!(env
        .db
        .mark_export_failed(&failed.id, "media.not_found")
        .await
        .unwrap());
    let (bobs, bobs_key) = ready_export(env, &bob, T0, T0 + 10 * DAY).await;

    // Before the link expires, everything stays.
    let early = sweep(&env.db, &env.media, &policy, T0 + DAY - 1, false)
        .await
        .unwrap();
    assert!(early.exports.deleted.is_empty(), "{:?}", early.exports);
    assert!(exists(env, &old_key).await);

    // After: the archive object is gone from storage, then its row; the failed build's row
    // goes too (kept as long as a link would live). Bob's is untouched.
    let report = sweep(&env.db, &env.media, &policy, T0 + 2 * DAY, false)
        .await
        .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.exports.deleted, vec![old.clone(), failed.id.clone()]);
    assert_eq!(report.exports.objects, vec![old_key.clone()]);
    assert!(!exists(env, &old_key).await, "the expired archive is gone");
    assert!(env.db.export_for_owner(&ada, &old).await.unwrap().is_none());
    assert!(env.db.list_exports(&ada).await.unwrap().is_empty());
    assert!(exists(env, &bobs_key).await);
    assert!(env
        .db
        .export_for_owner(&bob, &bobs)
        .await
        .unwrap()
        .is_some());

    // A deleted account's archives go with the purge, including one whose row is gone (a
    // crash between storing and recording it).
    let (_, live_key) = ready_export(env, &bob, T0 + 3 * DAY, T0 + 40 * DAY).await;
    let orphan = format!("{}/orphan.zip", export_prefix(&bob));
    env.media
        .for_owner(&bob)
        .await
        .unwrap()
        .put_bytes(&orphan, Bytes::from_static(b"PK"))
        .await
        .unwrap();
    env.db.mark_user_deleted(&bob, T0 + 3 * DAY).await.unwrap();
    let purge = sweep(&env.db, &env.media, &policy, T0 + 34 * DAY, false)
        .await
        .unwrap();
    assert!(purge.failures.is_empty(), "{:?}", purge.failures);
    assert_eq!(purge.accounts.purged, vec![bob.clone()]);
    // His expired export went by expiry in the same sweep, the rest by the purge.
    assert_eq!(purge.exports.objects, vec![bobs_key.clone()]);
    for key in [&live_key, &orphan] {
        assert!(purge.accounts.objects.contains(key), "{key} reported");
    }
    for key in [&bobs_key, &live_key, &orphan] {
        assert!(!exists(env, key).await, "{key} is gone");
    }
    assert!(env.raw.list("exports").await.unwrap().is_empty());
}

/// Every table of the schema (sqlx's own bookkeeping excluded).
async fn tables(db: &Db) -> Vec<String> {
    let names: Vec<String> = match db {
        Db::Sqlite(pool) => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
        Db::Postgres(pool) => {
            sqlx::query_scalar("SELECT tablename::TEXT FROM pg_tables WHERE schemaname = 'public'")
                .fetch_all(pool)
                .await
                .unwrap()
        }
    };
    let names: Vec<String> = names
        .into_iter()
        .filter(|n| n != "_sqlx_migrations")
        .collect();
    assert!(names.len() >= 12, "{names:?}");
    names
}

/// Every row of `table` with each column read as text (numbers and blobs included), so a test
/// can look for a value anywhere without knowing the schema.
async fn rows_as_text(db: &Db, table: &str) -> Vec<Vec<String>> {
    match db {
        Db::Sqlite(pool) => {
            let rows = sqlx::query(&format!("SELECT * FROM {table}"))
                .fetch_all(pool)
                .await
                .unwrap();
            rows.iter()
                .map(|row| {
                    (0..row.columns().len())
                        .map(|i| {
                            row.try_get::<Option<String>, _>(i)
                                .ok()
                                .flatten()
                                .or_else(|| {
                                    row.try_get::<Option<Vec<u8>>, _>(i)
                                        .ok()
                                        .flatten()
                                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                                })
                                .or_else(|| {
                                    row.try_get::<Option<i64>, _>(i)
                                        .ok()
                                        .flatten()
                                        .map(|n| n.to_string())
                                })
                                .unwrap_or_default()
                        })
                        .collect()
                })
                .collect()
        }
        Db::Postgres(pool) => {
            // The whole row as its text form: every column, whatever its type.
            let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::TEXT FROM {table} t"))
                .fetch_all(pool)
                .await
                .unwrap();
            rows.into_iter().map(|r| vec![r]).collect()
        }
    }
}

/// Runs the job to success at `finished_at` with a recorded usage (as the worker's `store`
/// stage does) and one logged transfer half-way.
async fn finish_with_usage(env: &Env, job_id: &str, owner: &str, finished_at: i64) -> String {
    let claimed = env
        .db
        .claim_next_job(
            "test-worker",
            60_000,
            RunLimits {
                per_user: 10,
                global: 10,
            },
            finished_at - 1_000,
        )
        .await
        .unwrap()
        .expect("a job to claim");
    assert_eq!(claimed.job.id, job_id);
    let transfer = env
        .db
        .log_transfer(
            &NewTransfer {
                job_id: job_id.to_owned(),
                revision: claimed.lease.revision,
                user_id: owner.to_owned(),
                provider: "fal".into(),
                model: "fal-ai/veo3.1".into(),
                purpose: "shot".into(),
                sent: json!({ "prompt_chars": 12 }),
            },
            finished_at - 800,
        )
        .await
        .unwrap();
    let usage = json!({ "provider": "fal", "model": "fal-ai/veo3.1", "credits": 40 });
    env.db
        .record_stage_output(
            &claimed.lease,
            "store",
            &json!({ "object_keys": [], "usage": usage }),
            finished_at - 500,
        )
        .await
        .unwrap();
    env.db
        .finish_job(&claimed.lease, &[], &usage, finished_at)
        .await
        .unwrap();
    transfer
}

async fn p_ret_3_transfer_rows_and_usage_details_older_than_the_period_are_deleted(env: &Env) {
    let ada = user(&env.db, "ada").await;
    let old_job = submit(env, &ada, spec(&[]), T0).await;
    let old_transfer = finish_with_usage(env, &old_job, &ada, T0 + 2_000).await;
    // A transfer of no job (the script writer), as old.
    let old_script = env
        .db
        .log_account_transfer(
            &ada,
            "openai",
            "chat",
            "script",
            &json!({ "topic_chars": 9 }),
            T0 + 3_000,
        )
        .await
        .unwrap();
    let recent = T0 + 400 * DAY;
    let new_job = submit(env, &ada, spec(&[]), recent).await;
    let new_transfer = finish_with_usage(env, &new_job, &ada, recent + 2_000).await;
    let now = recent + 10_000;
    let policy = policy(None, UploadRetention::WithVideo);
    let stages = |job: String| {
        let db = env.db.clone();
        async move {
            db.stage_outputs(&job, 1)
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.stage)
                .collect::<Vec<_>>()
        }
    };

    // A dry run counts them and changes nothing.
    let dry = sweep(&env.db, &env.media, &policy, now, true)
        .await
        .unwrap();
    assert_eq!(
        (dry.audit.transfers_deleted, dry.audit.usage_cleared),
        (2, 1)
    );
    assert_eq!(env.db.transfers_for_user(&ada).await.unwrap().len(), 3);

    let report = sweep(&env.db, &env.media, &policy, now, false)
        .await
        .unwrap();
    assert_eq!(report.audit.cutoff, now - 360 * DAY);
    assert_eq!(report.audit.transfers_deleted, 2);
    assert_eq!(report.audit.usage_cleared, 1);
    let left: Vec<String> = env
        .db
        .transfers_for_user(&ada)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(left, vec![new_transfer], "only the recent transfer stays");
    assert!(!left.contains(&old_transfer) && !left.contains(&old_script));

    // The old job and its revision stay, without their usage; the recent one keeps it.
    let old = env
        .db
        .job_by_id(&old_job)
        .await
        .unwrap()
        .expect("the job stays");
    assert_eq!(old.usage, None);
    let revisions = env.db.list_revisions(&ada, &old_job).await.unwrap();
    assert!(revisions.iter().all(|r| r.usage.is_none()), "{revisions:?}");
    assert!(!stages(old_job.clone()).await.contains(&"store".to_owned()));
    let new = env.db.job_by_id(&new_job).await.unwrap().unwrap();
    assert_eq!(new.usage.unwrap()["credits"], json!(40));
    assert!(stages(new_job.clone()).await.contains(&"store".to_owned()));
    // No row of any table still holds the old usage's trace.
    for table in [
        "jobs",
        "job_revisions",
        "job_stage_outputs",
        "provider_transfers",
    ] {
        let rows = rows_as_text(&env.db, table).await;
        let old_rows: Vec<_> = rows
            .iter()
            .filter(|r| {
                r.iter()
                    .any(|v| v == &old_job || v == &old_transfer || v == &old_script)
            })
            .collect();
        assert!(
            old_rows
                .iter()
                .all(|r| !r.iter().any(|v| v.contains("credits"))),
            "{table}: {old_rows:?}"
        );
    }

    let again = sweep(&env.db, &env.media, &policy, now, false)
        .await
        .unwrap();
    assert_eq!(
        (again.audit.transfers_deleted, again.audit.usage_cleared),
        (0, 0)
    );
}
