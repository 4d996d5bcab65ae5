//! Draft storyboards and the uploads they show (issue 25, P-RET-2), on SQLite with a local
//! media folder and on PostgreSQL with S3: an upload a draft shows is "in use" for a job's
//! deletion and for the retention sweep alike, and a draft no one touched for
//! `retention.draft_days` is deleted by the sweep (a fresher one stays).

#[allow(unused_macros, dead_code)]
#[macro_use]
mod backends;
mod common;
#[path = "../../store/tests/support/mod.rs"]
mod support;

use axum::http::{Method, StatusCode};
use common::*;
use reelsmith_config::{RetentionConfig, UploadRetention};
use reelsmith_store::now_ms;
use serde_json::json;

const DAY_MS: i64 = 86_400_000;

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

async fn upload(t: &TestApp, auth: &Auth, name: &str) -> String {
    let r = t.upload(auth, name, "image/jpeg", &jpeg(64, 36)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    r.json()["id"].as_str().unwrap().to_owned()
}

/// A draft showing `media`, by id.
async fn draft(t: &TestApp, auth: &Auth, media: &[&str]) -> String {
    let r = t
        .json(
            Method::POST,
            "/api/v1/storyboards",
            auth,
            json!({ "script": "A harbour at dawn.", "media": media }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    r.json()["id"].as_str().unwrap().to_owned()
}

async fn job(t: &TestApp, auth: &Auth, media: &[&str]) -> String {
    let r = t
        .json(
            Method::POST,
            "/api/v1/jobs",
            auth,
            json!({ "script": "Boats leave the harbour.", "media": media }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    r.json()["id"].as_str().unwrap().to_owned()
}

async fn exists(t: &TestApp, auth: &Auth, upload: &str) -> bool {
    let r = t.get(&format!("/api/v1/uploads/{upload}"), auth).await;
    assert!(
        matches!(r.status, StatusCode::OK | StatusCode::NOT_FOUND),
        "{}",
        text(&r)
    );
    r.status == StatusCode::OK
}

async fn sweep(
    t: &TestApp,
    policy: &RetentionConfig,
    at: i64,
) -> reelsmith_worker::RetentionReport {
    reelsmith_worker::sweep(&t.state.db, &t.state.media, policy, at, false)
        .await
        .unwrap()
}

on_both!(
    p_ret_2_an_upload_a_draft_shows_outlives_the_deletion_of_a_job_that_used_it,
    p_ret_2_the_sweep_keeps_an_upload_a_draft_shows_and_expires_untouched_drafts,
);

async fn p_ret_2_an_upload_a_draft_shows_outlives_the_deletion_of_a_job_that_used_it(t: TestApp) {
    let auth = Auth::Cookie(t.signed_in_user("drafts@example.com", "drafter").await);
    let shared = upload(&t, &auth, "shared.jpg").await;
    let only_job = upload(&t, &auth, "only-job.jpg").await;
    let board = draft(&t, &auth, &[&shared]).await;
    let id = job(&t, &auth, &[&shared, &only_job]).await;

    let r = t.delete(&format!("/api/v1/jobs/{id}"), &auth).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", text(&r));
    assert!(
        !exists(&t, &auth, &only_job).await,
        "an upload nothing else uses goes with the job (P-RET-2)"
    );
    assert!(
        exists(&t, &auth, &shared).await,
        "the draft still shows this upload: deleting the job must keep it"
    );
    let r = t
        .get(&format!("/api/v1/jobs/{board}/storyboard"), &auth)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
}

async fn p_ret_2_the_sweep_keeps_an_upload_a_draft_shows_and_expires_untouched_drafts(t: TestApp) {
    let auth = Auth::Cookie(t.signed_in_user("sweep@example.com", "sweeper").await);
    let shown = upload(&t, &auth, "shown.jpg").await;
    let board = draft(&t, &auth, &[&shown]).await;
    // A job that used the same upload ends: under `until_job_ends` its uploads go, unless
    // something still needs them.
    let id = job(&t, &auth, &[&shown]).await;
    let r = t
        .json(
            Method::POST,
            &format!("/api/v1/jobs/{id}/cancel"),
            &auth,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));

    let policy = RetentionConfig {
        uploads: UploadRetention::UntilJobEnds,
        draft_days: 30,
        ..RetentionConfig::default()
    };
    let now = now_ms();
    let report = sweep(&t, &policy, now + 29 * DAY_MS).await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(report.drafts.deleted.is_empty(), "a 29-day-old draft stays");
    assert!(
        !report.uploads.deleted.contains(&shown) && exists(&t, &auth, &shown).await,
        "the draft shows the upload, so the ended job's sweep keeps it"
    );

    // 31 days without a change: the draft goes, and with it the last use of the upload.
    let report = sweep(&t, &policy, now + 31 * DAY_MS).await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.drafts.deleted, vec![board.clone()]);
    let r = t
        .get(&format!("/api/v1/jobs/{board}/storyboard"), &auth)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", text(&r));
    assert!(report.uploads.deleted.contains(&shown), "{report:?}");
    assert!(!exists(&t, &auth, &shown).await);
}
