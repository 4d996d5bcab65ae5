//! What the web studio needs from the API (issue 15): uploads go with the creations that used
//! them (P-RET-2) and the export no longer holds them, verification signs in and its code can be
//! sent again within a limit, "sign out everywhere else", a queued job's place in the queue,
//! download names, and not-found pages. Cases that add SQL run on SQLite with a local media
//! folder and on PostgreSQL with S3 (`moto_server`), the throwaway services of the store's suites.

mod common;
#[path = "../../store/tests/support/mod.rs"]
mod support;
#[macro_use]
mod backends;

use std::time::Duration;

use axum::http::{header, Method, StatusCode};
use common::*;
use reelsmith_server::{output_key, Output};
use reelsmith_store::{now_ms, RunLimits};
use serde_json::{json, Value};

on_both!(
    p_ret_2_deleting_a_creation_deletes_the_uploads_only_it_used_and_the_export_omits_them,
    p_ret_2_deleting_an_earlier_revision_deletes_the_uploads_only_it_used,
    queued_job_shows_how_many_jobs_are_ahead_and_paused_accounts_do_not_count,
    creation_titles_default_to_the_first_words_and_can_be_renamed_by_their_owner_only,
);

fn id_of(reply: &Reply) -> String {
    assert!(
        reply.status.is_success(),
        "{}: {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["id"].as_str().unwrap().to_owned()
}

async fn upload_jpeg(t: &TestApp, auth: &Auth, width: u32, height: u32) -> String {
    id_of(
        &t.upload(auth, "photo.jpg", "image/jpeg", &jpeg(width, height))
            .await,
    )
}

async fn submit(t: &TestApp, auth: &Auth, spec: Value) -> String {
    id_of(&t.json(Method::POST, "/api/v1/jobs", auth, spec).await)
}

async fn listed_uploads(t: &TestApp, auth: &Auth) -> Vec<String> {
    let r = t.get("/api/v1/uploads?limit=100", auth).await;
    assert_eq!(r.status, StatusCode::OK);
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn object_key(t: &TestApp, owner_email: &str, upload_id: &str) -> String {
    let owner = t
        .state
        .db
        .user_by_email(owner_email)
        .await
        .unwrap()
        .unwrap();
    t.state
        .db
        .upload_for_owner(&owner.id, upload_id)
        .await
        .unwrap()
        .expect("the upload exists")
        .object_key
}

async fn object_exists(t: &TestApp, key: &str) -> bool {
    t.state.media.head(key).await.unwrap().is_some()
}

fn archive_names(archive: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>) -> Vec<String> {
    (0..archive.len())
        .map(|i| archive.by_index(i).unwrap().name().unwrap().into_owned())
        .collect()
}

fn archive_uploads(archive: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>) -> Vec<String> {
    read_json(archive, "uploads.json")
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn p_ret_2_deleting_a_creation_deletes_the_uploads_only_it_used_and_the_export_omits_them(
    t: TestApp,
) {
    let ana = Auth::Cookie(t.signed_in_user("ana@example.org", "ana").await);
    let ben = Auth::Cookie(t.signed_in_user("ben@example.org", "ben").await);
    // Only the first creation uses `only_first`; both use `shared`; no creation uses `spare`.
    let only_first = upload_jpeg(&t, &ana, 64, 40).await;
    let shared = upload_jpeg(&t, &ana, 80, 50).await;
    let spare = upload_jpeg(&t, &ana, 90, 60).await;
    // Ben uploads the very same bytes as Ana's `only_first`, for a creation of his own.
    let bens = upload_jpeg(&t, &ben, 64, 40).await;
    let bens_job = submit(
        &t,
        &ben,
        json!({ "script": "Ben's harbour.", "media": [bens] }),
    )
    .await;
    let first = submit(
        &t,
        &ana,
        json!({ "script": "The first one.", "media": [only_first, shared] }),
    )
    .await;
    let second = submit(
        &t,
        &ana,
        json!({ "script": "The second one.", "media": [shared] }),
    )
    .await;
    let only_first_key = object_key(&t, "ana@example.org", &only_first).await;
    let bens_key = object_key(&t, "ben@example.org", &bens).await;
    assert!(object_exists(&t, &only_first_key).await);

    let r = t.delete(&format!("/api/v1/jobs/{first}"), &ana).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    let mut left = listed_uploads(&t, &ana).await;
    left.sort();
    let mut want = vec![shared.clone(), spare.clone()];
    want.sort();
    assert_eq!(
        left, want,
        "only the upload the deleted creation alone used is gone"
    );
    t.get(&format!("/api/v1/uploads/{only_first}"), &ana)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.get(&format!("/api/v1/uploads/{only_first}/content"), &ana)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert!(
        !object_exists(&t, &only_first_key).await,
        "gone from storage, not only hidden (P-RET-5)"
    );
    assert!(t
        .audit_kinds("ana@example.org")
        .await
        .contains(&"upload.deleted".to_owned()));

    // Ben's identical upload and his creation are untouched.
    assert_eq!(listed_uploads(&t, &ben).await, vec![bens.clone()]);
    assert!(object_exists(&t, &bens_key).await);
    let r = t
        .get(&format!("/api/v1/uploads/{bens}/content"), &ben)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        t.get(&format!("/api/v1/jobs/{bens_job}"), &ben)
            .await
            .status,
        StatusCode::OK
    );

    // The export holds what is left, and nothing of the deleted upload.
    let mut archive = t.exported_archive(&ana).await;
    let mut exported = archive_uploads(&mut archive);
    exported.sort();
    assert_eq!(exported, want);
    let names = archive_names(&mut archive);
    assert!(names.iter().any(|n| n.starts_with("uploads/")), "{names:?}");
    assert!(!names.iter().any(|n| n.contains(&only_first)), "{names:?}");

    // The last creation using `shared` takes it along; the unused `spare` stays.
    let r = t.delete(&format!("/api/v1/jobs/{second}"), &ana).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(listed_uploads(&t, &ana).await, vec![spare]);
    assert_eq!(listed_uploads(&t, &ben).await, vec![bens]);
}

async fn p_ret_2_deleting_an_earlier_revision_deletes_the_uploads_only_it_used(t: TestApp) {
    let auth = Auth::Cookie(t.signed_in_user("cleo@example.org", "cleo").await);
    let old = upload_jpeg(&t, &auth, 64, 40).await;
    let kept = upload_jpeg(&t, &auth, 80, 50).await;
    let job = submit(
        &t,
        &auth,
        json!({ "script": "First take.", "media": [old, kept] }),
    )
    .await;
    let r = t
        .json(
            Method::POST,
            &format!("/api/v1/jobs/{job}/revisions"),
            &auth,
            json!({ "script": "Second take.", "media": [kept] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let old_key = object_key(&t, "cleo@example.org", &old).await;

    let r = t
        .delete(&format!("/api/v1/jobs/{job}/revisions/1"), &auth)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(listed_uploads(&t, &auth).await, vec![kept.clone()]);
    assert!(!object_exists(&t, &old_key).await);
    // The current revision still names `kept`, so a later revision may use it again.
    let r = t
        .json(
            Method::POST,
            &format!("/api/v1/jobs/{job}/revisions"),
            &auth,
            json!({ "script": "Third take.", "media": [kept] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

async fn queued_job_shows_how_many_jobs_are_ahead_and_paused_accounts_do_not_count(t: TestApp) {
    let dora = Auth::Cookie(t.signed_in_user("dora@example.org", "dora").await);
    let emil = Auth::Cookie(t.signed_in_user("emil@example.org", "emil").await);
    let first = submit(&t, &dora, json!({ "script": "Dora's first." })).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = submit(&t, &emil, json!({ "script": "Emil's first." })).await;
    let ahead = |v: Value| v["queue_ahead"].clone();
    assert_eq!(
        ahead(t.get(&format!("/api/v1/jobs/{first}"), &dora).await.json()),
        json!(0)
    );
    assert_eq!(
        ahead(t.get(&format!("/api/v1/jobs/{second}"), &emil).await.json()),
        json!(1)
    );
    // A paused account's job waits, so it is not ahead of anyone.
    let r = t
        .json(
            Method::PUT,
            "/api/v1/me/processing",
            &dora,
            json!({ "paused": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        ahead(t.get(&format!("/api/v1/jobs/{second}"), &emil).await.json()),
        json!(0)
    );
    // Lists and finished jobs carry no queue place.
    let list = t.get("/api/v1/jobs", &emil).await.json();
    assert!(list[0].get("queue_ahead").is_none(), "{list}");
    t.get(&format!("/api/v1/jobs/{second}"), &dora)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

/// Plays the worker: claims the next job and records a finished revision with a video and
/// captions.
async fn finish(t: &TestApp, job_id: &str) {
    let claimed = t
        .state
        .db
        .claim_next_job("test-worker", 60_000, RunLimits::default(), now_ms())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.job.id, job_id);
    let revision = claimed.lease.revision;
    let owner = t
        .state
        .media
        .for_owner(&claimed.job.owner_id)
        .await
        .unwrap();
    let video = output_key(job_id, revision, Output::Video);
    owner
        .put_bytes(&video, bytes::Bytes::from_static(b"not really an mp4"))
        .await
        .unwrap();
    let vtt = output_key(job_id, revision, Output::CaptionsVtt);
    owner
        .put_bytes(
            &vtt,
            bytes::Bytes::from_static(b"WEBVTT\n\n00:00.000 --> 00:01.000\nhi\n"),
        )
        .await
        .unwrap();
    let usage = json!({ "engine": "studio", "output_seconds": 1.0 });
    t.state
        .db
        .finish_job(&claimed.lease, &[video, vtt], &usage, now_ms())
        .await
        .unwrap();
}

#[tokio::test]
async fn downloads_are_named_from_the_script_and_the_day() {
    let t = backends::sqlite_local().await;
    let auth = Auth::Cookie(t.signed_in_user("fay@example.org", "fay").await);
    let job = submit(
        &t,
        &auth,
        json!({ "script": "  A quiet Harbour, at dawn! The boats wake up one by one." }),
    )
    .await;
    let view = t.get(&format!("/api/v1/jobs/{job}"), &auth).await.json();
    let stem = view["file_stem"].as_str().unwrap().to_owned();
    let day = &view["created_at"].as_str().unwrap()[..10];
    assert_eq!(stem, format!("a-quiet-harbour-at-dawn-the-{day}"));
    finish(&t, &job).await;
    let r = t.get(&format!("/api/v1/jobs/{job}/video"), &auth).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-disposition"),
        format!("inline; filename=\"{stem}.mp4\"; filename*=UTF-8''{stem}.mp4")
    );
    let r = t
        .get(&format!("/api/v1/jobs/{job}/captions.vtt"), &auth)
        .await;
    assert!(r
        .header("content-disposition")
        .contains(&format!("{stem}.vtt")));
    let r = t
        .json(
            Method::POST,
            &format!("/api/v1/jobs/{job}/revisions"),
            &auth,
            json!({ "script": "Ünïcode «Straße» here." }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    finish(&t, &job).await;
    let r = t.get(&format!("/api/v1/jobs/{job}/video"), &auth).await;
    assert_eq!(
        r.header("content-disposition"),
        format!(
            "inline; filename=\"_n_code-stra_e-here-{day}-r2.mp4\"; \
             filename*=UTF-8''%C3%BCn%C3%AFcode-stra%C3%9Fe-here-{day}-r2.mp4"
        )
    );
    // The poster is never a download.
    let r = t.get(&format!("/api/v1/jobs/{job}/poster"), &auth).await;
    assert!(r.header("content-disposition").is_empty());
}

#[tokio::test]
async fn verifying_the_email_signs_in_and_a_new_code_can_be_asked_for_within_a_limit() {
    let t = backends::sqlite_local().await;
    let email = "gus@example.org";
    assert_eq!(t.signup(email, "gus").await.status, StatusCode::CREATED);
    let first = t.latest_code(email);
    let resend = |address: &'static str| {
        t.json(
            Method::POST,
            "/api/v1/auth/verify/resend",
            &Auth::None,
            json!({ "email": address }),
        )
    };
    let r = resend(email).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let second = t.latest_code(email);
    let verify = |code: String| {
        t.json(
            Method::POST,
            "/api/v1/auth/verify",
            &Auth::None,
            json!({ "email": email, "code": code }),
        )
    };
    if first != second {
        // A new code replaces the old one.
        verify(first)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "auth.code_invalid");
    }
    let r = verify(second).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let session = session_from(&r);
    let me = t.get("/api/v1/me", &Auth::Cookie(session)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["email"], email);
    assert_eq!(me.json()["email_verified"], true);

    // A verified address gets no new code, and an unknown one answers the same.
    let mails = std::fs::read_dir(&t.outbox).unwrap().count();
    assert_eq!(resend(email).await.status, StatusCode::ACCEPTED);
    let r = resend("nobody@example.org").await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(std::fs::read_dir(&t.outbox).unwrap().count(), mails);

    // The limit holds per address, registered or not: `rate_limits.codes` a window.
    let limit = t.state.config.rate_limits.codes.count;
    for _ in 1..limit {
        assert_eq!(
            resend("nobody@example.org").await.status,
            StatusCode::ACCEPTED
        );
    }
    let r = resend("nobody@example.org").await;
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(!r.header("retry-after").is_empty());
}

#[tokio::test]
async fn sign_out_everywhere_else_keeps_only_this_session() {
    let t = backends::sqlite_local().await;
    let email = "hal@example.org";
    let here = Auth::Cookie(t.signed_in_user(email, "hal").await);
    let there = Auth::Cookie(session_from(&t.login(email, PASSWORD).await));
    let third = Auth::Cookie(session_from(&t.login(email, PASSWORD).await));
    // Verifying opened a session too: three others in all.
    let before = t.get("/api/v1/sessions", &here).await.json();
    assert_eq!(before.as_array().unwrap().len(), 4, "{before}");
    let r = t
        .json(
            Method::POST,
            "/api/v1/sessions/revoke-others",
            &here,
            json!({}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["revoked"], 3);
    assert_eq!(t.get("/api/v1/me", &here).await.status, StatusCode::OK);
    for other in [&there, &third] {
        t.get("/api/v1/me", other)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
    }
    let sessions = t.get("/api/v1/sessions", &here).await.json();
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    assert_eq!(sessions[0]["current"], true);
    assert!(t
        .audit_kinds(email)
        .await
        .contains(&"session.revoked_others".to_owned()));

    // An API token has no session of its own to keep.
    let token = t
        .json(
            Method::POST,
            "/api/v1/tokens",
            &here,
            json!({ "name": "script" }),
        )
        .await
        .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    t.json(
        Method::POST,
        "/api/v1/sessions/revoke-others",
        &Auth::Bearer(token),
        json!({}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "session.required");
    assert_eq!(t.get("/api/v1/me", &here).await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_pages_answer_an_html_page_to_browsers_and_a_problem_to_the_api() {
    let t = backends::sqlite_local().await;
    let get = |uri: &str, accept: &str, auth: &Auth| {
        let request = t
            .request(Method::GET, uri, auth)
            .header(header::ACCEPT, accept)
            .body(axum::body::Body::empty())
            .unwrap();
        t.send(request)
    };
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let r = get("/no/such/page", browser, &Auth::None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.header("content-type").starts_with("text/html"));
    let html = String::from_utf8_lossy(&r.body);
    assert!(html.contains("There is no page here"), "{html}");
    get("/no/such/page", "application/json", &Auth::None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    get("/api/v1/no-such-route", browser, &Auth::None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    // A deleted creation's link, and another person's, show the same page.
    let ida = Auth::Cookie(t.signed_in_user("ida@example.org", "ida").await);
    let jon = Auth::Cookie(t.signed_in_user("jon@example.org", "jon").await);
    let job = submit(&t, &ida, json!({ "script": "Ida's harbour." })).await;
    let r = get(&format!("/creations/{job}"), browser, &ida).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&r.body).contains(&format!("data-job-id=\"{job}\"")));
    let theirs = get(&format!("/creations/{job}"), browser, &jon).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let theirs = String::from_utf8_lossy(&theirs.body).into_owned();
    assert!(theirs.contains("This creation does not exist"));
    assert!(!theirs.contains("Ida's harbour"));
    assert_eq!(
        t.delete(&format!("/api/v1/jobs/{job}"), &ida).await.status,
        StatusCode::NO_CONTENT
    );
    let deleted = get(&format!("/creations/{job}"), browser, &ida).await;
    assert_eq!(deleted.status, StatusCode::NOT_FOUND);
    let deleted = String::from_utf8_lossy(&deleted.body).into_owned();
    assert!(deleted.contains("This creation does not exist"));
    // Same markup for both: nothing tells a deleted job from another person's.
    assert_eq!(deleted.replace("ida", "jon"), theirs.replace("ida", "jon"));
}

async fn rename(t: &TestApp, auth: &Auth, job: &str, title: &str) -> Reply {
    t.json(
        Method::PATCH,
        &format!("/api/v1/jobs/{job}"),
        auth,
        json!({ "title": title }),
    )
    .await
}

async fn creation_titles_default_to_the_first_words_and_can_be_renamed_by_their_owner_only(
    t: TestApp,
) {
    let gina = Auth::Cookie(t.signed_in_user("gina@example.org", "gina").await);
    let hugo = Auth::Cookie(t.signed_in_user("hugo@example.org", "hugo").await);
    let job = submit(
        &t,
        &gina,
        json!({ "script": "  A quiet Harbour, at dawn! The boats wake up one by one." }),
    )
    .await;
    let view = t.get(&format!("/api/v1/jobs/{job}"), &gina).await.json();
    let day = view["created_at"].as_str().unwrap()[..10].to_owned();
    // The default title is the words the download name is made of, as written.
    assert_eq!(view["title"], "A quiet Harbour, at dawn! The");
    assert_eq!(view["title_is_default"], true);
    // Submitted straight, not from a storyboard: none to link to, nothing to credit.
    assert_eq!(view["storyboard"], false);
    assert_eq!(view["credits"], json!([]));
    let default_stem = format!("a-quiet-harbour-at-dawn-the-{day}");
    assert_eq!(view["file_stem"], default_stem.as_str());

    // Another person's creation answers like one that does not exist, and stays as it was.
    rename(&t, &hugo, &job, "Mine now")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let view = t.get(&format!("/api/v1/jobs/{job}"), &gina).await.json();
    assert_eq!(view["title"], "A quiet Harbour, at dawn! The");

    // Too long, or with characters that reorder what is shown: refused, nothing changes.
    rename(&t, &gina, &job, &"x".repeat(121))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "job.title_too_long");
    rename(&t, &gina, &job, "Harbour \u{202E}4pm.exe")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "job.title_invalid");
    let view = t.get(&format!("/api/v1/jobs/{job}"), &gina).await.json();
    assert_eq!(view["title_is_default"], true);
    // 120 characters is the most a title takes.
    let longest = "é".repeat(120);
    let r = rename(&t, &gina, &job, &longest).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["title"], longest.as_str());

    // Whitespace is tidied; the list, the job and the download name follow the title.
    let r = rename(&t, &gina, &job, "  Harbour\tat   dawn, take 2  ").await;
    assert_eq!(r.status, StatusCode::OK);
    let view = r.json();
    assert_eq!(view["title"], "Harbour at dawn, take 2");
    assert_eq!(view["title_is_default"], false);
    let stem = format!("harbour-at-dawn-take-2-{day}");
    assert_eq!(view["file_stem"], stem.as_str());
    let list = t.get("/api/v1/jobs", &gina).await.json();
    assert_eq!(list[0]["title"], "Harbour at dawn, take 2");
    finish(&t, &job).await;
    let r = t.get(&format!("/api/v1/jobs/{job}/video"), &gina).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-disposition"),
        format!("inline; filename=\"{stem}.mp4\"; filename*=UTF-8''{stem}.mp4")
    );
    assert!(t
        .audit_kinds("gina@example.org")
        .await
        .contains(&"job.renamed".to_owned()));

    // The export keeps the title.
    let jobs = t.exported_json(&gina, "jobs.json").await;
    assert_eq!(jobs[0]["title"], "Harbour at dawn, take 2");

    // An empty title goes back to the default, and so does the download name.
    let r = rename(&t, &gina, &job, "   ").await;
    assert_eq!(r.status, StatusCode::OK);
    let view = r.json();
    assert_eq!(view["title"], "A quiet Harbour, at dawn! The");
    assert_eq!(view["title_is_default"], true);
    let r = t.get(&format!("/api/v1/jobs/{job}/video"), &gina).await;
    assert!(r
        .header("content-disposition")
        .contains(&format!("{default_stem}.mp4")));
}
