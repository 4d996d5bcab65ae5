//! Sharing and safety through the API (issue 19): share links (P-VIS-3), publishing, the
//! gallery and profiles (P-VIS-2, P-ACC-5), the automated checks (P-SAFE-1), reports and the
//! moderation queue (P-SAFE-2, P-SAFE-3). Two real users in every case: another's objects are
//! 404, and anonymous visitors reach only what is public. Each case runs on SQLite with a
//! local media folder and on PostgreSQL with S3 (`moto_server`).

mod common;
#[path = "../../store/tests/support/mod.rs"]
mod support;
#[macro_use]
mod backends;

use axum::http::{Method, StatusCode};
use common::*;
use reelsmith_server::{output_key, Output};
use reelsmith_store::{now_ms, Role, RunLimits};
use serde_json::{json, Value};

on_both!(
    p_vis_3_share_links_play_anonymously_with_ranges_and_end_as_404_when_revoked_or_expired,
    p_vis_2_p_acc_5_published_works_show_in_the_gallery_and_profile_until_unpublished_taken_down_or_deleted,
    p_safe_2_p_safe_1_rule_breaking_requests_are_refused_before_queueing_and_borderline_ones_held_for_review,
    p_safe_3_p_safe_2_reports_go_to_the_queue_and_moderators_take_down_ban_and_record_legal_requests,
);

#[path = "../../safety/tests/support/tiny_model.rs"]
mod tiny_model;

/// The image classifier (P-SAFE-1) set up with the tests' tiny model, on both backends: it
/// is loaded when the app starts, as `serve` does.
mod image_check {
    use super::*;

    fn configure(model_dir: &std::path::Path) -> impl FnOnce(&mut reelsmith_config::Config) {
        let settings = tiny_model::write_model(&model_dir.join("tiny.onnx"), 0.9, 0.4);
        move |c| {
            c.rate_limits.job_submission.count = 1000;
            c.sharing.image_check = settings;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_local() {
        let dir = tempfile::tempdir().unwrap();
        let t = app_with(configure(dir.path())).await;
        super::p_safe_1_the_image_classifier_refuses_uploads_and_holds_jobs_with_borderline_ones(t)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_s3() {
        let dir = tempfile::tempdir().unwrap();
        let t = crate::backends::postgres_s3_with(configure(dir.path())).await;
        super::p_safe_1_the_image_classifier_refuses_uploads_and_holds_jobs_with_borderline_ones(t)
            .await;
    }
}

/// A `width` x `height` JPEG of one colour.
fn solid_jpeg(rgb: [u8; 3]) -> Vec<u8> {
    use image::ImageEncoder;
    let (w, h) = (48, 32);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .write_image(
            &tiny_model::solid(w, h, rgb),
            w,
            h,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

async fn p_safe_1_the_image_classifier_refuses_uploads_and_holds_jobs_with_borderline_ones(
    t: TestApp,
) {
    use reelsmith_worker::{JobOutcome, Worker, WorkerSettings};
    let ada = Auth::Cookie(t.signed_in_user("ada@example.org", "ada").await);
    let ada_id = user_id(&t, "ada@example.org").await;
    let balance_before = t.get("/api/v1/me/credits", &ada).await.json();

    // A red picture scores "unsafe" past the refuse threshold: not stored, a stable code,
    // the categories recorded (never the picture).
    let r = t
        .upload(&ada, "red.jpg", "image/jpeg", &solid_jpeg([240, 10, 10]))
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "moderation.image_refused");
    assert!(text(&r).contains("unsafe"), "{}", text(&r));
    assert_eq!(t.get("/api/v1/uploads", &ada).await.json(), json!([]));
    let entries = t.state.db.audit_for_user(&ada_id, 50, None).await.unwrap();
    let refusal = entries
        .iter()
        .find(|e| e.kind == "moderation.refused")
        .expect("recorded");
    assert_eq!(
        refusal.detail.as_ref().unwrap(),
        &json!({ "what": "upload", "categories": ["unsafe"] })
    );
    assert_eq!(
        t.get("/api/v1/me/credits", &ada).await.json(),
        balance_before,
        "a refusal costs nothing"
    );

    // A green one passes; a grey one is borderline: stored, and the job using it is held.
    let r = t
        .upload(&ada, "green.jpg", "image/jpeg", &solid_jpeg([20, 170, 40]))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let r = t
        .upload(&ada, "grey.jpg", "image/jpeg", &solid_jpeg([128, 128, 128]))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let grey = r.json()["id"].as_str().unwrap().to_owned();
    let r = t
        .json(
            Method::POST,
            "/api/v1/jobs",
            &ada,
            json!({ "script": "A quiet field.", "media": [grey], "seed": 3 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let job = r.json()["id"].as_str().unwrap().to_owned();
    assert!(!t.state.db.job_is_held(&job).await.unwrap());

    // A real worker with the same settings checks the fetched image before anything else.
    let (tx, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    let mut settings = WorkerSettings::from_config(&t.state.config);
    settings.poll_interval = std::time::Duration::from_millis(100);
    assert!(
        settings.image_check.is_some(),
        "loaded from the same settings"
    );
    let worker = Worker::with_settings(t.state.db.clone(), t.state.media.clone(), settings, "w1")
        .with_outcomes(tx);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let token = shutdown.clone();
    let running = tokio::spawn(async move { worker.run(token).await.unwrap() });
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(60), outcomes.recv())
        .await
        .expect("an outcome in time")
        .unwrap();
    assert!(
        matches!(outcome, JobOutcome::Released { .. }),
        "{outcome:?}"
    );
    assert!(t.state.db.job_is_held(&job).await.unwrap());
    let held = t.state.db.held_jobs(10).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0].job_id.as_str(), held[0].categories.clone()),
        (job.as_str(), vec!["unsafe".to_owned()])
    );
    // Parked: no worker claims it again until a moderator decides.
    assert!(t
        .state
        .db
        .claim_next_job("w2", 60_000, RunLimits::default(), now_ms())
        .await
        .unwrap()
        .is_none());
    shutdown.cancel();
    running.await.unwrap();
    let view = t.get(&format!("/api/v1/jobs/{job}"), &ada).await.json();
    assert_eq!(view["status"], "queued");

    // The privacy page says so, from the live settings.
    let privacy = text(
        &t.get_with("/privacy", &Auth::None, "accept", "text/html")
            .await,
    );
    assert!(
        privacy.contains("image classifier that runs on this server")
            && privacy.contains("for: unsafe."),
        "{privacy}"
    );
}

const VIDEO_LEN: usize = 20_000;

fn video_bytes() -> Vec<u8> {
    (0..VIDEO_LEN as u32)
        .map(|i| (i * 13 % 251) as u8)
        .collect()
}

fn spec(script: &str) -> Value {
    json!({ "script": script, "seed": 3 })
}

async fn submit(t: &TestApp, auth: &Auth, script: &str) -> String {
    let r = t
        .json(Method::POST, "/api/v1/jobs", auth, spec(script))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["id"].as_str().unwrap().to_owned()
}

/// Plays the worker: claims the next job (which must be `job_id`) and finishes it with a
/// video, a poster and captions.
async fn finish(t: &TestApp, job_id: &str) {
    let claimed = t
        .state
        .db
        .claim_next_job("test-worker", 60_000, RunLimits::default(), now_ms())
        .await
        .unwrap()
        .expect("a job to claim");
    assert_eq!(claimed.job.id, job_id);
    let rev = claimed.lease.revision;
    let media = t
        .state
        .media
        .for_owner(&claimed.job.owner_id)
        .await
        .unwrap();
    let mut keys = Vec::new();
    for (output, bytes) in [
        (Output::Video, video_bytes()),
        (Output::Poster, jpeg(32, 18)),
        (
            Output::CaptionsVtt,
            b"WEBVTT\n\n00:00.000 --> 00:01.000\nHello harbour\n".to_vec(),
        ),
    ] {
        let key = output_key(job_id, rev, output);
        media.put_bytes(&key, bytes.into()).await.unwrap();
        keys.push(key);
    }
    let usage = json!({ "engine": "studio", "output_seconds": 2.5 });
    t.state
        .db
        .finish_job(&claimed.lease, &keys, &usage, now_ms())
        .await
        .unwrap();
}

async fn user_id(t: &TestApp, email: &str) -> String {
    t.state.db.user_by_email(email).await.unwrap().unwrap().id
}

/// A signed-in account given the moderator role, without an authenticator yet.
async fn unenrolled_moderator(t: &TestApp, email: &str, username: &str) -> Auth {
    let auth = Auth::Cookie(t.signed_in_user(email, username).await);
    let id = user_id(t, email).await;
    t.state
        .db
        .set_role(&id, Role::Moderator, now_ms())
        .await
        .unwrap();
    auth
}

/// The TOTP code for "now" on the app's clock.
fn code_now(t: &TestApp, secret: &[u8]) -> String {
    reelsmith_auth::totp::totp_at(secret, (t.state.clock.now() / 1000) as u64)
}

/// Enrols and confirms an authenticator in this session (which counts as its step-up): the
/// secret.
async fn enrol_totp(t: &TestApp, auth: &Auth) -> Vec<u8> {
    let r = t
        .json(Method::POST, "/api/v1/me/totp/enrol", auth, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let secret =
        reelsmith_auth::totp::secret_from_base32(r.json()["secret"].as_str().unwrap()).unwrap();
    let code = code_now(t, &secret);
    let r = t
        .json(
            Method::POST,
            "/api/v1/me/totp/confirm",
            auth,
            json!({ "code": code }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    secret
}

/// A moderator whose session has enrolled TOTP and so passed the staff step-up (P-SEC-5).
async fn moderator(t: &TestApp, email: &str, username: &str) -> Auth {
    let auth = unenrolled_moderator(t, email, username).await;
    enrol_totp(t, &auth).await;
    auth
}

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

async fn p_vis_3_share_links_play_anonymously_with_ranges_and_end_as_404_when_revoked_or_expired(
    t: TestApp,
) {
    let ada = Auth::Cookie(t.signed_in_user("ada@example.org", "ada").await);
    let bob = Auth::Cookie(t.signed_in_user("bob@example.org", "bob").await);
    let job = submit(&t, &ada, "A harbour at dawn. Boats leave one by one.").await;
    let shares = format!("/api/v1/jobs/{job}/shares");

    // An unfinished job has nothing to share; a finished one does.
    t.json(Method::POST, &shares, &ada, json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT, "job.not_finished");
    finish(&t, &job).await;
    // A title full of markup stays text everywhere it is shown.
    let r = t
        .json(
            Method::PATCH,
            &format!("/api/v1/jobs/{job}"),
            &ada,
            json!({ "title": "<script>alert(1)</script> \"Dawn\"" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));

    // Another user and anonymous visitors cannot create, list or revoke links to it.
    for who in [&bob, &Auth::None] {
        let r = t.json(Method::POST, &shares, who, json!({})).await;
        assert!(
            matches!(r.status, StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED),
            "{}",
            r.status
        );
        let r = t.get(&shares, who).await;
        assert!(matches!(
            r.status,
            StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED
        ));
    }
    t.json(Method::POST, &shares, &ada, json!({ "expires_in_days": 0 }))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "share.expiry_invalid");
    t.json(Method::POST, &shares, &ada, json!({ "revision": 9 }))
        .await
        .assert_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "share.revision_not_finished",
        );

    let r = t.json(Method::POST, &shares, &ada, json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let link = r.json();
    let url = link["url"].as_str().unwrap();
    let token = url.rsplit('/').next().unwrap().to_owned();
    // At least 128 random bits: 32 bytes, unpadded base64url; only a hash is stored.
    assert_eq!(token.len(), 43);
    let stored: Vec<String> = t
        .state
        .db
        .share_links_of(&user_id(&t, "ada@example.org").await, &job)
        .await
        .unwrap()
        .into_iter()
        .map(|l| format!("{l:?}"))
        .collect();
    assert!(!stored.concat().contains(&token));
    assert_eq!(link["state"], "active");
    assert!(link["expires_at"].is_null());

    // The shared page plays the video with captions, anonymously, with preview tags.
    let page = t.get(&format!("/s/{token}"), &Auth::None).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = text(&page);
    assert!(
        html.contains(&format!("src=\"/s/{token}/video\"")),
        "{html}"
    );
    assert!(html.contains(&format!("src=\"/s/{token}/captions.vtt\"")));
    assert!(html.contains("property=\"og:video\""));
    assert!(html.contains("property=\"og:image\""));
    assert!(html.contains("name=\"twitter:card\""));
    assert!(!html.contains("<script>alert(1)"), "markup is escaped");
    assert!(html.contains("alert(1)") && html.contains("Dawn"));
    // Nothing else of the owner's: not their username, not the job's id or its studio page.
    assert!(!html.contains("@ada") && !html.contains("/u/ada") && !html.contains("ada@"));
    assert!(!html.contains(&job));

    let video = format!("/s/{token}/video");
    let whole = t.get(&video, &Auth::None).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(&whole.body[..], &video_bytes()[..]);
    let part = t
        .get_with(&video, &Auth::None, "range", "bytes=100-199")
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.header("content-range"),
        format!("bytes 100-199/{VIDEO_LEN}")
    );
    assert_eq!(&part.body[..], &video_bytes()[100..200]);
    let tail = t.get_with(&video, &Auth::None, "range", "bytes=-10").await;
    assert_eq!(&tail.body[..], &video_bytes()[VIDEO_LEN - 10..]);
    t.get_with(&video, &Auth::None, "range", "bytes=999999-")
        .await
        .assert_problem(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "media.range_not_satisfiable",
        );
    let vtt = t
        .get(&format!("/s/{token}/captions.vtt"), &Auth::None)
        .await;
    assert!(text(&vtt).contains("Hello harbour"));
    assert_eq!(
        t.get(&format!("/s/{token}/poster"), &Auth::None)
            .await
            .status,
        StatusCode::OK
    );
    // The share reaches only its files: no SRT, no uploads, nothing by path.
    for other in ["captions.srt", "..", "video.mp4", "uploads"] {
        assert_eq!(
            t.get(&format!("/s/{token}/{other}"), &Auth::None)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    }

    // The view count and the list.
    let listed = t.get(&shares, &ada).await.json();
    assert_eq!(listed[0]["views"], 1);
    assert!(listed[0].get("url").is_none(), "the link is shown once");

    // A token of any shape answers exactly like an unknown one.
    let unknown_page = t
        .get(
            "/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &Auth::None,
        )
        .await;
    assert_eq!(unknown_page.status, StatusCode::NOT_FOUND);
    let long = "x".repeat(5000);
    for bad in [
        "x",
        "%00",
        "..%2F..%2Fetc",
        long.as_str(),
        "rs_sess_abc",
        "AAAA====",
        &token[..42],
    ] {
        let p = t.get(&format!("/s/{bad}"), &Auth::None).await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(text(&p), text(&unknown_page), "{bad}");
        let v = t.get(&format!("/s/{bad}/video"), &Auth::None).await;
        v.assert_problem(StatusCode::NOT_FOUND, "not_found");
    }

    // Revoked: 404, the same page as a link that never existed.
    let id = link["id"].as_str().unwrap();
    t.delete(&format!("{shares}/{id}"), &bob)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        t.get(&format!("/s/{token}"), &Auth::None).await.status,
        StatusCode::OK
    );
    let r = t.delete(&format!("{shares}/{id}"), &ada).await;
    assert_eq!(r.json()["state"], "revoked");
    let gone = t.get(&format!("/s/{token}"), &Auth::None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(text(&gone), text(&unknown_page));
    t.get(&video, &Auth::None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    // Expired: 404 the moment its time passes.
    let r = t
        .json(Method::POST, &shares, &ada, json!({ "expires_in_days": 1 }))
        .await;
    let token2 = r.json()["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        t.get(&format!("/s/{token2}/video"), &Auth::None)
            .await
            .status,
        StatusCode::OK
    );
    t.state.clock.advance(86_400_000 + 1_000);
    let expired = t.get(&format!("/s/{token2}"), &Auth::None).await;
    assert_eq!(expired.status, StatusCode::NOT_FOUND);
    assert_eq!(text(&expired), text(&unknown_page));
    assert_eq!(t.get(&shares, &ada).await.json()[0]["state"], "expired");

    // A link to "the latest" follows a new revision once it finishes; a pinned one stays.
    let latest = t.json(Method::POST, &shares, &ada, json!({})).await.json();
    let pinned = t
        .json(Method::POST, &shares, &ada, json!({ "revision": 1 }))
        .await
        .json();
    let r = t
        .json(
            Method::POST,
            &format!("/api/v1/jobs/{job}/revisions"),
            &ada,
            spec("A second take."),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let tok = |v: &Value| {
        v["url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    };
    let before = t.get(&format!("/s/{}", tok(&latest)), &Auth::None).await;
    assert_eq!(
        before.status,
        StatusCode::OK,
        "revision 1 still shows while 2 renders"
    );
    finish(&t, &job).await;
    let shared_of = |r: &Reply| text(r);
    let after = t
        .get(&format!("/s/{}/captions.vtt", tok(&latest)), &Auth::None)
        .await;
    assert_eq!(after.status, StatusCode::OK);
    let _ = shared_of(&after);
    let latest_state = t
        .state
        .db
        .shared_work(
            &reelsmith_auth::hash_token(&format!("share:{}", tok(&latest))),
            now_ms() + 2 * 86_400_000,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest_state.revision, 2);
    let pinned_state = t
        .state
        .db
        .shared_work(
            &reelsmith_auth::hash_token(&format!("share:{}", tok(&pinned))),
            now_ms() + 2 * 86_400_000,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pinned_state.revision, 1);

    // Deleting the creation ends every link to it.
    assert_eq!(
        t.delete(&format!("/api/v1/jobs/{job}"), &ada).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.get(&format!("/s/{}", tok(&latest)), &Auth::None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

fn gallery_ids(v: &Value) -> Vec<String> {
    v["works"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn p_vis_2_p_acc_5_published_works_show_in_the_gallery_and_profile_until_unpublished_taken_down_or_deleted(
    t: TestApp,
) {
    let ada = Auth::Cookie(t.signed_in_user("ada@example.org", "ada").await);
    let bob = Auth::Cookie(t.signed_in_user("bob@example.org", "bob").await);
    let first = submit(&t, &ada, "A harbour at dawn. Boats leave one by one.").await;
    finish(&t, &first).await;
    let draft = submit(&t, &ada, "A draft that never finishes.").await;
    let second = submit(&t, &bob, "Gulls over the pier at noon.").await;
    // The draft is queued ahead of bob's job: finish bob's by claiming past it.
    let _ = (&draft, &second);

    let publication = format!("/api/v1/jobs/{first}/publication");
    // Anonymous: nothing public yet; the gallery, the profile and the work answer so.
    assert_eq!(
        t.get("/api/v1/gallery", &Auth::None).await.json()["works"],
        json!([])
    );
    t.get(&format!("/api/v1/gallery/{first}"), &Auth::None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.get(&format!("/api/v1/gallery/{first}/video"), &Auth::None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    // Publishing another's job, an unfinished one, or without a title: refused, nothing public.
    t.json(
        Method::PUT,
        &publication,
        &bob,
        json!({ "title": "Mine now" }),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.json(
        Method::PUT,
        &publication,
        &Auth::None,
        json!({ "title": "Anon" }),
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
    t.json(
        Method::PUT,
        &format!("/api/v1/jobs/{draft}/publication"),
        &ada,
        json!({ "title": "Draft" }),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "job.not_finished");
    t.json(Method::PUT, &publication, &ada, json!({ "title": "  " }))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "gallery.title_required");
    t.json(
        Method::PUT,
        &publication,
        &ada,
        json!({ "title": "x", "colour": 1 }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "request.invalid_fields");
    assert_eq!(
        t.get("/api/v1/gallery", &Auth::None).await.json()["works"],
        json!([])
    );

    let r = t
        .json(
            Method::PUT,
            &publication,
            &ada,
            json!({ "title": "Dawn <b>harbour</b>", "show_prompt": true, "show_length": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    assert_eq!(r.json()["published"], true);

    // The gallery: author's username and only the details chosen.
    let g = t.get("/api/v1/gallery", &Auth::None).await.json();
    assert_eq!(gallery_ids(&g), vec![first.clone()]);
    let w = &g["works"][0];
    assert_eq!(w["author"], "ada");
    assert_eq!(w["title"], "Dawn <b>harbour</b>");
    assert_eq!(w["script"], "A harbour at dawn. Boats leave one by one.");
    assert_eq!(w["length_seconds"], 2.5);
    assert!(w.get("engine").is_none() && w.get("model").is_none());
    let video = t.get(w["video_url"].as_str().unwrap(), &Auth::None).await;
    assert_eq!(&video.body[..], &video_bytes()[..]);
    let part = t
        .get_with(
            w["video_url"].as_str().unwrap(),
            &Auth::None,
            "range",
            "bytes=0-9",
        )
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    // The page escapes the markup and counts a view.
    let page = t.get(&format!("/discover/{first}"), &Auth::None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!text(&page).contains("<b>harbour") && text(&page).contains("harbour"));
    assert!(text(&page).contains("og:video"));
    let discover = t.get("/discover", &Auth::None).await;
    assert!(text(&discover).contains(&format!("/discover/{first}")));
    assert_eq!(
        t.get(&format!("/api/v1/gallery/{first}"), &Auth::None)
            .await
            .json()["views"],
        1
    );
    // The owner's uploads, drafts and private jobs stay out of reach.
    for path in [
        format!("/api/v1/gallery/{draft}"),
        format!("/api/v1/gallery/{second}"),
        format!("/api/v1/gallery/{first}/captions.srt"),
        format!("/api/v1/jobs/{first}"),
        format!("/api/v1/jobs/{first}/video"),
    ] {
        let r = t.get(&path, &Auth::None).await;
        assert!(
            matches!(r.status, StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED),
            "{path}"
        );
    }
    t.get("/api/v1/gallery?sort=random", &Auth::None)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "gallery.sort_invalid");
    t.get("/api/v1/gallery?page=0", &Auth::None)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "gallery.page_invalid");

    // The profile lists published works only, with the avatar (an upload, cleaned like every
    // upload: metadata gone).
    let upload = t
        .upload(&ada, "me.jpg", "image/jpeg", &jpeg_with_gps(64, 64))
        .await
        .json();
    let upload_id = upload["id"].as_str().unwrap();
    t.json(
        Method::PUT,
        "/api/v1/me/avatar",
        &bob,
        json!({ "upload_id": upload_id }),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let r = t
        .json(
            Method::PUT,
            "/api/v1/me/avatar",
            &ada,
            json!({ "upload_id": upload_id }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let p = t.get("/api/v1/profiles/ADA", &Auth::None).await.json();
    assert_eq!(p["username"], "ada");
    assert_eq!(gallery_ids(&p), vec![first.clone()]);
    let avatar = t.get(p["avatar_url"].as_str().unwrap(), &Auth::None).await;
    assert_eq!(avatar.status, StatusCode::OK);
    assert!(!contains(&avatar.body, b"GPS") && !contains(&avatar.body, b"Exif"));
    let page = t.get("/u/ada", &Auth::None).await;
    assert!(text(&page).contains(&format!("/discover/{first}")));
    let bob_profile = t.get("/api/v1/profiles/bob", &Auth::None).await.json();
    assert_eq!(bob_profile["works"], json!([]));
    assert!(bob_profile["avatar_url"].is_null());
    t.get("/api/v1/profiles/nobody", &Auth::None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    // Unpublish: gone at once from the gallery, the profile and the work's address.
    let r = t.delete(&publication, &ada).await;
    assert_eq!(r.json()["published"], false);
    assert_eq!(
        t.get("/api/v1/gallery", &Auth::None).await.json()["works"],
        json!([])
    );
    assert_eq!(
        t.get("/api/v1/profiles/ada", &Auth::None).await.json()["works"],
        json!([])
    );
    assert_eq!(
        t.get(&format!("/discover/{first}"), &Auth::None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Published again, then the account is deleted: gone everywhere, share links too.
    t.json(Method::PUT, &publication, &ada, json!({ "title": "Dawn" }))
        .await;
    let share = t
        .json(
            Method::POST,
            &format!("/api/v1/jobs/{first}/shares"),
            &ada,
            json!({}),
        )
        .await
        .json();
    let share_page = format!(
        "/s/{}",
        share["url"].as_str().unwrap().rsplit('/').next().unwrap()
    );
    assert_eq!(t.get(&share_page, &Auth::None).await.status, StatusCode::OK);
    assert_eq!(
        gallery_ids(&t.get("/api/v1/gallery", &Auth::None).await.json()),
        vec![first.clone()]
    );
    t.state
        .db
        .mark_user_deleted(&user_id(&t, "ada@example.org").await, now_ms())
        .await
        .unwrap();
    assert_eq!(
        t.get("/api/v1/gallery", &Auth::None).await.json()["works"],
        json!([])
    );
    assert_eq!(
        t.get(&format!("/api/v1/gallery/{first}/video"), &Auth::None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get(&share_page, &Auth::None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get("/api/v1/profiles/ada", &Auth::None).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn p_safe_2_p_safe_1_rule_breaking_requests_are_refused_before_queueing_and_borderline_ones_held_for_review(
    t: TestApp,
) {
    let ada = Auth::Cookie(t.signed_in_user("ada@example.org", "ada").await);
    let bob = Auth::Cookie(t.signed_in_user("bob@example.org", "bob").await);
    let ada_id = user_id(&t, "ada@example.org").await;
    let balance_before = t.get("/api/v1/me/credits", &ada).await.json();

    // Clearly prohibited: a stable code, nothing queued, charged or sent; recorded.
    let r = t
        .json(
            Method::POST,
            "/api/v1/jobs",
            &ada,
            spec("Show me how to make a bomb, step by step."),
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "moderation.refused");
    assert!(text(&r).contains("weapons_instructions"));
    assert_eq!(t.get("/api/v1/jobs", &ada).await.json(), json!([]));
    assert_eq!(
        t.get("/api/v1/me/credits", &ada).await.json(),
        balance_before
    );
    assert!(t
        .state
        .db
        .claim_next_job("w", 60_000, RunLimits::default(), now_ms())
        .await
        .unwrap()
        .is_none());
    let entries = t.state.db.audit_for_user(&ada_id, 50, None).await.unwrap();
    let refusal = entries
        .iter()
        .find(|e| e.kind == "moderation.refused")
        .expect("recorded");
    assert_eq!(
        refusal.detail.as_ref().unwrap()["categories"],
        json!(["weapons_instructions"])
    );
    assert!(
        !refusal
            .detail
            .as_ref()
            .unwrap()
            .to_string()
            .contains("bomb"),
        "the words stay out of the log"
    );
    // Prompts and titles are checked too.
    t.json(
        Method::POST,
        "/api/v1/jobs",
        &ada,
        json!({ "script": "A quiet sea.", "prompts": ["a deepfake nude of my neighbour"] }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "moderation.refused");
    let ok = submit(&t, &ada, "A quiet sea at dusk.").await;
    t.json(
        Method::PATCH,
        &format!("/api/v1/jobs/{ok}"),
        &ada,
        json!({ "title": "child porn" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "moderation.refused");
    assert_eq!(
        t.get(&format!("/api/v1/jobs/{ok}"), &ada).await.json()["title_is_default"],
        true
    );

    // Borderline: queued but held; no worker gets it until a moderator approves it.
    let held = submit(&t, &bob, "An nsfw dance on the pier.").await;
    finish(&t, &ok).await; // the claim passes over the held job
    assert!(t
        .state
        .db
        .claim_next_job("w", 60_000, RunLimits::default(), now_ms())
        .await
        .unwrap()
        .is_none());
    let view = t
        .get(&format!("/api/v1/jobs/{held}/publication"), &bob)
        .await
        .json();
    assert_eq!(view["held_for_review"], true);
    assert_eq!(
        t.get(&format!("/api/v1/jobs/{held}"), &bob).await.json()["status"],
        "queued"
    );

    // A plain user cannot work the queue: the routes do not exist for them.
    for who in [&ada, &bob, &Auth::None] {
        t.get("/api/v1/moderation/queue", who)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
        t.json(
            Method::POST,
            &format!("/api/v1/moderation/jobs/{held}/approve"),
            who,
            json!({}),
        )
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(
            t.get("/moderation", who).await.status,
            StatusCode::NOT_FOUND
        );
    }
    assert!(t.state.db.job_is_held(&held).await.unwrap());

    let moderator = moderator(&t, "mod@example.org", "modkim").await;
    let q = t.get("/api/v1/moderation/queue", &moderator).await.json();
    assert_eq!(q["held"][0]["job_id"], held.as_str());
    assert_eq!(q["held"][0]["categories"], json!(["sexual_content"]));
    assert_eq!(q["held"][0]["owner"], "bob");
    assert!(text(&t.get("/moderation", &moderator).await).contains("An nsfw dance on the pier."));
    let r = t
        .json(
            Method::POST,
            &format!("/api/v1/moderation/jobs/{held}/approve"),
            &moderator,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    finish(&t, &held).await;
    // A second decision finds nothing to decide.
    t.json(
        Method::POST,
        &format!("/api/v1/moderation/jobs/{held}/refuse"),
        &moderator,
        json!({}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");

    // A refused hold cancels the job and releases what it reserved.
    let held2 = submit(&t, &bob, "Another nsfw clip.").await;
    let r = t
        .json(
            Method::POST,
            &format!("/api/v1/moderation/jobs/{held2}/refuse"),
            &moderator,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        t.get(&format!("/api/v1/jobs/{held2}"), &bob).await.json()["status"],
        "cancelled"
    );
    let mod_id = user_id(&t, "mod@example.org").await;
    let kinds: Vec<String> = t
        .state
        .db
        .audit_for_user(&mod_id, 50, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"moderation.approved".to_owned()));
    assert!(kinds.contains(&"moderation.refused_held".to_owned()));

    // Publishing checks the holding rules too: what becomes public is held to more.
    t.json(
        Method::PUT,
        &format!("/api/v1/jobs/{ok}/publication"),
        &ada,
        json!({ "title": "My nsfw sea" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "moderation.refused");
}

async fn p_safe_3_p_safe_2_reports_go_to_the_queue_and_moderators_take_down_ban_and_record_legal_requests(
    t: TestApp,
) {
    let ada = Auth::Cookie(t.signed_in_user("ada@example.org", "ada").await);
    let bob = Auth::Cookie(t.signed_in_user("bob@example.org", "bob").await);
    let job = submit(&t, &ada, "A harbour at dawn.").await;
    finish(&t, &job).await;
    let private = submit(&t, &ada, "A private one.").await;
    finish(&t, &private).await;
    t.json(
        Method::PUT,
        &format!("/api/v1/jobs/{job}/publication"),
        &ada,
        json!({ "title": "Dawn" }),
    )
    .await;
    let share = t
        .json(
            Method::POST,
            &format!("/api/v1/jobs/{job}/shares"),
            &ada,
            json!({}),
        )
        .await
        .json();
    let token = share["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();

    // Reports: anyone, about a public work or a share link; never about a private work.
    let report = |body: Value| body;
    t.json(
        Method::POST,
        "/api/v1/reports",
        &Auth::None,
        report(json!({ "job_id": private, "reason": "spam" })),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.json(
        Method::POST,
        "/api/v1/reports",
        &Auth::None,
        json!({ "share_token": "nope", "reason": "spam" }),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.json(
        Method::POST,
        "/api/v1/reports",
        &Auth::None,
        json!({ "job_id": job, "reason": "<b>bad</b>" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "report.reason_invalid");
    t.json(
        Method::POST,
        "/api/v1/reports",
        &Auth::None,
        json!({ "job_id": job, "share_token": token, "reason": "spam" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "report.target_invalid");
    let r = t
        .json(
            Method::POST,
            "/api/v1/reports",
            &Auth::None,
            json!({ "job_id": job, "reason": "hate", "detail": "<script>x</script> rude" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", text(&r));
    // The same reporter again: received, counted once.
    let r = t
        .json(
            Method::POST,
            "/api/v1/reports",
            &Auth::None,
            json!({ "share_token": token, "reason": "spam" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = t
        .json(
            Method::POST,
            "/api/v1/reports",
            &bob,
            json!({ "share_token": token, "reason": "spam" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    // A flood meets the limit (10 an hour for one reporter by default).
    let mut limited = false;
    for _ in 0..12 {
        let r = t
            .json(
                Method::POST,
                "/api/v1/reports",
                &bob,
                json!({ "job_id": job, "reason": "spam" }),
            )
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            r.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
            limited = true;
            break;
        }
    }
    assert!(limited);

    let moderator = moderator(&t, "mod@example.org", "modkim").await;
    let q = t.get("/api/v1/moderation/queue", &moderator).await.json();
    let reported = &q["reported"][0];
    assert_eq!(reported["job_id"], job.as_str());
    assert_eq!(reported["reports"], 2, "one per reporter");
    assert_eq!(reported["owner"], "ada");
    let page = text(&t.get("/moderation", &moderator).await);
    assert!(page.contains("Dawn") && !page.contains("<script>x"));

    // A plain user cannot take down or ban: 404, nothing changed.
    t.json(
        Method::POST,
        &format!("/api/v1/moderation/jobs/{job}/takedown"),
        &bob,
        json!({ "reason": "x" }),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.json(
        Method::POST,
        "/api/v1/moderation/users/ada/ban",
        &bob,
        json!({ "reason": "x" }),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        t.get(&format!("/api/v1/gallery/{job}"), &Auth::None)
            .await
            .status,
        StatusCode::OK
    );
    t.json(
        Method::POST,
        &format!("/api/v1/moderation/jobs/{job}/takedown"),
        &moderator,
        json!({ "reason": " " }),
    )
    .await
    .assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "moderation.reason_required",
    );

    // Take down: gone from the gallery, the profile and the share link at once; the owner is
    // emailed and sees why in the studio.
    let reason = "Hateful <em>speech</em> (rule 3)";
    let r = t
        .json(
            Method::POST,
            &format!("/api/v1/moderation/jobs/{job}/takedown"),
            &moderator,
            json!({ "reason": reason }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    assert_eq!(
        t.get("/api/v1/gallery", &Auth::None).await.json()["works"],
        json!([])
    );
    assert_eq!(
        t.get("/api/v1/profiles/ada", &Auth::None).await.json()["works"],
        json!([])
    );
    assert_eq!(
        t.get(&format!("/s/{token}"), &Auth::None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get(&format!("/s/{token}/video"), &Auth::None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let mail = reelsmith_mail::latest_message_to(&t.outbox, "ada@example.org")
        .unwrap()
        .unwrap();
    assert!(mail.subject.contains("taken down"));
    assert!(mail.text_body.contains(reason));
    let owner_view = t
        .get(&format!("/api/v1/jobs/{job}/publication"), &ada)
        .await
        .json();
    assert_eq!(owner_view["takedown"]["reason"], reason);
    assert!(owner_view["url"].is_null());
    t.json(
        Method::PUT,
        &format!("/api/v1/jobs/{job}/publication"),
        &ada,
        json!({ "title": "Again" }),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "gallery.taken_down");
    // Its reports are closed; the queue is empty.
    assert_eq!(
        t.get("/api/v1/moderation/queue", &moderator).await.json()["reported"],
        json!([])
    );
    // Another's job's takedown is not shown to bob.
    t.get(&format!("/api/v1/jobs/{job}/publication"), &bob)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    // Ban: sessions end, works hidden, sign-in refused; staff cannot be banned from here.
    let bob_job = submit(&t, &bob, "Gulls over the pier.").await;
    finish(&t, &bob_job).await;
    t.json(
        Method::PUT,
        &format!("/api/v1/jobs/{bob_job}/publication"),
        &bob,
        json!({ "title": "Gulls" }),
    )
    .await;
    assert_eq!(
        gallery_ids(&t.get("/api/v1/gallery", &Auth::None).await.json()),
        vec![bob_job.clone()]
    );
    t.json(
        Method::POST,
        "/api/v1/moderation/users/modkim/ban",
        &moderator,
        json!({ "reason": "x" }),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "moderation.cannot_ban_staff");
    let r = t
        .json(
            Method::POST,
            "/api/v1/moderation/users/bob/ban",
            &moderator,
            json!({ "reason": "Spam ring" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    t.get("/api/v1/me", &bob)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
    t.login("bob@example.org", PASSWORD)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "account.banned");
    assert_eq!(
        t.get("/api/v1/gallery", &Auth::None).await.json()["works"],
        json!([])
    );
    t.get("/api/v1/profiles/bob", &Auth::None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    // Legal takedown requests: recorded with the requester, the work, the decision and its date.
    let r = t
        .json(
            Method::POST,
            "/api/v1/moderation/legal",
            &moderator,
            json!({ "job_id": private, "requester": "Lawyers & Co", "requester_email": "Legal@Example.com",
                    "basis": "Copyright: the music is ours" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let legal = r.json();
    assert_eq!(legal["decision"], "pending");
    let r = t
        .json(
            Method::POST,
            &format!(
                "/api/v1/moderation/legal/{}/decision",
                legal["id"].as_str().unwrap()
            ),
            &moderator,
            json!({ "decision": "taken_down", "reason": "Copyright claim upheld" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    assert_eq!(r.json()["decision"], "taken_down");
    assert!(r.json()["decided_at"].is_string());
    let listed = t.get("/api/v1/moderation/legal", &moderator).await.json();
    assert_eq!(listed[0]["requester"], "Lawyers & Co");
    assert_eq!(
        t.get(&format!("/api/v1/jobs/{private}/publication"), &ada)
            .await
            .json()["takedown"]["reason"],
        "Copyright claim upheld"
    );
    t.json(
        Method::POST,
        &format!(
            "/api/v1/moderation/legal/{}/decision",
            legal["id"].as_str().unwrap()
        ),
        &moderator,
        json!({ "decision": "rejected", "reason": "again" }),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.get("/api/v1/moderation/legal", &ada)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    // Every moderator action is in the audit log.
    let mod_id = user_id(&t, "mod@example.org").await;
    let kinds: Vec<String> = t
        .state
        .db
        .audit_for_user(&mod_id, 100, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for kind in [
        "moderation.taken_down",
        "moderation.banned",
        "moderation.legal_recorded",
        "moderation.legal_decided",
    ] {
        assert!(kinds.contains(&kind.to_owned()), "{kind}: {kinds:?}");
    }
}

/// The moderation routes are staff routes (P-SEC-5 on top of P-SAFE-2): a plain user still gets
/// 404, a moderator without an authenticator or without a TOTP check in this session is refused
/// with a stable code (a page sends them to enrol or to the check), and the same moderator is
/// let in once the session has passed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_safe_2_p_sec_5_moderation_needs_an_enrolled_authenticator_and_a_step_up_in_this_session()
{
    let t = backends::sqlite_local().await;
    let ada = Auth::Cookie(t.signed_in_user("ada@example.org", "ada").await);
    let job = submit(&t, &ada, "Harbour at dawn.").await;
    let takedown = format!("/api/v1/moderation/jobs/{job}/takedown");
    let reason = json!({ "reason": "Breaks rule 3." });
    for who in [&ada, &Auth::None] {
        t.get("/api/v1/moderation/queue", who)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(
            t.get_with("/moderation", who, "accept", "text/html")
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    }

    let first = unenrolled_moderator(&t, "mod@example.org", "modkim").await;
    t.get("/api/v1/moderation/queue", &first)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "staff.totp_required");
    t.json(Method::POST, &takedown, &first, reason.clone())
        .await
        .assert_problem(StatusCode::FORBIDDEN, "staff.totp_required");
    let r = t
        .get_with("/moderation", &first, "accept", "text/html")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), "/account/security?staff=1");
    let secret = enrol_totp(&t, &first).await;
    assert_eq!(
        t.get("/api/v1/moderation/queue", &first).await.status,
        StatusCode::OK
    );

    // A new session of the same moderator has not passed a check: refused, nothing done.
    let r = t.login("mod@example.org", PASSWORD).await;
    let second = Auth::Cookie(session_from(&r));
    t.get("/api/v1/moderation/queue", &second)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "staff.step_up_required");
    t.json(Method::POST, &takedown, &second, reason.clone())
        .await
        .assert_problem(StatusCode::FORBIDDEN, "staff.step_up_required");
    let r = t
        .get_with("/moderation", &second, "accept", "text/html")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), "/admin/verify?next=/moderation");
    let ada_id = user_id(&t, "ada@example.org").await;
    assert!(
        t.state
            .db
            .takedown_for_owner(&ada_id, &job)
            .await
            .unwrap()
            .is_none(),
        "no takedown happened"
    );

    t.state.clock.advance(30_000);
    let code = code_now(&t, &secret);
    let r = t
        .json(
            Method::POST,
            "/api/v1/me/totp/verify",
            &second,
            json!({ "code": code }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    assert_eq!(
        t.get("/api/v1/moderation/queue", &second).await.status,
        StatusCode::OK
    );
    let r = t
        .get_with("/moderation", &second, "accept", "text/html")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let kinds = t.audit_kinds("mod@example.org").await;
    for kind in ["staff.totp_required", "staff.step_up_required"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

/// The privacy page's paragraph on sharing follows the live settings: the gallery on or off,
/// share links' longest life, the report limit, and the rule categories in force (the shipped
/// list, or the operator's file).
#[tokio::test]
async fn p_vis_2_p_vis_3_p_safe_1_the_privacy_page_describes_sharing_from_the_live_settings() {
    let page = |t: TestApp| async move {
        let r = t
            .get_with("/privacy", &Auth::None, "accept", "text/html")
            .await;
        assert_eq!(r.status, StatusCode::OK);
        text(&r)
    };
    let defaults = page(app().await).await;
    assert!(defaults.contains("When you <strong>publish</strong> a creation to Discover"));
    assert!(defaults.contains("A link works until you revoke it"));
    assert!(
        defaults.contains("at most\n10 reports an hour")
            || defaults.contains("at most 10 reports an hour")
    );
    assert!(defaults.contains("the built-in content rules"));
    assert!(defaults.contains("weapons instructions (refused)"));
    assert!(defaults.contains("sexual content (held for review)"));

    let rules = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        rules.path(),
        "[[category]]\nname = \"spam_links\"\naction = \"hold\"\nterms = [\"buy followers\"]\n",
    )
    .unwrap();
    let rules_path = rules.path().to_path_buf();
    let custom = page(
        app_with(move |c| {
            c.sharing.gallery = false;
            c.sharing.share_link_max_days = 30;
            c.sharing.reports.count = 4;
            c.sharing.reports.window_seconds = 2 * 3600;
            c.sharing.moderation_rules_file = Some(rules_path);
        })
        .await,
    )
    .await;
    assert!(custom.contains("The public gallery is turned off on this server"));
    assert!(!custom.contains("When you <strong>publish</strong>"));
    assert!(custom.contains("stops working after at most 30 days"));
    assert!(custom.contains("2 reports an hour"));
    assert!(custom.contains("the operator's content rules"));
    assert!(custom.contains("spam links (held for review)"));
    assert!(!custom.contains("weapons instructions"));
    assert!(!defaults.contains("image classifier") && !custom.contains("image classifier"));
}
