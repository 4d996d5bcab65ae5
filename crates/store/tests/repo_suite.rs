//! The repository test suite: every case runs against SQLite (a temporary file) and PostgreSQL
//! (a throwaway cluster started by `support::postgres`). A missing PostgreSQL fails the
//! PostgreSQL half with a hint to run scripts/setup; it is never skipped.

mod support;

use std::collections::HashSet;
use std::sync::Arc;

use reelsmith_store::*;
use serde_json::json;

/// A migrated database for one test, removed with it.
pub struct TestDb {
    pub db: Db,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open_sqlite(&dir.path().join("reelsmith.db"), 8)
        .await
        .expect("open SQLite");
    db.migrate().await.expect("migrate SQLite");
    TestDb {
        db,
        _dir: Some(dir),
    }
}

async fn postgres_db() -> TestDb {
    let cluster = support::postgres::shared();
    let url = cluster.create_database().await;
    let db = Db::connect(&url, 8).await.expect("connect PostgreSQL");
    db.migrate().await.expect("migrate PostgreSQL");
    TestDb { db, _dir: None }
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let t = super::sqlite_db().await;
                    assert_eq!(t.db.backend(), reelsmith_store::Backend::Sqlite);
                    super::$case(&t.db).await;
                    t.db.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let t = super::postgres_db().await;
                    assert_eq!(t.db.backend(), reelsmith_store::Backend::Postgres);
                    super::$case(&t.db).await;
                    t.db.close().await;
                }
            )*
        }
    };
}

on_both_backends!(
    migrations_are_idempotent,
    users_are_unique_ignoring_case,
    account_deletion_takes_effect_at_once,
    email_codes_are_single_use_and_limited,
    sessions_are_listed_and_revoked,
    api_tokens_are_hashed_and_revocable,
    uploads_belong_to_their_owner,
    idempotency_key_gives_one_job,
    idempotency_key_reused_for_another_request_is_told_apart,
    concurrent_submissions_with_one_key_give_one_job,
    revisions_keep_earlier_versions,
    email_changes_wait_for_the_code,
    cancel_and_delete_jobs,
    concurrent_claimers_never_share_a_job,
    expired_lease_is_taken_over_and_old_worker_refused,
    per_user_and_global_limits_are_respected,
    paused_users_jobs_are_not_claimed,
    retry_backoff_and_release,
    job_events_follow_the_lifecycle,
    audit_log_lists_by_user,
    rate_limits_count_across_callers,
    p_sec_7_no_burst_across_a_window_boundary,
    p_bill_1_balance_is_the_ledger_sum_and_every_ending_settles_the_hold_once,
    p_bill_1_concurrent_submissions_never_overdraw,
    p_tp_2_consents_keep_their_history_and_withdrawal_closes_them,
    p_tp_4_transfers_are_logged_per_job_and_scoped_to_the_owner,
    p_comm_2_a_material_version_is_pending_until_accepted,
    p_comm_1_marketing_is_opt_in_and_the_token_only_unsubscribes,
    p_rights_5_fulfilment_needs_the_identity_check_and_the_purge_forgets_the_requester,
    p_comm_3_breach_sends_are_recorded_per_user_and_failures_retried,
);

const T0: i64 = 1_700_000_000_000;

fn new_user(name: &str) -> NewUser {
    NewUser {
        email: format!("{name}@Example.org"),
        username: name.to_owned(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        display_name: name.to_uppercase(),
        role: Role::User,
        birth_year: None,
        age_confirmed_min: Some(13),
    }
}

async fn user(db: &Db, name: &str) -> User {
    db.create_user(&new_user(name), T0)
        .await
        .expect("create user")
}

async fn submit(db: &Db, owner: &User, n: i64) -> Job {
    let new = NewJob {
        owner_id: owner.id.clone(),
        params: json!({ "script": format!("job {n}") }),
        idempotency_key: None,
        cost: 0,
    };
    db.submit_job(&new, T0 + n).await.expect("submit").job
}

const LEASE: i64 = 30_000;
const WIDE: RunLimits = RunLimits {
    per_user: 1000,
    global: 1000,
};

async fn migrations_are_idempotent(db: &Db) {
    db.migrate().await.expect("second migrate is a no-op");
    db.ping().await.expect("ping");
}

async fn users_are_unique_ignoring_case(db: &Db) {
    let ada = user(db, "ada").await;
    assert_eq!(ada.email, "ada@Example.org");
    assert_eq!(ada.role, Role::User);
    assert_eq!(ada.age_confirmed_min, Some(13));
    assert!(ada.email_verified_at.is_none());

    let mut same_email = new_user("other");
    same_email.email = "ADA@example.ORG".into();
    assert!(matches!(
        db.create_user(&same_email, T0).await,
        Err(StoreError::EmailTaken)
    ));
    let mut same_name = new_user("x");
    same_name.username = "Ada".into();
    assert!(matches!(
        db.create_user(&same_name, T0).await,
        Err(StoreError::UsernameTaken)
    ));

    let found = db
        .user_by_email(" Ada@EXAMPLE.org ")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, ada.id);
    assert_eq!(
        db.user_by_username("ADA").await.unwrap().unwrap().id,
        ada.id
    );
    assert!(db
        .user_by_email("nobody@example.org")
        .await
        .unwrap()
        .is_none());

    assert!(db.mark_email_verified(&ada.id, T0 + 5).await.unwrap());
    assert!(db.set_role(&ada.id, Role::Admin, T0 + 6).await.unwrap());
    assert!(db
        .set_password_hash(&ada.id, "new-hash", T0 + 7)
        .await
        .unwrap());
    assert!(db
        .set_display_name(&ada.id, "Ada L.", T0 + 8)
        .await
        .unwrap());
    let ada = db.user_by_id(&ada.id).await.unwrap().unwrap();
    assert_eq!(ada.email_verified_at, Some(T0 + 5));
    assert_eq!(ada.role, Role::Admin);
    assert_eq!(ada.password_hash.as_deref(), Some("new-hash"));
    assert_eq!(ada.display_name, "Ada L.");
    assert_eq!(ada.updated_at, T0 + 8);
}

async fn account_deletion_takes_effect_at_once(db: &Db) {
    // P-RET-4: deletion ends sessions and tokens and cancels queued work immediately.
    let bob = user(db, "bob").await;
    let session = NewSession {
        user_id: bob.id.clone(),
        token_hash: secret::sha256_hex(b"cookie"),
        expires_at: T0 + 10_000,
        user_agent: None,
        ip: None,
    };
    db.create_session(&session, T0).await.unwrap();
    db.create_api_token(&bob.id, "cli", &secret::sha256_hex(b"tok"), "rs_tok", T0)
        .await
        .unwrap();
    let job = submit(db, &bob, 1).await;

    assert!(db.mark_user_deleted(&bob.id, T0 + 1).await.unwrap());
    assert!(
        !db.mark_user_deleted(&bob.id, T0 + 2).await.unwrap(),
        "only once"
    );
    let hash = secret::sha256_hex(b"cookie");
    assert!(db
        .session_by_token_hash(&hash, T0 + 2)
        .await
        .unwrap()
        .is_none());
    let tok = secret::sha256_hex(b"tok");
    assert!(db.use_api_token(&tok, T0 + 2).await.unwrap().is_none());
    let job = db.job_by_id(&job.id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    assert!(db
        .claim_next_job("w", LEASE, WIDE, T0 + 3)
        .await
        .unwrap()
        .is_none());

    assert_eq!(
        db.users_deleted_before(T0 + 2).await.unwrap(),
        vec![bob.id.clone()]
    );
    assert!(db.users_deleted_before(T0 + 1).await.unwrap().is_empty());
    assert!(db.purge_user(&bob.id).await.unwrap());
    assert!(db.user_by_id(&bob.id).await.unwrap().is_none());
    assert!(db.job_by_id(&job.id).await.unwrap().is_none(), "cascaded");
    // The address is free again once purged.
    user(db, "bob").await;
}

async fn email_codes_are_single_use_and_limited(db: &Db) {
    // P-ACC-2: codes expire, are single-use, and guessing is limited to 5 tries.
    let u = user(db, "carol").await;
    let right = secret::sha256_hex(b"123456");
    let wrong = secret::sha256_hex(b"000000");
    let purpose = CodePurpose::Verify;
    assert_eq!(
        db.check_email_code(&u.id, purpose, &right, T0)
            .await
            .unwrap(),
        CodeCheck::NoCode
    );

    db.create_email_code(&u.id, purpose, &right, T0 + 900_000, T0)
        .await
        .unwrap();
    assert_eq!(
        db.check_email_code(&u.id, purpose, &wrong, T0 + 1)
            .await
            .unwrap(),
        CodeCheck::Wrong { attempts_left: 4 }
    );
    assert_eq!(
        db.check_email_code(&u.id, CodePurpose::Reset, &right, T0 + 1)
            .await
            .unwrap(),
        CodeCheck::NoCode,
        "a verify code does not reset a password"
    );
    assert_eq!(
        db.check_email_code(&u.id, purpose, &right, T0 + 2)
            .await
            .unwrap(),
        CodeCheck::Valid
    );
    assert_eq!(
        db.check_email_code(&u.id, purpose, &right, T0 + 3)
            .await
            .unwrap(),
        CodeCheck::NoCode,
        "single use"
    );

    // Five wrong guesses kill the code, even for the right one after.
    db.create_email_code(&u.id, purpose, &right, T0 + 900_000, T0 + 10)
        .await
        .unwrap();
    for left in (0..5).rev() {
        assert_eq!(
            db.check_email_code(&u.id, purpose, &wrong, T0 + 11)
                .await
                .unwrap(),
            CodeCheck::Wrong {
                attempts_left: left
            }
        );
    }
    assert_eq!(
        db.check_email_code(&u.id, purpose, &right, T0 + 12)
            .await
            .unwrap(),
        CodeCheck::TooManyAttempts
    );

    // Concurrent guesses cannot exceed the limit.
    db.create_email_code(&u.id, purpose, &right, T0 + 900_000, T0 + 20)
        .await
        .unwrap();
    let mut guesses = Vec::new();
    for _ in 0..12 {
        let (db, id, wrong) = (db.clone(), u.id.clone(), wrong.clone());
        guesses.push(tokio::spawn(async move {
            db.check_email_code(&id, purpose, &wrong, T0 + 21)
                .await
                .unwrap()
        }));
    }
    let mut counted = 0;
    for g in guesses {
        if matches!(g.await.unwrap(), CodeCheck::Wrong { .. }) {
            counted += 1;
        }
    }
    assert_eq!(counted, MAX_CODE_ATTEMPTS);

    // A newer code replaces the older; an expired code is refused.
    let older = secret::sha256_hex(b"111111");
    db.create_email_code(&u.id, purpose, &older, T0 + 900_000, T0 + 30)
        .await
        .unwrap();
    db.create_email_code(&u.id, purpose, &right, T0 + 100, T0 + 31)
        .await
        .unwrap();
    assert_eq!(
        db.check_email_code(&u.id, purpose, &older, T0 + 32)
            .await
            .unwrap(),
        CodeCheck::Wrong { attempts_left: 4 }
    );
    assert_eq!(
        db.check_email_code(&u.id, purpose, &right, T0 + 100)
            .await
            .unwrap(),
        CodeCheck::Expired
    );
}

async fn sessions_are_listed_and_revoked(db: &Db) {
    let u = user(db, "dan").await;
    let other = user(db, "eve").await;
    let mut ids = Vec::new();
    for i in 0..3u8 {
        let s = NewSession {
            user_id: u.id.clone(),
            token_hash: secret::sha256_hex(&[i]),
            expires_at: T0 + 1_000 + i64::from(i),
            user_agent: Some(format!("agent {i}")),
            ip: Some("127.0.0.1".into()),
        };
        ids.push(db.create_session(&s, T0).await.unwrap().id);
    }
    let (found, found_user) = db
        .session_by_token_hash(&secret::sha256_hex(&[1]), T0 + 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, ids[1]);
    assert_eq!(found.user_agent.as_deref(), Some("agent 1"));
    assert_eq!(found_user.id, u.id);
    assert!(
        db.session_by_token_hash(&secret::sha256_hex(&[0]), T0 + 1_000)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );

    assert!(db
        .touch_session(&ids[0], T0 + 5_000, T0 + 20)
        .await
        .unwrap());
    let listed = db.list_sessions(&u.id, T0 + 1_001).await.unwrap();
    let listed: Vec<&str> = listed.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(listed, vec![ids[2].as_str(), ids[0].as_str()]);

    assert!(
        !db.revoke_session(&other.id, &ids[0]).await.unwrap(),
        "not theirs"
    );
    assert!(db.revoke_session(&u.id, &ids[1]).await.unwrap());
    assert_eq!(db.revoke_other_sessions(&u.id, &ids[0]).await.unwrap(), 1);
    assert_eq!(db.list_sessions(&u.id, T0).await.unwrap().len(), 1);
    assert_eq!(db.revoke_all_sessions(&u.id).await.unwrap(), 1);
    assert!(db.list_sessions(&u.id, T0).await.unwrap().is_empty());

    let s = NewSession {
        user_id: u.id.clone(),
        token_hash: secret::sha256_hex(b"old"),
        expires_at: T0 + 10,
        user_agent: None,
        ip: None,
    };
    db.create_session(&s, T0).await.unwrap();
    assert_eq!(db.purge_expired_sessions(T0 + 10).await.unwrap(), 1);
}

async fn api_tokens_are_hashed_and_revocable(db: &Db) {
    let u = user(db, "fay").await;
    let other = user(db, "gus").await;
    let hash = secret::sha256_hex(b"rs_secret_value");
    let token = db
        .create_api_token(&u.id, "laptop", &hash, "rs_secr", T0)
        .await
        .unwrap();
    assert_eq!(token.prefix, "rs_secr");
    assert!(token.last_used_at.is_none());

    let (used, owner, wrote) = db.use_api_token(&hash, T0 + 5).await.unwrap().unwrap();
    assert!(wrote);
    assert_eq!(used.id, token.id);
    assert_eq!(used.last_used_at, Some(T0 + 5));
    assert_eq!(owner.id, u.id);
    // A second use within the minute does not write; one after it does.
    let (again, _, wrote) = db
        .use_api_token(&hash, T0 + 5 + 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.last_used_at, Some(T0 + 5));
    assert!(!wrote);
    let later = T0 + 5 + reelsmith_store::TOKEN_TOUCH_EVERY_MS;
    let (touched, _, wrote) = db.use_api_token(&hash, later).await.unwrap().unwrap();
    assert!(wrote);
    assert_eq!(touched.last_used_at, Some(later));
    assert_eq!(
        db.list_api_tokens(&u.id).await.unwrap()[0].last_used_at,
        Some(later)
    );
    assert!(db
        .use_api_token(&secret::sha256_hex(b"guess"), T0)
        .await
        .unwrap()
        .is_none());

    assert!(!db
        .revoke_api_token(&other.id, &token.id, T0 + 6)
        .await
        .unwrap());
    assert!(db.revoke_api_token(&u.id, &token.id, T0 + 6).await.unwrap());
    assert!(!db.revoke_api_token(&u.id, &token.id, T0 + 7).await.unwrap());
    assert!(db.use_api_token(&hash, T0 + 8).await.unwrap().is_none());
    let listed = db.list_api_tokens(&u.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].revoked_at, Some(T0 + 6));
}

async fn uploads_belong_to_their_owner(db: &Db) {
    // P-SEC-4: another user's upload reads as missing.
    let u = user(db, "hal").await;
    let other = user(db, "ivy").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let new = NewUpload {
            owner_id: u.id.clone(),
            kind: if i % 2 == 0 {
                UploadKind::Image
            } else {
                UploadKind::Audio
            },
            object_key: content_key(&format!("uploads/{}", u.id), &[i as u8 % 2]),
            size: 100 + i,
            mime: "image/png".into(),
            width: Some(64),
            height: Some(48),
            duration_ms: None,
        };
        ids.push(db.create_upload(&new, T0 + i).await.unwrap().id);
    }
    let one = db.upload_for_owner(&u.id, &ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (one.kind, one.size, one.width, one.height),
        (UploadKind::Image, 100, Some(64), Some(48))
    );
    assert!(db
        .upload_for_owner(&other.id, &ids[0])
        .await
        .unwrap()
        .is_none());
    assert!(db
        .delete_upload(&other.id, &ids[0])
        .await
        .unwrap()
        .is_none());

    let first = db.list_uploads(&u.id, &Page::first(2)).await.unwrap();
    assert_eq!(
        first.iter().map(|x| &x.id).collect::<Vec<_>>(),
        vec![&ids[4], &ids[3]]
    );
    let next = Page {
        limit: 10,
        before: Some(ids[3].clone()),
    };
    let rest = db.list_uploads(&u.id, &next).await.unwrap();
    assert_eq!(
        rest.iter().map(|x| &x.id).collect::<Vec<_>>(),
        vec![&ids[2], &ids[1], &ids[0]]
    );
    assert!(db
        .list_uploads(&other.id, &Page::first(10))
        .await
        .unwrap()
        .is_empty());

    // Two uploads share one content key: the object stays referenced until both are gone.
    let deleted = db.delete_upload(&u.id, &ids[0]).await.unwrap().unwrap();
    assert!(db.object_key_referenced(&deleted.object_key).await.unwrap());
    db.delete_upload(&u.id, &ids[2]).await.unwrap().unwrap();
    db.delete_upload(&u.id, &ids[4]).await.unwrap().unwrap();
    assert!(!db.object_key_referenced(&deleted.object_key).await.unwrap());
}

/// A key reused with another request is told apart from a retry of the same one, and the
/// first job stays the only one.
async fn idempotency_key_reused_for_another_request_is_told_apart(db: &Db) {
    let u = user(db, "lee").await;
    let new = NewJob {
        owner_id: u.id.clone(),
        params: json!({"script": "first"}),
        idempotency_key: Some("key-2".into()),
        cost: 0,
    };
    let first = db
        .submit_job_once(&new, Some("digest-a"), T0)
        .await
        .unwrap();
    assert!(first.created && first.same_request);
    let retry = db
        .submit_job_once(&new, Some("digest-a"), T0 + 1)
        .await
        .unwrap();
    assert!(!retry.created && retry.same_request);
    assert_eq!(retry.job.id, first.job.id);
    let other = NewJob {
        params: json!({"script": "second"}),
        ..new.clone()
    };
    let reused = db
        .submit_job_once(&other, Some("digest-b"), T0 + 2)
        .await
        .unwrap();
    assert!(!reused.created && !reused.same_request);
    assert_eq!(reused.job.params, json!({"script": "first"}));
    assert_eq!(
        db.list_jobs(&u.id, &Page::first(10)).await.unwrap().len(),
        1
    );
}

async fn idempotency_key_gives_one_job(db: &Db) {
    let u = user(db, "jay").await;
    let other = user(db, "kim").await;
    let new = NewJob {
        owner_id: u.id.clone(),
        params: json!({"script": "hello"}),
        idempotency_key: Some("key-1".into()),
        cost: 0,
    };
    let first = db.submit_job(&new, T0).await.unwrap();
    assert!(first.created);
    assert_eq!(first.job.status, JobStatus::Queued);
    assert_eq!(first.job.current_revision, 1);
    assert_eq!(first.job.params, json!({"script": "hello"}));
    let again = db.submit_job(&new, T0 + 1).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.job.id, first.job.id);
    // The key is per owner, and absent keys never collide.
    let theirs = NewJob {
        owner_id: other.id.clone(),
        ..new.clone()
    };
    assert!(db.submit_job(&theirs, T0).await.unwrap().created);
    let keyless = NewJob {
        idempotency_key: None,
        ..new.clone()
    };
    assert!(db.submit_job(&keyless, T0).await.unwrap().created);
    assert!(db.submit_job(&keyless, T0).await.unwrap().created);
    assert_eq!(
        db.list_jobs(&u.id, &Page::first(100)).await.unwrap().len(),
        3
    );
}

async fn concurrent_submissions_with_one_key_give_one_job(db: &Db) {
    let u = user(db, "lea").await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let db = db.clone();
        let new = NewJob {
            owner_id: u.id.clone(),
            params: json!({"n": i}),
            idempotency_key: Some("same".into()),
            cost: 0,
        };
        tasks.push(tokio::spawn(async move {
            db.submit_job(&new, T0).await.unwrap()
        }));
    }
    let mut ids = HashSet::new();
    let mut created = 0;
    for t in tasks {
        let s = t.await.unwrap();
        ids.insert(s.job.id);
        created += usize::from(s.created);
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(created, 1);
}

async fn revisions_keep_earlier_versions(db: &Db) {
    // P-VIS-4: a new script keeps the earlier version viewable and deletable.
    let u = user(db, "max").await;
    let other = user(db, "ned").await;
    let job = submit(db, &u, 1).await;
    let claimed = db
        .claim_next_job("w1", LEASE, WIDE, T0 + 10)
        .await
        .unwrap()
        .unwrap();
    let v2 = json!({"script": "second"});
    assert!(matches!(
        db.add_revision(&u.id, &job.id, &v2, 0, T0 + 11).await,
        Err(StoreError::JobBusy)
    ));
    db.record_stage_output(
        &claimed.lease,
        "narrate",
        &json!({"object_key": "jobs/x/r1/narration.wav"}),
        T0 + 12,
    )
    .await
    .unwrap();
    let outputs = vec!["jobs/x/r1/video.mp4".to_owned()];
    db.finish_job(
        &claimed.lease,
        &outputs,
        &json!({"engine": "studio"}),
        T0 + 13,
    )
    .await
    .unwrap();

    assert!(db
        .add_revision(&other.id, &job.id, &v2, 0, T0 + 14)
        .await
        .unwrap()
        .is_none());
    let revised = db
        .add_revision(&u.id, &job.id, &v2, 0, T0 + 14)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revised.current_revision, 2);
    assert_eq!(revised.status, JobStatus::Queued);
    assert_eq!(revised.params, v2);
    assert_eq!(revised.attempts, 0);
    assert!(revised.usage.is_none());

    let second = db
        .claim_next_job("w1", LEASE, WIDE, T0 + 15)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.lease.revision, 2);
    assert!(
        db.stage_outputs(&job.id, 2).await.unwrap().is_empty(),
        "stages are per revision"
    );
    db.fail_job(
        &second.lease,
        &JobError {
            code: "engine.crashed".into(),
            message: "boom".into(),
        },
        None,
        T0 + 16,
    )
    .await
    .unwrap();

    let revisions = db.list_revisions(&u.id, &job.id).await.unwrap();
    assert_eq!(revisions.len(), 2);
    assert_eq!(revisions[0].status, JobStatus::Succeeded);
    assert_eq!(revisions[0].output_keys, outputs);
    assert_eq!(revisions[0].usage, Some(json!({"engine": "studio"})));
    assert_eq!(revisions[0].params, json!({"script": "job 1"}));
    assert_eq!(revisions[1].status, JobStatus::Failed);
    assert_eq!(revisions[1].error.as_ref().unwrap().code, "engine.crashed");
    assert!(db
        .list_revisions(&other.id, &job.id)
        .await
        .unwrap()
        .is_empty());
    let r1 = db
        .revision_for_owner(&u.id, &job.id, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r1.finished_at, Some(T0 + 13));

    assert!(matches!(
        db.delete_revision(&u.id, &job.id, 2).await,
        Err(StoreError::RevisionIsCurrent)
    ));
    assert!(matches!(
        db.revision_object_keys(&u.id, &job.id, 2).await,
        Err(StoreError::RevisionIsCurrent)
    ));
    // Another user's job and an unknown revision look alike (P-SEC-4).
    assert!(db
        .revision_object_keys(&other.id, &job.id, 1)
        .await
        .unwrap()
        .is_none());
    assert!(db
        .delete_revision(&other.id, &job.id, 1)
        .await
        .unwrap()
        .is_none());
    assert!(db
        .revision_object_keys(&u.id, &job.id, 7)
        .await
        .unwrap()
        .is_none());
    let recorded = vec![
        "jobs/x/r1/narration.wav".to_owned(),
        "jobs/x/r1/video.mp4".to_owned(),
    ];
    assert_eq!(
        db.revision_object_keys(&u.id, &job.id, 1)
            .await
            .unwrap()
            .unwrap(),
        recorded,
        "outputs and the keys in stage outputs"
    );
    assert_eq!(
        db.delete_revision(&u.id, &job.id, 1)
            .await
            .unwrap()
            .unwrap(),
        recorded
    );
    assert!(db
        .revision_for_owner(&u.id, &job.id, 1)
        .await
        .unwrap()
        .is_none());
    assert!(db.stage_outputs(&job.id, 1).await.unwrap().is_empty());
    assert!(db
        .delete_revision(&u.id, &job.id, 1)
        .await
        .unwrap()
        .is_none());
    assert_eq!(db.list_revisions(&u.id, &job.id).await.unwrap().len(), 1);
}

async fn email_changes_wait_for_the_code(db: &Db) {
    // P-ACC-5: the code row keeps the pending address; the account changes only on set_email.
    let u = user(db, "ola").await;
    let other = user(db, "pia").await;
    db.create_email_change_code(&u.id, "New@Example.org", "h1", T0 + 900_000, T0)
        .await
        .unwrap();
    assert_eq!(
        db.user_by_id(&u.id).await.unwrap().unwrap().email,
        "ola@Example.org"
    );
    // A change code is not a verification code, and the reverse.
    assert_eq!(
        db.check_email_code(&u.id, CodePurpose::Verify, "h1", T0 + 1)
            .await
            .unwrap(),
        CodeCheck::NoCode
    );
    assert_eq!(
        db.check_email_change_code(&u.id, "wrong", T0 + 2)
            .await
            .unwrap(),
        (
            CodeCheck::Wrong {
                attempts_left: MAX_CODE_ATTEMPTS - 1
            },
            None
        )
    );
    assert_eq!(
        db.check_email_change_code(&u.id, "h1", T0 + 3)
            .await
            .unwrap(),
        (CodeCheck::Valid, Some("New@Example.org".to_owned()))
    );
    assert_eq!(
        db.check_email_change_code(&u.id, "h1", T0 + 4)
            .await
            .unwrap(),
        (CodeCheck::NoCode, None),
        "single use"
    );
    assert!(db
        .set_email(&u.id, "New@Example.org", T0 + 5)
        .await
        .unwrap());
    let changed = db.user_by_email("new@example.ORG").await.unwrap().unwrap();
    assert_eq!(changed.id, u.id);
    assert_eq!(changed.email, "New@Example.org");
    assert_eq!(changed.email_verified_at, Some(T0 + 5));
    assert!(db.user_by_email("ola@example.org").await.unwrap().is_none());
    // Taken by another account, ignoring case.
    assert!(matches!(
        db.set_email(&other.id, "NEW@example.org", T0 + 6).await,
        Err(StoreError::EmailTaken)
    ));
    assert_eq!(
        db.user_by_id(&other.id).await.unwrap().unwrap().email,
        "pia@Example.org"
    );
    // A newer code replaces the older one, and expiry holds.
    db.create_email_change_code(&other.id, "a@example.org", "h2", T0 + 100, T0)
        .await
        .unwrap();
    db.create_email_change_code(&other.id, "b@example.org", "h3", T0 + 100, T0 + 1)
        .await
        .unwrap();
    assert_eq!(
        db.check_email_change_code(&other.id, "h3", T0 + 200)
            .await
            .unwrap(),
        (CodeCheck::Expired, None)
    );
}

async fn cancel_and_delete_jobs(db: &Db) {
    let u = user(db, "oli").await;
    let other = user(db, "pam").await;
    let queued = submit(db, &u, 1).await;
    assert_eq!(
        db.cancel_job(&other.id, &queued.id, T0 + 5).await.unwrap(),
        CancelOutcome::NotFound
    );
    let CancelOutcome::Cancelled(job) = db.cancel_job(&u.id, &queued.id, T0 + 5).await.unwrap()
    else {
        panic!("queued job should cancel");
    };
    assert_eq!(job.status, JobStatus::Cancelled);
    assert!(matches!(
        db.cancel_job(&u.id, &queued.id, T0 + 6).await.unwrap(),
        CancelOutcome::AlreadyFinished(_)
    ));

    // Cancelling a running job takes the lease away from its worker.
    let running = submit(db, &u, 2).await;
    let claimed = db
        .claim_next_job("w1", LEASE, WIDE, T0 + 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.job.id, running.id);
    assert!(matches!(
        db.cancel_job(&u.id, &running.id, T0 + 11).await.unwrap(),
        CancelOutcome::Cancelled(_)
    ));
    assert!(!db.heartbeat(&claimed.lease, LEASE, T0 + 12).await.unwrap());
    assert!(matches!(
        db.finish_job(&claimed.lease, &[], &json!({}), T0 + 12)
            .await,
        Err(StoreError::LeaseLost)
    ));
    let job = db.job_for_owner(&u.id, &running.id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    assert!(db
        .job_for_owner(&other.id, &running.id)
        .await
        .unwrap()
        .is_none());

    // Deleting returns every output key for storage cleanup (P-RET-5).
    let done = submit(db, &u, 3).await;
    let claimed = db
        .claim_next_job("w1", LEASE, WIDE, T0 + 20)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.job.id, done.id);
    db.record_stage_output(
        &claimed.lease,
        "compose",
        &json!({"object_keys": ["tmp/a", "tmp/b"]}),
        T0 + 21,
    )
    .await
    .unwrap();
    db.finish_job(
        &claimed.lease,
        &["out/video.mp4".to_owned()],
        &json!({}),
        T0 + 22,
    )
    .await
    .unwrap();
    assert!(db.delete_job(&other.id, &done.id).await.unwrap().is_none());
    let keys = db.delete_job(&u.id, &done.id).await.unwrap().unwrap();
    assert_eq!(keys, vec!["out/video.mp4", "tmp/a", "tmp/b"]);
    assert!(db.job_by_id(&done.id).await.unwrap().is_none());
    assert!(db
        .job_events_since(&done.id, 0, 100)
        .await
        .unwrap()
        .is_empty());
}

async fn concurrent_claimers_never_share_a_job(db: &Db) {
    let owners = [
        user(db, "q1").await,
        user(db, "q2").await,
        user(db, "q3").await,
    ];
    let total = 45;
    for n in 0..total {
        submit(db, &owners[n as usize % 3], n).await;
    }
    let claimed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for w in 0..12 {
        let (db, claimed) = (db.clone(), Arc::clone(&claimed));
        workers.push(tokio::spawn(async move {
            let worker = format!("worker-{w}");
            while let Some(c) = db
                .claim_next_job(&worker, LEASE, WIDE, T0 + 1_000)
                .await
                .unwrap()
            {
                assert_eq!(c.job.status, JobStatus::Running);
                assert_eq!(c.job.lease_owner.as_deref(), Some(worker.as_str()));
                claimed.lock().unwrap().push(c.job.id.clone());
                tokio::task::yield_now().await;
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let claimed = claimed.lock().unwrap();
    let unique: HashSet<&String> = claimed.iter().collect();
    assert_eq!(
        claimed.len(),
        total as usize,
        "every job claimed exactly once"
    );
    assert_eq!(unique.len(), total as usize, "no job claimed twice");
}

async fn expired_lease_is_taken_over_and_old_worker_refused(db: &Db) {
    let u = user(db, "rex").await;
    let job = submit(db, &u, 1).await;
    let first = db
        .claim_next_job("w1", 1_000, WIDE, T0 + 10)
        .await
        .unwrap()
        .unwrap();
    assert!(!first.takeover);
    assert_eq!(first.job.attempts, 1);
    db.record_stage_output(&first.lease, "plan", &json!({"shots": 3}), T0 + 11)
        .await
        .unwrap();
    assert!(db.heartbeat(&first.lease, 1_000, T0 + 500).await.unwrap());
    // Lease now ends at T0 + 1500: nothing to take over before that.
    assert!(db
        .claim_next_job("w2", 1_000, WIDE, T0 + 1_499)
        .await
        .unwrap()
        .is_none());

    let second = db
        .claim_next_job("w2", 1_000, WIDE, T0 + 1_500)
        .await
        .unwrap()
        .unwrap();
    assert!(second.takeover);
    assert_eq!(second.job.id, job.id);
    assert_eq!(second.job.attempts, 2);
    assert_ne!(second.lease.token, first.lease.token);
    let resumed = db
        .stage_outputs(&job.id, second.lease.revision)
        .await
        .unwrap();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].stage, "plan");
    assert_eq!(resumed[0].output, json!({"shots": 3}));

    // The old worker wakes up: everything it tries is refused.
    assert!(!db.heartbeat(&first.lease, 1_000, T0 + 1_600).await.unwrap());
    assert!(matches!(
        db.update_progress(&first.lease, "compose", 0.5, T0 + 1_600)
            .await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        db.record_stage_output(&first.lease, "compose", &json!({}), T0 + 1_600)
            .await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        db.finish_job(&first.lease, &[], &json!({}), T0 + 1_600)
            .await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        db.release_job(&first.lease, T0 + 1_600).await,
        Err(StoreError::LeaseLost)
    ));
    let err = JobError {
        code: "x".into(),
        message: "y".into(),
    };
    assert!(matches!(
        db.fail_job(&first.lease, &err, None, T0 + 1_600).await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        db.retry_job_later(&first.lease, &err, T0, T0 + 1_600).await,
        Err(StoreError::LeaseLost)
    ));

    // The same worker id claiming again gets a new lease; the old lease stays dead.
    db.update_progress(&second.lease, "compose", 0.5, T0 + 1_700)
        .await
        .unwrap();
    db.finish_job(
        &second.lease,
        &["v.mp4".into()],
        &json!({"ms": 1}),
        T0 + 1_800,
    )
    .await
    .unwrap();
    assert!(
        matches!(
            db.finish_job(&second.lease, &["v.mp4".into()], &json!({}), T0 + 1_900)
                .await,
            Err(StoreError::LeaseLost)
        ),
        "finishes exactly once"
    );
    let job = db.job_by_id(&job.id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(job.progress, 1.0);
    assert!(job.lease_owner.is_none());
    let succeeded = db
        .job_events_since(&job.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "succeeded")
        .count();
    assert_eq!(succeeded, 1);
}

async fn per_user_and_global_limits_are_respected(db: &Db) {
    let a = user(db, "sam").await;
    let b = user(db, "tia").await;
    for n in 0..3 {
        submit(db, &a, n).await;
    }
    submit(db, &b, 10).await;
    let limits = RunLimits {
        per_user: 1,
        global: 10,
    };
    let now = T0 + 100;
    let first = db
        .claim_next_job("w", LEASE, limits, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.job.owner_id, a.id, "oldest first");
    let second = db
        .claim_next_job("w", LEASE, limits, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.job.owner_id, b.id, "a is at its limit, b is not");
    assert!(db
        .claim_next_job("w", LEASE, limits, now)
        .await
        .unwrap()
        .is_none());
    db.finish_job(&first.lease, &[], &json!({}), now + 1)
        .await
        .unwrap();
    let third = db
        .claim_next_job("w", LEASE, limits, now + 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.job.owner_id, a.id);

    // A global limit of 2 with two running: nothing more, whoever owns it.
    let global = RunLimits {
        per_user: 10,
        global: 2,
    };
    assert!(db
        .claim_next_job("w", LEASE, global, now + 3)
        .await
        .unwrap()
        .is_none());
    // Many concurrent claimers still respect the per-user limit.
    db.finish_job(&second.lease, &[], &json!({}), now + 4)
        .await
        .unwrap();
    db.finish_job(&third.lease, &[], &json!({}), now + 4)
        .await
        .unwrap();
    for n in 20..30 {
        submit(db, &a, n).await;
    }
    let limits = RunLimits {
        per_user: 3,
        global: 100,
    };
    let mut tasks = Vec::new();
    for w in 0..10 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.claim_next_job(&format!("w{w}"), LEASE, limits, now + 5)
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(won, 3, "exactly the per-user limit under concurrency");
}

async fn paused_users_jobs_are_not_claimed(db: &Db) {
    // P-RIGHTS-4: a paused user's queued jobs wait.
    let u = user(db, "uma").await;
    let job = submit(db, &u, 1).await;
    assert!(db.set_processing_paused(&u.id, true, T0).await.unwrap());
    assert!(
        db.user_by_id(&u.id)
            .await
            .unwrap()
            .unwrap()
            .processing_paused
    );
    assert!(db
        .claim_next_job("w", LEASE, WIDE, T0 + 10)
        .await
        .unwrap()
        .is_none());
    assert!(db
        .set_processing_paused(&u.id, false, T0 + 11)
        .await
        .unwrap());
    let claimed = db
        .claim_next_job("w", 1_000, WIDE, T0 + 12)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.job.id, job.id);
    // Nor is a paused user's job taken over when its worker dies.
    db.set_processing_paused(&u.id, true, T0 + 13)
        .await
        .unwrap();
    assert!(db
        .claim_next_job("w2", LEASE, WIDE, T0 + 5_000)
        .await
        .unwrap()
        .is_none());
}

async fn retry_backoff_and_release(db: &Db) {
    let u = user(db, "val").await;
    let job = submit(db, &u, 1).await;
    let c = db
        .claim_next_job("w", LEASE, WIDE, T0 + 10)
        .await
        .unwrap()
        .unwrap();
    let err = JobError {
        code: "provider.timeout".into(),
        message: "slow".into(),
    };
    db.retry_job_later(&c.lease, &err, T0 + 5_000, T0 + 20)
        .await
        .unwrap();
    let waiting = db.job_by_id(&job.id).await.unwrap().unwrap();
    assert_eq!(waiting.status, JobStatus::Queued);
    assert_eq!(waiting.error, Some(err.clone()));
    assert_eq!(waiting.next_attempt_at, T0 + 5_000);
    assert!(waiting.lease_owner.is_none());
    assert!(
        db.claim_next_job("w", LEASE, WIDE, T0 + 4_999)
            .await
            .unwrap()
            .is_none(),
        "backoff"
    );
    let c2 = db
        .claim_next_job("w", LEASE, WIDE, T0 + 5_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c2.job.attempts, 2);
    assert!(!c2.takeover);

    // Release (shutdown) gives the attempt back and makes the job due at once.
    db.release_job(&c2.lease, T0 + 5_001).await.unwrap();
    let released = db.job_by_id(&job.id).await.unwrap().unwrap();
    assert_eq!((released.status, released.attempts), (JobStatus::Queued, 1));
    let c3 = db
        .claim_next_job("w", LEASE, WIDE, T0 + 5_001)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c3.job.attempts, 2);
    db.fail_job(&c3.lease, &err, Some(&json!({"ms": 5})), T0 + 5_002)
        .await
        .unwrap();
    let failed = db.job_by_id(&job.id).await.unwrap().unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.usage, Some(json!({"ms": 5})));
    assert!(db
        .claim_next_job("w", LEASE, WIDE, T0 + 9_999_999)
        .await
        .unwrap()
        .is_none());
}

async fn job_events_follow_the_lifecycle(db: &Db) {
    let u = user(db, "wes").await;
    let job = submit(db, &u, 1).await;
    let c = db
        .claim_next_job("w", LEASE, WIDE, T0 + 10)
        .await
        .unwrap()
        .unwrap();
    db.update_progress(&c.lease, "narrate", 0.25, T0 + 11)
        .await
        .unwrap();
    db.update_progress(&c.lease, "compose", 1.7, T0 + 12)
        .await
        .unwrap();
    db.append_job_event(
        &job.id,
        "note",
        Some("compose"),
        None,
        Some(&json!({"a": 1})),
        T0 + 13,
    )
    .await
    .unwrap();
    db.finish_job(&c.lease, &["v".into()], &json!({}), T0 + 14)
        .await
        .unwrap();
    let events = db.job_events_since(&job.id, 0, 100).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec![
            "queued",
            "started",
            "progress",
            "progress",
            "note",
            "succeeded"
        ]
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(events[2].stage.as_deref(), Some("narrate"));
    assert_eq!(events[2].progress, Some(0.25));
    assert_eq!(events[3].progress, Some(1.0), "clamped");
    assert_eq!(events[4].payload, Some(json!({"a": 1})));
    assert_eq!(events[5].payload.as_ref().unwrap()["outputs"], json!(["v"]));
    let later = db
        .job_events_since(&job.id, events[3].id, 100)
        .await
        .unwrap();
    assert_eq!(later.len(), 2);
    assert_eq!(db.job_events_since(&job.id, 0, 2).await.unwrap().len(), 2);
}

async fn audit_log_lists_by_user(db: &Db) {
    // P-SEC-6: security events with IP and user agent; P-RET-3: purged after a period.
    let u = user(db, "xia").await;
    for (i, kind) in ["auth.login_failed", "auth.login", "token.created"]
        .iter()
        .enumerate()
    {
        let entry = NewAuditEntry {
            kind: (*kind).into(),
            user_id: Some(u.id.clone()),
            ip: Some("127.0.0.1".into()),
            user_agent: Some("test".into()),
            detail: Some(json!({"i": i})),
        };
        db.audit(&entry, T0 + i as i64).await.unwrap();
    }
    db.audit(
        &NewAuditEntry {
            kind: "auth.signup_refused".into(),
            ..Default::default()
        },
        T0,
    )
    .await
    .unwrap();
    let entries = db.audit_for_user(&u.id, 10, None).await.unwrap();
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec!["token.created", "auth.login", "auth.login_failed"]
    );
    assert_eq!(entries[0].detail, Some(json!({"i": 2})));
    assert_eq!(entries[0].ip.as_deref(), Some("127.0.0.1"));
    let older = db
        .audit_for_user(&u.id, 10, Some(entries[1].id))
        .await
        .unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(db.purge_audit_before(T0 + 1).await.unwrap(), 2);
    assert_eq!(db.audit_for_user(&u.id, 10, None).await.unwrap().len(), 2);
}

async fn rate_limits_count_across_callers(db: &Db) {
    // P-SEC-7: a token bucket shared by every process through the database: 3 at once, then
    // one every 20 s.
    let window = 60_000;
    let start = T0;
    for left in (0..3).rev() {
        assert_eq!(
            db.rate_limit_hit("login", "1.2.3.4", 3, window, start + 10)
                .await
                .unwrap(),
            RateDecision::Allowed { remaining: left }
        );
    }
    assert_eq!(
        db.rate_limit_hit("login", "1.2.3.4", 3, window, start + 10_000)
            .await
            .unwrap(),
        RateDecision::Limited {
            retry_after_ms: 10_010
        }
    );
    assert!(db
        .rate_limit_hit("login", "5.6.7.8", 3, window, start + 10_000)
        .await
        .unwrap()
        .is_allowed());
    assert!(db
        .rate_limit_hit("signup", "1.2.3.4", 3, window, start + 10_000)
        .await
        .unwrap()
        .is_allowed());
    assert_eq!(
        db.rate_limit_hit("login", "1.2.3.4", 3, window, start + 20_010)
            .await
            .unwrap(),
        RateDecision::Allowed { remaining: 0 },
        "one hit refilled after one interval"
    );
    db.rate_limit_reset("login", "1.2.3.4").await.unwrap();
    assert!(db
        .rate_limit_hit("login", "1.2.3.4", 3, window, start + 20_010)
        .await
        .unwrap()
        .is_allowed());

    let mut hits = Vec::new();
    for _ in 0..20 {
        let db = db.clone();
        hits.push(tokio::spawn(async move {
            db.rate_limit_hit("jobs", "user", 10, window, start + 5)
                .await
                .unwrap()
        }));
    }
    let mut allowed = 0;
    for h in hits {
        allowed += usize::from(h.await.unwrap().is_allowed());
    }
    assert_eq!(allowed, 10);
    // The "jobs" bucket is full again at start + 5 + 60 s; the others earlier.
    assert_eq!(
        db.purge_rate_limits_before(start + 5 + window)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        db.purge_rate_limits_before(start + 6 + window)
            .await
            .unwrap(),
        1
    );
}

/// P-SEC-7: the probe's "20 guesses in 13 s" came from fixed windows, which hand out a whole new
/// burst at every boundary. A bucket drained just before a boundary has nothing right after it,
/// and over any stretch of time at most `limit` + one per interval get through.
async fn p_sec_7_no_burst_across_a_window_boundary(db: &Db) {
    let window = 60_000;
    // Just before a multiple of the window, where a fixed window would roll over.
    let boundary = (T0 / window + 1) * window;
    let mut allowed = 0;
    let mut t = boundary - 3_000;
    // Two attempts a second for 13 s around the boundary.
    while t < boundary + 10_000 {
        allowed += usize::from(
            db.rate_limit_hit("sign_in", "guesser", 10, window, t)
                .await
                .unwrap()
                .is_allowed(),
        );
        t += 500;
    }
    // The burst of 10, then one refill every 6 s (at +6 s and +12 s), never 20.
    assert_eq!(allowed, 12);

    // Over a long stretch the rate is the configured one: 10 at once, then one every 6 s over
    // the following 299 s.
    let mut allowed = 0;
    let mut t = boundary + 600_000;
    while t < boundary + 600_000 + 5 * window {
        allowed += usize::from(
            db.rate_limit_hit("sign_in", "steady", 10, window, t)
                .await
                .unwrap()
                .is_allowed(),
        );
        t += 1_000;
    }
    assert_eq!(allowed, 10 + 299 / 6);
}

async fn priced_job(db: &Db, owner: &User, n: i64, cost: i64) -> StoreResult<SubmittedJob> {
    let new = NewJob {
        owner_id: owner.id.clone(),
        params: json!({ "script": format!("priced job {n}") }),
        idempotency_key: None,
        cost,
    };
    db.submit_job(&new, T0 + n).await
}

async fn ledger_sum(db: &Db, owner: &User) -> i64 {
    let ledger = db.credit_ledger(&owner.id, 1000, None).await.unwrap();
    ledger.iter().map(|e| e.amount).sum()
}

async fn assert_balance(db: &Db, owner: &User, expected: i64) {
    let balance = db.credit_balance(&owner.id).await.unwrap();
    assert_eq!(balance, expected);
    assert_eq!(
        ledger_sum(db, owner).await,
        balance,
        "the balance is the ledger's sum"
    );
}

async fn p_bill_1_balance_is_the_ledger_sum_and_every_ending_settles_the_hold_once(db: &Db) {
    let u = user(db, "cora").await;
    assert_balance(db, &u, 0).await;
    db.add_credits(&u.id, CreditKind::Grant, 100, "welcome", T0)
        .await
        .unwrap();
    assert!(matches!(
        db.add_credits(&u.id, CreditKind::Spend, 5, "by hand", T0)
            .await,
        Err(StoreError::InvalidCredits(_))
    ));
    assert!(db
        .add_credits(&u.id, CreditKind::Grant, -5, "negative", T0)
        .await
        .is_err());

    // Queued: reserved at once. Too dear: refused, nothing queued, nothing written.
    let charged = priced_job(db, &u, 1, 60).await.unwrap().job;
    assert_balance(db, &u, 40).await;
    let refused = priced_job(db, &u, 2, 60).await.unwrap_err();
    assert!(matches!(
        refused,
        StoreError::InsufficientCredits {
            needed: 60,
            balance: 40
        }
    ));
    assert_eq!(
        reelsmith_core::ErrorCode::code(&refused),
        "credits.insufficient"
    );
    assert_eq!(
        db.list_jobs(&u.id, &Page::first(10)).await.unwrap().len(),
        1
    );

    // Success charges; a finish that lost its lease cannot settle again.
    let claimed = db
        .claim_next_job("w", LEASE, WIDE, T0 + 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.job.id, charged.id);
    db.finish_job(&claimed.lease, &[], &json!({}), T0 + 4)
        .await
        .unwrap();
    assert!(db
        .finish_job(&claimed.lease, &[], &json!({}), T0 + 5)
        .await
        .is_err());
    let holds = db.credit_holds(&charged.id).await.unwrap();
    assert_eq!((holds[0].amount, holds[0].state.as_str()), (60, "charged"));
    assert_balance(db, &u, 40).await;

    // Failure refunds once.
    let failing = priced_job(db, &u, 6, 30).await.unwrap().job;
    assert_balance(db, &u, 10).await;
    let claimed = db
        .claim_next_job("w", LEASE, WIDE, T0 + 7)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.job.id, failing.id);
    let error = JobError {
        code: "provider.failed".into(),
        message: "no".into(),
    };
    db.fail_job(&claimed.lease, &error, None, T0 + 8)
        .await
        .unwrap();
    assert!(db
        .fail_job(&claimed.lease, &error, None, T0 + 9)
        .await
        .is_err());
    assert_balance(db, &u, 40).await;
    let ledger = db.credit_ledger(&u.id, 1, None).await.unwrap();
    assert_eq!((ledger[0].kind, ledger[0].amount), (CreditKind::Refund, 30));
    assert_eq!(ledger[0].job_id.as_deref(), Some(failing.id.as_str()));

    // Cancellation and deletion refund; a new revision releases the old hold and takes its own.
    let cancelled = priced_job(db, &u, 10, 40).await.unwrap().job;
    assert_balance(db, &u, 0).await;
    db.cancel_job(&u.id, &cancelled.id, T0 + 11).await.unwrap();
    db.cancel_job(&u.id, &cancelled.id, T0 + 12).await.unwrap();
    assert_balance(db, &u, 40).await;
    let revised = priced_job(db, &u, 13, 25).await.unwrap().job;
    db.add_revision(&u.id, &revised.id, &json!({"script": "v2"}), 35, T0 + 14)
        .await
        .unwrap()
        .unwrap();
    assert_balance(db, &u, 5).await;
    assert!(matches!(
        db.add_revision(&u.id, &revised.id, &json!({"script": "v3"}), 41, T0 + 15)
            .await,
        Err(StoreError::InsufficientCredits {
            needed: 41,
            balance: 40
        })
    ));
    assert_balance(db, &u, 5).await;
    let states: Vec<String> = db
        .credit_holds(&revised.id)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.state)
        .collect();
    assert_eq!(
        states,
        vec!["released", "held"],
        "a refused revision changed nothing"
    );
    db.delete_job(&u.id, &revised.id).await.unwrap().unwrap();
    assert_balance(db, &u, 40).await;

    // Deleting the account releases what its cancelled jobs held.
    let pending = priced_job(db, &u, 20, 15).await.unwrap().job;
    assert_balance(db, &u, 25).await;
    db.mark_user_deleted(&u.id, T0 + 21).await.unwrap();
    assert_balance(db, &u, 40).await;
    let holds = db.credit_holds(&pending.id).await.unwrap();
    assert_eq!(holds[0].state, "released");
    assert!(db
        .credit_ledger(&u.id, 1000, None)
        .await
        .unwrap()
        .iter()
        .all(|e| e.amount != 0));
}

async fn p_bill_1_concurrent_submissions_never_overdraw(db: &Db) {
    let u = user(db, "dima").await;
    db.add_credits(&u.id, CreditKind::Grant, 100, "welcome", T0)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for n in 0..10 {
        let (db, u) = (db.clone(), u.clone());
        tasks.push(tokio::spawn(async move {
            priced_job(&db, &u, n, 30).await.is_ok()
        }));
    }
    let mut queued = 0;
    for t in tasks {
        queued += usize::from(t.await.unwrap());
    }
    assert_eq!(queued, 3, "100 credits buy three 30-credit jobs");
    assert_balance(db, &u, 10).await;
}

async fn p_tp_2_consents_keep_their_history_and_withdrawal_closes_them(db: &Db) {
    let u = user(db, "ezra").await;
    assert!(db.active_consent(&u.id, "fal").await.unwrap().is_none());
    db.grant_consent(&u.id, "fal", "2026-01", T0).await.unwrap();
    let renewed = db
        .grant_consent(&u.id, "fal", "2026-11", T0 + 1)
        .await
        .unwrap();
    db.grant_consent(&u.id, "veo", "2026-11", T0 + 2)
        .await
        .unwrap();
    let active = db.active_consent(&u.id, "fal").await.unwrap().unwrap();
    assert_eq!(active, renewed);
    assert_eq!(active.policy_version, "2026-11");
    let history = db.consents_for_user(&u.id).await.unwrap();
    assert_eq!(history.len(), 3);
    let fal: Vec<_> = history.iter().filter(|c| c.provider == "fal").collect();
    assert_eq!(fal.iter().filter(|c| c.withdrawn_at.is_none()).count(), 1);
    assert!(db.withdraw_consent(&u.id, "fal", T0 + 3).await.unwrap());
    assert!(!db.withdraw_consent(&u.id, "fal", T0 + 4).await.unwrap());
    assert!(db.active_consent(&u.id, "fal").await.unwrap().is_none());
    assert!(
        db.active_consent(&u.id, "veo").await.unwrap().is_some(),
        "per provider"
    );
    let other = user(db, "finn").await;
    assert!(db.consents_for_user(&other.id).await.unwrap().is_empty());
}

async fn p_tp_4_transfers_are_logged_per_job_and_scoped_to_the_owner(db: &Db) {
    let u = user(db, "gaia").await;
    let other = user(db, "hugo").await;
    let job = submit(db, &u, 1).await;
    let new = NewTransfer {
        job_id: job.id.clone(),
        revision: 1,
        user_id: u.id.clone(),
        provider: "fal".into(),
        model: "fal-ai/veo3.1".into(),
        purpose: "shot".into(),
        sent: json!({ "prompt_chars": 42, "image": null }),
    };
    let id = db.log_transfer(&new, T0 + 1).await.unwrap();
    let failed = db.log_transfer(&new, T0 + 2).await.unwrap();
    db.transfer_accepted(&id, "req-123", T0 + 3).await.unwrap();
    db.transfer_failed(&failed, T0 + 4).await.unwrap();
    let log = db.transfers_for_job(&u.id, &job.id).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].status.as_str(), log[0].request_id.as_deref()),
        ("accepted", Some("req-123"))
    );
    assert_eq!(log[0].sent, json!({ "prompt_chars": 42, "image": null }));
    assert_eq!(log[1].status, "failed");
    assert!(db
        .transfers_for_job(&other.id, &job.id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(db.transfers_for_user(&u.id).await.unwrap().len(), 2);
    assert_eq!(
        db.job_for_provider_request("fal", "req-123").await.unwrap(),
        Some(job.id.clone())
    );
    assert_eq!(
        db.job_for_provider_request("veo", "req-123").await.unwrap(),
        None
    );
    // The log goes with the job.
    db.delete_job(&u.id, &job.id).await.unwrap();
    assert!(db.transfers_for_user(&u.id).await.unwrap().is_empty());
}

async fn p_comm_2_a_material_version_is_pending_until_accepted(db: &Db) {
    let alice = user(db, "alice").await;
    assert!(db.pending_policies(&alice.id).await.unwrap().is_empty());
    // A clarification asks nothing of anyone.
    db.publish_policy(PolicyKind::Privacy, "v1", "first", "", false, T0)
        .await
        .unwrap();
    assert!(db.pending_policies(&alice.id).await.unwrap().is_empty());
    let v2 = db
        .publish_policy(
            PolicyKind::Privacy,
            "v2",
            "videos kept 30 days",
            "",
            true,
            T0,
        )
        .await
        .unwrap();
    assert!(
        v2.published_at > T0,
        "published times grow even within one millisecond"
    );
    assert!(matches!(
        db.publish_policy(PolicyKind::Privacy, "v2", "again", "", true, T0 + 5)
            .await,
        Err(StoreError::PolicyVersionExists)
    ));
    let pending = db.pending_policies(&alice.id).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].kind, pending[0].version.as_str()),
        (PolicyKind::Privacy, "v2")
    );
    // Accepting an older version does not cover the material change.
    db.accept_policy(&alice.id, PolicyKind::Privacy, "v1", T0 + 10)
        .await
        .unwrap();
    assert_eq!(db.pending_policies(&alice.id).await.unwrap().len(), 1);
    // A minor version after the material one is what is current; accepting it covers both.
    db.publish_policy(PolicyKind::Privacy, "v3", "typo", "", false, T0 + 20)
        .await
        .unwrap();
    let pending = db.pending_policies(&alice.id).await.unwrap();
    assert_eq!(
        pending[0].version, "v3",
        "the current version is the one to accept"
    );
    db.accept_policy(&alice.id, PolicyKind::Privacy, "v3", T0 + 30)
        .await
        .unwrap();
    db.accept_policy(&alice.id, PolicyKind::Privacy, "v3", T0 + 40)
        .await
        .unwrap();
    assert!(db.pending_policies(&alice.id).await.unwrap().is_empty());
    let accepted = db.policy_acceptances_of(&alice.id).await.unwrap();
    assert_eq!(accepted.len(), 2);
    assert_eq!(
        (accepted[0].version.as_str(), accepted[0].accepted_at),
        ("v3", T0 + 30)
    );
    // Terms are a document of their own.
    db.publish_policy(PolicyKind::Terms, "t1", "terms", "Be nice.", true, T0 + 50)
        .await
        .unwrap();
    let pending = db.pending_policies(&alice.id).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].kind, PolicyKind::Terms);
    // Someone who signs up now accepts what is current.
    let bob = user(db, "bob").await;
    db.accept_current_policies(&bob.id, T0 + 60).await.unwrap();
    assert!(db.pending_policies(&bob.id).await.unwrap().is_empty());
    assert_eq!(db.policy_history().await.unwrap().len(), 4);
}

async fn p_comm_1_marketing_is_opt_in_and_the_token_only_unsubscribes(db: &Db) {
    let alice = user(db, "alice").await;
    let bob = user(db, "bob").await;
    db.mark_email_verified(&alice.id, T0).await.unwrap();
    db.mark_email_verified(&bob.id, T0).await.unwrap();
    assert_eq!(alice.marketing_opt_in_at, None, "off by default");
    assert!(db.marketing_recipients().await.unwrap().is_empty());
    assert!(db
        .set_marketing_opt_in(&alice.id, true, "tok-a", T0)
        .await
        .unwrap());
    // Opting in again keeps the first token: links in older emails keep working.
    db.set_marketing_opt_in(&alice.id, true, "tok-other", T0 + 1)
        .await
        .unwrap();
    let recipients = db.marketing_recipients().await.unwrap();
    assert_eq!(recipients.len(), 1);
    assert_eq!(recipients[0].id, alice.id);
    assert_eq!(recipients[0].unsubscribe_token, "tok-a");
    assert!(db.unsubscribe_token_exists("tok-a").await.unwrap());
    assert!(!db.unsubscribe_token_exists("").await.unwrap());
    assert_eq!(db.unsubscribe_by_token("nope", T0).await.unwrap(), None);
    assert_eq!(db.unsubscribe_by_token("", T0).await.unwrap(), None);
    assert_eq!(
        db.unsubscribe_by_token("tok-a", T0 + 2).await.unwrap(),
        Some(alice.id.clone())
    );
    assert!(db.marketing_recipients().await.unwrap().is_empty());
    let after = db.user_by_id(&alice.id).await.unwrap().unwrap();
    assert_eq!(after.marketing_opt_in_at, None);
    // A second click says the same; a deleted account gets nothing.
    assert!(db
        .unsubscribe_by_token("tok-a", T0 + 3)
        .await
        .unwrap()
        .is_some());
    db.set_marketing_opt_in(&bob.id, true, "tok-b", T0)
        .await
        .unwrap();
    db.mark_user_deleted(&bob.id, T0 + 4).await.unwrap();
    assert!(db.marketing_recipients().await.unwrap().is_empty());
}

async fn p_rights_5_fulfilment_needs_the_identity_check_and_the_purge_forgets_the_requester(
    db: &Db,
) {
    let alice = user(db, "alice").await;
    let request = db
        .record_rights_request("ALICE@example.org", RightsKind::Erasure, T0, "by email")
        .await
        .unwrap();
    assert_eq!(request.user_id.as_deref(), Some(alice.id.as_str()));
    assert_eq!(request.due_at, T0 + RIGHTS_DUE_DAYS * 86_400_000);
    assert!(!request.is_overdue(T0 + 29 * 86_400_000));
    assert!(request.is_overdue(T0 + 31 * 86_400_000));
    assert!(matches!(
        db.close_rights_request(&request.id, RightsOutcome::Fulfilled, "", T0 + 1)
            .await,
        Err(StoreError::RightsIdentityUnchecked)
    ));
    let checked = db
        .check_rights_identity(&request.id, "code sent to the account address", T0 + 2)
        .await
        .unwrap();
    assert_eq!(checked.identity_checked_at, Some(T0 + 2));
    let closed = db
        .close_rights_request(&request.id, RightsOutcome::Fulfilled, "done", T0 + 3)
        .await
        .unwrap();
    assert_eq!(closed.status, "fulfilled");
    assert_eq!(closed.notes, "by email\ndone");
    assert!(matches!(
        db.close_rights_request(&request.id, RightsOutcome::Refused, "", T0 + 4)
            .await,
        Err(StoreError::RightsRequestClosed)
    ));
    assert!(matches!(
        db.check_rights_identity("missing", "x", T0).await,
        Err(StoreError::RightsRequestNotFound)
    ));
    let stranger = db
        .record_rights_request("who@example.org", RightsKind::Access, T0 + 5, "")
        .await
        .unwrap();
    assert_eq!(stranger.user_id, None);
    // Refusing needs no identity check (an unprovable request is refused).
    db.close_rights_request(&stranger.id, RightsOutcome::Refused, "", T0 + 6)
        .await
        .unwrap();
    assert_eq!(db.rights_requests(true).await.unwrap().len(), 0);
    assert_eq!(db.rights_requests(false).await.unwrap().len(), 2);

    // The purge keeps that the request was handled, and forgets who asked.
    db.scrub_user_traces(&alice.id, &alice.email).await.unwrap();
    db.purge_user(&alice.id).await.unwrap();
    let kept = db.rights_request(&request.id).await.unwrap().unwrap();
    assert_eq!(kept.user_id, None);
    assert_eq!(kept.requester_email, "");
    assert_eq!(kept.notes, "");
    assert_eq!(kept.identity_method.as_deref(), Some(""));
    assert_eq!(
        (kept.kind.as_str(), kept.status.as_str()),
        ("erasure", "fulfilled")
    );
}

async fn p_comm_3_breach_sends_are_recorded_per_user_and_failures_retried(db: &Db) {
    let alice = user(db, "alice").await;
    let bob = user(db, "bob").await;
    let notice = db
        .create_breach_notice("Incident", "Dear {name}", Some(T0 - 3_600_000), T0)
        .await
        .unwrap();
    db.record_breach_send(&notice.id, &alice.id, None, T0 + 10)
        .await
        .unwrap();
    db.record_breach_send(&notice.id, &bob.id, Some("smtp timeout"), T0 + 20)
        .await
        .unwrap();
    assert_eq!(
        db.breach_unsent_users(&notice.id).await.unwrap(),
        vec![bob.id.clone()]
    );
    db.record_breach_send(&notice.id, &bob.id, None, T0 + 30)
        .await
        .unwrap();
    assert!(db.breach_unsent_users(&notice.id).await.unwrap().is_empty());
    let sends = db.breach_sends(&notice.id).await.unwrap();
    let seen: Vec<(i64, &str)> = sends.iter().map(|s| (s.seq, s.status.as_str())).collect();
    assert_eq!(seen, vec![(1, "sent"), (2, "failed"), (3, "sent")]);
    assert_eq!(sends[1].error.as_deref(), Some("smtp timeout"));
    let summary = &db.breach_notices().await.unwrap()[0];
    assert_eq!((summary.sent, summary.failed), (2, 1));
    assert_eq!(summary.first_sent_at, Some(T0 + 10));
    assert_eq!(summary.last_sent_at, Some(T0 + 30));
    assert_eq!(summary.notice.discovered_at, Some(T0 - 3_600_000));
    // A purged account leaves the record of the send, not the person.
    db.purge_user(&alice.id).await.unwrap();
    let sends = db.breach_sends(&notice.id).await.unwrap();
    assert_eq!(sends.len(), 3);
    assert_eq!(sends[0].user_id, None);
}
